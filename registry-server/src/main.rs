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
    let router = registry_server::build_router(state);
    let grace = Duration::from_secs(config.shutdown_grace);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = registry_server::serve(listener, router, async move {
        shutdown_signal().await;
        let _ = tx.send(());
    });
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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
