//! Promotion: move an alias to a version only if every Rego policy attached to the model and alias
//! allows it; record every decision (passed or failed) in the history and the log; sign a SLSA
//! Verification Summary Attestation for each allowed move; roll back to the newest earlier target that
//! still passes. Moves of one alias serialize on the global write lock.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use registry_core::api::codes;
use registry_core::attest::Target;
use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use registry_core::attest::intoto::Statement;
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::attest::predicates::SLSA_VSA_V1;
use registry_core::auth::NamePattern;
use registry_core::promote::{
    AliasEvent, AliasHistory, AliasList, AliasName, AliasPattern, AliasResponse, Decision, POLICY_PACKAGE,
    PolicyActor, PolicyAlias, PolicyAttestation, PolicyInfo, PolicyInput, PolicyRef, PromoteResponse,
    SetPolicyRequest,
};
use registry_core::tlog::entry;
use registry_core::{Digest, Manifest, ModelName, Reference, canonical};
use serde_json::{Value, json};

use crate::auth::Actor;
use crate::db::aliases::{self, AliasRow, PolicyRow};
use crate::db::versions::VersionRow;
use crate::db::{DbError, Tx, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::{attest, log, read};
use crate::state::AppState;

/// Longest a policy may evaluate before it counts as a deny.
const EVAL_LIMIT: Duration = Duration::from_millis(500);
/// How long a decision may take beyond [`EVAL_LIMIT`] per policy (waiting for the evaluator, a builtin
/// running up to the memory budget) before it counts as a deny anyway.
const EVAL_DEADLINE: Duration = Duration::from_secs(5);
/// Longest Rego module accepted.
pub const MAX_POLICY_LEN: usize = 64 * 1024;

/// Loads the server's attestation key (PEM PKCS#8), creating an Ed25519 one (0600) on first start.
pub fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(pem) => SigningKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let key = SigningKey::from_seed(KeyKind::Ed25519, &seed)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::service::tokens::write_private(path, key.to_pkcs8_pem().as_bytes())?;
            tracing::warn!(file = %path.display(), key = %key.public().key_id(), "created the server's attestation key");
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

fn corrupt(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(DbError::Corrupt(e.to_string()))
}

/// The model's row: 404 when it does not exist, any other database failure as itself.
async fn model_row(state: &AppState, model: &ModelName) -> Result<crate::db::models::ModelRow, ApiError> {
    state.db.model_get(model).await.map_err(|e| match e {
        DbError::NotFound => ApiError::not_found(format!("model {model} not found")),
        e => e.into(),
    })
}

fn parse_alias(s: &str) -> Result<AliasName, ApiError> {
    AliasName::parse(s).map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))
}

fn policy_ref(p: &PolicyRow) -> Result<PolicyRef, ApiError> {
    Ok(PolicyRef {
        id: p.id,
        namespace: p.namespace.clone(),
        alias: p.alias.clone(),
        revision: p.revision,
        digest: Digest::from_hex(&p.digest).map_err(corrupt)?,
    })
}

/// The policies in force for `model`'s `alias`.
pub async fn applicable(
    state: &AppState,
    model: &ModelName,
    alias: &AliasName,
) -> Result<Vec<PolicyRow>, ApiError> {
    let mut out = Vec::new();
    for p in state.db.policies_current().await? {
        let ns = NamePattern::parse(&p.namespace).map_err(corrupt)?;
        let al = AliasPattern::parse(&p.alias).map_err(corrupt)?;
        if ns.matches(model) && al.matches(alias) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Evaluates `policies` on `input`: allowed only if every policy's `allow` is true and its `deny` set
/// is empty. A policy that fails to load, errors or runs out of time denies.
pub async fn evaluate(policies: Vec<PolicyRow>, input: &PolicyInput) -> Result<Decision, ApiError> {
    let refs = policies.iter().map(policy_ref).collect::<Result<Vec<_>, _>>()?;
    // Whatever the policies say, no alias moves onto a version under quarantine or found corrupted.
    let mut fixed = Vec::new();
    if input.quarantined {
        fixed.push("the version is quarantined (lift the quarantine first)".to_owned());
    }
    if input.version.corrupted {
        fixed.push("the version's stored bytes or evidence were found corrupted".to_owned());
    }
    if policies.is_empty() {
        let allowed = fixed.is_empty();
        if allowed {
            fixed.push("no policy applies: promotion allowed".into());
        }
        return Ok(Decision { allowed, reasons: fixed, policies: refs });
    }
    let input_json = serde_json::to_string(input).map_err(ApiError::internal)?;
    let ids: Vec<i64> = policies.iter().map(|p| p.id).collect();
    let work = tokio::task::spawn_blocking(move || {
        let mut reasons = Vec::new();
        for p in &policies {
            match eval_one(&p.rego, &input_json) {
                Ok((true, deny)) if deny.is_empty() => {}
                Ok((allow, deny)) => {
                    if deny.is_empty() && !allow {
                        reasons.push(format!(
                            "policy {} ({} {}): allow is not true",
                            p.id, p.namespace, p.alias
                        ));
                    }
                    reasons.extend(deny.into_iter().map(|d| format!("policy {}: {d}", p.id)));
                }
                Err(e) => reasons.push(format!("policy {} could not be evaluated (denied): {e}", p.id)),
            }
        }
        reasons
    });
    // A backstop over the timer and the memory budget (and the queue for the evaluator): the work
    // left running past it can only finish into nothing.
    let deadline = EVAL_DEADLINE + EVAL_LIMIT * u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let reasons = match tokio::time::timeout(deadline, work).await {
        Ok(r) => r.map_err(ApiError::internal)?,
        Err(_) => ids
            .iter()
            .map(|id| format!("policy {id} could not be evaluated (denied): no decision within {deadline:?}"))
            .collect(),
    };
    fixed.extend(reasons);
    Ok(Decision { allowed: fixed.is_empty(), reasons: bound_reasons(fixed), policies: refs })
}

/// Most reasons a decision records (a policy's `deny` set is built from input it does not bound).
const MAX_REASONS: usize = 100;

/// At most [`MAX_REASONS`] reasons, each clipped to `MAX_TEXT_LEN` bytes: they are stored in the
/// alias history and the log with every decision.
fn bound_reasons(mut reasons: Vec<String>) -> Vec<String> {
    let extra = reasons.len().saturating_sub(MAX_REASONS);
    reasons.truncate(MAX_REASONS);
    for r in &mut reasons {
        if r.len() > registry_core::api::MAX_TEXT_LEN {
            *r = crate::clip(r, registry_core::api::MAX_TEXT_LEN - 3).into_owned();
        }
    }
    if extra > 0 {
        reasons.push(format!("... and {extra} more reason(s)"));
    }
    reasons
}

/// One policy: (allow, deny reasons). Alone, within the execution timer and the memory budget of
/// [`crate::service::rego`] (checked inside builtins too).
fn eval_one(rego: &str, input_json: &str) -> Result<(bool, Vec<String>), String> {
    crate::service::rego::exclusive(|ex| eval_loaded(ex, rego, input_json))
}

fn eval_loaded(
    ex: &crate::service::rego::Exclusive,
    rego: &str,
    input_json: &str,
) -> Result<(bool, Vec<String>), String> {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: EVAL_LIMIT,
        check_interval: std::num::NonZeroU32::new(16).unwrap_or(std::num::NonZeroU32::MIN),
    });
    crate::service::rego::install_bounded_builtins(&mut engine).map_err(|e| e.to_string())?;
    engine.add_policy("policy.rego".into(), rego.into()).map_err(|e| e.to_string())?;
    engine.set_input_json(input_json).map_err(|e| e.to_string())?;
    ex.budget(crate::service::rego::MEMORY_BUDGET);
    // A query (not eval_rule) so that a module without `allow` or `deny` is simply undefined.
    let mut value = |rule: &str| -> Result<Value, String> {
        let results =
            engine.eval_query(format!("{POLICY_PACKAGE}.{rule}"), false).map_err(|e| e.to_string())?;
        let Some(v) = results.result.into_iter().next().and_then(|r| r.expressions.into_iter().next()) else {
            return Ok(Value::Null);
        };
        let text = v.value.to_json_str().map_err(|e| e.to_string())?;
        serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())
    };
    let allow = value("allow")?.as_bool() == Some(true);
    let deny = match value("deny")? {
        Value::Array(items) => {
            items.into_iter().map(|i| i.as_str().map(String::from).unwrap_or_else(|| i.to_string())).collect()
        }
        Value::Null => vec![],
        Value::Object(o) if o.is_empty() => vec![],
        other => vec![format!("deny is not a set of strings: {other}")],
    };
    Ok((allow, deny))
}

/// Checks a Rego module compiles as `package registry.promote`.
pub fn check_policy(rego: &str) -> Result<(), String> {
    if rego.len() > MAX_POLICY_LEN {
        return Err(format!("policy longer than {MAX_POLICY_LEN} bytes"));
    }
    let package = crate::service::rego::exclusive(|ex| {
        ex.budget(crate::service::rego::MEMORY_BUDGET);
        regorus::Engine::new().add_policy("policy.rego".into(), rego.into()).map_err(|e| e.to_string())
    })?;
    if package != POLICY_PACKAGE {
        return Err(format!(
            "the module is {package}; a promotion policy must be `package registry.promote`"
        ));
    }
    Ok(())
}

/// Everything a policy sees about promoting `version` to `alias`.
pub async fn policy_input(
    state: &AppState,
    model: &ModelName,
    version: &VersionRow,
    alias: &AliasName,
    aliases: &[AliasRow],
    actor: &Actor,
) -> Result<PolicyInput, ApiError> {
    let trusted = attest::trusted_for(state, model).await?;
    let revoked = attest::revoked_key_ids(&state.db).await?;
    let mut atts = Vec::new();
    for row in state.db.attestations_of(version.id).await? {
        let info = attest::info(&row, &trusted, &revoked)?;
        let predicate = registry_core::attest::parse(row.body.as_bytes())
            .map(|p| p.statement.predicate)
            .unwrap_or(Value::Null);
        atts.push(PolicyAttestation {
            id: info.id,
            digest: info.digest,
            predicate_type: info.predicate_type,
            signer_key_id: info.signer_key_id,
            verified: info.status == "verified",
            status: info.status,
            binding: info.binding,
            predicate,
        });
    }
    let map: BTreeMap<String, String> = aliases.iter().map(|a| (a.name.clone(), a.version.clone())).collect();
    Ok(PolicyInput {
        quarantined: version.quarantined != 0,
        version: read::version_response(version.clone())?,
        attestations: atts,
        alias: PolicyAlias { name: alias.to_string(), current: map.get(alias.as_str()).cloned() },
        aliases: map,
        actor: PolicyActor { id: actor.id.clone(), scopes: actor.scopes.clone() },
        time: rfc3339(now_ms()),
    })
}

fn alias_response(a: &AliasRow) -> Result<AliasResponse, ApiError> {
    Ok(AliasResponse {
        alias: a.name.clone(),
        version: a.version.clone(),
        manifest_digest: Digest::from_hex(&a.manifest_digest).map_err(corrupt)?,
        updated_by: a.updated_by.clone(),
        updated_at: rfc3339(a.updated_at),
    })
}

/// The signed SLSA VSA of an allowed move.
fn vsa(
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
    Ok(Envelope::sign(INTOTO_PAYLOAD_TYPE, payload, &[state.attestation_key.as_ref()]).to_json())
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
) -> Result<PromoteResponse, ApiError> {
    let model_row = model_row(state, mv.model).await?;
    let version = read::resolve_version(state, mv.model, target).await?;
    if state.db.version_get(mv.model, mv.alias.as_str()).await.is_ok() {
        return Err(shadows(mv));
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
        let mut tx = state.db.begin_write().await?;
        crate::db::log::lock_global_writes(&mut tx).await?;
        if !snap.holds(&mut tx, model_row.id).await? {
            continue; // dropped: rolled back
        }
        let moved =
            commit_decision(state, tx, actor, mv, model_row.id, &version, current, &decision, &input).await?;
        return moved.ok_or_else(|| {
            ApiError::forbidden(format!(
                "promotion of {}@{} to {} denied: {}",
                mv.model,
                version.version,
                mv.alias,
                decision.reasons.join("; ")
            ))
            .with_code(codes::POLICY_DENIED)
            .with_details(json!({"reasons": decision.reasons, "policies": decision.policies}))
        });
    }
    Err(ApiError::unavailable(format!(
        "{}@{} kept changing during {MAX_ATTEMPTS} evaluations",
        mv.model, mv.alias
    )))
}

fn shadows(mv: &Move<'_>) -> ApiError {
    ApiError::conflict(
        codes::NAME_CONFLICT,
        format!("{} is a version label of {}; an alias cannot shadow it", mv.alias, mv.model),
    )
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

fn check_expected(mv: &Move<'_>, current: Option<&AliasRow>) -> Result<(), ApiError> {
    if let Some(expected) = mv.expected_current {
        let now = current.map(|c| c.version.as_str()).unwrap_or("");
        if now != expected {
            return Err(ApiError::conflict(
                codes::ALIAS_MOVED,
                format!(
                    "{} points at {}, not at the expected {expected:?}",
                    mv.alias,
                    if now.is_empty() { "nothing".to_owned() } else { format!("{now:?}") }
                ),
            ));
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
) -> Result<Option<PromoteResponse>, ApiError> {
    // Checked again under the lock: a push of that label may have landed since the first check.
    if crate::db::versions::find(&mut tx, model_id, mv.alias.as_str()).await?.is_some() {
        return Err(shadows(mv));
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
        let raw = vsa(state, mv.model, version, mv.alias, decision, input)?;
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
) -> Result<PromoteResponse, ApiError> {
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
                let mut tx = state.db.begin_write().await?;
                crate::db::log::lock_global_writes(&mut tx).await?;
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
                    &input,
                )
                .await?
                .ok_or_else(|| ApiError::internal("an allowed decision was recorded as denied"));
            }
        }
        return Err(ApiError::conflict(
            codes::NO_ROLLBACK_TARGET,
            format!("{model}@{alias} has no earlier target that is not quarantined and still passes policy"),
        ));
    }
    Err(ApiError::unavailable(format!("{model}@{alias} kept changing during {MAX_ATTEMPTS} evaluations")))
}

/// Where the alias points now, or pointed at `at` (unix ms).
pub async fn get(
    state: &AppState,
    model: &ModelName,
    alias: &AliasName,
    at: Option<i64>,
) -> Result<AliasResponse, ApiError> {
    let model_row = model_row(state, model).await?;
    let missing = || ApiError::not_found(format!("alias {model}@{alias} not found"));
    match at {
        None => alias_response(&state.db.alias_get(model_row.id, alias.as_str()).await?.ok_or_else(missing)?),
        Some(t) => {
            let h = state.db.alias_at(model_row.id, alias.as_str(), t).await?.ok_or_else(missing)?;
            let v = state.db.version_by_id(h.version_id).await?;
            alias_response(&AliasRow {
                name: h.name,
                version_id: h.version_id,
                version: h.version,
                manifest_digest: v.manifest_digest,
                updated_by: h.actor,
                updated_at: h.at,
            })
        }
    }
}

/// Evaluates the policies for promoting `version` to `alias` without moving anything.
pub async fn dry_run(
    state: &AppState,
    actor: &Actor,
    model: &ModelName,
    version: &Reference,
    alias: &AliasName,
) -> Result<Decision, ApiError> {
    let model_row = model_row(state, model).await?;
    let v = read::resolve_version(state, model, version).await?;
    let all = state.db.aliases_of(model_row.id).await?;
    let input = policy_input(state, model, &v, alias, &all, actor).await?;
    evaluate(applicable(state, model, alias).await?, &input).await
}

/// Parses an alias path segment.
pub fn alias(s: &str) -> Result<AliasName, ApiError> {
    parse_alias(s)
}

fn policy_info(p: PolicyRow) -> Result<PolicyInfo, ApiError> {
    Ok(PolicyInfo {
        id: p.id,
        digest: Digest::from_hex(&p.digest).map_err(corrupt)?,
        namespace: p.namespace,
        alias: p.alias,
        revision: p.revision,
        rego: p.rego,
        created_by: p.created_by,
        created_at: rfc3339(p.created_at),
        log_index: p.log_index.map(|i| i.max(0) as u64),
    })
}

/// Stores a new revision of the policy for (`namespace` pattern, `alias` pattern) after checking it
/// compiles; the change and the module's digest go into the log in the same transaction.
pub async fn set_policy(
    state: &AppState,
    actor: &Actor,
    req: &SetPolicyRequest,
) -> Result<PolicyInfo, ApiError> {
    let alias = AliasPattern::parse(&req.alias)
        .map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))?;
    check_policy(&req.rego)
        .map_err(|e| ApiError::bad_request(codes::INVALID_POLICY, format!("policy does not compile: {e}")))?;
    let digest = Digest::of(req.rego.as_bytes());
    let namespace = req.namespace.to_string();
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (id, revision) =
        aliases::add_policy(&mut tx, &namespace, alias.as_str(), &req.rego, &digest.hex(), &actor.id, now)
            .await?;
    let e = log::entry(
        entry::POLICY_CHANGED,
        &format!("{namespace} {}", alias.as_str()),
        &actor.id,
        &[("policy_id", json!(id)), ("revision", json!(revision)), ("digest", json!(digest.to_string()))],
    );
    let idx = crate::db::log::append(&mut tx, &e).await?;
    aliases::set_policy_log_index(&mut tx, id, idx).await?;
    tx.commit().await.map_err(DbError::from)?;
    policy_info(state.db.policy_get(id).await?)
}

/// Every policy revision in force.
pub async fn list_policies(state: &AppState) -> Result<Vec<PolicyInfo>, ApiError> {
    state.db.policies_current().await?.into_iter().map(policy_info).collect()
}

/// One revision by id.
pub async fn get_policy(state: &AppState, id: i64) -> Result<PolicyInfo, ApiError> {
    match state.db.policy_get(id).await {
        Ok(p) => policy_info(p),
        Err(DbError::NotFound) => Err(ApiError::not_found(format!("policy {id} not found"))),
        Err(e) => Err(e.into()),
    }
}

/// An alias's decisions, newest first.
pub async fn history(
    state: &AppState,
    model: &ModelName,
    alias: &AliasName,
    limit: u32,
) -> Result<AliasHistory, ApiError> {
    let model_row = model_row(state, model).await?;
    let rows = state.db.alias_history(model_row.id, alias.as_str(), false, limit).await?;
    let events = rows
        .into_iter()
        .map(|h| {
            Ok(AliasEvent {
                id: h.id,
                kind: h.kind,
                version: h.version,
                previous: h.previous,
                decision: h.decision,
                reasons: serde_json::from_str(&h.reasons).map_err(corrupt)?,
                policies: serde_json::from_str(&h.policies).map_err(corrupt)?,
                actor: h.actor,
                reason: h.reason,
                at: rfc3339(h.at),
                log_index: h.log_index.map(|i| i.max(0) as u64),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(AliasHistory { events })
}

/// Every alias of a model.
pub async fn list(state: &AppState, model: &ModelName) -> Result<AliasList, ApiError> {
    let model_row = model_row(state, model).await?;
    let aliases =
        state.db.aliases_of(model_row.id).await?.iter().map(alias_response).collect::<Result<_, _>>()?;
    Ok(AliasList { aliases })
}
