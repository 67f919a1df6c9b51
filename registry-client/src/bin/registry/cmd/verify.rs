//! `registry verify NS/NAME@V --dir DIR`: re-hash DIR against the version's manifest.
use std::path::PathBuf;

use registry_client::verify::verify_dir;

use crate::progress::Bars;
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION (or @sha256:<manifest digest>).
    reference: String,
    /// The directory to check.
    #[arg(long)]
    dir: PathBuf,
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let client = ctx.client()?;
    let v = client.get_version(&model, &reference).await?;
    let manifest = client.get_manifest(&v).await?;
    let dir = a.dir.clone();
    let bars = Bars::new(ctx.json);
    let report = tokio::task::spawn_blocking(move || {
        verify_dir(&dir, &manifest, bars, registry_client::hash::default_threads())
    })
    .await??;
    if ctx.json {
        super::print_json(&serde_json::json!({
            "version": format!("{model}@{}", v.version),
            "manifest_digest": v.manifest_digest,
            "ok": report.is_clean(),
            "files": report,
        }))?;
    } else {
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        println!(
            "{} files: {} match {model}@{} ({})",
            mark(report.is_clean()),
            report.ok,
            v.version,
            v.manifest_digest
        );
        for p in &report.missing {
            println!("✗ missing: {p}");
        }
        for p in &report.changed {
            println!("✗ changed: {p}");
        }
        for p in &report.extra {
            println!("✗ extra:   {p}");
        }
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(Failure::Verification(format!(
            "{} missing, {} changed, {} extra file(s) in {}",
            report.missing.len(),
            report.changed.len(),
            report.extra.len(),
            a.dir.display()
        )))
    }
}
