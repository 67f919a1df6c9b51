//! `registry log checkpoint|verify`: the transparency log, checked by the client.
use std::collections::BTreeSet;

use anyhow::Context;
use registry_client::tlog::{read_log_key, sync};
use registry_core::tlog::entry::{ATTESTATION_ADDED, KEY_TRUSTED, LogEntry, MODEL_CREATED, VERSION_CREATED};
use registry_core::tlog::replay::Replay;
use registry_core::tlog::{leaf_hash, root_of};
use registry_core::{ModelName, ModelRef};

use crate::{Ctx, Failure};

#[derive(clap::Subcommand)]
pub enum LogCmd {
    /// Fetch, verify and pin the current checkpoint (consistent with the last one seen).
    Checkpoint {
        /// The log's verifier key (text or file); default: the pinned one.
        #[arg(long)]
        log_key: Option<String>,
    },
    /// An auditor's full replay: every entry from the start, the root recomputed, each entry checked
    /// against what the API serves now, and every alias target and quarantine flag the registry serves
    /// compared with what the log's moves and quarantines leave. Needs read on every namespace.
    Verify {
        /// The log's verifier key (text or file); default: the pinned one.
        #[arg(long)]
        log_key: Option<String>,
    },
}

pub async fn run(ctx: &Ctx, cmd: LogCmd) -> Result<(), Failure> {
    let client = ctx.client()?;
    match cmd {
        LogCmd::Checkpoint { log_key } => {
            let given = log_key.as_deref().map(read_log_key).transpose()?;
            let v = sync(&client, given.as_ref()).await?;
            if ctx.json {
                return Ok(super::print_json(&serde_json::json!({
                    "origin": v.checkpoint.origin, "size": v.checkpoint.size, "root": hex::encode(v.checkpoint.root),
                    "log_key": v.key.to_vkey(), "first_use": v.first_use,
                }))?);
            }
            println!(
                "✓ {} size {} root {}",
                v.checkpoint.origin,
                v.checkpoint.size,
                hex::encode(v.checkpoint.root)
            );
        }
        LogCmd::Verify { log_key } => {
            let given = log_key.as_deref().map(read_log_key).transpose()?;
            let v = sync(&client, given.as_ref()).await?;
            let size = v.checkpoint.size;
            let mut leaves = Vec::with_capacity(size as usize);
            let mut problems: Vec<String> = Vec::new();
            let mut start = 0u64;
            let mut replay = Replay::default();
            while start < size {
                let end = (start + registry_core::api::MAX_LOG_PAGE).min(size);
                let page =
                    client.log_entries(start, end).await.context("reading the log (needs read on *)")?;
                if page.entries.len() as u64 != end - start {
                    problems
                        .push(format!("entries {start}..{end}: the registry served {}", page.entries.len()));
                }
                for (k, e) in page.entries.iter().enumerate() {
                    if e.index != start + k as u64 {
                        problems.push(format!("entry {} is missing (got {})", start + k as u64, e.index));
                    }
                    leaves.push(leaf_hash(e.body.as_bytes()));
                    if let Ok(le) = LogEntry::parse(e.body.as_bytes()) {
                        replay.apply(e.index, &le);
                    }
                    if let Err(p) = check_entry(&client, e.index, &e.body).await {
                        problems.push(p);
                    }
                }
                start = end;
            }
            problems.extend(check_state(&client, &replay).await?);
            let ok_root = root_of(&leaves) == v.checkpoint.root;
            if !ok_root {
                problems.insert(
                    0,
                    format!(
                        "the {} entries served do not hash to the signed root of size {size}",
                        leaves.len()
                    ),
                );
            }
            if ctx.json {
                super::print_json(
                    &serde_json::json!({"size": size, "ok": problems.is_empty(), "problems": problems}),
                )?;
            } else if problems.is_empty() {
                println!(
                    "✓ {size} entries replayed: root matches the signed checkpoint, every entry matches the registry"
                );
            } else {
                for p in &problems {
                    println!("✗ {p}");
                }
            }
            if !problems.is_empty() {
                return Err(Failure::Verification(format!(
                    "{} problem(s) in the log of {}",
                    problems.len(),
                    ctx.registry
                )));
            }
        }
    }
    Ok(())
}

/// Compares the state the log leaves with what the registry serves now: every alias of every model
/// the log moved an alias of, and the quarantine flag of every version the log ever quarantined.
async fn check_state(client: &registry_client::Client, replay: &Replay) -> Result<Vec<String>, Failure> {
    let mut problems = Vec::new();
    let models: BTreeSet<&str> = replay.aliases.keys().map(|(m, _)| m.as_str()).collect();
    let mut stored = Vec::new();
    for m in models {
        let name = ModelName::parse(m).map_err(anyhow::Error::from)?;
        match client.list_aliases(&name).await {
            Ok(list) => stored.extend(list.aliases.into_iter().map(|a| (m.to_owned(), a.alias, a.version))),
            Err(e) => problems.push(format!("aliases of {m}: {e}")),
        }
    }
    problems.extend(replay.alias_differences(&stored).iter().map(ToString::to_string));
    for (label, by) in &replay.quarantined {
        let Ok(r) = ModelRef::parse(label) else { continue };
        match client.get_version(&r.model, &r.reference.to_string()).await {
            Ok(v) if v.quarantined != by.is_some() => problems.push(match by {
                Some(i) => format!("{label}: the log quarantined it (entry {i}) and never released it, but the registry serves it as not quarantined"),
                None => format!("{label}: the log released it, but the registry serves it as quarantined"),
            }),
            Ok(_) => {}
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    Ok(problems)
}

/// Checks one entry against what the API serves now.
async fn check_entry(client: &registry_client::Client, index: u64, body: &str) -> Result<(), String> {
    let e = LogEntry::parse(body.as_bytes()).map_err(|err| format!("entry {index}: not an entry: {err}"))?;
    let bad = |m: String| format!("entry {index} ({} {}): {m}", e.kind, e.subject);
    match e.kind.as_str() {
        VERSION_CREATED => {
            let r = ModelRef::parse(&e.subject).map_err(|err| bad(err.to_string()))?;
            let v = client
                .get_version(&r.model, &r.reference.to_string())
                .await
                .map_err(|err| bad(err.to_string()))?;
            if e.detail("manifest_digest") != Some(&v.manifest_digest.to_string()) {
                return Err(bad(format!("the registry now says manifest {}", v.manifest_digest)));
            }
            if v.log_index != Some(index) {
                return Err(bad(format!("the registry points at log index {:?}", v.log_index)));
            }
            client.get_manifest(&v).await.map_err(|err| bad(err.to_string()))?;
        }
        ATTESTATION_ADDED => {
            let r = ModelRef::parse(&e.subject).map_err(|err| bad(err.to_string()))?;
            let version = r.reference.to_string();
            let list =
                client.list_attestations(&r.model, &version).await.map_err(|err| bad(err.to_string()))?;
            let want = e.detail("digest").unwrap_or_default();
            let info = list
                .attestations
                .iter()
                .find(|a| a.digest.to_string() == want)
                .ok_or_else(|| bad("not served any more".into()))?;
            client.attestation_bytes(&r.model, &version, info).await.map_err(|err| bad(err.to_string()))?;
        }
        MODEL_CREATED => {
            let m = ModelName::parse(&e.subject).map_err(|err| bad(err.to_string()))?;
            client.get_model(&m).await.map_err(|err| bad(err.to_string()))?;
        }
        KEY_TRUSTED => {
            let keys = client.list_keys().await.map_err(|err| bad(err.to_string()))?;
            if !keys.keys.iter().any(|k| k.key_id.to_string() == e.subject) {
                return Err(bad("the key is not listed any more".into()));
            }
        }
        _ => {}
    }
    Ok(())
}
