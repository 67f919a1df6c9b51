//! `registry pull NS/NAME@REF -o DIR [--force]`: the version is checked against the pinned log first,
//! bound to what was asked (the model, the label or manifest digest, or the alias's newest logged
//! move), and then exactly that version's manifest is downloaded: no second lookup.
use std::path::PathBuf;

use registry_client::attest::read_public_key;
use registry_client::pull::pull_manifest;
use registry_client::tlog::{Expect, check_version};

use crate::progress::Bars;
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION, @ALIAS or @sha256:DIGEST (a manifest digest).
    reference: String,
    /// Output directory (created; must be empty unless --force). Never `.`, `..` or a directory that
    /// holds the current one; `DIR/.` is `DIR`.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace a non-empty output directory (only once the new tree is complete and verified).
    #[arg(long)]
    force: bool,
    /// Before downloading, verify the version's attestations with this public key (PEM); refuse the
    /// pull (exit 3, nothing written) unless one verifies. Repeatable.
    #[arg(long, value_name = "PUB")]
    verify_with: Vec<PathBuf>,
    /// With --verify-with: require a verified attestation of this predicate type. Repeatable.
    #[arg(long, value_name = "URI", requires = "verify_with")]
    require_predicate: Vec<String>,
    /// With --verify-with: write files that no verified attestation covers (e.g. left out by a model
    /// signature's ignore_paths) instead of refusing the pull.
    #[arg(long, requires = "verify_with")]
    allow_unsigned_files: bool,
    /// Also write the version's OpenSSF Model Signing bundle to FILE (for `model_signing verify`).
    #[arg(long, value_name = "FILE")]
    signature_out: Option<PathBuf>,
    /// Blobs downloaded at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Pull even a quarantined version (forensics).
    #[arg(long)]
    allow_quarantined: bool,
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    // Before any request: a target that is or contains the current directory is refused (exit 1).
    registry_client::place::check_target(&a.output)?;
    let client = ctx.client()?;
    // Before any byte is written: the version must be in the pinned log, be what was asked for, and its
    // attestations must verify with the --verify-with keys (at least one, or every --require-predicate).
    let keys = a.verify_with.iter().map(|p| read_public_key(p)).collect::<Result<Vec<_>, _>>()?;
    let expect =
        Expect { keys: &keys, required: &a.require_predicate, allow_unsigned_files: a.allow_unsigned_files };
    let c = check_version(&client, &model, &reference, &expect, None).await?;
    if c.log.first_use {
        eprintln!(
            "registry: trusting the log key {} of {} from now on (first use)",
            c.log.key.to_vkey(),
            ctx.registry
        );
    }
    if !c.report.ok() {
        for f in c.report.findings.iter().filter(|f| !f.ok) {
            eprintln!("✗ {}", f.what);
        }
        return Err(Failure::Verification(format!(
            "{model}@{reference} does not check out; nothing was written"
        )));
    }
    let version = c.record();
    let label = format!("{model}@{}", version.version);
    if version.corrupted {
        return Err(Failure::Verification(format!(
            "{label}: the registry's scrubber found its stored bytes, an attestation or a log entry altered; nothing was written"
        )));
    }
    if version.quarantined {
        if !a.allow_quarantined {
            return Err(Failure::Verification(format!(
                "{label} is quarantined; nothing was written (--allow-quarantined for forensics)"
            )));
        }
        eprintln!("registry: warning: {label} is QUARANTINED (pulling for forensics)");
    }
    if !c.report.uncovered.is_empty() {
        eprintln!(
            "registry: warning: no verified attestation covers {} (written because of --allow-unsigned-files)",
            c.report.uncovered.join(", ")
        );
    }
    let manifest = c.report.manifest.clone().ok_or_else(|| anyhow::anyhow!("the bundle has no manifest"))?;
    // The model signature, if asked: the exact bytes the log records for this version.
    let signature = match &a.signature_out {
        None => None,
        Some(path) => Some((
            path.clone(),
            model_signature(&c)
                .ok_or_else(|| anyhow::anyhow!("{label} has no OpenSSF Model Signing bundle"))?,
        )),
    };
    let r =
        pull_manifest(&client, version, &manifest, &a.output, a.force, Bars::new(ctx.json), a.jobs).await?;
    if let Some((path, bytes)) = signature {
        std::fs::write(&path, bytes).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    if ctx.json {
        let mut out = serde_json::to_value(&r)?;
        out["logged_at"] = serde_json::json!(c.report.facts.logged_at);
        out["unverified"] = serde_json::json!(["version.created_at"]);
        super::print_json(&out)?;
    } else {
        println!("{model}@{} {} -> {}", r.version.version, r.version.manifest_digest, r.dir.display());
        eprintln!("verified {} files, {} bytes", r.files, r.bytes);
    }
    Ok(())
}

/// The version's OpenSSF Model Signing bundle among the attestations the log records for it.
fn model_signature(c: &registry_client::tlog::VersionCheck) -> Option<String> {
    c.audit_bundle
        .attestations
        .iter()
        .find(|b| {
            registry_core::attest::parse(b.body.as_bytes()).is_ok_and(|p| {
                p.format == registry_core::attest::Format::SigstoreBundle
                    && p.statement.predicate_type == registry_core::attest::predicates::OMS_V1
            })
        })
        .map(|b| b.body.clone())
}
