//! `keys`, `namespace` and `server-keys`: trusted signer keys, namespace settings and the server's own
//! keys, managed directly in the database beside the server.
use anyhow::Context;
use clap::Subcommand;
use registry_server::config::Config;

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Trust a public key (PEM) for a namespace pattern, optionally only for some predicate types.
    Add {
        /// Models covered: *, NAMESPACE/* or NAMESPACE/NAME.
        #[arg(long, value_parser = registry_core::auth::NamePattern::parse)]
        namespace: registry_core::auth::NamePattern,
        /// The public key file (PEM SubjectPublicKeyInfo, ECDSA P-256 or Ed25519).
        #[arg(long)]
        public_key: std::path::PathBuf,
        /// Only for this predicate type (repeatable; default: any).
        #[arg(long)]
        predicate_type: Vec<String>,
    },
    /// List trusted keys.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key (for one pattern, or every pattern).
    Revoke {
        /// Key id (sha256:...).
        key_id: String,
        /// Only for this pattern.
        #[arg(long, value_parser = registry_core::auth::NamePattern::parse)]
        namespace: Option<registry_core::auth::NamePattern>,
    },
}

#[derive(Subcommand)]
pub enum NamespaceCmd {
    /// Set a namespace's settings.
    Set {
        /// The namespace.
        namespace: String,
        /// Refuse pushes without signed SLSA provenance bound to the manifest.
        #[arg(long, action = clap::ArgAction::Set)]
        require_provenance: bool,
    },
}

pub async fn keys_cmd(config: &Config, cmd: KeysCmd) -> anyhow::Result<()> {
    use registry_server::service::attest;
    let db = registry_server::db::Db::open(&config.database_url, config.migrate).await?;
    let err = |e: registry_server::error::ApiError| anyhow::anyhow!("{e}");
    let r: anyhow::Result<()> = async {
        match cmd {
            KeysCmd::Add { namespace, public_key, predicate_type } => {
                let pem = std::fs::read_to_string(&public_key)
                    .with_context(|| format!("reading {}", public_key.display()))?;
                let req = registry_core::api::AddKeyRequest {
                    namespace,
                    public_key: pem,
                    predicate_types: predicate_type,
                };
                let k = attest::add_key(&db, "local-admin", req).await.map_err(err)?;
                println!("trusted {} ({}) for {}", k.key_id, k.kind, k.namespace);
            }
            KeysCmd::List { json } => {
                let rows = db.keys_list().await?;
                let keys = rows.iter().map(attest::key_info).collect::<Result<Vec<_>, _>>().map_err(err)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&keys)?);
                } else {
                    for k in keys {
                        let types = if k.predicate_types.is_empty() {
                            "any predicate".into()
                        } else {
                            k.predicate_types.join(",")
                        };
                        let state =
                            k.revoked_at.map(|r| format!("revoked {r}")).unwrap_or_else(|| "trusted".into());
                        println!("{}\t{}\t{}\t{}\t{}", k.key_id, k.kind, k.namespace, types, state);
                    }
                }
            }
            KeysCmd::Revoke { key_id, namespace } => {
                let id = registry_core::Digest::parse(&key_id)?;
                let n = attest::revoke_key(&db, "local-admin", &id, namespace.as_ref()).await.map_err(err)?;
                println!("revoked {id} ({n} pattern(s))");
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    r
}

pub async fn namespace_cmd(config: &Config, cmd: NamespaceCmd) -> anyhow::Result<()> {
    let db = registry_server::db::Db::open(&config.database_url, config.migrate).await?;
    let NamespaceCmd::Set { namespace, require_provenance } = cmd;
    let ns = registry_core::name::parse_namespace(&namespace)?;
    registry_server::service::attest::set_namespace(&db, "local-admin", &ns, require_provenance)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{ns}: require_provenance = {require_provenance}");
    db.close().await;
    Ok(())
}

pub async fn server_keys_cmd(config: &Config, accept: bool, json: bool) -> anyhow::Result<()> {
    use registry_server::service::server_keys::{self, Configured, one_line};
    let db = registry_server::db::Db::open(&config.database_url, config.migrate).await?;
    let log = registry_server::service::log::LogKey::load(config)?;
    let att = registry_server::service::keys::load_attestation_key(config)?;
    let webhook = registry_server::service::webhooks::seal::SealKey::from_config(config)?;
    let keys = Configured {
        log: log.vkey(),
        attestation: att.public().to_pem(),
        webhook: webhook.fingerprint().to_owned(),
    };
    let r = async {
        if accept {
            server_keys::accept(&db, &keys).await?;
        }
        let rows = server_keys::status(&db, &keys).await?;
        if json {
            let v: Vec<_> = rows
                .iter()
                .map(|(p, configured, recorded)| {
                    serde_json::json!({"purpose": p.as_str(), "configured": configured, "recorded": recorded,
                                       "matches": recorded.as_deref() == Some(configured.as_str())})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            for (p, configured, recorded) in &rows {
                let state = match recorded {
                    Some(r) if r == configured => "recorded, matches".to_owned(),
                    Some(r) => format!("MISMATCH: recorded {}", one_line(r)),
                    None => "not recorded yet (recorded at the next start)".to_owned(),
                };
                println!("{}\t{}\t{state}", p.as_str(), one_line(configured));
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    r
}
