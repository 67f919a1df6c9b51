//! `registry verify NS/NAME@V [--dir DIR] [--trusted-key PUB]... [--require-predicate URI]...`:
//! checks the version's attestations with the given keys (never the registry's verdict) and, with
//! `--dir`, re-hashes the directory against the manifest. One line per check; exit 3 on any failure.
use std::path::PathBuf;

use registry_client::attest::{Status, read_public_key, verify_attestations};
use registry_client::verify::verify_dir;

use crate::progress::Bars;
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION (or @sha256:<manifest digest>).
    reference: String,
    /// The directory to check against the manifest.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// A public key (PEM) whose attestations you trust. Repeatable.
    #[arg(long, value_name = "PUB")]
    trusted_key: Vec<PathBuf>,
    /// Fail unless an attestation of this predicate type verifies. Repeatable.
    #[arg(long, value_name = "URI")]
    require_predicate: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let keys = a.trusted_key.iter().map(|p| read_public_key(p)).collect::<Result<Vec<_>, _>>()?;
    let client = ctx.client()?;
    let v = client.get_version(&model, &reference).await?;
    let manifest = client.get_manifest(&v).await?;
    let mut lines: Vec<(Status, String)> = vec![(
        Status::Ok,
        format!(
            "manifest {} of {model}@{} ({} files) is the one recorded",
            v.manifest_digest, v.version, v.file_count
        ),
    )];
    if !keys.is_empty() || !a.require_predicate.is_empty() {
        let r =
            verify_attestations(&client, &model, &v.version, &manifest, &keys, &a.require_predicate).await?;
        lines.extend(r.checks.into_iter().map(|c| (c.status, c.what)));
    }
    if let Some(dir) = a.dir.clone() {
        let bars = Bars::new(ctx.json);
        let report = tokio::task::spawn_blocking(move || {
            verify_dir(&dir, &manifest, bars, registry_client::hash::default_threads())
        })
        .await??;
        lines.push((
            if report.is_clean() { Status::Ok } else { Status::Failed },
            format!(
                "files: {} of {} match in {}",
                report.ok,
                v.file_count,
                a.dir.as_deref().unwrap_or(std::path::Path::new(".")).display()
            ),
        ));
        lines.extend(report.missing.iter().map(|p| (Status::Failed, format!("missing: {p}"))));
        lines.extend(report.changed.iter().map(|p| (Status::Failed, format!("changed: {p}"))));
        lines.extend(report.extra.iter().map(|p| (Status::Failed, format!("extra:   {p}"))));
    }
    let failed = lines.iter().filter(|(s, _)| *s == Status::Failed).count();
    if ctx.json {
        super::print_json(&serde_json::json!({
            "version": format!("{model}@{}", v.version),
            "manifest_digest": v.manifest_digest,
            "ok": failed == 0,
            "checks": lines.iter().map(|(s, w)| serde_json::json!({"status": s, "what": w})).collect::<Vec<_>>(),
        }))?;
    } else {
        for (s, w) in &lines {
            let mark = match s {
                Status::Ok => "✓",
                Status::Skipped => "·",
                Status::Failed => "✗",
            };
            println!("{mark} {w}");
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::Verification(format!("{failed} check(s) failed for {model}@{}", v.version)))
    }
}
