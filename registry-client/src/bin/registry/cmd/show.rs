//! `registry show NS/NAME@V`: a version's record.
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION (or @sha256:<manifest digest>).
    reference: String,
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let v = ctx.client()?.get_version(&model, &reference).await?;
    if ctx.json {
        return Ok(super::print_json(&v)?);
    }
    println!("{model}@{}", v.version);
    println!("  manifest digest  {}", v.manifest_digest);
    println!("  OMS root digest  {}", v.oms_root_digest);
    println!("  files            {} ({} bytes)", v.file_count, v.total_size);
    println!("  created          {} by {}", v.created_at, v.created_by);
    if let Some(d) = &v.metadata.description {
        println!("  description      {d}");
    }
    for (k, val) in &v.metadata.labels {
        println!("  label            {k}={val}");
    }
    let l = &v.lineage;
    for d in &l.datasets {
        println!("  dataset ({})  {} {}", d.role, d.uri, d.digest);
    }
    if let Some(c) = &l.code {
        println!(
            "  code             {}@{}{}",
            c.repo,
            c.commit,
            c.path.as_deref().map(|p| format!(" ({p})")).unwrap_or_default()
        );
    }
    for p in &l.parents {
        println!("  parent           {p}");
    }
    for (k, val) in &l.params {
        println!("  param            {k}={}", serde_json::to_string(val)?);
    }
    for (k, val) in &l.metrics {
        println!("  metric           {k}={}", serde_json::to_string(val)?);
    }
    if let Some(r) = &l.run {
        println!(
            "  run              {}{}{}",
            r.id,
            r.uri.as_deref().map(|u| format!(" {u}")).unwrap_or_default(),
            r.builder.as_deref().map(|b| format!(" (builder {b})")).unwrap_or_default()
        );
    }
    Ok(())
}
