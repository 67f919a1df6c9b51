//! `registry`: the command-line client. Exit codes: 0 ok, 1 error, 2 usage, 3 verification failed or
//! promotion denied by policy.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use registry_client::ClientError;

mod cmd;
mod progress;

/// Model registry client: push, pull and verify model versions.
#[derive(Parser)]
#[command(name = "registry", version)]
struct Cli {
    /// Registry URL.
    #[arg(long, global = true, env = "REGISTRY_URL", default_value = "http://127.0.0.1:8080")]
    registry: String,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Push a model directory as a new version.
    Push(Box<cmd::push::Args>),
    /// Download a version into a directory, verifying every byte.
    Pull(cmd::pull::Args),
    /// Check a directory against a version's manifest.
    Verify(cmd::verify::Args),
    /// List models, or the versions of one model.
    Ls(cmd::ls::Args),
    /// Show one version's record.
    Show(cmd::show::Args),
    /// Store a token for this registry (read from stdin, checked, saved 0600).
    Login(cmd::auth::LoginArgs),
    /// Forget the stored token for this registry.
    Logout,
    /// Show who the registry thinks you are.
    Whoami,
    /// Manage API tokens (admin).
    #[command(subcommand)]
    Token(cmd::auth::TokenCmd),
    /// Who downloaded what (admin).
    Audit(cmd::auth::AuditArgs),
    /// Make a signing key pair (NAME.key 0600, NAME.pub).
    Keygen(cmd::keys::KeygenArgs),
    /// Sign a statement about an existing version and add it (evaluations, red-team reports, ...).
    Attest(cmd::keys::AttestArgs),
    /// Keys the registry trusts for attestations.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    /// Sigstore trust roots keyless attestations are verified against.
    #[command(subcommand)]
    TrustRoot(cmd::keys::TrustRootCmd),
    /// List (and download) a version's attestations.
    Attestations(cmd::keys::AttestationsArgs),
    /// Verify a third-party Sigstore bundle offline against a trust root.
    VerifyBundle(cmd::keys::VerifySigstoreBundleArgs),
    /// Download a version's auditor bundle (for `registry verify --offline`).
    Bundle(cmd::keys::AuditBundleArgs),
    /// Webhook subscriptions: events POSTed to your URL, signed (admin).
    #[command(subcommand)]
    Webhook(cmd::webhook::WebhookCmd),
    /// The registry's events (log entries you may see), oldest first; `tail --follow` waits for more.
    #[command(subcommand)]
    Events(cmd::events::EventsCmd),
    /// The transparency log: checkpoint, full replay.
    #[command(subcommand)]
    Log(cmd::log::LogCmd),
    /// Move an alias to a version, if the policies allow it (exit 3 when denied).
    Promote(cmd::promote::PromoteArgs),
    /// Move an alias back to its newest earlier target that still passes policy.
    Rollback(cmd::promote::RollbackArgs),
    /// Where aliases point, and their history.
    #[command(subcommand)]
    Alias(cmd::promote::AliasCmd),
    /// Promotion policies (Rego): set, get, list, dry-run test.
    #[command(subcommand)]
    Policy(cmd::promote::PolicyCmd),
    /// Every version a dataset, commit, signer key or version reached (through parents too).
    Affected(cmd::incident::AffectedArgs),
    /// What went into a version: datasets, code, signers, and its parents' the same way (a tree).
    Lineage(cmd::lineage::Args),
    /// Provenance coverage per namespace (signed provenance, datasets, OMS signatures, VSAs, quarantines).
    Report,
    /// Quarantine everything a seed reached (admin; --rollback moves aliases back); --lift, --list.
    Quarantine(cmd::incident::QuarantineArgs),
}

/// How a command ended, beyond success.
pub enum Failure {
    /// Exit 1.
    Error(anyhow::Error),
    /// Exit 3 (the message was printed).
    Verification(String),
    /// Exit 3: a policy said no.
    Denied(String),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let e: anyhow::Error = e.into();
        if let Some(ClientError::Verify(msg)) = e.downcast_ref::<ClientError>() {
            return Failure::Verification(msg.clone());
        }
        Failure::Error(e)
    }
}

/// Shared by every command.
pub struct Ctx {
    /// Registry URL.
    pub registry: String,
    /// `--json`.
    pub json: bool,
}

impl Ctx {
    fn client(&self) -> anyhow::Result<registry_client::Client> {
        let token = registry_client::credentials::token_for(&self.registry)?;
        Ok(registry_client::Client::new(&self.registry)?.with_token(token))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // `registry ls | head`: a closed stdout ends the program quietly (as `cat` does), not with a panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload_as_str().is_some_and(|m| m.contains("Broken pipe")) {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    let ctx = Ctx { registry: cli.registry, json: cli.json };
    let r = match cli.cmd {
        Cmd::Push(a) => cmd::push::run(&ctx, *a).await,
        Cmd::Pull(a) => cmd::pull::run(&ctx, a).await,
        Cmd::Verify(a) => cmd::verify::run(&ctx, a).await,
        Cmd::Ls(a) => cmd::ls::run(&ctx, a).await,
        Cmd::Show(a) => cmd::show::run(&ctx, a).await,
        Cmd::Login(a) => cmd::auth::login(&ctx, a).await,
        Cmd::Logout => cmd::auth::logout(&ctx).await,
        Cmd::Whoami => cmd::auth::whoami(&ctx).await,
        Cmd::Token(t) => cmd::auth::token(&ctx, t).await,
        Cmd::Audit(a) => cmd::auth::audit(&ctx, a).await,
        Cmd::Keygen(a) => cmd::keys::keygen(&ctx, a).await,
        Cmd::Attest(a) => cmd::keys::attest(&ctx, a).await,
        Cmd::Keys(k) => cmd::keys::keys(&ctx, k).await,
        Cmd::TrustRoot(t) => cmd::keys::trust_root(&ctx, t).await,
        Cmd::Attestations(a) => cmd::keys::attestations(&ctx, a).await,
        Cmd::VerifyBundle(a) => cmd::keys::verify_sigstore_bundle(&ctx, a).await,
        Cmd::Bundle(a) => cmd::keys::audit_bundle(&ctx, a).await,
        Cmd::Log(c) => cmd::log::run(&ctx, c).await,
        Cmd::Events(c) => cmd::events::run(&ctx, c).await,
        Cmd::Webhook(c) => cmd::webhook::run(&ctx, c).await,
        Cmd::Promote(a) => cmd::promote::promote(&ctx, a).await,
        Cmd::Rollback(a) => cmd::promote::rollback(&ctx, a).await,
        Cmd::Alias(c) => cmd::promote::alias(&ctx, c).await,
        Cmd::Policy(c) => cmd::promote::policy(&ctx, c).await,
        Cmd::Affected(a) => cmd::incident::affected(&ctx, a).await,
        Cmd::Report => cmd::incident::report(&ctx).await,
        Cmd::Lineage(a) => cmd::lineage::run(&ctx, a).await,
        Cmd::Quarantine(a) => cmd::incident::quarantine(&ctx, a).await,
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Verification(msg)) => {
            eprintln!("registry: verification failed: {msg}");
            ExitCode::from(3)
        }
        Err(Failure::Denied(msg)) => {
            eprintln!("registry: {msg}");
            ExitCode::from(3)
        }
        Err(Failure::Error(e)) => {
            eprintln!("registry: {e:#}");
            ExitCode::FAILURE
        }
    }
}
