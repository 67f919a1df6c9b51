//! Attestations on the server: which keys are trusted for a model, verifying what arrives (nothing
//! is stored unless it verifies), storing it verbatim, and listing it with its status now.
use registry_core::api::{
    AddKeyRequest, AttestationInfo, NamespaceSettings, SignerIdentity, TrustedKeyInfo, codes,
};
use registry_core::attest::keys::PublicKey;
use registry_core::attest::predicates::{SLSA_PROVENANCE_V1, check_names};
use registry_core::attest::{self, AttestError, Binding, Target, Trust, TrustedKey, Verified};
use registry_core::auth::NamePattern;
use registry_core::{Digest, Manifest, ModelName};

use crate::db::attestations::{AttestationRow, KeyRow};
use crate::db::{Db, DbError, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::keyless::{self, KeylessTrust};
use crate::state::AppState;

/// What is trusted now for attestations of one model: keys (with the predicate types each may
/// sign) and keyless identities with the roots that vouch for them.
#[derive(Debug, Default)]
pub struct Trusted {
    /// Trusted keys (the server's own VSA key first).
    pub keys: Vec<TrustedKey>,
    /// Sigstore roots and identities.
    pub keyless: KeylessTrust,
}

impl Trusted {
    /// As the verifier takes it.
    pub fn trust(&self) -> Trust<'_> {
        Trust { keys: &self.keys, roots: &self.keyless.roots, identities: &self.keyless.identities }
    }

    /// `verified` while the signer is trusted for this predicate type; otherwise `signer_revoked` (a
    /// key or identity that vouched for it was revoked) or `signer_not_trusted`. The one judgement of a
    /// stored attestation's status (listing, policy input, compliance report).
    pub fn status(
        &self,
        predicate_type: &str,
        signer_key_id: &str,
        identity: Option<&SignerIdentity>,
        revoked_keys: &[String],
    ) -> &'static str {
        if let Some(id) = identity {
            return match self.keyless.judge(&id.signer(), &id.trust_root) {
                Some(true) => "verified",
                Some(false) => "signer_revoked",
                None => "signer_not_trusted",
            };
        }
        let trusted_now = self.keys.iter().any(|t| {
            t.key.key_id().hex() == signer_key_id
                && (t.predicate_types.is_empty() || t.predicate_types.iter().any(|p| p == predicate_type))
        });
        if trusted_now {
            "verified"
        } else if revoked_keys.iter().any(|k| k == signer_key_id) {
            "signer_revoked"
        } else {
            "signer_not_trusted"
        }
    }
}

/// What is trusted now for attestations of `model`.
pub async fn trusted_for(state: &AppState, model: &ModelName) -> Result<Trusted, ApiError> {
    Ok(Trusted { keys: trusted_keys(state, model).await?, keyless: keyless::trust_for(state, model).await? })
}

/// The keys trusted now for attestations of `model`, with the predicate types each may sign.
async fn trusted_keys(state: &AppState, model: &ModelName) -> Result<Vec<TrustedKey>, ApiError> {
    // The server's own attestation key vouches for its promotion decisions (VSAs) and nothing else.
    let mut out = vec![TrustedKey {
        key: state.attestation_key.public().clone(),
        predicate_types: vec![registry_core::attest::predicates::SLSA_VSA_V1.into()],
    }];
    for row in state.db.keys_list().await? {
        if row.revoked_at.is_some() {
            continue;
        }
        let pattern = NamePattern::parse(&row.namespace)
            .map_err(|e| ApiError::internal(DbError::Corrupt(e.to_string())))?;
        if !pattern.matches(model) {
            continue;
        }
        let key = PublicKey::from_pem(&row.public_key)
            .map_err(|e| ApiError::internal(DbError::Corrupt(e.to_string())))?;
        let predicate_types: Vec<String> = serde_json::from_str(&row.predicate_types)
            .map_err(|e| ApiError::internal(DbError::Corrupt(e.to_string())))?;
        out.push(TrustedKey { key, predicate_types });
    }
    Ok(out)
}

/// Verifies each raw attestation of `model@version`; the first failure answers 400
/// `invalid_attestation` (or 413), with `details.reason` for a refused keyless bundle.
pub fn verify_all(
    raws: &[Vec<u8>],
    trusted: &Trusted,
    model: &ModelName,
    version: &str,
    manifest: &Manifest,
) -> Result<Vec<Verified>, ApiError> {
    raws.iter()
        .enumerate()
        .map(|(i, raw)| {
            attest::verify_with(raw, trusted.trust(), Target { model, manifest })
                .and_then(|v| {
                    let st = &v.statement;
                    check_names(&st.predicate_type, &st.predicate, model, version).map_err(|e| {
                        match v.identity {
                            // A keyless refusal always carries its reason.
                            Some(_) => AttestError::Keyless {
                                reason: registry_core::keyless::Reason::SubjectMismatch,
                                detail: e.to_string(),
                            },
                            None => e,
                        }
                    })?;
                    Ok(v)
                })
                .map_err(|e| match e {
                    attest::AttestError::TooLarge => {
                        ApiError::too_large(format!("attestation #{}: {e}", i + 1))
                    }
                    AttestError::Keyless { reason, .. } => ApiError::bad_request(
                        codes::INVALID_ATTESTATION,
                        format!("attestation #{}: {e}", i + 1),
                    )
                    .with_details(serde_json::json!({ "reason": reason.as_str() })),
                    e => ApiError::bad_request(
                        codes::INVALID_ATTESTATION,
                        format!("attestation #{}: {e}", i + 1),
                    ),
                })
        })
        .collect()
}

/// True when one of `verified` is SLSA provenance bound to the manifest.
pub fn has_provenance(verified: &[Verified]) -> bool {
    verified
        .iter()
        .any(|v| v.statement.predicate_type == SLSA_PROVENANCE_V1 && v.binding == Binding::Manifest)
}

fn binding_str(b: Binding) -> &'static str {
    match b {
        Binding::Manifest => "manifest",
        Binding::Files => "files",
        Binding::Content => "content",
    }
}

/// The row to store for a verified attestation (body: the exact bytes, UTF-8 since they parsed).
pub fn row(
    version_id: i64,
    raw: &[u8],
    v: &Verified,
    actor: &str,
    now: i64,
) -> Result<AttestationRow, ApiError> {
    let body = String::from_utf8(raw.to_vec())
        .map_err(|_| ApiError::bad_request(codes::INVALID_ATTESTATION, "attestation is not UTF-8 JSON"))?;
    Ok(AttestationRow {
        id: 0,
        version_id,
        digest: Digest::of(raw).hex(),
        body,
        format: match v.format {
            attest::Format::Dsse => "dsse".into(),
            attest::Format::SigstoreBundle => "sigstore_bundle".into(),
        },
        predicate_type: v.statement.predicate_type.clone(),
        signer_key_id: v.signer.hex(),
        subject_digest: v.subject.hex(),
        binding: binding_str(v.binding).into(),
        created_by: actor.into(),
        created_at: now,
        log_index: None,
        signer_identity: v
            .identity
            .as_ref()
            .map(|i| serde_json::to_string(&SignerIdentity::of(i)))
            .transpose()
            .map_err(ApiError::internal)?,
    })
}

/// What identifies a piece of evidence, whatever its bytes: the payload type, the exact payload bytes
/// and the verified signer, length-prefixed like DSSE's PAE. Two attestations with the same key say
/// the same thing under the same key: an ECDSA signature and its high-S twin (both valid, and accepted:
/// OpenSSL, Go and Python produce high-S), a fresh signature of the same statement, or the same envelope
/// re-encoded or wrapped in a bundle. A version stores each piece of evidence once.
pub fn evidence_key(raw: &[u8], signer_hex: &str) -> Result<String, AttestError> {
    let p = attest::parse(raw)?;
    let (pt, payload) = (&p.envelope.payload_type, &p.envelope.payload);
    let mut msg = format!("registry-evidence-v1 {} {pt} {} ", pt.len(), payload.len()).into_bytes();
    msg.extend_from_slice(payload);
    msg.extend_from_slice(format!(" {signer_hex}").as_bytes());
    Ok(Digest::of(&msg).hex())
}

/// Gives attestations stored before evidence keys existed their key (run at start; cheap once done).
/// A row whose evidence another row of its version already holds keeps none: both stay, as stored.
pub async fn backfill_evidence_keys(db: &Db) -> anyhow::Result<u64> {
    let mut done = 0u64;
    let mut skipped = std::collections::HashSet::new();
    loop {
        let mut conn = db.pool().acquire().await?;
        let rows =
            crate::db::attestations::without_evidence_key(&mut conn, 500 + skipped.len() as i64).await?;
        let rows: Vec<_> = rows.into_iter().filter(|(id, _, _)| !skipped.contains(id)).collect();
        if rows.is_empty() {
            return Ok(done);
        }
        for (id, body, signer) in rows {
            let set = match evidence_key(body.as_bytes(), &signer) {
                Ok(key) => crate::db::attestations::set_evidence_key(&mut conn, id, &key).await,
                Err(e) => Err(DbError::Corrupt(format!("attestation {id}: {e}"))),
            };
            match set {
                Ok(()) => done += 1,
                Err(DbError::Conflict | DbError::Corrupt(_)) => {
                    skipped.insert(id);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Stores verified attestations of `subject` (`NS/NAME@VERSION`, row `version_id`) inside `tx`, each
/// with its `attestation.added` log entry. Returns the ids of those newly stored. The transaction
/// holds the global write lock (taken here if the caller has not), so ids follow commit order.
pub async fn store(
    tx: &mut crate::db::Tx,
    version_id: i64,
    subject: &str,
    evidence: &[(Vec<u8>, Verified)],
    actor: &str,
    now: i64,
) -> Result<Vec<i64>, ApiError> {
    use registry_core::tlog::entry::ATTESTATION_ADDED;
    use serde_json::json;
    crate::db::log::lock_global_writes(tx).await?;
    let mut ids = Vec::new();
    for (raw, v) in evidence {
        let r = row(version_id, raw, v, actor, now)?;
        let key = evidence_key(raw, &r.signer_key_id)
            .map_err(|e| ApiError::bad_request(codes::INVALID_ATTESTATION, e.to_string()))?;
        let Some(id) = crate::db::attestations::insert(tx, &r, &key).await? else { continue };
        crate::service::oci::on_attestation(tx, id, &r).await?;
        let mut details = vec![
            ("digest", json!(format!("sha256:{}", r.digest))),
            ("predicate_type", json!(r.predicate_type)),
            ("signer_key_id", json!(format!("sha256:{}", r.signer_key_id))),
            ("binding", json!(r.binding)),
        ];
        if let Some(i) = &v.identity {
            details.push(("signer_identity", json!(SignerIdentity::of(i))));
        }
        let e = crate::service::log::entry(ATTESTATION_ADDED, subject, actor, &details);
        let idx = crate::db::log::append(tx, &e).await?;
        crate::db::attestations::set_log_index(tx, id, idx).await?;
        ids.push(id);
    }
    Ok(ids)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(DbError::Corrupt(format!("{what}: {e}")))
}

/// A stored row's keyless signer (its `signer_identity` column), if it has one.
pub fn signer_identity(column: Option<&str>) -> Result<Option<SignerIdentity>, ApiError> {
    column.map(serde_json::from_str).transpose().map_err(|e| corrupt("signer_identity", e))
}

/// The public record of a stored attestation, with its status against what is trusted now.
pub fn info(r: &AttestationRow, trusted: &Trusted, revoked: &[String]) -> Result<AttestationInfo, ApiError> {
    let signer = Digest::from_hex(&r.signer_key_id).map_err(|e| corrupt("signer_key_id", e))?;
    let identity = signer_identity(r.signer_identity.as_deref())?;
    let status = trusted.status(&r.predicate_type, &r.signer_key_id, identity.as_ref(), revoked);
    let binding = match r.binding.as_str() {
        "manifest" => Binding::Manifest,
        "files" => Binding::Files,
        "content" => Binding::Content,
        b => return Err(corrupt("binding", b)),
    };
    Ok(AttestationInfo {
        id: r.id,
        digest: Digest::from_hex(&r.digest).map_err(|e| corrupt("digest", e))?,
        format: r.format.clone(),
        predicate_type: r.predicate_type.clone(),
        signer_key_id: signer,
        signer_identity: identity,
        binding,
        subject_digest: Digest::from_hex(&r.subject_digest).map_err(|e| corrupt("subject_digest", e))?,
        status: status.into(),
        created_by: r.created_by.clone(),
        created_at: rfc3339(r.created_at),
        log_index: r.log_index.map(|i| i.max(0) as u64),
    })
}

/// Hex ids of keys with a revoked row.
pub async fn revoked_key_ids(db: &Db) -> Result<Vec<String>, ApiError> {
    Ok(db.keys_list().await?.into_iter().filter(|k| k.revoked_at.is_some()).map(|k| k.key_id).collect())
}

/// The public record of a key row.
pub fn key_info(r: &KeyRow) -> Result<TrustedKeyInfo, ApiError> {
    let key = PublicKey::from_pem(&r.public_key).map_err(|e| corrupt("public_key", e))?;
    Ok(TrustedKeyInfo {
        key_id: key.key_id(),
        namespace: NamePattern::parse(&r.namespace).map_err(|e| corrupt("namespace", e))?,
        kind: key.kind().to_string(),
        public_key: key.to_pem(),
        predicate_types: serde_json::from_str(&r.predicate_types)
            .map_err(|e| corrupt("predicate_types", e))?,
        added_by: r.added_by.clone(),
        added_at: rfc3339(r.added_at),
        revoked_at: r.revoked_at.map(rfc3339),
    })
}

/// Every trusted key (revoked ones included, with when).
pub async fn list_keys(db: &Db) -> Result<Vec<TrustedKeyInfo>, ApiError> {
    db.keys_list().await?.iter().map(key_info).collect()
}

/// Trusts a key (admin API and `registry-server keys add`).
pub async fn add_key(db: &Db, actor: &str, req: AddKeyRequest) -> Result<TrustedKeyInfo, ApiError> {
    let key = PublicKey::from_pem(&req.public_key)
        .map_err(|e| ApiError::bad_request(codes::INVALID_KEY, e.to_string()))?;
    if req.predicate_types.len() > 64 || req.predicate_types.iter().any(|p| p.is_empty() || p.len() > 512) {
        return Err(ApiError::bad_request(
            codes::BAD_REQUEST,
            "predicate types: at most 64, each a non-empty URI of at most 512 bytes",
        ));
    }
    let row = KeyRow {
        key_id: key.key_id().hex(),
        namespace: req.namespace.to_string(),
        public_key: key.to_pem(),
        predicate_types: serde_json::to_string(&req.predicate_types).map_err(ApiError::internal)?,
        added_by: actor.into(),
        added_at: now_ms(),
        revoked_at: None,
    };
    let mut tx = db.begin_logged().await?;
    crate::db::attestations::key_add(&mut tx, &row).await.map_err(|e| match e {
        DbError::Conflict => ApiError::conflict(
            codes::KEY_EXISTS,
            format!("key {} is already trusted for {}", key.key_id(), req.namespace),
        ),
        e => e.into(),
    })?;
    let e = crate::service::log::entry(
        registry_core::tlog::entry::KEY_TRUSTED,
        &key.key_id().to_string(),
        actor,
        &[
            ("namespace", serde_json::json!(req.namespace.to_string())),
            ("predicate_types", serde_json::json!(req.predicate_types)),
            ("public_key", serde_json::json!(key.to_pem())),
        ],
    );
    crate::db::log::append(&mut tx, &e).await?;
    tx.commit().await.map_err(DbError::from)?;
    key_info(&row)
}

/// Revokes a key for one pattern or all; 404 if nothing was trusted.
pub async fn revoke_key(
    db: &Db,
    actor: &str,
    key_id: &Digest,
    namespace: Option<&NamePattern>,
) -> Result<u64, ApiError> {
    let ns = namespace.map(ToString::to_string);
    let mut tx = db.begin_logged().await?;
    let n = crate::db::attestations::key_revoke(&mut tx, &key_id.hex(), ns.as_deref(), now_ms()).await?;
    if n > 0 {
        let e = crate::service::log::entry(
            registry_core::tlog::entry::KEY_REVOKED,
            &key_id.to_string(),
            actor,
            &[("namespace", serde_json::json!(ns.clone().unwrap_or_else(|| "*".into())))],
        );
        crate::db::log::append(&mut tx, &e).await?;
        tx.commit().await.map_err(DbError::from)?;
    }
    if n == 0 {
        return Err(ApiError::not_found(format!(
            "key {key_id} is not trusted{}",
            ns.map(|n| format!(" for {n}")).unwrap_or_default()
        )));
    }
    Ok(n)
}

/// How often a publish or an attestation is verified again when trust keeps changing under it.
pub const MAX_TRUST_TRIES: usize = 5;

/// Trust changed between a verification and its commit (and kept changing, where it was retried).
pub fn trust_changed() -> ApiError {
    ApiError::unavailable(
        "trusted keys or the namespace's provenance requirement changed while the evidence was verified; retry",
    )
}

/// Adds one attestation to an existing version (`registry attest`): verified like those of a push,
/// stored verbatim. The bool is false when the same bytes were already stored.
pub async fn add(
    state: &crate::state::AppState,
    actor: &str,
    model: &ModelName,
    version: &crate::db::versions::VersionRow,
    raw: &[u8],
) -> Result<(AttestationInfo, bool), ApiError> {
    let manifest: Manifest = serde_json::from_str(&version.manifest).map_err(|e| corrupt("manifest", e))?;
    let subject = format!("{model}@{}", version.version);
    let mut tries = 0;
    let (trusted, key, created) = loop {
        // Read before trust is; compared under the write lock, so a key revoked in between is not
        // honoured (the verification is done again).
        let mark = state.db.trust_mark(model.namespace()).await?;
        let trusted = trusted_for(state, model).await?;
        let v = verify_all(&[raw.to_vec()], &trusted, model, &version.version, &manifest)?.remove(0);
        let key = evidence_key(raw, &v.signer.hex())
            .map_err(|e| ApiError::bad_request(codes::INVALID_ATTESTATION, e.to_string()))?;
        let mut tx = state.db.begin_logged().await?;
        if !mark.holds(&mut tx).await? {
            tries += 1;
            if tries < MAX_TRUST_TRIES {
                continue;
            }
            return Err(trust_changed());
        }
        let created = store(&mut tx, version.id, &subject, &[(raw.to_vec(), v)], actor, now_ms()).await?;
        tx.commit().await.map_err(DbError::from)?;
        break (trusted, key, created);
    };
    // The row holding this evidence: this one, or the one stored before (same bytes or a twin).
    let stored = match state.db.attestation_by_evidence(version.id, &key).await {
        Err(DbError::NotFound) => state.db.attestation_by_digest(version.id, &Digest::of(raw).hex()).await?,
        r => r?,
    };
    Ok((info(&stored, &trusted, &[])?, !created.is_empty()))
}

/// A version's attestations with their status against today's trust.
pub async fn list(
    state: &crate::state::AppState,
    model: &ModelName,
    version_id: i64,
) -> Result<Vec<AttestationInfo>, ApiError> {
    let trusted = trusted_for(state, model).await?;
    let revoked = revoked_key_ids(&state.db).await?;
    state.db.attestation_heads_of(version_id).await?.iter().map(|r| info(r, &trusted, &revoked)).collect()
}

/// The exact stored bytes of one attestation, re-checked against their digest.
pub async fn raw(
    state: &crate::state::AppState,
    version_id: i64,
    id: i64,
) -> Result<(String, String), ApiError> {
    let r = state.db.attestation_get(version_id, id).await.map_err(|e| match e {
        DbError::NotFound => ApiError::not_found(format!("attestation {id} not found")),
        e => e.into(),
    })?;
    if Digest::of(r.body.as_bytes()).hex() != r.digest {
        return Err(corrupt(
            "attestation",
            format!("{id}: stored bytes do not hash to their recorded digest"),
        ));
    }
    Ok((r.format, r.body))
}

/// A namespace's settings (the defaults if never set).
pub async fn namespace(db: &Db, namespace: &str) -> Result<NamespaceSettings, ApiError> {
    Ok(NamespaceSettings { require_provenance: db.require_provenance(namespace).await? })
}

/// Sets a namespace's `require_provenance`, logged.
pub async fn set_namespace(
    db: &Db,
    actor: &str,
    namespace: &str,
    require_provenance: bool,
) -> Result<(), ApiError> {
    let mut tx = db.begin_logged().await?;
    crate::db::attestations::set_require_provenance(&mut tx, namespace, require_provenance, actor, now_ms())
        .await?;
    let e = crate::service::log::entry(
        registry_core::tlog::entry::NAMESPACE_SET,
        namespace,
        actor,
        &[("require_provenance", serde_json::json!(require_provenance))],
    );
    crate::db::log::append(&mut tx, &e).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}
