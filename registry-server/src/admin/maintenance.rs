//! `scrub` and `gc`: one integrity pass or one garbage collection pass, run now from the command line.
use std::time::Duration;

use anyhow::Context;
use registry_server::config::Config;

/// The scrub rates `config` sets.
pub fn scrub_rates(config: &Config) -> registry_server::service::scrub::Rates {
    registry_server::service::scrub::Rates { bytes: config.scrub_rate, rows: config.scrub_row_rate }
}

pub async fn scrub_cmd(config: &Config) -> anyhow::Result<()> {
    let state = registry_server::open_state(config).await?;
    let r = registry_server::service::scrub::pass(&state, scrub_rates(config), &state.scrub)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    state.db.close().await;
    anyhow::ensure!(r.findings.is_empty(), "{} finding(s)", r.findings.len());
    // Blobs the store would not serve are no finding, but the pass is not clean either.
    anyhow::ensure!(
        r.errors.is_empty(),
        "{} blob(s) could not be checked (first: {}: {})",
        r.errors.len(),
        r.errors[0].0,
        r.errors[0].1
    );
    Ok(())
}

/// The GC options of `config` (with `grace` overriding its grace period).
pub fn gc_options(config: &Config, grace: Option<u64>) -> registry_server::service::gc::GcOptions {
    use registry_server::service::gc;
    let grace = Duration::from_secs(grace.unwrap_or(config.gc_grace));
    gc::GcOptions {
        upload_idle: Duration::from_secs(config.gc_upload_idle),
        ..gc::GcOptions::new(grace, grace.max(gc::ORPHAN_MIN_AGE))
    }
}

pub async fn gc_cmd(config: &Config, grace: Option<u64>, json: bool) -> anyhow::Result<()> {
    let state = registry_server::open_state(config).await?;
    let r = registry_server::service::gc::pass_with(&state, &gc_options(config, grace)).await;
    state.db.close().await;
    let r = r.context("garbage collection stopped")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "removed {} unreferenced blob(s), {} byte(s) reclaimed; {} expired upload(s); {} orphaned object(s), {} byte(s); {} blob(s) found lost ({:.1} s)",
            r.blobs_removed,
            r.bytes_reclaimed,
            r.uploads_expired,
            r.orphans_removed,
            r.orphan_bytes,
            r.lost_found,
            r.seconds
        );
    }
    for e in &r.errors {
        eprintln!("registry-server: gc: {e}");
    }
    anyhow::ensure!(
        r.failures == 0,
        "{} delete(s) failed; those objects stay (no row names them) and a later pass retries",
        r.failures
    );
    Ok(())
}
