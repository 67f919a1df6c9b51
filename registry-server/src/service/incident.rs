//! Incident response: the blast radius of a dataset, commit, signer key or version (every version it
//! reached, transitively through parents, with the path), and quarantines of that radius — logged,
//! refused by pulls and policies, optionally rolling every affected alias back.
use std::collections::HashMap;

use registry_core::api::codes;
use registry_core::auth::NamePattern;
use registry_core::incident::{AffectedVersion, AliasRollback, QuarantineInfo, QuarantineRequest};
use registry_core::promote::AliasName;
use registry_core::tlog::entry;
use registry_core::{Digest, ModelName, ModelRef, Reference};
use serde_json::json;

use crate::auth::Actor;
use crate::db::incident::{self as qdb, QuarantineRow};
use crate::db::versions::VersionRow;
use crate::db::{DbError, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::{log, promote, read};
use crate::state::AppState;

/// The most versions one query may reach (a bound on work, not a sampling: beyond it, 400).
pub const MAX_REACHED: usize = 100_000;

/// Where a blast radius starts.
#[derive(Debug, Clone)]
pub enum Seed {
    /// A dataset, by digest.
    Dataset(Digest),
    /// A code commit.
    Commit(String),
    /// A signer key, by id.
    Key(Digest),
    /// A version (and everything fine-tuned or distilled from it).
    Version(ModelName, Reference),
}

impl Seed {
    /// Exactly one of the four, or 400.
    pub fn one_of(
        dataset: Option<Digest>,
        commit: Option<&str>,
        key: Option<Digest>,
        version: Option<&str>,
    ) -> Result<Self, ApiError> {
        let bad = |m: String| ApiError::bad_request(codes::BAD_REQUEST, m);
        let n = usize::from(dataset.is_some())
            + usize::from(commit.is_some())
            + usize::from(key.is_some())
            + usize::from(version.is_some());
        if n != 1 {
            return Err(bad("give exactly one of dataset, commit, key, version".into()));
        }
        if let Some(d) = dataset {
            return Ok(Seed::Dataset(d));
        }
        if let Some(k) = key {
            return Ok(Seed::Key(k));
        }
        if let Some(c) = commit {
            let ok = (c.len() == 40 || c.len() == 64)
                && c.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !ok {
                return Err(bad(format!("commit {c:?} is not 40 or 64 lowercase hex characters")));
            }
            return Ok(Seed::Commit(c.to_owned()));
        }
        let v = version.unwrap_or_default();
        let r = ModelRef::parse(v).map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))?;
        Ok(Seed::Version(r.model, r.reference))
    }

    /// How it reads in paths and log entries.
    pub fn text(&self) -> String {
        match self {
            Seed::Dataset(d) => format!("dataset {d}"),
            Seed::Commit(c) => format!("commit {c}"),
            Seed::Key(k) => format!("key {k}"),
            Seed::Version(m, r) => format!("{m}@{r}"),
        }
    }
}

/// A version reached, with the way there.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The version.
    pub row: VersionRow,
    /// Seed text, then every version on the way (labels), this one last.
    pub path: Vec<String>,
}

fn label(r: &VersionRow) -> String {
    format!("{}/{}@{}", r.namespace, r.name, r.version)
}

/// Every version `seed` reached: directly (trained on the dataset, built from the commit, signed by the
/// key, or the version itself), then through `parents` edges, breadth first (so each path is a shortest
/// one). Indexed lookups, one query per generation.
pub async fn affected(state: &AppState, seed: &Seed) -> Result<Vec<Reached>, ApiError> {
    let start = match seed {
        Seed::Dataset(d) => state.db.versions_with_dataset(&d.hex()).await?,
        Seed::Commit(c) => state.db.versions_with_commit(c).await?,
        Seed::Key(k) => state.db.versions_signed_by(&k.hex()).await?,
        Seed::Version(m, r) => vec![read::resolve(state, m, r).await?.id],
    };
    let mut via: HashMap<i64, Option<i64>> = HashMap::new();
    let mut order = Vec::new();
    for id in start {
        if via.insert(id, None).is_none() {
            order.push(id);
        }
    }
    let mut frontier = order.clone();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (child, parent) in state.db.children_of(&frontier).await? {
            if let std::collections::hash_map::Entry::Vacant(e) = via.entry(child) {
                e.insert(Some(parent));
                order.push(child);
                next.push(child);
            }
        }
        if order.len() > MAX_REACHED {
            return Err(ApiError::bad_request(
                codes::BAD_REQUEST,
                format!("{} reaches more than {MAX_REACHED} versions; narrow the query", seed.text()),
            ));
        }
        frontier = next;
    }
    let rows: HashMap<i64, VersionRow> =
        state.db.versions_by_ids(&order).await?.into_iter().map(|r| (r.id, r)).collect();
    let mut out = Vec::with_capacity(order.len());
    for id in &order {
        let mut chain = vec![*id];
        let mut at = *id;
        while let Some(Some(p)) = via.get(&at) {
            chain.push(*p);
            at = *p;
        }
        let mut path = vec![seed.text()];
        for v in chain.iter().rev() {
            path.push(rows.get(v).map(label).ok_or_else(|| ApiError::internal("reached version vanished"))?);
        }
        let row = rows.get(id).cloned().ok_or_else(|| ApiError::internal("reached version vanished"))?;
        out.push(Reached { row, path });
    }
    Ok(out)
}

/// The API shape of a reached version.
pub fn affected_version(r: &Reached) -> Result<AffectedVersion, ApiError> {
    Ok(AffectedVersion {
        model: format!("{}/{}", r.row.namespace, r.row.name),
        version: r.row.version.clone(),
        manifest_digest: Digest::from_hex(&r.row.manifest_digest).map_err(ApiError::internal)?,
        quarantined: r.row.quarantined != 0,
        path: r.path.clone(),
    })
}

/// Quarantines everything the request's seed reached: one `quarantine.set` entry and one
/// `version.quarantined` entry per version, in one transaction; then, with `rollback`, moves every alias
/// that points at an affected version back to its newest earlier unaffected target (each move a signed
/// decision under the policies in force).
pub async fn quarantine(
    state: &AppState,
    actor: &Actor,
    req: &QuarantineRequest,
) -> Result<QuarantineInfo, ApiError> {
    let seed = Seed::one_of(req.dataset, req.commit.as_deref(), req.key, req.version.as_deref())?;
    if req.reason.trim().is_empty() {
        return Err(ApiError::bad_request(codes::BAD_REQUEST, "a quarantine needs a reason"));
    }
    // The radius is computed without the lock, then committed only if no version or attestation
    // (the only things that widen a radius) appeared meanwhile; else computed again.
    let (reached, mut tx) = 'radius: {
        for _ in 0..MAX_ATTEMPTS {
            let mark = state.db.radius_mark().await?;
            let reached = affected(state, &seed).await?;
            if reached.is_empty() {
                return Err(ApiError::not_found(format!("{} reached no version", seed.text())));
            }
            state.pauses.point("quarantine.decided").await;
            let mut tx = state.db.begin_logged().await?;
            if qdb::radius_mark(&mut tx).await? == mark {
                break 'radius (reached, tx);
            }
        }
        return Err(ApiError::unavailable(format!(
            "versions kept arriving while the radius of {} was computed; try again",
            seed.text()
        )));
    };
    let now = now_ms();
    let seed_text = seed.text();
    let labels: Vec<String> = reached.iter().map(|r| label(&r.row)).collect();
    let set = log::entry(
        entry::QUARANTINE_SET,
        &seed_text,
        &actor.id,
        &[("reason", json!(req.reason)), ("versions", json!(labels))],
    );
    let idx = crate::db::log::append(&mut tx, &set).await?;
    let id = qdb::insert(&mut tx, &seed_text, &req.reason, &actor.id, now, idx).await?;
    for r in &reached {
        let e = log::entry(
            entry::VERSION_QUARANTINED,
            &label(&r.row),
            &actor.id,
            &[
                ("quarantine", json!(id)),
                ("seed", json!(seed_text)),
                ("reason", json!(req.reason)),
                ("path", json!(r.path)),
            ],
        );
        let vidx = crate::db::log::append(&mut tx, &e).await?;
        let path = serde_json::to_string(&r.path).map_err(ApiError::internal)?;
        qdb::add_member(&mut tx, id, r.row.id, &path, vidx).await?;
    }
    tx.commit().await.map_err(DbError::from)?;
    if req.rollback {
        let ids: Vec<i64> = reached.iter().map(|r| r.row.id).collect();
        let by_id: HashMap<i64, &VersionRow> = reached.iter().map(|r| (r.row.id, &r.row)).collect();
        let mut conn = state.db.pool().acquire().await.map_err(DbError::from)?;
        let aliases = qdb::aliases_at(&mut conn, &ids).await?;
        drop(conn);
        let mut moves = Vec::new();
        for (_, alias, version_id) in aliases {
            let Some(v) = by_id.get(&version_id) else { continue };
            let model = ModelName::new(&v.namespace, &v.name).map_err(ApiError::internal)?;
            let a = AliasName::parse(&alias).map_err(ApiError::internal)?;
            // The quarantine's number, not its reason: the move is logged on this model, which its
            // readers see even when the seed (and so the reason) is another namespace's.
            let why = format!("quarantine {id}");
            let mv = promote::rollback(state, actor, &model, &a, &why).await;
            moves.push(AliasRollback {
                model: model.to_string(),
                alias,
                from: v.version.clone(),
                to: mv.as_ref().ok().map(|r| r.alias.version.clone()),
                error: mv.err().map(|e| ApiError::from(e).message().to_owned()),
            });
        }
        let mut tx = state.db.begin_write().await?;
        qdb::set_rollbacks(&mut tx, id, &serde_json::to_string(&moves).map_err(ApiError::internal)?).await?;
        tx.commit().await.map_err(DbError::from)?;
    }
    get(state, id).await
}

/// How often a quarantine recomputes its radius when versions keep arriving.
const MAX_ATTEMPTS: usize = 50;

/// Lifts a quarantine: versions no other active quarantine covers leave quarantine (each logged).
pub async fn lift(
    state: &AppState,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<QuarantineInfo, ApiError> {
    let row = row(state, id).await?;
    if reason.trim().is_empty() {
        return Err(ApiError::bad_request(codes::BAD_REQUEST, "lifting a quarantine needs a reason"));
    }
    let mut tx = state.db.begin_logged().await?;
    // Under the registry-wide write lock, so two lifts covering one version cannot each see the other
    // still active and leave the version quarantined after both.
    if !qdb::lift(&mut tx, id, &actor.id, now_ms(), reason).await? {
        return Err(ApiError::conflict(codes::ALREADY_LIFTED, format!("quarantine {id} is already lifted")));
    }
    let released = qdb::released_by_lift(&mut tx, id).await?;
    state.pauses.point("lift.decided").await;
    let e = log::entry(
        entry::QUARANTINE_LIFTED,
        &row.seed,
        &actor.id,
        &[("quarantine", json!(id)), ("reason", json!(reason))],
    );
    crate::db::log::append(&mut tx, &e).await?;
    let rows: HashMap<i64, VersionRow> =
        state.db.versions_by_ids(&released).await?.into_iter().map(|r| (r.id, r)).collect();
    for vid in &released {
        qdb::release(&mut tx, *vid).await?;
        let subject = rows.get(vid).map(label).unwrap_or_else(|| format!("version #{vid}"));
        let e = log::entry(
            entry::VERSION_RELEASED,
            &subject,
            &actor.id,
            &[("quarantine", json!(id)), ("reason", json!(reason))],
        );
        crate::db::log::append(&mut tx, &e).await?;
    }
    tx.commit().await.map_err(DbError::from)?;
    get(state, id).await
}

async fn row(state: &AppState, id: i64) -> Result<QuarantineRow, ApiError> {
    state.db.quarantine_get(id).await.map_err(|e| match e {
        DbError::NotFound => ApiError::not_found(format!("quarantine {id} not found")),
        e => e.into(),
    })
}

fn info(row: QuarantineRow, versions: Vec<AffectedVersion>) -> Result<QuarantineInfo, ApiError> {
    Ok(QuarantineInfo {
        id: row.id,
        seed: row.seed,
        reason: row.reason,
        created_by: row.created_by,
        created_at: rfc3339(row.created_at),
        lifted_at: row.lifted_at.map(rfc3339),
        versions,
        rollbacks: serde_json::from_str(&row.rollbacks).map_err(ApiError::internal)?,
        log_index: row.log_index.max(0) as u64,
    })
}

/// One quarantine with every version it covers.
pub async fn get(state: &AppState, id: i64) -> Result<QuarantineInfo, ApiError> {
    let row = row(state, id).await?;
    let members = state.db.quarantine_members(id).await?;
    let ids: Vec<i64> = members.iter().map(|(v, _)| *v).collect();
    let rows: HashMap<i64, VersionRow> =
        state.db.versions_by_ids(&ids).await?.into_iter().map(|r| (r.id, r)).collect();
    let mut versions = Vec::with_capacity(members.len());
    for (vid, path) in members {
        let Some(r) = rows.get(&vid) else { continue };
        let path: Vec<String> = serde_json::from_str(&path).map_err(ApiError::internal)?;
        versions.push(affected_version(&Reached { row: r.clone(), path })?);
    }
    info(row, versions)
}

/// Quarantines, newest first.
pub async fn list(state: &AppState, limit: u32) -> Result<Vec<QuarantineInfo>, ApiError> {
    let mut out = Vec::new();
    for r in state.db.quarantines(limit).await? {
        out.push(get(state, r.id).await?);
    }
    Ok(out)
}

/// What a credential shows for a path step or seed it does not cover.
pub const OUTSIDE: &str = "(outside this credential's namespaces)";

/// True when `label` (`NS/NAME@V`) names a model the credential covers.
fn covers_label(actor: &Actor, label: &str) -> bool {
    label_covered(&actor.pattern, label)
}

/// True when `label` (`NS/NAME@V`) names a model `pattern` covers.
fn label_covered(pattern: &NamePattern, label: &str) -> bool {
    label.split_once('@').and_then(|(m, _)| ModelName::parse(m).ok()).is_some_and(|m| pattern.matches(&m))
}

/// Whether `pattern` may see where a quarantine started (its seed and reason), given one path from
/// the seed to a version it covers: the seed (when a version) and every later step on the path must
/// be its own, else the seed could name, and the reason describe, another namespace's data.
pub fn seed_shown_through(pattern: &NamePattern, seed: &str, path: &[String]) -> bool {
    let seed_is_version = seed.contains('@') && !seed.contains(' ');
    (!seed_is_version || label_covered(pattern, seed))
        && path.iter().skip(1).all(|s| label_covered(pattern, s))
}

/// [`seed_shown_through`] for any path of the quarantine to a version `pattern` covers.
pub fn seed_shown(pattern: &NamePattern, q: &QuarantineInfo) -> bool {
    pattern.is_any()
        || q.versions.iter().any(|v| {
            ModelName::parse(&v.model).is_ok_and(|m| pattern.matches(&m))
                && seed_shown_through(pattern, &q.seed, &v.path)
        })
}

/// The versions `actor` covers, with every later path step outside its pattern masked (the first step,
/// the seed, too unless `seed_shown`).
pub fn visible_versions(
    actor: &Actor,
    versions: Vec<AffectedVersion>,
    seed_shown: bool,
) -> Vec<AffectedVersion> {
    versions
        .into_iter()
        .filter(|v| ModelName::parse(&v.model).is_ok_and(|m| actor.covers(&m)))
        .map(|mut v| {
            for (i, step) in v.path.iter_mut().enumerate() {
                if (i == 0 && !seed_shown) || (i > 0 && !covers_label(actor, step)) {
                    *step = OUTSIDE.into();
                }
            }
            v
        })
        .collect()
}

/// A quarantine as `actor` may see it. One that covers none of its versions does not exist for it
/// (`None`); otherwise it sees its own versions and the alias moves on its own models, and the seed and
/// the reason only when one of its versions is reached from the seed through versions it can read
/// (else the seed could name, and the reason describe, another namespace's data).
pub fn redact(actor: &Actor, mut q: QuarantineInfo) -> Option<QuarantineInfo> {
    if actor.pattern.is_any() {
        return Some(q);
    }
    let mine: Vec<&AffectedVersion> =
        q.versions.iter().filter(|v| ModelName::parse(&v.model).is_ok_and(|m| actor.covers(&m))).collect();
    if mine.is_empty() {
        return None;
    }
    let seed_shown = seed_shown(&actor.pattern, &q);
    q.versions = visible_versions(actor, std::mem::take(&mut q.versions), seed_shown);
    q.rollbacks.retain(|r| ModelName::parse(&r.model).is_ok_and(|m| actor.covers(&m)));
    if !seed_shown {
        q.seed = OUTSIDE.into();
        q.reason = "(withheld: the seed is outside this credential's namespaces)".into();
    }
    Some(q)
}

/// One quarantine as `actor` may see it (404 when it covers none of its versions).
pub async fn get_for(state: &AppState, actor: &Actor, id: i64) -> Result<QuarantineInfo, ApiError> {
    redact(actor, get(state, id).await?)
        .ok_or_else(|| ApiError::not_found(format!("quarantine {id} not found")))
}

/// The newest `limit` quarantines that cover a version `actor` covers, as it may see them.
pub async fn list_for(state: &AppState, actor: &Actor, limit: u32) -> Result<Vec<QuarantineInfo>, ApiError> {
    let rows = state.db.quarantines_covering(actor.pattern.namespace(), actor.pattern.name(), limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.extend(redact(actor, get(state, r.id).await?));
    }
    Ok(out)
}
