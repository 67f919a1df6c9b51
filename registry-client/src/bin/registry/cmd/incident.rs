//! `registry affected` and `registry quarantine`: blast radius and containment.
use registry_client::incident::SeedArg;
use registry_core::Digest;
use registry_core::incident::{AffectedVersion, QuarantineInfo, QuarantineRequest};

use crate::{Ctx, Failure};

/// Exactly one seed.
#[derive(clap::Args)]
#[group(required = false, multiple = false)]
pub struct SeedArgs {
    /// A dataset digest (sha256:...).
    #[arg(long)]
    dataset: Option<String>,
    /// A code commit.
    #[arg(long)]
    commit: Option<String>,
    /// A signer key id (sha256:...).
    #[arg(long)]
    key: Option<String>,
    /// A version, NAMESPACE/NAME@VERSION (and everything derived from it).
    #[arg(long)]
    version: Option<String>,
}

impl SeedArgs {
    fn seed(&self) -> Option<SeedArg> {
        self.dataset
            .clone()
            .map(SeedArg::Dataset)
            .or_else(|| self.commit.clone().map(SeedArg::Commit))
            .or_else(|| self.key.clone().map(SeedArg::Key))
            .or_else(|| self.version.clone().map(SeedArg::Version))
    }
}

#[derive(clap::Args)]
pub struct AffectedArgs {
    #[command(flatten)]
    seed: SeedArgs,
}

#[derive(clap::Args)]
pub struct QuarantineArgs {
    #[command(flatten)]
    seed: SeedArgs,
    /// Why (required; recorded and logged).
    #[arg(long)]
    reason: Option<String>,
    /// Also move every alias that points at an affected version back to its last known-good target.
    #[arg(long)]
    rollback: bool,
    /// Lift quarantine ID instead (with --reason).
    #[arg(long, value_name = "ID", conflicts_with_all = ["rollback", "list"])]
    lift: Option<i64>,
    /// List quarantines instead.
    #[arg(long)]
    list: bool,
}

fn print_versions(vs: &[AffectedVersion]) {
    for v in vs {
        println!(
            "{}@{}  {}{}",
            v.model,
            v.version,
            v.manifest_digest,
            if v.quarantined { "  [quarantined]" } else { "" }
        );
        println!("    via {}", v.path.join(" -> "));
    }
}

fn print_quarantine(q: &QuarantineInfo) {
    println!(
        "quarantine {}: {} — {} ({} by {}{})  [log {}]",
        q.id,
        q.seed,
        q.reason,
        q.created_at,
        q.created_by,
        q.lifted_at.as_deref().map(|t| format!(", lifted {t}")).unwrap_or_default(),
        q.log_index
    );
    print_versions(&q.versions);
    for r in &q.rollbacks {
        match (&r.to, &r.error) {
            (Some(to), _) => println!("  rolled back {}@{}: {} -> {to}", r.model, r.alias, r.from),
            (None, e) => println!(
                "  could NOT roll back {}@{} (still {}): {}",
                r.model,
                r.alias,
                r.from,
                e.as_deref().unwrap_or("?")
            ),
        }
    }
}

pub async fn affected(ctx: &Ctx, a: AffectedArgs) -> Result<(), Failure> {
    let seed =
        a.seed.seed().ok_or_else(|| anyhow::anyhow!("give --dataset, --commit, --key or --version"))?;
    let r = ctx.client()?.affected(&seed).await?;
    if ctx.json {
        return Ok(super::print_json(&r)?);
    }
    println!("{}: {} version(s) reached", r.seed, r.versions.len());
    print_versions(&r.versions);
    Ok(())
}

fn digest(s: Option<&String>) -> anyhow::Result<Option<Digest>> {
    Ok(s.map(|d| Digest::parse(d)).transpose()?)
}

pub async fn quarantine(ctx: &Ctx, a: QuarantineArgs) -> Result<(), Failure> {
    let client = ctx.client()?;
    if a.list {
        let l = client.quarantines().await?;
        if ctx.json {
            return Ok(super::print_json(&l)?);
        }
        for q in &l.quarantines {
            print_quarantine(q);
        }
        return Ok(());
    }
    let reason = a.reason.clone().ok_or_else(|| anyhow::anyhow!("--reason is required"))?;
    let q = match a.lift {
        Some(id) => client.lift_quarantine(id, &reason).await?,
        None => {
            let s = &a.seed;
            if s.seed().is_none() {
                return Err(anyhow::anyhow!("give --dataset, --commit, --key or --version").into());
            }
            let req = QuarantineRequest {
                dataset: digest(s.dataset.as_ref())?,
                commit: s.commit.clone(),
                key: digest(s.key.as_ref())?,
                version: s.version.clone(),
                reason,
                rollback: a.rollback,
            };
            client.quarantine(&req).await?
        }
    };
    if ctx.json {
        return Ok(super::print_json(&q)?);
    }
    print_quarantine(&q);
    Ok(())
}

pub async fn report(ctx: &Ctx) -> Result<(), Failure> {
    let r = ctx.client()?.compliance().await?;
    if ctx.json {
        return Ok(super::print_json(&r)?);
    }
    println!("provenance coverage, {}", r.generated_at);
    println!(
        "{:<24} {:>8} {:>11} {:>9} {:>9} {:>13} {:>11} {:>9}",
        "namespace",
        "versions",
        "slsa-signed",
        "datasets",
        "oms-sig",
        "promoted+vsa",
        "quarantined",
        "corrupted"
    );
    for n in &r.namespaces {
        println!(
            "{:<24} {:>8} {:>10.1}% {:>8.1}% {:>8.1}% {:>12.1}% {:>11} {:>9}",
            n.namespace,
            n.versions,
            n.signed_provenance_pct,
            n.with_datasets_pct,
            n.oms_signature_pct,
            n.promoted_with_vsa_pct,
            n.quarantined,
            n.corrupted
        );
    }
    Ok(())
}
