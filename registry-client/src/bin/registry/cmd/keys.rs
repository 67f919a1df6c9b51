//! `registry keygen`, `registry attest`, `registry keys list|add|revoke`.
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use registry_client::attest::{generate_key, read_signing_key};
use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use registry_core::attest::intoto::Statement;
use registry_core::attest::keys::KeyKind;
use registry_core::auth::NamePattern;

use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Writes NAME.key (private, mode 0600) and NAME.pub.
    #[arg(long, value_name = "NAME")]
    out: PathBuf,
    /// Key type.
    #[arg(long = "type", value_enum, default_value_t = KeyType::P256)]
    kind: KeyType,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KeyType {
    /// ECDSA P-256 (what cosign and model_signing use).
    P256,
    /// Ed25519.
    Ed25519,
}

fn write_new(path: &PathBuf, bytes: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).mode(mode);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let mut f = o.open(path).with_context(|| format!("{} (use --force to overwrite)", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

pub async fn keygen(ctx: &Ctx, a: KeygenArgs) -> Result<(), Failure> {
    let kind = match a.kind {
        KeyType::P256 => KeyKind::P256,
        KeyType::Ed25519 => KeyKind::Ed25519,
    };
    let key = generate_key(kind)?;
    let (private, public) = (a.out.with_extension("key"), a.out.with_extension("pub"));
    write_new(&private, key.to_pkcs8_pem().as_bytes(), 0o600, a.force)?;
    write_new(&public, key.public().to_pem().as_bytes(), 0o644, a.force)?;
    if ctx.json {
        super::print_json(&serde_json::json!({
            "key_id": key.public().key_id(), "type": kind.to_string(),
            "private_key": private, "public_key": public,
        }))?;
    } else {
        println!("{} {}", key.public().key_id(), public.display());
        eprintln!("wrote {} (mode 0600) and {}", private.display(), public.display());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct AttestArgs {
    /// NAMESPACE/NAME@VERSION.
    reference: String,
    /// The predicate's type URI (e.g. https://in-toto.io/attestation/test-result/v0.1).
    #[arg(long, requires_all = ["predicate", "sign_key"], conflicts_with = "envelope")]
    predicate_type: Option<String>,
    /// The predicate (a JSON file).
    #[arg(long, requires = "predicate_type")]
    predicate: Option<PathBuf>,
    /// The private key (PEM) to sign with.
    #[arg(long, requires = "predicate_type")]
    sign_key: Option<PathBuf>,
    /// Instead: attach a DSSE envelope or Sigstore bundle signed elsewhere, as is.
    #[arg(long, value_name = "FILE", required_unless_present = "predicate_type")]
    envelope: Option<PathBuf>,
}

/// Signs a statement about the version's manifest and adds it.
pub async fn attest(ctx: &Ctx, a: AttestArgs) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let client = ctx.client()?;
    let v = client.get_version(&model, &reference).await?;
    client.get_manifest(&v).await?; // the digest we sign must be the one the manifest hashes to
    let raw = match (&a.envelope, &a.predicate_type, &a.predicate, &a.sign_key) {
        (Some(f), ..) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
        (None, Some(pt), Some(pf), Some(kf)) => {
            let key = read_signing_key(kf)?;
            let text = std::fs::read(pf).with_context(|| format!("reading {}", pf.display()))?;
            let predicate: serde_json::Value =
                serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", pf.display()))?;
            let st = Statement::new(
                vec![Statement::subject(&model.to_string(), &v.manifest_digest)],
                pt,
                predicate,
            );
            Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st)?, &[&key]).to_json()
        }
        _ => {
            return Err(anyhow::anyhow!(
                "give --envelope FILE, or --predicate-type, --predicate and --sign-key"
            )
            .into());
        }
    };
    let info = client.add_attestation(&model, &v.version, raw).await?;
    if ctx.json {
        return Ok(super::print_json(&info)?);
    }
    println!(
        "{model}@{} attestation {} {} signed by {}",
        v.version, info.id, info.predicate_type, info.signer_key_id
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct AttestationsArgs {
    /// NAMESPACE/NAME@VERSION.
    reference: String,
    /// Also write each attestation's exact bytes to DIR/<id>.json.
    #[arg(long, value_name = "DIR")]
    download: Option<PathBuf>,
}

/// Lists a version's attestations (the registry's view; `registry verify --trusted-key` checks them).
pub async fn attestations(ctx: &Ctx, a: AttestationsArgs) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let client = ctx.client()?;
    let v = client.get_version(&model, &reference).await?;
    let list = client.list_attestations(&model, &v.version).await?;
    if let Some(dir) = &a.download {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for info in &list.attestations {
            let bytes = client.attestation_bytes(&model, &v.version, info).await?;
            let path = dir.join(format!("{}.json", info.id));
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if ctx.json {
        return Ok(super::print_json(&list.attestations)?);
    }
    for i in list.attestations {
        // A keyless signer is its workload identity; a key, its id.
        let signer = match &i.signer_identity {
            Some(s) => format!("{} ({})", s.subject, s.issuer),
            None => i.signer_key_id.to_string(),
        };
        println!("{}\t{}\t{}\t{}\t{:?}\t{}", i.id, i.predicate_type, i.format, signer, i.binding, i.status);
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// Keys the registry trusts for attestations.
    List,
    /// Trust a public key for a namespace pattern (admin).
    Add {
        /// Models covered: *, NAMESPACE/* or NAMESPACE/NAME.
        #[arg(long, value_parser = NamePattern::parse)]
        namespace: NamePattern,
        /// The public key (PEM).
        #[arg(long)]
        public_key: PathBuf,
        /// Only for this predicate type (repeatable; default any).
        #[arg(long)]
        predicate_type: Vec<String>,
    },
    /// Trust a keyless signer (a Sigstore workload identity) for a namespace pattern (admin).
    AddIdentity {
        /// Models covered: *, NAMESPACE/* or NAMESPACE/NAME.
        #[arg(long, value_parser = NamePattern::parse)]
        namespace: NamePattern,
        /// The exact OIDC issuer (e.g. https://token.actions.githubusercontent.com).
        #[arg(long)]
        issuer: String,
        /// The exact certificate subject.
        #[arg(long, conflicts_with = "subject_regex", required_unless_present = "subject_regex")]
        subject: Option<String>,
        /// A Rust regex the whole subject must match (implicitly anchored).
        #[arg(long)]
        subject_regex: Option<String>,
        /// A certificate claim it must carry, NAME=VALUE (snake_case Fulcio extension names:
        /// source_repository_uri, source_repository_ref, build_config_uri, ...). Repeatable.
        #[arg(long, value_name = "NAME=VALUE")]
        claim: Vec<String>,
        /// Accept it only through this installed trust root.
        #[arg(long)]
        trust_root: Option<String>,
    },
    /// Stop trusting a key or an identity (admin): its attestations then show `signer_revoked` and new
    /// ones signed by it are refused.
    Revoke {
        /// The key id (sha256:...) or identity id (identity-N), as `keys list` prints it.
        key_id: String,
        /// Only for this pattern (default: every pattern the key is trusted for).
        #[arg(long, value_parser = NamePattern::parse)]
        namespace: Option<NamePattern>,
    },
}

pub async fn keys(ctx: &Ctx, cmd: KeysCmd) -> Result<(), Failure> {
    let client = ctx.client()?;
    match cmd {
        KeysCmd::List => {
            let list = client.list_keys().await?;
            let identities = client.list_identities().await?.identities;
            if ctx.json {
                return Ok(super::print_json(
                    &serde_json::json!({"keys": list.keys, "identities": identities}),
                )?);
            }
            for k in list.keys {
                let types = if k.predicate_types.is_empty() {
                    "any predicate".into()
                } else {
                    k.predicate_types.join(",")
                };
                println!(
                    "{}\t{}\t{}\t{}{}",
                    k.key_id,
                    k.kind,
                    k.namespace,
                    types,
                    k.revoked_at.map(|r| format!("\trevoked {r}")).unwrap_or_default()
                );
            }
            for i in identities {
                let subject = match (&i.subject, &i.subject_regex) {
                    (Some(s), _) => s.clone(),
                    (None, Some(re)) => format!("~{re}"),
                    (None, None) => String::new(),
                };
                let claims: Vec<String> = i.claims.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{}\tkeyless\t{}\t{} {}{}{}{}",
                    i.id,
                    i.namespace,
                    i.issuer,
                    subject,
                    if claims.is_empty() { String::new() } else { format!(" [{}]", claims.join(",")) },
                    i.trust_root.map(|r| format!(" via {r}")).unwrap_or_default(),
                    i.revoked_at.map(|r| format!("\trevoked {r}")).unwrap_or_default()
                );
            }
        }
        KeysCmd::AddIdentity { namespace, issuer, subject, subject_regex, claim, trust_root } => {
            let mut claims = std::collections::BTreeMap::new();
            for c in &claim {
                let (k, v) =
                    c.split_once('=').ok_or_else(|| anyhow::anyhow!("--claim {c:?}: expected NAME=VALUE"))?;
                claims.insert(k.to_owned(), v.to_owned());
            }
            let req = registry_core::api::AddIdentityRequest {
                namespace,
                issuer,
                subject,
                subject_regex,
                claims,
                trust_root,
            };
            let i = client.add_identity(&req).await?;
            if ctx.json {
                return Ok(super::print_json(&i)?);
            }
            println!("trusted {} for {}", i.id, i.namespace);
        }
        KeysCmd::Revoke { key_id, namespace } if key_id.starts_with("identity-") => {
            if namespace.is_some() {
                return Err(
                    anyhow::anyhow!("--namespace applies to keys; an identity has one pattern").into()
                );
            }
            client.revoke_identity(&key_id).await?;
            if ctx.json {
                return Ok(super::print_json(&serde_json::json!({"revoked": key_id}))?);
            }
            println!("revoked {key_id}");
        }
        KeysCmd::Add { namespace, public_key, predicate_type } => {
            let pem = std::fs::read_to_string(&public_key)
                .with_context(|| format!("reading {}", public_key.display()))?;
            let k = client
                .add_key(&registry_core::api::AddKeyRequest {
                    namespace,
                    public_key: pem,
                    predicate_types: predicate_type,
                })
                .await?;
            if ctx.json {
                return Ok(super::print_json(&k)?);
            }
            println!("trusted {} for {}", k.key_id, k.namespace);
        }
        KeysCmd::Revoke { key_id, namespace } => {
            let id = registry_core::Digest::parse(&key_id).map_err(|e| {
                anyhow::anyhow!(
                    "key id {key_id:?}: {e} (use the sha256:... or identity-N id `keys list` prints)"
                )
            })?;
            client.revoke_key(&id, namespace.as_ref()).await?;
            let scope = namespace.map(|n| n.to_string()).unwrap_or_else(|| "every pattern".into());
            if ctx.json {
                return Ok(super::print_json(&serde_json::json!({"revoked": id, "namespace": scope}))?);
            }
            println!("revoked {id} for {scope}");
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum TrustRootCmd {
    /// Sigstore trust roots installed on the registry.
    List,
    /// Install a trusted_root.json under a name, replacing a root of that name (admin).
    Add {
        /// The trusted_root.json file.
        file: PathBuf,
        /// Its name (identities refer to it with --trust-root).
        #[arg(long)]
        name: String,
    },
    /// Remove a trust root (admin).
    Remove {
        /// Its name.
        name: String,
    },
}

pub async fn trust_root(ctx: &Ctx, cmd: TrustRootCmd) -> Result<(), Failure> {
    let client = ctx.client()?;
    match cmd {
        TrustRootCmd::List => {
            let list = client.list_trust_roots().await?;
            if ctx.json {
                return Ok(super::print_json(&list.roots)?);
            }
            for r in list.roots {
                println!("{}\t{}\t{} {}", r.name, r.digest, r.added_by, r.added_at);
            }
        }
        TrustRootCmd::Add { file, name } => {
            let body = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = client.put_trust_root(&name, body).await?;
            if ctx.json {
                return Ok(super::print_json(&r)?);
            }
            println!("trust root {} is {}", r.name, r.digest);
        }
        TrustRootCmd::Remove { name } => {
            client.remove_trust_root(&name).await?;
            if ctx.json {
                return Ok(super::print_json(&serde_json::json!({"removed": name}))?);
            }
            println!("removed trust root {name}");
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct VerifySigstoreBundleArgs {
    /// The Sigstore bundle (JSON).
    bundle: PathBuf,
    /// The artifact it signs.
    #[arg(long)]
    artifact: PathBuf,
    /// The trust root (trusted_root.json) to verify against, offline.
    #[arg(long)]
    trusted_root: PathBuf,
    /// Keyless: the exact certificate identity (email or URI, e.g. a workflow).
    #[arg(long, requires = "issuer", conflicts_with_all = ["key", "trusted_identity"])]
    identity: Option<String>,
    /// Keyless: the exact OIDC issuer.
    #[arg(long, requires = "identity")]
    issuer: Option<String>,
    /// Keyless: a trusted signer as ISSUER=SUBJECT_REGEX (split at the first `=`; the pattern must
    /// match the whole subject). Repeatable: any one of them may have signed.
    #[arg(long, value_name = "ISSUER=SUBJECT_REGEX", conflicts_with = "key")]
    trusted_identity: Vec<String>,
    /// Keyless: a certificate claim every --trusted-identity requires, NAME=VALUE (snake_case Fulcio
    /// extension names: source_repository_uri, source_repository_ref, build_config_uri, ...). Repeatable.
    #[arg(long, value_name = "NAME=VALUE", requires = "trusted_identity")]
    claim: Vec<String>,
    /// Key-based: the public key (PEM).
    #[arg(long, required_unless_present_any = ["identity", "trusted_identity"])]
    key: Option<PathBuf>,
}

/// Verifies a third-party Sigstore bundle offline (cosign, GitHub attestations, key-based).
pub async fn verify_sigstore_bundle(ctx: &Ctx, a: VerifySigstoreBundleArgs) -> Result<(), Failure> {
    use registry_client::sigstore::{Signer, verify_sigstore_bundle_files};
    let signer = match (a.identity, a.issuer, &a.key) {
        (Some(identity), Some(issuer), None) => Signer::Identity { identity, issuer },
        (None, None, None) if !a.trusted_identity.is_empty() => {
            Signer::Trusted(registry_client::sigstore::trusted_identities(&a.trusted_identity, &a.claim)?)
        }
        (None, None, Some(k)) => {
            Signer::Key(std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?)
        }
        _ => return Err(anyhow::anyhow!("give --identity and --issuer, --trusted-identity, or --key").into()),
    };
    let r = verify_sigstore_bundle_files(&a.bundle, &a.artifact, &a.trusted_root, &signer)?;
    if ctx.json {
        return Ok(super::print_json(&r)?);
    }
    println!(
        "✓ {} verified{}{}{}",
        a.artifact.display(),
        r.identity.map(|i| format!(", signed by {i}")).unwrap_or_default(),
        r.claims.get("source_repository_ref").map(|r| format!(" on {r}")).unwrap_or_default(),
        r.integrated_time.map(|t| format!(", logged {t}")).unwrap_or_default()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct AuditBundleArgs {
    /// NAMESPACE/NAME@VERSION.
    reference: String,
    /// Where to write the bundle.
    #[arg(short, long)]
    output: PathBuf,
}

/// Downloads a version's auditor bundle after checking its checkpoint against the pinned log.
pub async fn audit_bundle(ctx: &Ctx, a: AuditBundleArgs) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let client = ctx.client()?;
    let expect = registry_client::tlog::Expect::default();
    let c = registry_client::tlog::check_version(&client, &model, &reference, &expect, None).await?;
    if !c.report.ok() {
        for f in c.report.findings.iter().filter(|f| !f.ok) {
            eprintln!("✗ {}", f.what);
        }
        return Err(Failure::Verification(format!("the bundle of {model}@{reference} does not check out")));
    }
    std::fs::write(&a.output, serde_json::to_vec_pretty(&c.audit_bundle)?)
        .with_context(|| format!("writing {}", a.output.display()))?;
    if ctx.json {
        return Ok(super::print_json(
            &serde_json::json!({"bundle": a.output, "log_key": c.log.key.to_vkey()}),
        )?);
    }
    println!("{}", a.output.display());
    eprintln!(
        "bundle of {model}@{} ({} attestations, {} log entries, checkpoint size {}); verify offline with --log-key '{}'",
        c.audit_bundle.version.version,
        c.audit_bundle.attestations.len(),
        c.audit_bundle.log.entries.len(),
        c.log.checkpoint.size,
        c.log.key.to_vkey()
    );
    Ok(())
}
