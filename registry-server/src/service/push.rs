//! Publishing a version: verified, then written in one transaction. Storing a blob (verified while
//! it streams) is `service::blobs::put_blob`, re-exported here.
use std::sync::Arc;

use registry_core::api::{MAX_PUSH_ATTESTATIONS, PutVersionRequest, VersionResponse, codes};
use registry_core::attest::Verified;
use registry_core::{Digest, ModelName, Reference, VersionLabel, canonical};
use serde_json::json;

use crate::auth::Actor;
use crate::db::attestations::TrustMark;
use crate::db::versions::{self, NewVersion, VersionRow};
use crate::db::{DbError, Tx, models, now_ms, to_i64};
use crate::error::ApiError;
use crate::service::read::version_response;
use crate::service::{attest, blobs, log};
use crate::state::AppState;

pub use crate::service::blobs::{put_blob, record_blob};
use registry_core::tlog::entry;

/// Most missing digests listed in a `missing_blobs` answer.
const MAX_LISTED: usize = 1000;

/// Why a publish was refused, beyond input its checks reject (`Other`). `error.rs` picks the status
/// and code of each.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The label exists with another manifest (`stored`: its digest), or with the same files but
    /// other lineage or metadata (`stored`: `None`). Versions are immutable.
    #[error("{}", match stored {
        Some(d) => format!("{name} already exists with manifest {d}; versions are immutable"),
        None => format!("{name} already exists with the same files but different lineage or metadata"),
    })]
    VersionExists {
        /// `NS/NAME@VERSION`.
        name: String,
        /// The stored manifest digest, when it differs.
        stored: Option<String>,
    },
    /// The label is an alias of the model, or its OCI tag is another label's or an alias's (the
    /// message says which).
    #[error("{0}")]
    NameConflict(String),
    /// Blobs the manifest names that the caller may not use (or that are not stored); the list is
    /// cut at `MAX_LISTED`, `count` is the whole number.
    #[error("{count} blob(s) named by the manifest are not stored; upload them first")]
    MissingBlobs {
        /// How many.
        count: usize,
        /// The first of them.
        missing: Vec<String>,
    },
    /// Garbage collection removed a blob the manifest names while this push ran.
    #[error("a blob named by the manifest was garbage-collected while this push ran; upload it again")]
    BlobCollected,
    /// Lineage names parent versions that do not exist, or that the caller cannot read.
    #[error("parent version(s) not found: {}", .0.join(", "))]
    UnknownParent(Vec<String>),
    /// Invalid input, storage faults and the rest.
    #[error("{0}")]
    Other(ApiError),
}

impl From<ApiError> for PublishError {
    fn from(e: ApiError) -> Self {
        PublishError::Other(e)
    }
}

impl From<DbError> for PublishError {
    fn from(e: DbError) -> Self {
        PublishError::Other(e.into())
    }
}

/// The outcome of a publish.
#[derive(Debug)]
pub enum Published {
    /// A new version.
    Created(VersionResponse),
    /// The same version was already there (an idempotent retry).
    Existing(VersionResponse),
}

fn invalid_lineage(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(codes::INVALID_LINEAGE, e.to_string())
}

/// Checks that every file's blob is usable by the caller (readable, or uploaded by it) with the size
/// the manifest states. A blob the caller may not use is reported missing, like one not stored.
async fn check_blobs(state: &AppState, actor: &Actor, req: &PutVersionRequest) -> Result<(), PublishError> {
    let digests = req.manifest.blob_digests();
    let sizes = blobs::usable(state, actor, &digests).await?;
    let missing: Vec<String> =
        digests.iter().filter(|d| !sizes.contains_key(d)).map(Digest::to_string).collect();
    if !missing.is_empty() {
        let count = missing.len();
        return Err(PublishError::MissingBlobs {
            count,
            missing: missing.into_iter().take(MAX_LISTED).collect(),
        });
    }
    for f in req.manifest.files() {
        let stored = sizes.get(&f.digest).copied().unwrap_or_default();
        if stored != f.size {
            return Err(ApiError::bad_request(
                codes::INVALID_MANIFEST,
                format!("{} says {} bytes but blob {} has {stored}", f.path, f.size, f.digest),
            )
            .into());
        }
    }
    Ok(())
}

/// The canonical JSON texts stored for a version: compared byte for byte on an idempotent retry.
struct Texts {
    manifest: String,
    lineage: String,
    metadata: String,
}

impl Texts {
    fn of(req: &PutVersionRequest) -> Result<Self, ApiError> {
        Ok(Texts {
            manifest: String::from_utf8(req.manifest.canonical_bytes()).map_err(ApiError::internal)?,
            lineage: String::from_utf8(canonical::to_vec(&req.lineage).map_err(invalid_lineage)?)
                .map_err(ApiError::internal)?,
            metadata: String::from_utf8(canonical::to_vec(&req.metadata).map_err(invalid_lineage)?)
                .map_err(ApiError::internal)?,
        })
    }
}

fn same_or_conflict(existing: VersionRow, digest: &Digest, t: &Texts) -> Result<Published, PublishError> {
    let name = format!("{}/{}@{}", existing.namespace, existing.name, existing.version);
    if existing.manifest_digest != digest.hex() {
        let stored = Some(format!("sha256:{}", existing.manifest_digest));
        return Err(PublishError::VersionExists { name, stored });
    }
    if existing.lineage != t.lineage || existing.metadata != t.metadata {
        return Err(PublishError::VersionExists { name, stored: None });
    }
    Ok(Published::Existing(version_response(existing)?))
}

/// Publishes `model@label`: validates, checks blobs and parents, then writes the version and its index
/// rows in one transaction. Same request again: `Existing`; different: 409 `version_exists`.
pub async fn publish_version(
    state: &AppState,
    actor: &Actor,
    model: &ModelName,
    label: &VersionLabel,
    req: PutVersionRequest,
) -> Result<Published, PublishError> {
    req.lineage.validate().map_err(invalid_lineage)?;
    req.metadata.validate().map_err(invalid_lineage)?;
    check_blobs(state, actor, &req).await?;
    let req = Arc::new(req);
    let digest = req.manifest.digest();
    let texts = Arc::new(Texts::of(&req)?);
    let mut tries = 0;
    let (existing, checked) = loop {
        let checked = Arc::new(verify_evidence(state, model, label, &req).await?);
        state.pauses.point("push.verified").await;
        let choice = LabelChoice::Given(label.clone());
        let existing =
            match insert_version(state, actor, model, choice, &req, &digest, &texts, &checked, None).await {
                Ok(row) => return Ok(Published::Created(version_response(row)?)),
                Err(InsertError::Exists(row)) => *row,
                // A concurrent push of the same label won the race: answer as if we had come second.
                Err(InsertError::Db(DbError::Conflict)) => {
                    state.db.version_get(model, label.as_str()).await?
                }
                Err(InsertError::Db(e)) => return Err(e.into()),
                Err(InsertError::Refused(e)) => return Err(e),
                Err(InsertError::TrustChanged) if tries + 1 < attest::MAX_TRUST_TRIES => {
                    tries += 1;
                    continue;
                }
                Err(InsertError::TrustChanged) => return Err(attest::trust_changed().into()),
            };
        break (existing, checked);
    };
    let (evidence, checked_mark) = (&checked.evidence, &checked.mark);
    let version_id = existing.id;
    let published = same_or_conflict(existing, &digest, &texts)?;
    // An identical retry may bring attestations the first attempt did not store. Creating a version
    // with its attestations needs only `push`; adding new ones to an existing version is what the
    // `attest` scope is for, whichever route carries them.
    // "Held" as storing counts it: the same bytes, or the same evidence in other bytes (a high-S
    // twin, a re-encoding), which `attest::store` would not store again either.
    let mut new = 0;
    for (raw, v) in evidence {
        let key = attest::evidence_key(raw, &v.signer.hex())
            .map_err(|e| ApiError::bad_request(codes::INVALID_ATTESTATION, e.to_string()))?;
        match state.db.attestation_by_evidence(version_id, &key).await {
            Ok(_) => {}
            Err(DbError::NotFound) => {
                match state.db.attestation_by_digest(version_id, &Digest::of(raw).hex()).await {
                    Ok(_) => {}
                    Err(DbError::NotFound) => new += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if new > 0 && !actor.has(registry_core::auth::Scope::Attest) {
        return Err(ApiError::forbidden(format!(
            "{model}@{label} exists; adding {new} attestation(s) to it needs the attest scope"
        ))
        .into());
    }
    if new > 0 {
        let mut tx = state.db.begin_logged().await?;
        if !checked_mark.holds(&mut tx).await? {
            return Err(attest::trust_changed().into());
        }
        attest::store(&mut tx, version_id, &format!("{model}@{label}"), evidence, &actor.id, now_ms())
            .await?;
        tx.commit().await.map_err(DbError::from)?;
    }
    Ok(published)
}

/// Publishes a version of `model` registered through the MLflow API: the same checks and the same
/// transaction as [`publish_version`], but the label is decided under the write lock: the version's
/// sequence number (`fraud/detector@3`), or `mlflow-<seq>` (`mlflow-<seq>.<k>`) when that is taken. `source` says
/// where it came from (its `version_id` is filled in). No attestations: MLflow has none to send.
pub async fn publish_numbered(
    state: &AppState,
    actor: &Actor,
    model: &ModelName,
    req: PutVersionRequest,
    source: MlflowRegistration,
) -> Result<VersionRow, PublishError> {
    req.lineage.validate().map_err(invalid_lineage)?;
    req.metadata.validate().map_err(invalid_lineage)?;
    if !req.attestations.is_empty() {
        return Err(ApiError::internal("a numbered publish carries no attestations").into());
    }
    check_blobs(state, actor, &req).await?;
    // Labels matter to attestations only; with none, any label checks the same.
    let any = VersionLabel::parse("1").map_err(ApiError::internal)?;
    let digest = req.manifest.digest();
    let texts = Arc::new(Texts::of(&req)?);
    let (req, source) = (Arc::new(req), Arc::new(source));
    for _ in 0..attest::MAX_TRUST_TRIES {
        let checked = Arc::new(verify_evidence(state, model, &any, &req).await?);
        return match insert_version(
            state,
            actor,
            model,
            LabelChoice::Numbered,
            &req,
            &digest,
            &texts,
            &checked,
            Some(&source),
        )
        .await
        {
            Ok(row) => Ok(row),
            Err(InsertError::Exists(row)) => Err(PublishError::VersionExists {
                name: format!("{}/{}@{}", row.namespace, row.name, row.version),
                stored: None,
            }),
            Err(InsertError::Db(e)) => Err(e.into()),
            Err(InsertError::Refused(e)) => Err(e),
            Err(InsertError::TrustChanged) => continue,
        };
    }
    Err(attest::trust_changed().into())
}

/// Where an MLflow-registered version came from, recorded in its publishing transaction.
pub type MlflowSource = crate::db::mlflow::SourceRow;

/// What an MLflow registration records with its version, in the publishing transaction: where it
/// came from, and its first annotations (`(kind, entries)`: tags, description).
pub struct MlflowRegistration {
    /// Its source (`version_id` is filled in).
    pub source: MlflowSource,
    /// Annotations by kind.
    pub annotations: Vec<(&'static str, Vec<(String, String)>)>,
}

/// How a publish names its version.
enum LabelChoice {
    /// The label the caller gave.
    Given(VersionLabel),
    /// The sequence number the version gets (or `mlflow-<seq>` when that label is taken).
    Numbered,
}

/// Decoded and verified attestations of a push, in request order.
type Evidence = Vec<(Vec<u8>, Verified)>;

/// Verifies the push's attestations (nothing is stored unless all verify) and the namespace's
/// provenance requirement.
async fn verify_evidence(
    state: &AppState,
    model: &ModelName,
    label: &VersionLabel,
    req: &PutVersionRequest,
) -> Result<Checked, ApiError> {
    if req.attestations.len() > MAX_PUSH_ATTESTATIONS {
        return Err(ApiError::bad_request(
            codes::INVALID_ATTESTATION,
            format!("{} attestations; at most {MAX_PUSH_ATTESTATIONS} per push", req.attestations.len()),
        ));
    }
    let raws = req
        .attestations
        .iter()
        .enumerate()
        .map(|(i, b)| {
            registry_core::attest::dsse::decode_b64(b).map_err(|e| {
                ApiError::bad_request(
                    codes::INVALID_ATTESTATION,
                    format!("attestation #{}: not base64: {e}", i + 1),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Read before trust is: a change from here to the commit shows as a different mark.
    let mark = state.db.trust_mark(model.namespace()).await?;
    let trusted =
        if raws.is_empty() { attest::Trusted::default() } else { attest::trusted_for(state, model).await? };
    let verified = attest::verify_all(&raws, &trusted, model, label.as_str(), &req.manifest)?;
    if state.db.require_provenance(model.namespace()).await? && !attest::has_provenance(&verified) {
        return Err(ApiError::forbidden(format!(
            "namespace {} requires signed SLSA provenance bound to the manifest (push with --sign-key)",
            model.namespace()
        ))
        .with_code(codes::PROVENANCE_REQUIRED));
    }
    Ok(Checked { evidence: raws.into_iter().zip(verified).collect(), mark })
}

/// A push's verified evidence and the trust it was verified against.
struct Checked {
    evidence: Evidence,
    mark: TrustMark,
}

/// Why the insert transaction stopped: the label is taken (answered by comparing), the database
/// refused (a unique violation is a concurrent push of the same label), or the publish is refused.
enum InsertError {
    Exists(Box<VersionRow>),
    Db(DbError),
    Refused(PublishError),
    /// Trust changed since the evidence was verified: verify again.
    TrustChanged,
}

impl From<DbError> for InsertError {
    fn from(e: DbError) -> Self {
        InsertError::Db(e)
    }
}

impl From<ApiError> for InsertError {
    fn from(e: ApiError) -> Self {
        InsertError::Refused(PublishError::Other(e))
    }
}

impl From<PublishError> for InsertError {
    fn from(e: PublishError) -> Self {
        InsertError::Refused(e)
    }
}

/// Writes the version in a transaction committed together with the other publishes waiting at the
/// time (group commit, `Db::grouped`), and answers once that committed.
#[allow(clippy::too_many_arguments)]
async fn insert_version(
    state: &AppState,
    actor: &Actor,
    model: &ModelName,
    label: LabelChoice,
    req: &Arc<PutVersionRequest>,
    digest: &Digest,
    texts: &Arc<Texts>,
    checked: &Arc<Checked>,
    source: Option<&Arc<MlflowRegistration>>,
) -> Result<VersionRow, InsertError> {
    let db = state.db.clone();
    let (actor, model, digest) = (actor.clone(), model.clone(), *digest);
    let (req, texts, checked, source) = (req.clone(), texts.clone(), checked.clone(), source.cloned());
    db.grouped(move |mut tx| async move {
        let r = insert_in(&mut tx, &actor, &model, label, &req, &digest, &texts, &checked, source.as_deref())
            .await;
        (tx, r)
    })
    .await
}

/// The publish itself, in `tx` (which holds the global write lock; the caller commits).
#[allow(clippy::too_many_arguments)]
async fn insert_in(
    tx: &mut Tx,
    actor: &Actor,
    model: &ModelName,
    label: LabelChoice,
    req: &PutVersionRequest,
    digest: &Digest,
    texts: &Texts,
    checked: &Checked,
    source: Option<&MlflowRegistration>,
) -> Result<VersionRow, InsertError> {
    let now = now_ms();
    // Under the lock every log writer and garbage collection take first, what the checks read is
    // read again: the blobs (GC cannot remove one between the check and the reference) and the
    // trust the evidence was verified against (a key revoked meanwhile does not get in).
    if !checked.mark.holds(tx).await? {
        return Err(InsertError::TrustChanged);
    }
    let evidence = &checked.evidence;
    let digests = req.manifest.blob_digests();
    let present = crate::db::blobs::count_in(tx, &digests).await?;
    if present != digests.len() {
        return Err(PublishError::BlobCollected.into());
    }
    let (model_id, model_created) = models::get_or_create(tx, model, &actor.id, now).await?;
    if model_created {
        let e = log::entry(entry::MODEL_CREATED, &model.to_string(), &actor.id, &[]);
        crate::db::log::append(tx, &e).await?;
    }
    let label = match label {
        LabelChoice::Given(l) => l.as_str().to_owned(),
        LabelChoice::Numbered => numbered_label(tx, model_id).await?,
    };
    if let Some(row) = versions::find(tx, model_id, &label).await? {
        return Err(InsertError::Exists(Box::new(row)));
    }
    if crate::db::aliases::current(tx, model_id, &label).await?.is_some() {
        return Err(PublishError::NameConflict(format!(
            "{model}@{label} is an alias; a version label cannot shadow it"
        ))
        .into());
    }
    // Its OCI tag (`+` written `_`, docs/oci.md) must not be another label's or an alias's: a push
    // would otherwise move a tag deploy tooling pulls (an alias's, past its promotion policy).
    // Only a tag with `_` can be another label's (`+` written `_`); one without is this label itself,
    // which the lookup above already answered (one round trip fewer inside the write lock).
    let tag = crate::service::oci::tag_of(&label);
    if let Some(other) =
        if tag.contains('_') { crate::db::oci::label_with_tag(tx, model_id, &tag).await? } else { None }
    {
        return Err(PublishError::NameConflict(format!(
            "{model}@{label} would be served under OCI tag {tag}, which is {model}@{other}'s; choose another label"
        ))
        .into());
    }
    if tag != label && crate::db::aliases::current(tx, model_id, &tag).await?.is_some() {
        return Err(PublishError::NameConflict(format!(
            "{model}@{label} would be served under OCI tag {tag}, which is an alias of {model}; choose another label"
        ))
        .into());
    }
    let parents = parent_ids(tx, actor, req).await?;
    let m = &req.manifest;
    let datasets: Vec<(Digest, &str, &str)> =
        req.lineage.datasets.iter().map(|d| (d.digest, d.uri.as_str(), d.role.as_str())).collect();
    let new = NewVersion {
        model_id,
        version: &label,
        manifest_digest: *digest,
        oms_root_digest: m.oms_root_digest(),
        manifest: &texts.manifest,
        lineage: &texts.lineage,
        metadata: &texts.metadata,
        file_count: m.files().len() as i64,
        total_size: to_i64(m.total_size()),
        code_commit: req.lineage.code.as_ref().map(|c| c.commit.as_str()),
        created_by: &actor.id,
        created_at: now,
        log_index: None,
        oci: None,
    };
    // Its log entry first, so the row is written once with its index and OCI columns.
    let (oci_columns, oci) = crate::service::oci::on_publish(model, &label, m)?;
    let subject = format!("{model}@{label}");
    let e = log::entry(
        entry::VERSION_CREATED,
        &subject,
        &actor.id,
        &[
            ("manifest_digest", json!(digest)),
            ("oms_root_digest", json!(m.oms_root_digest())),
            ("lineage_digest", json!(Digest::of(texts.lineage.as_bytes()))),
            ("metadata_digest", json!(Digest::of(texts.metadata.as_bytes()))),
            ("oci_manifest_digest", json!(oci)),
        ],
    );
    let idx = crate::db::log::append(tx, &e).await?;
    let new = NewVersion { log_index: Some(idx), oci: Some(&oci_columns), ..new };
    let version_id = versions::insert(tx, &new, &m.blob_digests(), &datasets, &parents).await?;
    attest::store(tx, version_id, &subject, evidence, &actor.id, now).await?;
    if let Some(reg) = source {
        let s = MlflowSource { version_id, ..reg.source.clone() };
        crate::db::mlflow::source_insert(tx, &s).await?;
        // Its first tags and description, in the same transaction: never a version without them
        // (a retried registration would otherwise make a second, tagged one).
        for (kind, entries) in &reg.annotations {
            crate::service::mlflow::registry::annotate_in(
                tx,
                actor,
                &version_id.to_string(),
                kind,
                entries,
                &subject,
            )
            .await?;
        }
    }
    Ok(versions::find(tx, model_id, &label).await?.ok_or(DbError::NotFound)?)
}

/// The label of the next numbered version of `model_id`: its sequence number, or `mlflow-<seq>` when
/// a version or alias already has that name (the caller holds the global write lock).
async fn numbered_label(tx: &mut Tx, model_id: i64) -> Result<String, DbError> {
    let seq = versions::next_seq(tx, model_id).await?;
    // The sequence number, else `mlflow-<seq>`, else `mlflow-<seq>.<k>`: labels and aliases pushed
    // through /v1 can take any of these names, and none of them may block registration for good.
    let candidates = std::iter::once(seq.to_string())
        .chain(std::iter::once(format!("mlflow-{seq}")))
        .chain((1..).map(|k| format!("mlflow-{seq}.{k}")));
    for label in candidates.take(MAX_LABEL_TRIES) {
        let taken = versions::find(tx, model_id, &label).await?.is_some()
            || crate::db::aliases::current(tx, model_id, &label).await?.is_some();
        if !taken {
            return Ok(label);
        }
    }
    Err(DbError::Conflict)
}

/// How many labels a numbered publish tries before giving up.
const MAX_LABEL_TRIES: usize = 1000;

/// The ids of the lineage's parent versions. A parent the caller cannot read is answered as one that
/// does not exist (no existence oracle).
async fn parent_ids(tx: &mut Tx, actor: &Actor, req: &PutVersionRequest) -> Result<Vec<i64>, InsertError> {
    let parent_refs: Vec<(ModelName, String)> = req
        .lineage
        .parents
        .iter()
        .map(|p| {
            (
                p.model.clone(),
                match &p.reference {
                    Reference::Label(l) => l.to_string(),
                    Reference::Digest(d) => d.to_string(),
                },
            )
        })
        .collect();
    let ids: Vec<Option<i64>> = versions::ids(&mut *tx, &parent_refs)
        .await?
        .into_iter()
        .zip(&req.lineage.parents)
        .map(|(id, p)| id.filter(|_| actor.pattern.matches(&p.model)))
        .collect();
    let unknown: Vec<String> = req
        .lineage
        .parents
        .iter()
        .zip(&ids)
        .filter(|(_, id)| id.is_none())
        .map(|(p, _)| p.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(PublishError::UnknownParent(unknown).into());
    }
    Ok(ids.into_iter().flatten().collect())
}
