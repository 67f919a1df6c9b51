//! The OCI Distribution view (`/v2`, docs/oci.md): each version served read-only as a CNCF ModelPack
//! artifact whose layers are our blobs, and its attestations as referrers. The bytes come from one
//! pure function in `registry_core::oci`; the `oci_*` columns only index them (migration 0018), so
//! every answer regenerates the bytes from the stored manifest, after its hash check, and compares.
//!
//! Who may read: the same rule as `/v1` (`Actor::covers`; a model outside the credential is answered
//! exactly as a missing one). Blobs are narrower than `/v1`'s: only those of this repository.
use axum::http::StatusCode;
use registry_core::oci::{self, Artifact};
use registry_core::{Digest, Manifest, ModelName, VersionLabel};
use serde_json::{Value, json};

use crate::auth::Actor;
use crate::db::attestations::AttestationRow;
use crate::db::oci::OciColumns;
use crate::db::versions::VersionRow;
use crate::db::{DbError, Tx};
use crate::error::ApiError;
use crate::service::blobs::{self, Download};
use crate::service::read;
use crate::state::AppState;

/// Error codes of the OCI Distribution Spec (v1.1 "Error Codes").
pub mod code {
    #![allow(missing_docs)]
    pub const BLOB_UNKNOWN: &str = "BLOB_UNKNOWN";
    pub const DIGEST_INVALID: &str = "DIGEST_INVALID";
    pub const MANIFEST_UNKNOWN: &str = "MANIFEST_UNKNOWN";
    pub const NAME_INVALID: &str = "NAME_INVALID";
    pub const NAME_UNKNOWN: &str = "NAME_UNKNOWN";
    pub const SIZE_INVALID: &str = "SIZE_INVALID";
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const DENIED: &str = "DENIED";
    pub const UNSUPPORTED: &str = "UNSUPPORTED";
}

/// Most tags one `tags/list` page holds (a client asking for more gets a `Link` to the rest).
pub const MAX_TAGS_PAGE: usize = 1000;

/// A refusal in the spec's shape, or a server fault kept as [`ApiError`] (logged once, as everywhere).
#[derive(Debug)]
pub enum OciError {
    /// A 4xx with one of the spec's codes.
    Spec {
        /// Status.
        status: StatusCode,
        /// One of [`code`].
        code: &'static str,
        /// For people.
        message: String,
        /// For machines (`null` when there is nothing to add).
        detail: Value,
    },
    /// A 5xx (or 503), answered as the rest of the API answers it.
    Api(ApiError),
}

impl OciError {
    /// A spec error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Spec { status, code, message: message.into(), detail: Value::Null }
    }

    fn denied(message: impl Into<String>, detail: Value) -> Self {
        Self::Spec { status: StatusCode::FORBIDDEN, code: code::DENIED, message: message.into(), detail }
    }

    /// An error from the shared services: 5xx stay themselves; a 4xx becomes the spec code for its
    /// status, `missing` for a 404.
    pub fn from_api(e: ApiError, missing: &'static str) -> Self {
        let s = e.status();
        let code = match s {
            StatusCode::UNAUTHORIZED => code::UNAUTHORIZED,
            StatusCode::FORBIDDEN => code::DENIED,
            StatusCode::NOT_FOUND => missing,
            // The spec lists no code for a range; its size goes in the detail (and `Content-Range`).
            StatusCode::RANGE_NOT_SATISFIABLE => code::SIZE_INVALID,
            _ if s.is_server_error() => return Self::Api(e),
            _ => code::UNSUPPORTED,
        };
        let detail = match s {
            StatusCode::RANGE_NOT_SATISFIABLE => e.details().cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Self::Spec { status: s, code, message: e.message().to_owned(), detail }
    }
}

impl From<ApiError> for OciError {
    fn from(e: ApiError) -> Self {
        Self::from_api(e, code::NAME_UNKNOWN)
    }
}

impl From<DbError> for OciError {
    fn from(e: DbError) -> Self {
        Self::Api(e.into())
    }
}

/// A repository (`NS/NAME`) the caller may read.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Its name.
    pub name: ModelName,
    /// The model's id.
    pub id: i64,
}

/// The repository `ns/name` for `actor`: NAME_UNKNOWN when it does not exist or the credential does
/// not cover it (one answer for both: existence is not revealed).
pub async fn repository(state: &AppState, actor: &Actor, ns: &str, name: &str) -> Result<Repo, OciError> {
    let Ok(m) = ModelName::new(ns, name) else {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            code::NAME_INVALID,
            "not a repository name of this registry (NAMESPACE/NAME, lowercase; docs/oci.md)",
        ));
    };
    let unknown =
        || OciError::new(StatusCode::NOT_FOUND, code::NAME_UNKNOWN, format!("repository {m} not found"));
    if !actor.covers(&m) || !is_name_component(ns) || !is_name_component(name) {
        return Err(unknown());
    }
    match state.db.model_get(&m).await {
        Ok(row) => Ok(Repo { name: m, id: row.id }),
        Err(DbError::NotFound) => Err(unknown()),
        Err(e) => Err(e.into()),
    }
}

/// The columns to store for a version (`None` digest: too large for one OCI manifest).
pub fn columns(name: &ModelName, label: &VersionLabel, manifest: &Manifest) -> OciColumns {
    let generator = oci::GENERATOR.to_owned();
    match oci::model_artifact(name, label, manifest) {
        Ok(a) => OciColumns {
            manifest_digest: Some(a.digest.hex()),
            manifest_size: Some(a.manifest.len() as i64),
            config_digest: Some(a.config_digest.hex()),
            generator,
        },
        Err(oci::OciError::TooLarge { .. }) => {
            OciColumns { manifest_digest: None, manifest_size: None, config_digest: None, generator }
        }
    }
}

/// A new version's OCI columns (stored with its row) and its OCI manifest digest (in its log entry).
pub fn on_publish(
    name: &ModelName,
    label: &str,
    manifest: &Manifest,
) -> Result<(crate::db::oci::OciColumns, Option<Digest>), ApiError> {
    let label = VersionLabel::parse(label).map_err(ApiError::internal)?;
    let c = columns(name, &label, manifest);
    let digest =
        c.manifest_digest.as_deref().map(Digest::from_hex).transpose().map_err(ApiError::internal)?;
    Ok((c, digest))
}

/// Records an attestation's referrer digest, when its version has an OCI manifest (inside the
/// transaction that stores it).
pub async fn on_attestation(tx: &mut Tx, id: i64, row: &AttestationRow) -> Result<(), ApiError> {
    let Some((hex, size)) = crate::db::oci::version_subject(tx, row.version_id).await? else { return Ok(()) };
    let subject = Digest::from_hex(&hex).map_err(ApiError::internal)?;
    let (_, d) =
        oci::attestation_artifact(&subject, size.max(0) as usize, row.body.as_bytes(), &row.predicate_type);
    crate::db::oci::set_attestation(tx, id, &d.hex()).await?;
    Ok(())
}

/// Fills the OCI columns of versions and attestations stored before migration 0018 (at start-up,
/// like the evidence keys). No log entry is appended: the digest is a pure function of what each
/// `version.created` entry already binds (the name and label in its subject, the manifest by its
/// digest), so anyone can recompute and check it (docs/oci.md). Returns (versions, attestations).
pub async fn backfill(db: &crate::db::Db) -> anyhow::Result<(u64, u64)> {
    let (mut versions, mut attestations) = (0u64, 0u64);
    loop {
        let mut conn = db.pool().acquire().await?;
        let rows = crate::db::oci::versions_pending(&mut conn, 500).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            // A row that no longer decodes is left for the scrubber to report; it gets no OCI digest.
            let c = parsed(&row).map(|(n, l, m)| columns(&n, &l, &m)).unwrap_or_else(|e| {
                tracing::warn!(
                    version = %format!("{}/{}@{}", row.namespace, row.name, row.version),
                    error = %e.message(),
                    "OCI backfill: the stored manifest does not check out; the version gets no OCI digest"
                );
                OciColumns {
                    manifest_digest: None,
                    manifest_size: None,
                    config_digest: None,
                    generator: oci::GENERATOR.to_owned(),
                }
            });
            crate::db::oci::set_version(&mut conn, row.id, &c).await?;
            versions += 1;
        }
    }
    loop {
        let mut conn = db.pool().acquire().await?;
        let rows = crate::db::oci::attestations_pending(&mut conn, 500).await?;
        if rows.is_empty() {
            break;
        }
        for (row, hex, size) in rows {
            let subject = Digest::from_hex(&hex)?;
            let body = row.body.as_bytes();
            let (_, d) = oci::attestation_artifact(&subject, size.max(0) as usize, body, &row.predicate_type);
            crate::db::oci::set_attestation(&mut conn, row.id, &d.hex()).await?;
            attestations += 1;
        }
    }
    Ok((versions, attestations))
}

/// A stored version's name, label and manifest, after the manifest's hash check.
fn parsed(row: &VersionRow) -> Result<(ModelName, VersionLabel, Manifest), ApiError> {
    read::checked_manifest(row)?;
    let name = ModelName::new(&row.namespace, &row.name).map_err(ApiError::internal)?;
    let label = VersionLabel::parse(&row.version).map_err(ApiError::internal)?;
    let manifest: Manifest = serde_json::from_str(&row.manifest).map_err(ApiError::internal)?;
    Ok((name, label, manifest))
}

/// A version's artifact, regenerated and checked against its index column, off the async threads
/// (hashing a manifest of 10,000 files and building its OCI form take milliseconds).
async fn artifact(row: VersionRow) -> Result<Artifact, OciError> {
    tokio::task::spawn_blocking(move || artifact_now(&row))
        .await
        .map_err(|e| OciError::Api(ApiError::internal(e)))?
}

fn artifact_now(row: &VersionRow) -> Result<Artifact, OciError> {
    let (name, label, manifest) = parsed(row)?;
    let a = oci::model_artifact(&name, &label, &manifest).map_err(|e| {
        OciError::new(
            StatusCode::NOT_FOUND,
            code::MANIFEST_UNKNOWN,
            format!("{name}@{label} has no OCI form: {e} (docs/oci.md)"),
        )
    })?;
    if row.oci_manifest_digest.as_deref().is_some_and(|d| d != a.digest.hex()) {
        return Err(OciError::Api(ApiError::internal(DbError::Corrupt(format!(
            "{name}@{label}: stored OCI digest differs from the regenerated manifest"
        )))));
    }
    Ok(a)
}

fn refuse_unusable(row: &VersionRow, what: &str) -> Result<(), OciError> {
    let subject = format!("{}/{}@{}", row.namespace, row.name, row.version);
    if row.corrupted != 0 {
        return Err(OciError::denied(
            format!("{what} of {subject}: the version is marked corrupted (registry show {subject})"),
            json!({"corrupted": true, "version": subject}),
        ));
    }
    if row.quarantined != 0 {
        return Err(OciError::denied(
            format!("{what} of {subject}: the version is quarantined (registry show {subject})"),
            json!({"quarantined": true, "version": subject}),
        ));
    }
    Ok(())
}

/// Whether `s` is one path component of a repository name by the spec's grammar
/// (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`). Our own names allow a few more (`a..b`, `x-`): those models
/// are not served under `/v2` (docs/oci.md, Limits).
pub fn is_name_component(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    // Every run between alphanumerics is one separator: `.`, `_`, `__` or dashes.
    s.split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        .all(|sep| matches!(sep, "" | "." | "_" | "__") || sep.bytes().all(|c| c == b'-'))
}

/// Whether `s` is a tag by the spec's grammar (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
pub fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A digest named in a path: `sha256:<64 hex>`, else DIGEST_INVALID.
pub fn parse_digest(s: &str) -> Result<Digest, OciError> {
    Digest::parse(s).map_err(|e| OciError::new(StatusCode::BAD_REQUEST, code::DIGEST_INVALID, e.to_string()))
}

/// The tag a version label is served under (`+` is not allowed in OCI tags).
pub fn tag_of(label: &str) -> String {
    label.replace('+', "_")
}

/// A manifest: its exact bytes, digest and media type.
#[derive(Debug)]
pub struct ManifestBody {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
    /// `Content-Type`.
    pub media_type: &'static str,
}

/// The manifest `reference` (a tag or a digest) names in `repo`.
pub async fn manifest(state: &AppState, repo: &Repo, reference: &str) -> Result<ManifestBody, OciError> {
    let unknown = || {
        OciError::new(
            StatusCode::NOT_FOUND,
            code::MANIFEST_UNKNOWN,
            format!("manifest {reference} not found in {}", repo.name),
        )
    };
    let row = if reference.contains(':') {
        let d = parse_digest(reference)?;
        match state.db.oci_version_by_digest(repo.id, &d.hex()).await? {
            Some(row) => row,
            None => {
                let Some(att) = state.db.oci_referrer(repo.id, &d.hex()).await? else {
                    return Err(unknown());
                };
                let (bytes, digest) = referrer_manifest(state, &att).await?;
                if digest != d {
                    return Err(OciError::Api(ApiError::internal(DbError::Corrupt(format!(
                        "attestation {}: its referrer manifest no longer hashes to {d}",
                        att.id
                    )))));
                }
                return Ok(ManifestBody { bytes, digest, media_type: oci::MANIFEST_MEDIA_TYPE });
            }
        }
    } else {
        if !is_tag(reference) {
            return Err(unknown());
        }
        state.db.oci_version_by_tag(repo.id, reference).await?.ok_or_else(unknown)?
    };
    refuse_unusable(&row, "manifest")?;
    if row.oci_generator.is_some() && row.oci_manifest_digest.is_none() {
        // No digest: too large, or (from the backfill) a stored manifest that no longer checks out.
        read::checked_manifest(&row)?;
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            code::MANIFEST_UNKNOWN,
            format!(
                "{}@{} has {} files: its OCI manifest would be over the 4 MiB OCI clients read, so it \
                 is served through /v1 only (docs/oci.md)",
                repo.name, row.version, row.file_count
            ),
        ));
    }
    let a = artifact(row).await?;
    Ok(ManifestBody { bytes: a.manifest, digest: a.digest, media_type: oci::MANIFEST_MEDIA_TYPE })
}

/// An attestation's referrer manifest, regenerated from its version's artifact and its exact bytes.
async fn referrer_manifest(state: &AppState, att: &AttestationRow) -> Result<(Vec<u8>, Digest), OciError> {
    let version = state.db.version_by_id(att.version_id).await?;
    let subject = artifact(version).await?;
    checked_body(att)?;
    Ok(oci::attestation_artifact(
        &subject.digest,
        subject.manifest.len(),
        att.body.as_bytes(),
        &att.predicate_type,
    ))
}

fn checked_body(att: &AttestationRow) -> Result<(), OciError> {
    if Digest::of(att.body.as_bytes()).hex() != att.digest {
        return Err(OciError::Api(ApiError::internal(DbError::Corrupt(format!(
            "attestation {}: stored body does not hash to its digest",
            att.id
        )))));
    }
    Ok(())
}

/// A blob's answer: a stored object (streamed or redirected, audited), or bytes made here.
pub enum BlobBody {
    /// A file of a version, from the blob store.
    Stored(Download),
    /// A config, the empty config or an attestation, with the range asked for.
    Inline {
        /// The whole bytes.
        bytes: Vec<u8>,
        /// The range served, when a `Range` was honoured.
        range: Option<std::ops::Range<u64>>,
    },
}

/// Blob `d` of `repo`: a file of one of its versions, a version's config, the empty config (when it
/// has referrers) or an attestation's bytes. Any other digest is BLOB_UNKNOWN, whatever else the
/// registry stores. `head` answers the size without reading (or auditing) anything.
pub async fn blob(
    state: &AppState,
    actor: &Actor,
    repo: &Repo,
    d: &Digest,
    range: Option<&str>,
    head: bool,
) -> Result<(BlobBody, u64), OciError> {
    let unknown = || {
        OciError::new(
            StatusCode::NOT_FOUND,
            code::BLOB_UNKNOWN,
            format!("blob {d} not found in {}", repo.name),
        )
    };
    if let Some(holders) = state.db.oci_blob_holders(repo.id, &d.hex()).await? {
        if !holders.usable {
            return Err(OciError::denied(
                format!("blob {d}: every version of {} holding it is quarantined or corrupted", repo.name),
                json!({"quarantined": !holders.corrupted, "corrupted": holders.corrupted}),
            ));
        }
        let size = state.db.blob_size(d).await?.ok_or_else(unknown)?;
        if head {
            return Ok((BlobBody::Inline { bytes: Vec::new(), range: None }, size));
        }
        let served = blobs::serve(state, actor, d, range)
            .await
            .map_err(|e| OciError::from_api(e, code::BLOB_UNKNOWN))?;
        return Ok((BlobBody::Stored(served), size));
    }
    let bytes = if let Some(row) = state.db.oci_version_by_config(repo.id, &d.hex()).await? {
        refuse_unusable(&row, "config")?;
        let a = artifact(row).await?;
        if a.config_digest != *d {
            return Err(unknown());
        }
        a.config
    } else if *d == Digest::of(oci::EMPTY_CONFIG) && state.db.oci_has_referrers(repo.id).await? {
        oci::EMPTY_CONFIG.to_vec()
    } else if let Some(att) = state.db.oci_attestation_body(repo.id, &d.hex()).await? {
        checked_body(&att)?;
        att.body.into_bytes()
    } else {
        return Err(unknown());
    };
    let size = bytes.len() as u64;
    let range = match range {
        Some(h) if !head => {
            blobs::parse_range(h, size).map_err(|e| OciError::from_api(e.into(), code::BLOB_UNKNOWN))?
        }
        _ => None,
    };
    Ok((BlobBody::Inline { bytes, range }, size))
}

/// A page of `repo`'s tags in byte order, strictly after `last`, at most `n`; and whether more remain.
pub async fn tags(
    state: &AppState,
    repo: &Repo,
    n: Option<usize>,
    last: Option<&str>,
) -> Result<(Vec<String>, bool), OciError> {
    let mut all = state.db.oci_tags(repo.id).await?;
    all.sort_unstable();
    all.dedup();
    let start = last.map_or(0, |l| all.partition_point(|t| t.as_str() <= l));
    let limit = n.unwrap_or(MAX_TAGS_PAGE).min(MAX_TAGS_PAGE);
    let rest = all.len().saturating_sub(start);
    let page: Vec<String> = all.into_iter().skip(start).take(limit).collect();
    Ok((page, rest > limit))
}

/// The referrers of manifest `d` in `repo` (an image index's `manifests`), those of `artifact_type`
/// only when given. An unknown digest has none.
pub async fn referrers(
    state: &AppState,
    repo: &Repo,
    d: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<Value>, OciError> {
    let Some(version) = state.db.oci_version_by_digest(repo.id, &d.hex()).await? else {
        return Ok(Vec::new());
    };
    let version_id = version.id;
    let subject = artifact(version).await?;
    let mut out = Vec::new();
    for att in state.db.attestations_of(version_id).await? {
        checked_body(&att)?;
        let body = att.body.as_bytes();
        let media = oci::attestation_media_type(body);
        if artifact_type.is_some_and(|t| t != media) {
            continue;
        }
        let (bytes, digest) =
            oci::attestation_artifact(&subject.digest, subject.manifest.len(), body, &att.predicate_type);
        // The descriptor carries the manifest's own annotations, read back from its bytes.
        let annotations =
            serde_json::from_slice::<Value>(&bytes).map_err(ApiError::internal)?["annotations"].take();
        out.push(json!({
            "mediaType": oci::MANIFEST_MEDIA_TYPE,
            "digest": digest.to_string(),
            "size": bytes.len(),
            "artifactType": media,
            "annotations": annotations,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_components_follow_the_spec_expression() {
        for ok in ["a", "fraud", "x.y_z--w", "a__b", "a-b", "a---b", "v1.2", "0"] {
            assert!(is_name_component(ok), "{ok}");
        }
        for bad in ["", "a..b", "x-", "-x", ".a", "a.", "a___b", "a_-b", "a._b", "A", "a+b", "a/b"] {
            assert!(!is_name_component(bad), "{bad}");
        }
    }
}
