//! Building the auditor's bundle: the version, its exact manifest and attestations, and the log
//! evidence for each, all proved against one checkpoint.
use base64::Engine;
use registry_core::audit_bundle::{
    AuditBundle, AuditBundleAttestation, AuditBundleEntry, AuditBundleLog, MEDIA_TYPE,
};
use registry_core::tlog::entry::LogEntry;
use registry_core::{ModelName, Reference};

use crate::error::ApiError;
use crate::service::{attest, audit, log, read};
use crate::state::AppState;

/// The bundle of `model@reference` for `actor`, after the access audit record is written (no record,
/// no bundle).
pub async fn download(
    state: &AppState,
    actor: &str,
    model: &ModelName,
    reference: &Reference,
) -> Result<AuditBundle, ApiError> {
    let b = build(state, model, reference).await?;
    let target = format!("{model}@{}", b.version.version);
    audit::record(state, actor, audit::BUNDLE_DOWNLOAD, &target).await?;
    Ok(b)
}

/// The bundle of `model@reference`.
pub async fn build(
    state: &AppState,
    model: &ModelName,
    reference: &Reference,
) -> Result<AuditBundle, ApiError> {
    let row = read::resolve(state, model, reference).await?;
    let (_, manifest) = read::get_manifest(
        state,
        model,
        &Reference::Digest(
            registry_core::Digest::from_hex(&row.manifest_digest).map_err(ApiError::internal)?,
        ),
    )
    .await?;
    let version_id = row.id;
    let version = read::version_response(row)?;
    let infos = attest::list(state, model, version_id).await?;
    let mut attestations = Vec::with_capacity(infos.len());
    for info in infos {
        let (_, body) = attest::raw(state, version_id, info.id).await?;
        attestations.push(AuditBundleAttestation { info, body });
    }
    let (cp, note) = log::checkpoint(&state.db, &state.log).await?;
    // Every entry about this version (creation, attestations, promotion decisions, quarantines and
    // releases, corruption): the client reads the version's state from these, not from the record.
    let subject = format!("{model}@{}", version.version);
    let mut indexes: Vec<u64> =
        state.db.log_indexes_about(&subject, cp.size).await?.into_iter().map(|i| i.max(0) as u64).collect();
    // Asked by alias: every move of that alias, so the client can check this version is the target
    // of its newest one.
    if let Reference::Label(l) = reference
        && l.as_str() != version.version
    {
        for e in state.db.alias_moves_of_model(&model.to_string(), cp.size).await? {
            let moved = LogEntry::parse(e.body.as_bytes()).ok();
            if moved.as_ref().and_then(|m| m.detail("alias")) == Some(l.as_str()) {
                indexes.push(e.idx.max(0) as u64);
            }
        }
    }
    indexes.sort_unstable();
    indexes.dedup();
    let mut entries = Vec::with_capacity(indexes.len());
    for idx in indexes.into_iter().filter(|i| *i < cp.size) {
        let e = state.db.log_entry(idx).await?;
        let proof = log::inclusion(&state.db, idx, cp.size).await?;
        entries.push(AuditBundleEntry {
            index: idx,
            body: e.body,
            inclusion_proof: proof
                .iter()
                .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
                .collect(),
        });
    }
    Ok(AuditBundle {
        media_type: MEDIA_TYPE.into(),
        version,
        manifest,
        attestations,
        log: AuditBundleLog { log_key: state.log.vkey(), checkpoint: note, entries },
    })
}
