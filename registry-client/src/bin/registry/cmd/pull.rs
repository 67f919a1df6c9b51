//! `registry pull NS/NAME@REF -o DIR [--force]`: the version is checked against the pinned log first,
//! bound to what was asked (the model, the label or manifest digest, or the alias's newest logged
//! move), and then exactly that version's manifest is downloaded: no second lookup.
use std::path::PathBuf;

use registry_client::attest::read_public_key;
use registry_client::pull::{PullOptions, pull_verified};
use registry_client::tlog::Expect;

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
    /// Or keyless: verify with a Sigstore root and trusted identities (as `registry verify`).
    #[command(flatten)]
    keyless: super::verify::KeylessArgs,
    /// With --verify-with or --trusted-identity: require a verified attestation of this predicate
    /// type. Repeatable.
    #[arg(long, value_name = "URI")]
    require_predicate: Vec<String>,
    /// With --verify-with or --trusted-identity: write files that no verified attestation covers
    /// (e.g. left out by a model signature's ignore_paths) instead of refusing the pull.
    #[arg(long)]
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
    let keyless = a.keyless.load()?;
    if (!a.require_predicate.is_empty() || a.allow_unsigned_files)
        && keys.is_empty()
        && keyless.identities.is_empty()
    {
        return Err(anyhow::anyhow!(
            "--require-predicate and --allow-unsigned-files need --verify-with or --trusted-identity"
        )
        .into());
    }
    let opts = PullOptions {
        expect: Expect {
            keys: &keys,
            required: &a.require_predicate,
            allow_unsigned_files: a.allow_unsigned_files,
            roots: &keyless.roots,
            identities: &keyless.identities,
        },
        force: a.force,
        allow_quarantined: a.allow_quarantined,
        signature: a.signature_out.is_some(),
        jobs: a.jobs,
    };
    let p = pull_verified(&client, &model, &reference, &a.output, &opts, Bars::new(ctx.json)).await?;
    if let Some(key) = &p.first_use {
        eprintln!("registry: trusting the log key {key} of {} from now on (first use)", ctx.registry);
    }
    for w in &p.warnings {
        eprintln!("registry: warning: {w}");
    }
    if let (Some(path), Some(bytes)) = (&a.signature_out, &p.signature) {
        std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    let r = p.report;
    if ctx.json {
        let mut out = serde_json::to_value(&r)?;
        out["logged_at"] = serde_json::json!(p.logged_at);
        out["unverified"] = serde_json::json!(["version.created_at"]);
        super::print_json(&out)?;
    } else {
        println!("{model}@{} {} -> {}", r.version.version, r.version.manifest_digest, r.dir.display());
        eprintln!("verified {} files, {} bytes", r.files, r.bytes);
    }
    Ok(())
}
