//! `registry-server`: reads configuration, starts logging, and serves until SIGTERM or Ctrl-C.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use registry_server::config::{Config, EXAMPLE, ServeArgs};

#[derive(Parser)]
#[command(name = "registry-server", version, about = "Model registry server")]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API (the default).
    Serve,
    /// Print an example configuration file.
    DefaultConfig,
    /// Manage API tokens directly in the database (beside the server; same configuration).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Manage trusted signer keys directly in the database.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Namespace settings.
    #[command(subcommand)]
    Namespace(NamespaceCmd),
    /// Print the transparency log's verifier key (creating the signing key on first use).
    LogKey,
    /// Print the public key (PEM) that signs promotion decisions (VSAs), creating it on first use.
    AttestationKey,
    /// Show the server keys the database recorded next to the configured ones; with --accept,
    /// record the configured ones instead (the step of a deliberate rotation, see
    /// docs/operations.md). A server whose keys differ from the recorded ones refuses to start.
    ServerKeys {
        /// Record the configured keys in place of the recorded ones.
        #[arg(long)]
        accept: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one scrub pass now (every blob re-hashed, attestations and log entries re-checked) and
    /// print what it found as JSON; exit 1 if anything was.
    Scrub,
    /// Run one garbage collection pass now: remove blobs no version references and nobody touched
    /// within the grace period, expired upload sessions, and unknown objects; print what was reclaimed.
    Gc {
        /// Grace period in seconds [default: the gc_grace setting].
        #[arg(long)]
        grace: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
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
enum NamespaceCmd {
    /// Set a namespace's settings.
    Set {
        /// The namespace.
        namespace: String,
        /// Refuse pushes without signed SLSA provenance bound to the manifest.
        #[arg(long, action = clap::ArgAction::Set)]
        require_provenance: bool,
    },
}

async fn keys_cmd(config: &Config, cmd: KeysCmd) -> anyhow::Result<()> {
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

async fn namespace_cmd(config: &Config, cmd: NamespaceCmd) -> anyhow::Result<()> {
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

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print it (shown once).
    Create {
        /// Unique name; recorded as `token:NAME` in everything it does.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, push, attest, promote, admin.
        #[arg(long)]
        scopes: String,
        /// Models covered: *, NAMESPACE/* or NAMESPACE/NAME.
        #[arg(long, value_parser = registry_core::auth::NamePattern::parse)]
        namespace: registry_core::auth::NamePattern,
        /// Expiry: RFC 3339 time, or a duration like 90d, 12h, 30m.
        #[arg(long)]
        expires: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or name.
    Revoke {
        /// Id or name.
        id: String,
    },
}

/// `90d`, `12h`, `30m`, `45s` from now, or an RFC 3339 time, as RFC 3339.
fn expiry(s: &str) -> anyhow::Result<String> {
    let unit = |c: char| match c {
        'd' => Some(86_400),
        'h' => Some(3_600),
        'm' => Some(60),
        's' => Some(1),
        _ => None,
    };
    if let Some(last) = s.chars().last()
        && let Some(secs) = unit(last)
        && let Ok(n) = s[..s.len() - 1].parse::<i64>()
    {
        let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(n.saturating_mul(secs));
        return Ok(t.format(&time::format_description::well_known::Rfc3339)?);
    }
    Ok(s.to_owned())
}

async fn token_cmd(config: &Config, cmd: TokenCmd) -> anyhow::Result<()> {
    use registry_server::{auth::Actor, service::tokens};
    let db = registry_server::db::Db::open(&config.database_url, config.migrate).await?;
    let r = match cmd {
        TokenCmd::Create { name, scopes, namespace, expires, json } => {
            let expires_at = expires.as_deref().map(expiry).transpose()?;
            let scopes = registry_core::auth::parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let req = registry_core::auth::CreateTokenRequest { name, scopes, namespace, expires_at };
            let t =
                tokens::create(&db, &Actor::local_admin(), req).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                eprintln!(
                    "created token {} ({}) for {}; it is shown only now:",
                    t.info.name, t.info.id, t.info.namespace
                );
                println!("{}", t.token);
            }
            Ok(())
        }
        TokenCmd::List { json } => {
            let list = tokens::list(&db).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for t in list {
                    let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                    let state = match (&t.revoked_at, &t.expires_at) {
                        (Some(r), _) => format!("revoked {r}"),
                        (None, Some(e)) => format!("expires {e}"),
                        (None, None) => "no expiry".into(),
                    };
                    println!("{}\t{}\t{}\t{}\t{}", t.id, t.name, scopes.join(","), t.namespace, state);
                }
            }
            Ok(())
        }
        TokenCmd::Revoke { id } => {
            let t = tokens::revoke(&db, &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("revoked {} ({})", t.name, t.id);
            Ok(())
        }
    };
    db.close().await;
    r
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGISTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn server_keys_cmd(config: &Config, accept: bool, json: bool) -> anyhow::Result<()> {
    use registry_server::service::server_keys::{self, Configured, one_line};
    let db = registry_server::db::Db::open(&config.database_url, config.migrate).await?;
    let log = registry_server::service::log::LogKey::load_or_create(
        &config.log_key_file,
        config.log_origin.as_deref(),
    )?;
    let att = registry_server::service::promote::load_or_create_key(&config.attestation_key_file)?;
    let keys = Configured { log: log.vkey(), attestation: att.public().to_pem() };
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

async fn scrub_cmd(config: &Config) -> anyhow::Result<()> {
    let state = registry_server::open_state(config).await?;
    let r = registry_server::service::scrub::pass(&state, config.scrub_rate, &state.scrub)
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
fn gc_options(config: &Config, grace: Option<u64>) -> registry_server::service::gc::GcOptions {
    use registry_server::service::gc;
    let grace = Duration::from_secs(grace.unwrap_or(config.gc_grace));
    gc::GcOptions {
        upload_idle: Duration::from_secs(config.gc_upload_idle),
        ..gc::GcOptions::new(grace, grace.max(gc::ORPHAN_MIN_AGE))
    }
}

async fn gc_cmd(config: &Config, grace: Option<u64>, json: bool) -> anyhow::Result<()> {
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let state = registry_server::open_state(&config).await?;
    registry_server::clear_staged_uploads(&state).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        database = ?state.db.backend(),
        blobs = state.blobs.describe(),
        "registry-server ready"
    );
    let db = state.db.clone();
    if config.scrub_interval > 0 {
        let interval = Duration::from_secs(config.scrub_interval);
        tokio::spawn(registry_server::service::scrub::run(
            state.clone(),
            interval,
            config.scrub_rate,
            state.scrub.clone(),
        ));
    }
    if config.gc_interval > 0 {
        tokio::spawn(registry_server::service::gc::run(
            state.clone(),
            Duration::from_secs(config.gc_interval),
            gc_options(&config, None),
        ));
    }
    let limits = registry_server::conn::ConnLimits {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections,
        metrics: Some(state.metrics.clone()),
    };
    let router = registry_server::build_router(state);
    let grace = Duration::from_secs(config.shutdown_grace);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = registry_server::conn::serve_with(
        listener,
        router,
        async move {
            shutdown_signal().await;
            let _ = tx.send(());
        },
        limits,
    );
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r?,
        _ = async { let _ = rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = config.shutdown_grace, "in-flight requests did not finish in time; aborting them");
        }
    }
    db.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.serve) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("registry-server: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = match cli.cmd.unwrap_or(Cmd::Serve) {
        Cmd::DefaultConfig => {
            print!("{EXAMPLE}");
            Ok(())
        }
        Cmd::Serve => {
            init_logging(&config.log_format);
            serve(config).await
        }
        Cmd::Token(t) => token_cmd(&config, t).await,
        Cmd::Keys(k) => keys_cmd(&config, k).await,
        Cmd::Namespace(n) => namespace_cmd(&config, n).await,
        Cmd::LogKey => registry_server::service::log::LogKey::load_or_create(
            &config.log_key_file,
            config.log_origin.as_deref(),
        )
        .map(|k| println!("{}", k.vkey())),
        Cmd::Scrub => scrub_cmd(&config).await,
        Cmd::ServerKeys { accept, json } => server_keys_cmd(&config, accept, json).await,
        Cmd::Gc { grace, json } => gc_cmd(&config, grace, json).await,
        Cmd::AttestationKey => {
            registry_server::service::promote::load_or_create_key(&config.attestation_key_file)
                .map(|k| print!("{}", k.public().to_pem()))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
