//! Promotion policies: which Rego modules apply to a move, what they decide (bounded in time and
//! output), the input they see, and the admin API that stores and lists them.
use std::collections::BTreeMap;
use std::time::Duration;

use registry_core::api::codes;
use registry_core::auth::NamePattern;
use registry_core::promote::{
    AliasName, AliasPattern, Decision, POLICY_PACKAGE, PolicyActor, PolicyAlias, PolicyAttestation,
    PolicyInfo, PolicyInput, PolicyRef, PolicySigner, SetPolicyRequest,
};
use registry_core::tlog::entry;
use registry_core::{Digest, ModelName, Reference};
use serde_json::{Value, json};

use super::{corrupt, model_row};
use crate::auth::Actor;
use crate::db::aliases::{self, AliasRow, PolicyRow};
use crate::db::attestations::AttestationRow;
use crate::db::versions::VersionRow;
use crate::db::{DbError, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::rego::EVAL_LIMIT;
use crate::service::{attest, log, read};
use crate::state::AppState;

/// How long a decision may take beyond [`EVAL_LIMIT`] per policy (waiting for the evaluator, a builtin
/// running up to the memory budget) before it counts as a deny anyway.
const EVAL_DEADLINE: Duration = Duration::from_secs(5);
/// Longest Rego module accepted.
pub const MAX_POLICY_LEN: usize = 64 * 1024;

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

/// Evaluates `policies` on `evidence`: allowed only if every policy's `allow` is true and its `deny`
/// set is empty. A policy that fails to load, errors or runs out of time denies.
pub async fn evaluate(policies: Vec<PolicyRow>, evidence: &Evidence) -> Result<Decision, ApiError> {
    let input = &evidence.input;
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
    let doc = evidence.doc.clone();
    let ids: Vec<i64> = policies.iter().map(|p| p.id).collect();
    let work = tokio::task::spawn_blocking(move || {
        let mut reasons = Vec::new();
        for p in &policies {
            match eval_one(&p.rego, &doc) {
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
fn eval_one(rego: &str, input: &regorus::Value) -> Result<(bool, Vec<String>), String> {
    crate::service::rego::exclusive(|ex| eval_loaded(ex, rego, input))
}

fn eval_loaded(
    ex: &mut crate::service::rego::Exclusive,
    rego: &str,
    input: &regorus::Value,
) -> Result<(bool, Vec<String>), String> {
    let mut engine = ex.policy(rego).map_err(|e| e.to_string())?;
    // Shared, not copied: the policies only read their input.
    engine.set_input(input.clone());
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

/// What the policies of one decision see: the input as [`PolicyInput`] (every `predicate` left null;
/// the VSA and the decision read the rest) and as the document regorus reads, predicates included.
pub struct Evidence {
    /// The input without predicates.
    pub input: PolicyInput,
    doc: regorus::Value,
}

/// Everything a policy sees about promoting `version` to `alias`. Each attestation's trust status
/// is judged now; its predicate comes from [`super::cache::Predicates`] or is decoded from stored
/// bytes checked against their digest.
pub async fn policy_input(
    state: &AppState,
    model: &ModelName,
    version: &VersionRow,
    alias: &AliasName,
    aliases: &[AliasRow],
    actor: &Actor,
) -> Result<Evidence, ApiError> {
    let trusted = attest::trusted_for(state, model).await?;
    let revoked = attest::revoked_key_ids(&state.db).await?;
    let rows = state.db.attestation_heads_of(version.id).await?;
    let mut predicates = Vec::with_capacity(rows.len());
    for head in &rows {
        // Typically one miss per decision: the VSA the previous promotion added.
        let cached = state.predicates.get(&head.digest);
        predicates.push(match cached {
            Some(doc) => Predicate::Held(doc),
            None => Predicate::Json { digest: head.digest.clone(), text: predicate_json(state, head).await? },
        });
    }
    let mut atts = Vec::new();
    for row in &rows {
        let info = attest::info(row, &trusted, &revoked)?;
        let signer = match &info.signer_identity {
            Some(i) => PolicySigner::Identity {
                issuer: i.issuer.clone(),
                subject: i.subject.clone(),
                claims: i.claims.clone(),
            },
            None => PolicySigner::Key { key_id: info.signer_key_id },
        };
        atts.push(PolicyAttestation {
            id: info.id,
            digest: info.digest,
            predicate_type: info.predicate_type,
            signer_key_id: info.signer_key_id,
            signer,
            verified: info.status == "verified",
            status: info.status,
            binding: info.binding,
            predicate: Value::Null,
        });
    }
    let map: BTreeMap<String, String> = aliases.iter().map(|a| (a.name.clone(), a.version.clone())).collect();
    let input = PolicyInput {
        quarantined: version.quarantined != 0,
        version: read::version_response(version.clone())?,
        attestations: atts,
        alias: PolicyAlias { name: alias.to_string(), current: map.get(alias.as_str()).cloned() },
        aliases: map,
        actor: PolicyActor { id: actor.id.clone(), scopes: actor.scopes.clone() },
        time: rfc3339(now_ms()),
    };
    let text = serde_json::to_string(&input).map_err(ApiError::internal)?;
    // regorus parses alone, as evaluations do: a parse running beside another request's evaluation
    // would meet the memory ceiling that evaluation set (`service::rego`).
    let cache = state.predicates.clone();
    let doc = tokio::task::spawn_blocking(move || {
        crate::service::rego::exclusive(|_| input_document(&text, predicates, &cache))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Evidence { input, doc })
}

/// An attestation's predicate: held from an earlier decision, or its JSON to parse (and hold).
enum Predicate {
    Held(regorus::Value),
    Json { digest: String, text: String },
}

/// The JSON of a stored attestation's predicate (null if it has none that parses), from bytes
/// checked against their digest.
async fn predicate_json(state: &AppState, head: &AttestationRow) -> Result<String, ApiError> {
    let row = state.db.attestation_get(head.version_id, head.id).await?;
    if Digest::of(row.body.as_bytes()).hex() != row.digest {
        return Err(corrupt(format!("attestation {}: stored bytes do not hash to their digest", row.id)));
    }
    let predicate = registry_core::attest::parse(row.body.as_bytes())
        .map(|p| p.statement.predicate)
        .unwrap_or(Value::Null);
    serde_json::to_string(&predicate).map_err(ApiError::internal)
}

/// The input document: `input` (JSON, predicates null) with each attestation's predicate put in,
/// in order; predicates parsed here are held in `cache` for the next decision.
fn input_document(
    input: &str,
    predicates: Vec<Predicate>,
    cache: &super::cache::Predicates,
) -> anyhow::Result<regorus::Value> {
    let mut doc = regorus::Value::from_json_str(input)?;
    let key = |k: &str| regorus::Value::from(k);
    let atts = doc
        .as_object_mut()?
        .get_mut(&key("attestations"))
        .ok_or_else(|| anyhow::anyhow!("the input has no attestations"))?
        .as_array_mut()?;
    for (i, p) in predicates.into_iter().enumerate() {
        let p = match p {
            Predicate::Held(doc) => doc,
            Predicate::Json { digest, text } => {
                let doc = regorus::Value::from_json_str(&text)?;
                cache.put(digest, doc.clone(), text.len());
                doc
            }
        };
        let a = atts.get_mut(i).ok_or_else(|| anyhow::anyhow!("attestation {i} is missing"))?;
        a.as_object_mut()?.insert(key("predicate"), p);
    }
    Ok(doc)
}

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
    let mut tx = state.db.begin_logged().await?;
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

/// Every revision of the pattern pair revision `id` belongs to, newest first (the policy page's
/// history).
pub async fn policy_revisions(state: &AppState, p: &PolicyInfo) -> Result<Vec<PolicyInfo>, ApiError> {
    state.db.policy_revisions(&p.namespace, &p.alias).await?.into_iter().map(policy_info).collect()
}
