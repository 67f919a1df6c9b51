//! Building the auditor's bundle: the version, its exact manifest and attestations, and the log
//! evidence for each, all proved against one checkpoint.
use base64::Engine;
use registry_core::audit_bundle::{AuditBundle, BundleAttestation, BundleEntry, BundleLog, MEDIA_TYPE};
use registry_core::{ModelName, Reference};

use crate::error::ApiError;
use crate::service::{attest, log, read};
use crate::state::AppState;

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
        attestations.push(BundleAttestation { info, body });
    }
    let (cp, note) = log::checkpoint(&state.db, &state.log).await?;
    let mut indexes: Vec<u64> = version.log_index.into_iter().collect();
    indexes.extend(attestations.iter().filter_map(|a| a.info.log_index));
    // Every promotion decision about this version (moves and denials).
    indexes.extend(state.db.alias_log_indexes_of(version_id).await?.into_iter().map(|i| i.max(0) as u64));
    // And every quarantine of it.
    indexes
        .extend(state.db.quarantine_log_indexes_of(version_id).await?.into_iter().map(|i| i.max(0) as u64));
    indexes.sort_unstable();
    indexes.dedup();
    let mut entries = Vec::with_capacity(indexes.len());
    for idx in indexes.into_iter().filter(|i| *i < cp.size) {
        let e = state.db.log_entry(idx).await?;
        let proof = log::inclusion(&state.db, idx, cp.size).await?;
        entries.push(BundleEntry {
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
        log: BundleLog { log_key: state.log.vkey(), checkpoint: note, entries },
    })
}
