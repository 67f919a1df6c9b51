//! Transparency-log benchmark: append throughput (one append per transaction, as every change does,
//! and batched) and proof latency (server time: the service call that reads nodes and builds the
//! proof) at growing sizes.
//!   bench_log DATABASE_URL SIZES...      e.g. bench_log sqlite:/tmp/log.db 10000 100000 1000000
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use registry_e2e::pct;
use registry_server::db::{Db, log};
use registry_server::service::log as svc;

fn entry(i: u64) -> registry_core::tlog::entry::LogEntry {
    svc::entry(
        "version.created",
        &format!("bench/m@{i}"),
        "token:bench",
        &[("manifest_digest", serde_json::json!(format!("sha256:{:064x}", i)))],
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("DATABASE_URL");
    let sizes: Vec<u64> = args[2..].iter().map(|s| s.parse().unwrap()).collect();
    let db = Db::open(url, true).await.unwrap();
    let mut size = db.log_size().await.unwrap();
    println!("backend: {:?}", db.backend());

    // One append per transaction, the way every change commits.
    let n = 2000u64;
    let t = Instant::now();
    for i in 0..n {
        let mut tx = db.begin_write().await.unwrap();
        log::append(&mut tx, &entry(size + i)).await.unwrap();
        tx.commit().await.unwrap();
    }
    size += n;
    println!(
        "| single appends (1 per transaction) | {n} | {:.0} entries/s |",
        n as f64 / t.elapsed().as_secs_f64()
    );

    println!(
        "| size | inclusion p50 ms | inclusion p99 ms | consistency p50 ms | consistency p99 ms | batched append rate to reach it |"
    );
    for target in sizes {
        let t = Instant::now();
        let added = target.saturating_sub(size);
        while size < target {
            let mut tx = db.begin_write().await.unwrap();
            for _ in 0..1000.min(target - size) {
                log::append(&mut tx, &entry(size)).await.unwrap();
                size += 1;
            }
            tx.commit().await.unwrap();
        }
        let rate = if added > 0 {
            format!("{:.0} entries/s", added as f64 / t.elapsed().as_secs_f64())
        } else {
            "-".into()
        };
        let (mut inc, mut con) = (Vec::new(), Vec::new());
        for k in 0..200u64 {
            let idx = (k * 7919 * 104_729) % size;
            let t = Instant::now();
            let p = svc::inclusion(&db, idx, size).await.unwrap();
            inc.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!p.is_empty() || size == 1);
            let from = 1 + (k * 15_485_863) % (size - 1);
            let t = Instant::now();
            svc::consistency(&db, from, size).await.unwrap();
            con.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "| {size} | {:.3} | {:.3} | {:.3} | {:.3} | {rate} |",
            pct(inc.clone(), 0.5),
            pct(inc, 0.99),
            pct(con.clone(), 0.5),
            pct(con, 0.99)
        );
    }
}
