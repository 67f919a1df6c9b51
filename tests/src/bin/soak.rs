//! Soak load: several clients drive mixed traffic (push, pull, get-version, list) against a running
//! registry for a while, then print errors and latency percentiles per operation.
//!   soak URL SECONDS CLIENTS
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use registry_client::push::{PushOptions, PushSpec, push};
use registry_client::{Client, NoProgress};
use registry_core::api::Metadata;
use registry_core::{Lineage, ModelName, VersionLabel};

type Stats = Arc<Mutex<BTreeMap<&'static str, (Vec<Duration>, u64)>>>;

fn model_dir(seed: u64) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    registry_e2e::write_files(
        d.path(),
        &[
            ("config.json", b"{\"layers\": 4}"),
            ("weights.bin", &registry_e2e::noise(200_000, seed)),
            ("tokenizer/vocab.txt", b"a b c"),
        ],
    );
    d
}

async fn push_one(c: &Client, model: &str, version: &str, seed: u64) -> Result<(), String> {
    let dir = model_dir(seed);
    let (m, v) = (ModelName::parse(model).unwrap(), VersionLabel::parse(version).unwrap());
    let spec = PushSpec {
        dir: dir.path(),
        model: &m,
        version: &v,
        lineage: Lineage::default(),
        metadata: Metadata::default(),
        sign: None,
        attestations: vec![],
    };
    let opts = PushOptions { jobs: 2, hash_threads: 1, ..Default::default() };
    push(c, spec, Arc::new(NoProgress), &opts).await.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(120);
    let clients: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8);
    let c = Client::new(&url).unwrap().with_token(std::env::var("REGISTRY_TOKEN").ok());
    for m in 0..4 {
        push_one(&c, &format!("soak/m{m}"), "0", m).await.unwrap();
    }
    let stats: Stats = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for id in 0..clients {
        let (c, stats) = (c.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let m = format!("soak/m{}", (id + n) % 4);
                let model = ModelName::parse(&m).unwrap();
                let t = Instant::now();
                let (op, r): (&'static str, Result<(), String>) = match n % 20 {
                    0 => ("push", push_one(&c, &m, &format!("c{id}.{n}"), id * 1_000_000 + n).await),
                    1..=3 => {
                        let out = tempfile::tempdir().unwrap();
                        let r = registry_client::pull::pull(
                            &c,
                            &model,
                            "0",
                            &out.path().join("m"),
                            false,
                            Arc::new(NoProgress),
                            2,
                        )
                        .await;
                        ("pull", r.map(|_| ()).map_err(|e| e.to_string()))
                    }
                    4..=6 => (
                        "list",
                        c.list_versions(&model, None, Some(20)).await.map(|_| ()).map_err(|e| e.to_string()),
                    ),
                    7 => (
                        "list-models",
                        c.list_models(Some("soak"), None, None, None)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                    ),
                    _ => (
                        "get-version",
                        c.get_version(&model, "0").await.map(|_| ()).map_err(|e| e.to_string()),
                    ),
                };
                let mut s = stats.lock().unwrap();
                let e = s.entry(op).or_default();
                e.0.push(t.elapsed());
                if let Err(err) = r {
                    e.1 += 1;
                    eprintln!("{op} failed: {err}");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!("| operation | count | errors | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut total_errors = 0;
    for (op, (mut lat, errors)) in stats.lock().unwrap().clone() {
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
        println!(
            "| {op} | {} | {errors} | {:.2} | {:.2} | {:.2} | {:.2} |",
            lat.len(),
            p(0.5),
            p(0.9),
            p(0.99),
            p(1.0)
        );
        total_errors += errors;
    }
    println!("\ntotal errors: {total_errors}");
    if total_errors > 0 {
        std::process::exit(1);
    }
}
