//! `registry login|logout|whoami`, `registry token create|list|revoke`, `registry audit`.
use std::io::BufRead;

use anyhow::Context;
use registry_client::credentials;
use registry_core::auth::{CreateTokenRequest, NamePattern, Scope, parse_scopes};

use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct LoginArgs {
    /// Read the token from standard input (the only way: tokens never go on the command line).
    #[arg(long, required = true)]
    token_stdin: bool,
}

/// Stores a token for the registry after checking it works.
pub async fn login(ctx: &Ctx, a: LoginArgs) -> Result<(), Failure> {
    debug_assert!(a.token_stdin);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the token from stdin")?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(anyhow::anyhow!("no token on stdin").into());
    }
    let client = registry_client::Client::new(&ctx.registry)?.with_token(Some(token.clone()));
    let who = client.whoami().await.context("the registry refused this token")?;
    let path = credentials::store(&ctx.registry, &token)?;
    if ctx.json {
        super::print_json(&who)?;
    } else {
        println!("logged in to {} as {}", ctx.registry, who.actor);
        eprintln!("token stored in {} (mode 0600)", path.display());
    }
    Ok(())
}

/// Forgets the stored token.
pub async fn logout(ctx: &Ctx) -> Result<(), Failure> {
    let had = credentials::remove(&ctx.registry)?;
    println!(
        "{}",
        if had {
            format!("logged out of {}", ctx.registry)
        } else {
            format!("no stored token for {}", ctx.registry)
        }
    );
    Ok(())
}

/// Shows the caller.
pub async fn whoami(ctx: &Ctx) -> Result<(), Failure> {
    let who = ctx.client()?.whoami().await?;
    if ctx.json {
        return Ok(super::print_json(&who)?);
    }
    let scopes: Vec<&str> = who.scopes.iter().map(|s| s.as_str()).collect();
    println!(
        "{}\tscopes {}\tcovers {}{}",
        who.actor,
        scopes.join(","),
        who.namespace,
        who.expires_at.map(|e| format!("\texpires {e}")).unwrap_or_default()
    );
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum TokenCmd {
    /// Create a token (admin); prints it once.
    Create {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, push, attest, promote, admin.
        #[arg(long)]
        scopes: String,
        /// Models covered: *, NAMESPACE/* or NAMESPACE/NAME.
        #[arg(long, value_parser = NamePattern::parse)]
        namespace: NamePattern,
        /// Expiry, RFC 3339 (e.g. 2027-01-31T00:00:00Z).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (admin).
    List,
    /// Revoke a token by id or name (admin).
    Revoke {
        /// Id or name.
        id: String,
    },
}

pub async fn token(ctx: &Ctx, cmd: TokenCmd) -> Result<(), Failure> {
    let client = ctx.client()?;
    match cmd {
        TokenCmd::Create { name, scopes, namespace, expires } => {
            let scopes: Vec<Scope> = parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let t = client
                .create_token(&CreateTokenRequest { name, scopes, namespace, expires_at: expires })
                .await?;
            // The secret goes to stdout only (for `> file` or a secret store), never in --json logs.
            if ctx.json {
                super::print_json(&serde_json::json!({ "info": t.info, "token": t.token }))?;
            } else {
                eprintln!("created token {} ({}); it is shown only now:", t.info.name, t.info.id);
                println!("{}", t.token);
            }
        }
        TokenCmd::List => {
            let list = client.list_tokens().await?;
            if ctx.json {
                return Ok(super::print_json(&list.tokens)?);
            }
            for t in list.tokens {
                let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    scopes.join(","),
                    t.namespace,
                    t.revoked_at
                        .map(|r| format!("revoked {r}"))
                        .or(t.expires_at.map(|e| format!("expires {e}")))
                        .unwrap_or_default()
                );
            }
        }
        TokenCmd::Revoke { id } => {
            let t = client.revoke_token(&id).await?;
            if ctx.json {
                return Ok(super::print_json(&t)?);
            }
            println!("revoked {} ({})", t.name, t.id);
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only this actor (token:NAME, oidc:ISSUER#SUB).
    #[arg(long)]
    actor: Option<String>,
    /// Only this target (a digest or NS/NAME@VERSION).
    #[arg(long)]
    target: Option<String>,
    /// From this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

pub async fn audit(ctx: &Ctx, a: AuditArgs) -> Result<(), Failure> {
    let client = ctx.client()?;
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = client
            .audit(a.actor.as_deref(), a.target.as_deref(), a.since.as_deref(), cursor.as_deref())
            .await?;
        all.extend(page.entries);
        cursor = page.next_cursor;
        if cursor.is_none() || all.len() >= a.limit {
            break;
        }
    }
    all.truncate(a.limit);
    if ctx.json {
        return Ok(super::print_json(&all)?);
    }
    for e in all {
        println!("{}\t{}\t{}\t{}", e.at, e.actor, e.action, e.target);
    }
    Ok(())
}
