//! `registry pull NS/NAME@V -o DIR [--force]`.
use std::path::PathBuf;

use registry_client::attest::read_public_key;
use registry_client::pull::pull;
use registry_client::tlog::check_version;

use crate::progress::Bars;
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION (or @sha256:<manifest digest>).
    reference: String,
    /// Output directory (created; must be empty unless --force).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace a non-empty output directory.
    #[arg(long)]
    force: bool,
    /// Before downloading, verify the version's attestations with this public key (PEM); refuse the
    /// pull (exit 3, nothing written) unless one verifies. Repeatable.
    #[arg(long, value_name = "PUB")]
    verify_with: Vec<PathBuf>,
    /// With --verify-with: require a verified attestation of this predicate type. Repeatable.
    #[arg(long, value_name = "URI", requires = "verify_with")]
    require_predicate: Vec<String>,
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
    // Before any byte is written: the version must be in the pinned log, and its attestations must
    // verify with the --verify-with keys (at least one, or every --require-predicate).
    let keys = a.verify_with.iter().map(|p| read_public_key(p)).collect::<Result<Vec<_>, _>>()?;
    let c = check_version(&client, &model, &reference, &keys, &a.require_predicate, None).await?;
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
    if c.bundle.version.quarantined {
        if !a.allow_quarantined {
            return Err(Failure::Verification(format!(
                "{model}@{reference} is quarantined; nothing was written (--allow-quarantined for forensics)"
            )));
        }
        eprintln!("registry: warning: {model}@{reference} is QUARANTINED (pulling for forensics)");
    }
    let reference = c.bundle.version.manifest_digest.to_string(); // exactly the version just checked
    let r = pull(&client, &model, &reference, &a.output, a.force, Bars::new(ctx.json), a.jobs).await?;
    if let Some(path) = &a.signature_out {
        let list = client.list_attestations(&model, &r.version.version).await?;
        let oms = list
            .attestations
            .iter()
            .find(|i| {
                i.predicate_type == registry_core::attest::predicates::OMS_V1 && i.format == "sigstore_bundle"
            })
            .ok_or_else(|| {
                anyhow::anyhow!("{model}@{} has no OpenSSF Model Signing bundle", r.version.version)
            })?;
        let bytes = client.attestation_bytes(&model, &r.version.version, oms).await?;
        std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    if ctx.json {
        super::print_json(&r)?;
    } else {
        println!("{model}@{} {} -> {}", r.version.version, r.version.manifest_digest, r.dir.display());
        eprintln!("verified {} files, {} bytes", r.files, r.bytes);
    }
    Ok(())
}
