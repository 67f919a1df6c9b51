//! `registry promote`, `rollback`, `alias ...` and `policy ...`: moving aliases under policy.
use std::path::PathBuf;

use registry_client::ClientError;
use registry_core::auth::NamePattern;
use registry_core::promote::{
    Decision, PolicyTestRequest, PromoteRequest, PromoteResponse, SetPolicyRequest,
};
use registry_core::{ModelName, ModelRef};

use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct PromoteArgs {
    /// NAMESPACE/NAME@VERSION (or @sha256:<manifest digest>).
    reference: String,
    /// The alias to move (staging, production, ...).
    #[arg(long)]
    to: String,
    /// Why (recorded in the history and the log).
    #[arg(long, default_value = "")]
    reason: String,
    /// Only move if the alias points at this version now ("" = must not exist yet): compare-and-swap.
    #[arg(long)]
    expect_current: Option<String>,
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// NAMESPACE/NAME.
    model: ModelName,
    /// The alias to move back.
    alias: String,
    /// Why.
    #[arg(long, default_value = "")]
    reason: String,
}

#[derive(clap::Subcommand)]
pub enum AliasCmd {
    /// Where an alias points (now, or at a past time).
    Get {
        /// NAMESPACE/NAME.
        model: ModelName,
        /// The alias.
        alias: String,
        /// RFC 3339 time, e.g. 2026-11-01T12:00:00Z.
        #[arg(long)]
        at: Option<String>,
    },
    /// Every decision about an alias, newest first (moves and denials).
    History {
        /// NAMESPACE/NAME.
        model: ModelName,
        /// The alias.
        alias: String,
        /// At most this many.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Every alias of a model.
    Ls {
        /// NAMESPACE/NAME.
        model: ModelName,
    },
}

#[derive(clap::Subcommand)]
pub enum PolicyCmd {
    /// Attach a Rego policy (package registry.promote) to a namespace pattern and alias pattern (admin).
    Set {
        /// Models covered: *, NAMESPACE/* or NAMESPACE/NAME.
        #[arg(value_parser = NamePattern::parse)]
        namespace: NamePattern,
        /// Aliases covered: a name, a prefix ending in *, or *.
        alias: String,
        /// The .rego file.
        file: PathBuf,
    },
    /// Print the policy in force for a pattern pair (or `--id N`, any revision).
    Get {
        /// Namespace pattern.
        namespace: Option<String>,
        /// Alias pattern.
        alias: Option<String>,
        /// A revision id instead.
        #[arg(long, conflicts_with_all = ["namespace", "alias"])]
        id: Option<i64>,
    },
    /// List the policies in force.
    Ls,
    /// Dry run: what promoting a version to an alias would decide now (exit 3 when denied).
    Test {
        /// NAMESPACE/NAME@VERSION.
        reference: String,
        /// The alias.
        #[arg(long)]
        to: String,
    },
}

fn print_decision(d: &Decision) {
    let verdict = if d.allowed { "ALLOWED" } else { "DENIED" };
    println!("decision: {verdict}");
    for p in &d.policies {
        println!("  policy {} (revision {}, {} {}) {}", p.id, p.revision, p.namespace, p.alias, p.digest);
    }
    for r in &d.reasons {
        println!("  - {r}");
    }
}

fn print_move(ctx: &Ctx, model: &ModelName, r: &PromoteResponse) -> Result<(), Failure> {
    if ctx.json {
        return Ok(super::print_json(r)?);
    }
    println!("{model}@{} -> {} ({})", r.alias.alias, r.alias.version, r.alias.manifest_digest);
    println!("  log index {}", r.log_index);
    if let Some(v) = &r.vsa {
        println!("  signed decision: attestation {} ({}) by {}", v.id, v.predicate_type, v.signer_key_id);
    }
    print_decision(&r.decision);
    Ok(())
}

/// A 403 `policy_denied` becomes exit 3 with the reasons; anything else is an error.
fn denied(e: ClientError, json: bool) -> Failure {
    if let ClientError::Api { code, message, details, .. } = &e
        && code == registry_core::api::codes::POLICY_DENIED
    {
        if json {
            let _ = super::print_json(
                &serde_json::json!({"allowed": false, "message": message, "details": details}),
            );
        }
        let reasons = details
            .as_ref()
            .and_then(|d| d["reasons"].as_array())
            .map(|a| a.iter().filter_map(|r| r.as_str()).collect::<Vec<_>>().join("\n  - "))
            .unwrap_or_default();
        return Failure::Denied(format!("promotion denied by policy:\n  - {reasons}"));
    }
    e.into()
}

pub async fn promote(ctx: &Ctx, a: PromoteArgs) -> Result<(), Failure> {
    let (model, version) = super::parse_ref(&a.reference)?;
    let req = PromoteRequest { version, reason: a.reason, expected_current: a.expect_current };
    let r = ctx.client()?.promote(&model, &a.to, &req).await.map_err(|e| denied(e, ctx.json))?;
    print_move(ctx, &model, &r)
}

pub async fn rollback(ctx: &Ctx, a: RollbackArgs) -> Result<(), Failure> {
    let r = ctx.client()?.rollback(&a.model, &a.alias, &a.reason).await?;
    print_move(ctx, &a.model, &r)
}

pub async fn alias(ctx: &Ctx, c: AliasCmd) -> Result<(), Failure> {
    let client = ctx.client()?;
    match c {
        AliasCmd::Get { model, alias, at } => {
            let a = client.get_alias(&model, &alias, at.as_deref()).await?;
            if ctx.json {
                return Ok(super::print_json(&a)?);
            }
            println!("{model}@{} -> {} ({})", a.alias, a.version, a.manifest_digest);
            println!("  since {} by {}", a.updated_at, a.updated_by);
        }
        AliasCmd::History { model, alias, limit } => {
            let h = client.alias_history(&model, &alias, limit).await?;
            if ctx.json {
                return Ok(super::print_json(&h)?);
            }
            for e in &h.events {
                println!(
                    "{}  {:<6}  {} -> {}  by {}{}{}",
                    e.at,
                    e.decision,
                    e.previous.as_deref().unwrap_or("-"),
                    e.version,
                    e.actor,
                    if e.reason.is_empty() { String::new() } else { format!("  \"{}\"", e.reason) },
                    e.log_index.map(|i| format!("  [log {i}]")).unwrap_or_default()
                );
                if e.decision != "passed" {
                    for r in &e.reasons {
                        println!("      - {r}");
                    }
                }
            }
        }
        AliasCmd::Ls { model } => {
            let l = client.list_aliases(&model).await?;
            if ctx.json {
                return Ok(super::print_json(&l)?);
            }
            for a in &l.aliases {
                println!(
                    "{:<16} {:<16} {}  {} by {}",
                    a.alias, a.version, a.manifest_digest, a.updated_at, a.updated_by
                );
            }
        }
    }
    Ok(())
}

pub async fn policy(ctx: &Ctx, c: PolicyCmd) -> Result<(), Failure> {
    let client = ctx.client()?;
    match c {
        PolicyCmd::Set { namespace, alias, file } => {
            let rego =
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let p = client.set_policy(&SetPolicyRequest { namespace, alias, rego }).await?;
            if ctx.json {
                return Ok(super::print_json(&p)?);
            }
            println!(
                "policy {} revision {} for {} {} ({})",
                p.id, p.revision, p.namespace, p.alias, p.digest
            );
        }
        PolicyCmd::Get { namespace, alias, id } => {
            let p = match id {
                Some(id) => client.get_policy(id).await?,
                None => {
                    let (Some(ns), Some(al)) = (namespace, alias) else {
                        return Err(anyhow::anyhow!("give NS_PATTERN ALIAS_PATTERN, or --id N").into());
                    };
                    client
                        .list_policies()
                        .await?
                        .policies
                        .into_iter()
                        .find(|p| p.namespace == ns && p.alias == al)
                        .ok_or_else(|| anyhow::anyhow!("no policy for {ns} {al}"))?
                }
            };
            if ctx.json {
                return Ok(super::print_json(&p)?);
            }
            eprintln!(
                "# policy {} revision {} for {} {} ({}), by {} at {}",
                p.id, p.revision, p.namespace, p.alias, p.digest, p.created_by, p.created_at
            );
            print!("{}", p.rego);
        }
        PolicyCmd::Ls => {
            let l = client.list_policies().await?;
            if ctx.json {
                return Ok(super::print_json(&l)?);
            }
            for p in &l.policies {
                println!(
                    "{:<4} {:<20} {:<16} rev {:<3} {}  {}",
                    p.id, p.namespace, p.alias, p.revision, p.digest, p.created_at
                );
            }
        }
        PolicyCmd::Test { reference, to } => {
            let version = ModelRef::parse(&reference)?;
            let d = client.test_policy(&PolicyTestRequest { version, alias: to }).await?;
            if ctx.json {
                super::print_json(&d)?;
            } else {
                print_decision(&d);
            }
            if !d.allowed {
                return Err(Failure::Denied("the policy would deny this promotion".into()));
            }
        }
    }
    Ok(())
}
