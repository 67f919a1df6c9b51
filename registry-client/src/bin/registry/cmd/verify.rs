//! `registry verify NS/NAME@V [--dir DIR] [--trusted-key PUB]... [--trust-root FILE --trusted-identity
//! ISSUER=SUBJECT_REGEX]... [--require-predicate URI]...` checks a
//! version against the pinned transparency log through its auditor bundle: the checkpoint is signed by
//! the log key and extends the one seen before, the version and every attestation are in the log, the
//! attestations verify with the keys or keyless identities given (never the registry's verdict), and `--dir` matches the
//! manifest. `--offline --bundle FILE --log-key KEY [NS/NAME@REF]` does the same with no network at all.
//! Every check is bound to the reference asked for; quarantine and corruption are read from the log.
use std::path::PathBuf;

use registry_client::attest::read_public_key;
use registry_client::sigstore::KeylessTrust;
use registry_client::tlog::{Expect, read_log_key};
use registry_client::verify::{VerifyOptions, conclude, verify_version};
use registry_core::attest::{Trust, TrustedKey};
use registry_core::audit_bundle::{AuditBundle, Policy, Request, verify_audit_bundle};

use crate::progress::Bars;
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION, @ALIAS or @sha256:DIGEST (a manifest digest). With --offline, optional: the
    /// bundle must then be about exactly this.
    #[arg(required_unless_present = "offline")]
    reference: Option<String>,
    /// The directory to check against the manifest.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// A public key (PEM) whose attestations you trust. Repeatable.
    #[arg(long, value_name = "PUB")]
    trusted_key: Vec<PathBuf>,
    #[command(flatten)]
    keyless: KeylessArgs,
    /// Fail unless an attestation of this predicate type verifies. Repeatable.
    #[arg(long, value_name = "URI")]
    require_predicate: Vec<String>,
    /// Verify a bundle file with no network (needs --bundle and --log-key).
    #[arg(long, requires_all = ["bundle", "log_key"])]
    offline: bool,
    /// The auditor bundle (from `registry bundle`).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// The log's verifier key (text or a file with it, as `GET /v1/log/key` serves it). Online, it must
    /// match the key pinned for this registry; by default the pinned key (first use: the registry's).
    #[arg(long, value_name = "KEY")]
    log_key: Option<String>,
    /// Do not fail because the version is quarantined (forensics); it is still reported.
    #[arg(long)]
    allow_quarantined: bool,
    /// Do not fail because some files are covered by no verified attestation (they are still listed).
    #[arg(long)]
    allow_unsigned_files: bool,
}

/// Keyless trust on the command line (`verify`, `pull`).
#[derive(clap::Args)]
pub struct KeylessArgs {
    /// A Sigstore trusted_root.json that keyless attestations must chain to (offline; no network).
    /// Repeatable.
    #[arg(long, value_name = "FILE", alias = "trusted-root")]
    trust_root: Vec<PathBuf>,
    /// A keyless signer you trust, ISSUER=SUBJECT_REGEX (split at the first `=`; the pattern must
    /// match the whole certificate subject). Repeatable; needs --trust-root.
    #[arg(long, value_name = "ISSUER=SUBJECT_REGEX")]
    trusted_identity: Vec<String>,
    /// A certificate claim every --trusted-identity requires, NAME=VALUE (snake_case Fulcio names,
    /// e.g. source_repository_ref=refs/heads/main). Repeatable.
    #[arg(long, value_name = "NAME=VALUE")]
    claim: Vec<String>,
}

impl KeylessArgs {
    /// The roots read and the identities parsed.
    pub fn load(&self) -> Result<KeylessTrust, registry_client::ClientError> {
        KeylessTrust::load(&self.trust_root, &self.trusted_identity, &self.claim)
    }
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let keys = a.trusted_key.iter().map(|p| read_public_key(p)).collect::<Result<Vec<_>, _>>()?;
    let keyless = a.keyless.load()?;
    let given = a.log_key.as_deref().map(read_log_key).transpose()?;
    let opts = VerifyOptions { dir: a.dir.as_deref(), allow_quarantined: a.allow_quarantined, threads: 0 };
    let verdict = if a.offline {
        let path = a.bundle.clone().unwrap_or_default();
        let text = std::fs::read(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let bundle: AuditBundle = serde_json::from_slice(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a bundle: {e}", path.display()))?;
        let trusted: Vec<TrustedKey> = keys.into_iter().map(TrustedKey::any).collect();
        let key = given.ok_or_else(|| anyhow::anyhow!("--offline needs --log-key"))?;
        let request = a.reference.as_deref().map(Request::parse).transpose()?;
        let policy = Policy {
            trust: Trust { keys: &trusted, roots: &keyless.roots, identities: &keyless.identities },
            required: &a.require_predicate,
            request: request.as_ref(),
            allow_unsigned_files: a.allow_unsigned_files,
        };
        let r = verify_audit_bundle(&bundle, &key, &policy);
        conclude(&bundle, r, &opts, Bars::new(ctx.json)).await?
    } else {
        let (model, reference) = super::parse_ref(a.reference.as_deref().unwrap_or_default())?;
        let client = ctx.client()?;
        let expect = Expect {
            keys: &keys,
            roots: &keyless.roots,
            identities: &keyless.identities,
            required: &a.require_predicate,
            allow_unsigned_files: a.allow_unsigned_files,
        };
        let v =
            verify_version(&client, &model, &reference, &expect, given.as_ref(), &opts, Bars::new(ctx.json))
                .await?;
        if let Some(key) = &v.first_use {
            eprintln!("registry: trusting the log key {key} of {} from now on (first use)", ctx.registry);
        }
        v
    };
    if ctx.json {
        super::print_json(&verdict)?;
    } else {
        for f in &verdict.checks {
            println!("{} {}", if f.ok { "✓" } else { "✗" }, f.what);
        }
    }
    let failed = verdict.failures().count();
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::Verification(format!("{failed} check(s) failed for {}", verdict.version)))
    }
}
