//! `registry lineage NS/NAME@V`: the upstream tree of a version — datasets, code, signers, and the same
//! for every parent it was fine-tuned or distilled from, recursively.
use std::collections::HashSet;

use registry_client::Client;
use registry_core::ModelName;
use serde_json::{Value, json};

use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION (or @alias, @sha256:...).
    reference: String,
    /// Stop after this many generations of parents.
    #[arg(long, default_value_t = 32)]
    depth: usize,
}

/// One node of the tree as JSON: the version, its inputs, its signers and its parents' nodes.
async fn node(
    c: &Client,
    model: &ModelName,
    reference: &str,
    depth: usize,
    seen: &mut HashSet<String>,
) -> anyhow::Result<Value> {
    let v = c.get_version(model, reference).await?;
    let name = format!("{model}@{}", v.version);
    if !seen.insert(name.clone()) {
        return Ok(json!({"version": name, "repeated": true}));
    }
    let mut signers: Vec<String> = c
        .list_attestations(model, &v.version)
        .await?
        .attestations
        .iter()
        .filter(|a| a.status == "verified")
        .map(|a| format!("{} ({})", a.signer_key_id, a.predicate_type))
        .collect();
    signers.sort();
    signers.dedup();
    let mut parents = Vec::new();
    if depth > 0 {
        for p in &v.lineage.parents {
            parents.push(Box::pin(node(c, &p.model, &p.reference.to_string(), depth - 1, seen)).await?);
        }
    }
    Ok(json!({
        "version": name,
        "manifest_digest": v.manifest_digest,
        "quarantined": v.quarantined,
        "datasets": v.lineage.datasets,
        "code": v.lineage.code,
        "builder": v.lineage.run.as_ref().and_then(|r| r.builder.clone()),
        "signers": signers,
        "parents": parents,
    }))
}

fn print(n: &Value, indent: usize) {
    let pad = "  ".repeat(indent);
    if n["repeated"] == true {
        println!("{pad}{} (see above)", n["version"].as_str().unwrap_or("?"));
        return;
    }
    println!(
        "{pad}{}  {}{}",
        n["version"].as_str().unwrap_or("?"),
        n["manifest_digest"].as_str().unwrap_or("?"),
        if n["quarantined"] == true { "  [quarantined]" } else { "" }
    );
    for d in n["datasets"].as_array().into_iter().flatten() {
        println!(
            "{pad}  dataset ({}) {} {}",
            d["role"].as_str().unwrap_or("?"),
            d["uri"].as_str().unwrap_or("?"),
            d["digest"].as_str().unwrap_or("?")
        );
    }
    if let Some(c) = n["code"].as_object() {
        println!(
            "{pad}  code {}@{}",
            c.get("repo").and_then(Value::as_str).unwrap_or("?"),
            c.get("commit").and_then(Value::as_str).unwrap_or("?")
        );
    }
    if let Some(b) = n["builder"].as_str() {
        println!("{pad}  builder {b}");
    }
    for s in n["signers"].as_array().into_iter().flatten() {
        println!("{pad}  signed by {}", s.as_str().unwrap_or("?"));
    }
    for p in n["parents"].as_array().into_iter().flatten() {
        println!("{pad}  parent:");
        print(p, indent + 2);
    }
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let tree = node(&ctx.client()?, &model, &reference, a.depth, &mut HashSet::new()).await?;
    if ctx.json {
        return Ok(super::print_json(&tree)?);
    }
    print(&tree, 0);
    Ok(())
}
