//! `registry-server`: reads configuration, starts logging, and serves until SIGTERM or Ctrl-C; the admin
//! subcommands (tokens, keys, namespace settings, server keys, scrub, gc) live in `admin`.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use registry_server::config::{Config, EXAMPLE, ServeArgs};

mod admin;
use admin::{
    KeysCmd, NamespaceCmd, TokenCmd, gc_cmd, gc_options, keys_cmd, namespace_cmd, scrub_cmd, scrub_rates,
    server_keys_cmd, token_cmd,
};

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
    /// Print the transparency log's verifier key (creating the signing key file on first use, or
    /// reading the public key from the token with --log-key-pkcs11).
    LogKey,
    /// Print the public key (PEM) that signs promotion decisions (VSAs) (creating the key file on
    /// first use, or reading the public key from the token with --attestation-key-pkcs11).
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
            scrub_rates(&config),
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
    // Webhook deliveries (docs/events.md): idle while there is no subscription.
    let webhooks = registry_server::service::webhooks::deliver::spawn(state.clone());
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
    webhooks.stop().await;
    db.close().await;
    Ok(())
}

/// Transparent huge pages off for this process (docs/decisions.md §27): with THP on (`always`, the
/// default of many distributions) the allocator's partly used 2 MiB pages are resident whole, which
/// tripled the server's RSS after a 2,000-file pull (65 -> 174 MiB anonymous; 48 -> 99 MiB with THP off).
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!(
            "registry-server: could not turn transparent huge pages off ({e}); memory use may be higher"
        );
    }
}

fn main() -> std::process::ExitCode {
    // Both before any other thread exists: the allocator's options are plain stores in C.
    no_huge_pages();
    // Freed memory back to the OS at once, unless MIMALLOC_PURGE_DELAY says otherwise (decisions §34).
    registry_server::alloc::return_freed_memory_at_once();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("registry-server: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve_or_run())
}

async fn serve_or_run() -> std::process::ExitCode {
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
        Cmd::LogKey => registry_server::service::log::LogKey::load(&config).map(|k| println!("{}", k.vkey())),
        Cmd::Scrub => scrub_cmd(&config).await,
        Cmd::ServerKeys { accept, json } => server_keys_cmd(&config, accept, json).await,
        Cmd::Gc { grace, json } => gc_cmd(&config, grace, json).await,
        Cmd::AttestationKey => registry_server::service::keys::load_attestation_key(&config)
            .map(|k| print!("{}", k.public().to_pem())),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
