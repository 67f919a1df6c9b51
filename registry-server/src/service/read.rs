//! Reading models and versions, and resolving `@VERSION` / `@sha256:...` references.
use registry_core::api::{ModelList, ModelResponse, VersionList, VersionResponse};
use registry_core::{Digest, ModelName, Reference};

use crate::db::models::{ModelFilter, ModelRow};
use crate::db::versions::VersionRow;
use crate::db::{DbError, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;

/// A stored row that no longer decodes is a server fault (and a tampering signal), never a 4xx.
fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(DbError::Corrupt(format!("{what}: {e}")))
}

/// Converts a stored version into its API record.
pub fn version_response(r: VersionRow) -> Result<VersionResponse, ApiError> {
    Ok(VersionResponse {
        manifest_digest: Digest::from_hex(&r.manifest_digest).map_err(|e| corrupt("manifest_digest", e))?,
        oms_root_digest: Digest::from_hex(&r.oms_root_digest).map_err(|e| corrupt("oms_root_digest", e))?,
        lineage: serde_json::from_str(&r.lineage).map_err(|e| corrupt("lineage", e))?,
        metadata: serde_json::from_str(&r.metadata).map_err(|e| corrupt("metadata", e))?,
        namespace: r.namespace,
        name: r.name,
        version: r.version,
        file_count: r.file_count.max(0) as u64,
        total_size: r.total_size.max(0) as u64,
        created_by: r.created_by,
        created_at: rfc3339(r.created_at),
        log_index: r.log_index.map(|i| i.max(0) as u64),
        quarantined: r.quarantined != 0,
        corrupted: r.corrupted != 0,
        oci_manifest_digest: r
            .oci_manifest_digest
            .as_deref()
            .map(Digest::from_hex)
            .transpose()
            .map_err(|e| corrupt("oci_manifest_digest", e))?,
    })
}

fn model_response(r: ModelRow) -> ModelResponse {
    ModelResponse {
        namespace: r.namespace,
        name: r.name,
        version_count: r.version_count.max(0) as u64,
        latest_version: r.latest_version,
        created_by: r.created_by,
        created_at: rfc3339(r.created_at),
    }
}

fn missing_model(m: &ModelName) -> impl Fn(DbError) -> ApiError + '_ {
    move |e| match e {
        DbError::NotFound => ApiError::not_found(format!("model {m} not found")),
        e => e.into(),
    }
}

/// One model.
pub async fn get_model(state: &AppState, m: &ModelName) -> Result<ModelResponse, ApiError> {
    state.db.model_get(m).await.map(model_response).map_err(missing_model(m))
}

/// A page of the models `actor` may read: the namespace asked for (if any), the name prefix (if
/// any), after the cursor `after`, within the credential's namespace pattern. A namespace outside
/// the pattern lists nothing (the same answer as a namespace with no models).
pub async fn list_models_for(
    state: &AppState,
    actor: &crate::auth::Actor,
    namespace: Option<String>,
    prefix: Option<String>,
    after: Option<(String, String)>,
    limit: u32,
) -> Result<ModelList, ApiError> {
    if let (Some(asked), Some(own)) = (namespace.as_deref(), actor.pattern.namespace())
        && asked != own
    {
        return Ok(ModelList { models: vec![], next_cursor: None });
    }
    let namespace = namespace.or_else(|| actor.pattern.namespace().map(str::to_owned));
    let name = actor.pattern.name().map(str::to_owned);
    let filter = ModelFilter { namespace, name, name_prefix: prefix, after };
    list_models(state, &filter, limit).await
}

/// A page of models.
pub async fn list_models(state: &AppState, filter: &ModelFilter, limit: u32) -> Result<ModelList, ApiError> {
    // One extra row tells whether another page exists.
    let mut rows = state.db.models_list(filter, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| format!("{}/{}", r.namespace, r.name))).flatten();
    Ok(ModelList { models: rows.into_iter().map(model_response).collect(), next_cursor })
}

/// A page of a model's versions, newest first.
pub async fn list_versions(
    state: &AppState,
    m: &ModelName,
    before: Option<i64>,
    limit: u32,
) -> Result<VersionList, ApiError> {
    let (rows, next_cursor) = version_rows(state, m, before, limit).await?;
    let versions = rows.into_iter().map(version_response).collect::<Result<_, _>>()?;
    Ok(VersionList { versions, next_cursor })
}

/// A page of a model's stored versions, newest first, and the cursor of the next page.
pub async fn version_rows(
    state: &AppState,
    m: &ModelName,
    before: Option<i64>,
    limit: u32,
) -> Result<(Vec<VersionRow>, Option<String>), ApiError> {
    let model = state.db.model_get(m).await.map_err(missing_model(m))?;
    let mut rows = state.db.versions_list(model.id, before, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.id.to_string())).flatten();
    Ok((rows, next_cursor))
}

/// The stored row a reference names: an alias (if one of that name exists), else a version label, or a
/// manifest digest.
pub async fn resolve(state: &AppState, m: &ModelName, r: &Reference) -> Result<VersionRow, ApiError> {
    match r {
        Reference::Label(l) => state.db.version_or_alias(m, l.as_str()).await.map_err(|e| match e {
            DbError::NotFound => ApiError::not_found(format!("version {m}@{r} not found")),
            e => e.into(),
        }),
        Reference::Digest(_) => resolve_version(state, m, r).await,
    }
}

/// The stored row a version label or manifest digest names (aliases not followed).
pub async fn resolve_version(state: &AppState, m: &ModelName, r: &Reference) -> Result<VersionRow, ApiError> {
    let found = match r {
        Reference::Label(l) => state.db.version_get(m, l.as_str()).await,
        Reference::Digest(d) => state.db.version_by_manifest(m, d).await,
    };
    found.map_err(|e| match e {
        DbError::NotFound => ApiError::not_found(format!("version {m}@{r} not found")),
        e => e.into(),
    })
}

/// One version's record.
pub async fn get_version(
    state: &AppState,
    m: &ModelName,
    r: &Reference,
) -> Result<VersionResponse, ApiError> {
    version_response(resolve(state, m, r).await?)
}

/// One version's manifest, as the exact canonical bytes its digest covers. The digest is re-checked
/// here, so a row edited behind the server's back is reported, not served.
pub async fn get_manifest(
    state: &AppState,
    m: &ModelName,
    r: &Reference,
) -> Result<(Digest, String), ApiError> {
    let row = resolve(state, m, r).await?;
    let want = checked_manifest(&row)?;
    Ok((want, row.manifest))
}

/// The digest of a stored version's manifest, after checking the stored text still hashes to it
/// (a row edited behind the server's back is reported, not served).
pub fn checked_manifest(row: &VersionRow) -> Result<Digest, ApiError> {
    let want = Digest::from_hex(&row.manifest_digest).map_err(|e| corrupt("manifest_digest", e))?;
    if Digest::of(row.manifest.as_bytes()) != want {
        return Err(corrupt(
            "manifest",
            format!(
                "{}/{}@{}: stored manifest does not hash to {want}",
                row.namespace, row.name, row.version
            ),
        ));
    }
    Ok(want)
}

/// A read found no object where a blob row says one is: the row is marked lost, so the next push of
/// those bytes uploads them again (and so heals every version that names them).
pub async fn blob_object_missing(state: &AppState, d: &Digest) {
    match state.db.blob_mark_lost(d).await {
        Ok(true) => {
            tracing::warn!(digest = %d, "a blob's object is missing; marked lost until uploaded again")
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(digest = %d, error = %e, "could not mark a missing blob lost"),
    }
}
