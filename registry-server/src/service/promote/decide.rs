//! Moving an alias: promote (policy permitting) and roll back, each decision recorded in the alias
//! history and the log, with a signed VSA for each allowed move. Moves serialize on the global write
//! lock.

use registry_core::attest::Target;
use registry_core::attest::dsse::INTOTO_PAYLOAD_TYPE;
use registry_core::attest::intoto::Statement;
use registry_core::attest::predicates::SLSA_VSA_V1;
use registry_core::promote::{AliasName, Decision, PolicyInput, PolicyRef, PromoteResponse};
use registry_core::tlog::entry;
use registry_core::{Digest, Manifest, ModelName, Reference, canonical};
use serde_json::{Value, json};

use super::policy::{applicable, evaluate, policy_input};
use super::{alias_response, corrupt, model_row};
use crate::auth::Actor;
use crate::db::aliases::{self, AliasRow};
use crate::db::versions::VersionRow;
use crate::db::{DbError, Tx, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::{attest, log, read};
use crate::state::AppState;

async fn vsa(
    state: &AppState,
    model: &ModelName,
    version: &VersionRow,
    alias: &AliasName,
    d: &Decision,
    input: &PolicyInput,
) -> Result<Vec<u8>, ApiError> {
    let manifest = Digest::from_hex(&version.manifest_digest).map_err(corrupt)?;
    let policy_digest = canonical::digest(&d.policies).map_err(ApiError::internal)?;
    let ids: Vec<String> = d.policies.iter().map(|p| format!("{}@{}", p.id, p.revision)).collect();
    let inputs: Vec<Value> = input
        .attestations
        .iter()
        .filter(|a| a.verified)
        .map(|a| json!({"uri": format!("registry:attestation/{}", a.id), "digest": {"sha256": a.digest.hex()}}))
        .collect();
    let predicate = json!({
        "verifier": {"id": format!("https://registry.dev/verifier/{}", state.log.origin())},
        "timeVerified": rfc3339(now_ms()),
        "resourceUri": format!("registry:{model}@{}", version.version),
        "policy": {"uri": format!("registry:policies/{}", ids.join(",")), "digest": {"sha256": policy_digest.hex()}},
        "inputAttestations": inputs,
        "verificationResult": "PASSED",
        "verifiedLevels": [format!("REGISTRY_ALIAS_{}", alias.as_str().to_uppercase())],
        "slsaVersion": "1.0",
    });
    let st = Statement::new(vec![Statement::subject(&model.to_string(), &manifest)], SLSA_VSA_V1, predicate);
    let payload = serde_json::to_vec(&st).map_err(ApiError::internal)?;
    let envelope = state.attestation_key.sign_envelope(INTOTO_PAYLOAD_TYPE, payload).await;
    Ok(envelope.map_err(|e| e.to_api())?.to_json())
}

/// Why a move was refused, beyond a missing model or version and storage faults (`Other`).
/// `error.rs` picks the status and code of each.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// The alias name is a version label of the model, or the OCI tag one is served under.
    #[error("{alias} is {}; an alias cannot shadow it", if label == alias {
        format!("a version label of {model}")
    } else {
        format!("the OCI tag of {model}@{label} (`+` written `_`, docs/oci.md)")
    })]
    ShadowsVersion {
        /// The model.
        model: String,
        /// The alias.
        alias: String,
        /// The label it collides with.
        label: String,
    },
    /// Compare-and-swap failed: the alias points elsewhere (`now`: "" for nowhere).
    #[error("{alias} points at {}, not at the expected {expected:?}",
        if now.is_empty() { "nothing".to_owned() } else { format!("{now:?}") })]
    AliasMoved {
        /// The alias.
        alias: String,
        /// Where it points.
        now: String,
        /// Where the caller expected it.
        expected: String,
    },
    /// The policies denied the move (recorded in the history and the log).
    #[error("promotion of {model}@{version} to {alias} denied: {}", reasons.join("; "))]
    Denied {
        /// The model.
        model: String,
        /// The target version.
        version: String,
        /// The alias.
        alias: String,
        /// Why.
        reasons: Vec<String>,
        /// The policies evaluated.
        policies: Vec<PolicyRef>,
    },
    /// A rollback found no earlier target that passes.
    #[error("{model}@{alias} has no earlier target that is not quarantined and still passes policy")]
    NoRollbackTarget {
        /// The model.
        model: String,
        /// The alias.
        alias: String,
    },
    /// The aliases or policies kept changing under the decision; retry.
    #[error("{model}@{alias} kept changing during {MAX_ATTEMPTS} evaluations")]
    KeptChanging {
        /// The model.
        model: String,
        /// The alias.
        alias: String,
    },
    /// Not found, storage faults and the rest.
    #[error("{0}")]
    Other(ApiError),
}

impl From<ApiError> for MoveError {
    fn from(e: ApiError) -> Self {
        MoveError::Other(e)
    }
}

impl From<DbError> for MoveError {
    fn from(e: DbError) -> Self {
        MoveError::Other(e.into())
    }
}

/// What a move request carries.
pub struct Move<'a> {
    /// The model.
    pub model: &'a ModelName,
    /// The alias.
    pub alias: &'a AliasName,
    /// Why.
    pub reason: &'a str,
    /// Compare-and-swap expectation (`Some("")`: must not exist).
    pub expected_current: Option<&'a str>,
    /// `promote` or `rollback`.
    pub kind: &'static str,
}

/// Promotes `target` to the alias if policy allows; a denial is recorded and answered with 403.
pub async fn promote(
    state: &AppState,
    actor: &Actor,
    mv: &Move<'_>,
    target: &Reference,
) -> Result<PromoteResponse, MoveError> {
    let model_row = model_row(state, mv.model).await?;
    let version = read::resolve_version(state, mv.model, target).await?;
    {
        let mut conn = state.db.pool().acquire().await.map_err(crate::db::DbError::from)?;
        if let Some(label) =
            crate::db::oci::label_with_tag(&mut conn, model_row.id, mv.alias.as_str()).await?
        {
            return Err(shadows(mv, label));
        }
    }
    // Optimistic: evaluate on a snapshot without holding the write lock (policies may take up to
    // EVAL_LIMIT), then take the lock and commit only if the snapshot still holds; else redo.
    for _ in 0..MAX_ATTEMPTS {
        let snap = Snapshot::read(state, model_row.id, version.id).await?;
        let current = snap.current(mv.alias);
        check_expected(mv, current)?;
        // Read after the snapshot, so a quarantine landing from here on shows as a changed mark.
        let version = state.db.version_by_id(version.id).await?;
        let input = policy_input(state, mv.model, &version, mv.alias, &snap.aliases, actor).await?;
        let decision = evaluate(applicable(state, mv.model, mv.alias).await?, &input).await?;
        state.pauses.point("promotion.decided").await;
        let mut tx = state.db.begin_logged().await?;
        if !snap.holds(&mut tx, model_row.id).await? {
            continue; // dropped: rolled back
        }
        let moved =
            commit_decision(state, tx, actor, mv, model_row.id, &version, current, &decision, &input.input)
                .await?;
        return moved.ok_or_else(|| MoveError::Denied {
            model: mv.model.to_string(),
            version: version.version.clone(),
            alias: mv.alias.to_string(),
            reasons: decision.reasons,
            policies: decision.policies,
        });
    }
    Err(MoveError::KeptChanging { model: mv.model.to_string(), alias: mv.alias.to_string() })
}

fn shadows(mv: &Move<'_>, label: String) -> MoveError {
    MoveError::ShadowsVersion { model: mv.model.to_string(), alias: mv.alias.to_string(), label }
}

/// How often a promotion re-evaluates when the aliases or policies change under it.
const MAX_ATTEMPTS: usize = 200;

/// What a decision was made on: the model's aliases, the newest policy id, and the target version's
/// evidence (flags, attestations, trusted keys). Taken before the decision reads anything, compared
/// again under the write lock, so nothing the decision depended on can change between the two.
struct Snapshot {
    aliases: Vec<AliasRow>,
    policy_mark: i64,
    version_id: i64,
    evidence: aliases::EvidenceMark,
}

impl Snapshot {
    async fn read(state: &AppState, model_id: i64, version_id: i64) -> Result<Self, ApiError> {
        let evidence = state.db.evidence_mark(version_id).await?;
        Ok(Self {
            aliases: state.db.aliases_of(model_id).await?,
            policy_mark: state.db.policy_mark().await?,
            version_id,
            evidence,
        })
    }

    /// The same snapshot about another target (a rollback tries several), read afresh.
    async fn for_version(self, state: &AppState, version_id: i64) -> Result<Self, ApiError> {
        Ok(Self { version_id, evidence: state.db.evidence_mark(version_id).await?, ..self })
    }

    fn current(&self, alias: &AliasName) -> Option<&AliasRow> {
        self.aliases.iter().find(|a| a.name == alias.as_str())
    }

    /// True when nothing the decision saw has changed (checked under the write lock).
    async fn holds(&self, tx: &mut Tx, model_id: i64) -> Result<bool, ApiError> {
        let now = aliases::all_in(tx, model_id).await?;
        let key = |v: &[AliasRow]| v.iter().map(|a| (a.name.clone(), a.version_id)).collect::<Vec<_>>();
        Ok(key(&now) == key(&self.aliases)
            && aliases::policy_mark_in(tx).await? == self.policy_mark
            && aliases::evidence_mark(tx, self.version_id).await? == self.evidence)
    }
}

fn check_expected(mv: &Move<'_>, current: Option<&AliasRow>) -> Result<(), MoveError> {
    if let Some(expected) = mv.expected_current {
        let now = current.map(|c| c.version.as_str()).unwrap_or("");
        if now != expected {
            return Err(MoveError::AliasMoved {
                alias: mv.alias.to_string(),
                now: now.to_owned(),
                expected: expected.to_owned(),
            });
        }
    }
    Ok(())
}

/// Records the decision in `tx` and commits; `None` when it was a denial.
#[allow(clippy::too_many_arguments)]
async fn commit_decision(
    state: &AppState,
    mut tx: Tx,
    actor: &Actor,
    mv: &Move<'_>,
    model_id: i64,
    version: &VersionRow,
    current: Option<&AliasRow>,
    decision: &Decision,
    input: &PolicyInput,
) -> Result<Option<PromoteResponse>, MoveError> {
    // Checked again under the lock: a push of that label may have landed since the first check.
    if let Some(label) = crate::db::oci::label_with_tag(&mut tx, model_id, mv.alias.as_str()).await? {
        return Err(shadows(mv, label));
    }
    let now = now_ms();
    let subject = format!("{}@{}", mv.model, version.version);
    let policies = serde_json::to_string(&decision.policies).map_err(ApiError::internal)?;
    let reasons = serde_json::to_string(&decision.reasons).map_err(ApiError::internal)?;
    let mut details = vec![
        ("alias", json!(mv.alias.as_str())),
        ("previous", json!(current.map(|c| c.version.clone()))),
        ("policies", serde_json::to_value(&decision.policies).map_err(ApiError::internal)?),
        ("reason", json!(mv.reason)),
    ];
    let (kind, verdict, vsa_info) = if decision.allowed {
        // The signed decision: checked like any attestation before it is stored.
        let raw = vsa(state, mv.model, version, mv.alias, decision, input).await?;
        let manifest: Manifest = serde_json::from_str(&version.manifest).map_err(corrupt)?;
        let own = [registry_core::attest::TrustedKey {
            key: state.attestation_key.public().clone(),
            predicate_types: vec![SLSA_VSA_V1.into()],
        }];
        let verified =
            registry_core::attest::verify(&raw, &own, Target { model: mv.model, manifest: &manifest })
                .map_err(ApiError::internal)?;
        details.push(("decision", json!("PASSED")));
        details.push(("vsa_digest", json!(Digest::of(&raw))));
        let vsa_info = attest::store(&mut tx, version.id, &subject, &[(raw, verified)], &actor.id, now)
            .await?
            .first()
            .copied();
        aliases::set(&mut tx, model_id, mv.alias.as_str(), version.id, &actor.id, now).await?;
        (entry::ALIAS_MOVED, "passed", vsa_info)
    } else {
        details.push(("decision", json!("FAILED")));
        details.push(("reasons", json!(decision.reasons)));
        (entry::ALIAS_DENIED, "failed", None)
    };
    let idx = crate::db::log::append(&mut tx, &log::entry(kind, &subject, &actor.id, &details)).await?;
    aliases::record(
        &mut tx,
        model_id,
        mv.alias.as_str(),
        version.id,
        current.map(|c| c.version_id),
        mv.kind,
        verdict,
        &reasons,
        &policies,
        &actor.id,
        mv.reason,
        vsa_info,
        idx,
        now,
    )
    .await?;
    if !decision.allowed {
        tx.commit().await.map_err(DbError::from)?;
        return Ok(None);
    }
    tx.commit().await.map_err(DbError::from)?;
    let alias = AliasRow {
        name: mv.alias.to_string(),
        version_id: version.id,
        version: version.version.clone(),
        manifest_digest: version.manifest_digest.clone(),
        updated_by: actor.id.clone(),
        updated_at: now,
    };
    let vsa = match vsa_info {
        Some(id) => {
            let trusted = attest::trusted_for(state, mv.model).await?;
            let row = state.db.attestation_get(version.id, id).await?;
            Some(attest::info(&row, &trusted, &[])?)
        }
        None => None,
    };
    Ok(Some(PromoteResponse {
        alias: alias_response(&alias)?,
        decision: decision.clone(),
        vsa,
        log_index: idx,
    }))
}

/// Moves the alias back to the newest earlier target that is not quarantined and still passes policy;
/// 409 `no_rollback_target` when there is none.
pub async fn rollback(
    state: &AppState,
    actor: &Actor,
    model: &ModelName,
    alias: &AliasName,
    reason: &str,
) -> Result<PromoteResponse, MoveError> {
    let model_row = model_row(state, model).await?;
    let why = format!("rollback: {reason}");
    let mv = Move { model, alias, reason: &why, expected_current: None, kind: "rollback" };
    'attempt: for _ in 0..MAX_ATTEMPTS {
        let mut snap = Snapshot::read(state, model_row.id, 0).await?;
        let current = snap
            .current(alias)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("alias {model}@{alias} not found")))?;
        // Candidates: earlier targets, newest first, never the current one nor one a rollback left.
        let mut seen = vec![current.version_id];
        seen.extend(state.db.rolled_back_from(model_row.id, alias.as_str()).await?);
        let policies = applicable(state, model, alias).await?;
        for h in state.db.alias_history(model_row.id, alias.as_str(), true, 1000).await? {
            if seen.contains(&h.version_id) {
                continue;
            }
            seen.push(h.version_id);
            snap = snap.for_version(state, h.version_id).await?;
            let v = state.db.version_by_id(h.version_id).await?;
            if v.quarantined != 0 {
                continue;
            }
            let input = policy_input(state, model, &v, alias, &snap.aliases, actor).await?;
            let decision = evaluate(policies.clone(), &input).await?;
            if decision.allowed {
                state.pauses.point("rollback.decided").await;
                let mut tx = state.db.begin_logged().await?;
                if !snap.holds(&mut tx, model_row.id).await? {
                    continue 'attempt;
                }
                return commit_decision(
                    state,
                    tx,
                    actor,
                    &mv,
                    model_row.id,
                    &v,
                    Some(&current),
                    &decision,
                    &input.input,
                )
                .await?
                .ok_or_else(|| ApiError::internal("an allowed decision was recorded as denied").into());
            }
        }
        return Err(MoveError::NoRollbackTarget { model: model.to_string(), alias: alias.to_string() });
    }
    Err(MoveError::KeptChanging { model: model.to_string(), alias: alias.to_string() })
}
