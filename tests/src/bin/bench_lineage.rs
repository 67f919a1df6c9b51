//! Lineage benchmark: a generated history of N versions (default 100,000) — 1,000 models, each version
//! trained on 1–3 of 5,000 datasets, 30 % fine-tuned from an earlier version (often of another model),
//! one commit per 50 versions — written straight into a fresh registry database, then the blast-radius
//! query (`service::incident::affected`, what `GET /v1/lineage/affected` runs) timed for 200 random
//! datasets, 200 commits and 200 versions.
//!   bench_lineage [N]
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use registry_core::{Digest, ModelName, Reference, VersionLabel};
use registry_e2e::{Rng, pct};
use registry_server::service::incident::{Seed, affected};
use registry_server::testing::TestServer;

/// Makes a random seed of one kind.
type SeedMaker = Box<dyn Fn(&mut Rng) -> Seed>;

fn dataset(i: u64) -> Digest {
    Digest::of(format!("dataset {i}").as_bytes())
}

fn commit(i: u64) -> String {
    format!("{:040x}", i + 1)
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::args().nth(1).map_or(100_000, |s| s.parse().unwrap());
    let s = TestServer::start().await;
    let pool = s.state.db.pool().clone();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = Instant::now();
    for m in 0..1000u64 {
        sqlx::query("INSERT INTO models (id, namespace, name, created_by, created_at) VALUES ($1, 'bench', $2, 'bench', 0)")
            .bind(m as i64 + 1)
            .bind(format!("m{m}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut edges = 0u64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let mut tx = pool.begin().await.unwrap();
        for &i in chunk {
            let id = i as i64 + 1;
            let model = (i % 1000) as i64 + 1;
            sqlx::query(
                "INSERT INTO versions (id, model_id, version, manifest_digest, oms_root_digest, manifest, lineage, \
                 metadata, file_count, total_size, code_commit, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $4, '{}', '{}', '{}', 1, 1, $5, 'bench', 0)",
            )
            .bind(id)
            .bind(model)
            .bind(format!("{}", i / 1000))
            .bind(Digest::of(&i.to_le_bytes()).hex())
            .bind(commit(i / 50))
            .execute(&mut *tx)
            .await
            .unwrap();
            for _ in 0..=rng.below(3).min(2) {
                sqlx::query("INSERT INTO version_datasets (version_id, digest, uri, role) VALUES ($1, $2, 's3://d', 'train')")
                    .bind(id)
                    .bind(dataset(rng.below(5000)).hex())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            if i > 0 && rng.below(10) < 3 {
                let parent = rng.below(i) as i64 + 1;
                sqlx::query("INSERT INTO version_parents (version_id, parent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(id)
                    .bind(parent)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                edges += 1;
            }
        }
        tx.commit().await.unwrap();
    }
    eprintln!("generated {n} versions, {edges} parent edges in {:.1} s", t.elapsed().as_secs_f64());

    println!("| seed (200 each, {n} versions) | p50 ms | p99 ms | max ms | versions reached p50 / max |");
    println!("|---|---|---|---|---|");
    let kinds: [(&str, SeedMaker); 3] = [
        ("dataset", Box::new(|r: &mut Rng| Seed::Dataset(dataset(r.below(5000))))),
        ("commit", Box::new(move |r: &mut Rng| Seed::Commit(commit(r.below(n / 50))))),
        (
            "version",
            Box::new(move |r: &mut Rng| {
                let i = r.below(n);
                Seed::Version(
                    ModelName::new("bench", &format!("m{}", i % 1000)).unwrap(),
                    Reference::Label(VersionLabel::parse(&format!("{}", i / 1000)).unwrap()),
                )
            }),
        ),
    ];
    for (name, make) in kinds {
        let (mut ms, mut sizes) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            let seed = make(&mut rng);
            let t = Instant::now();
            let reached = affected(&s.state, &seed).await.unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            sizes.push(reached.len() as f64);
        }
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {} / {} |",
            pct(ms.clone(), 0.5),
            pct(ms.clone(), 0.99),
            pct(ms, 1.0),
            pct(sizes.clone(), 0.5),
            pct(sizes, 1.0)
        );
    }
}
