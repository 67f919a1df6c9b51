//! The HTTP API's wire types (JSON bodies) and error codes, shared by server and client.
//!
//! These are not database rows: the server converts its rows into these, the client decodes them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::digest::Digest;
use crate::lineage::Lineage;
use crate::manifest::Manifest;

/// Most digests in one `POST /v1/blobs:check`.
pub const MAX_CHECK_DIGESTS: usize = 10_000;
/// Default page size of list endpoints.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size of list endpoints.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Largest JSON request body (a manifest of 100k files fits).
pub const MAX_JSON_BODY: usize = 32 * 1024 * 1024;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 16 * 1024;
/// Longest free-text field (a promotion, rollback, quarantine or lift `reason`), in bytes.
pub const MAX_TEXT_LEN: usize = 4 * 1024;

/// Checks a free-text field against [`MAX_TEXT_LEN`]; the error names the field and the bound.
pub fn check_text(field: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_TEXT_LEN {
        return Err(format!("{field} is {} bytes; at most {MAX_TEXT_LEN} are accepted", value.len()));
    }
    Ok(())
}

/// Stable machine-readable error codes (the `code` of [`ErrorBody`]).
pub mod codes {
    /// Malformed request (bad query, bad header, malformed JSON).
    pub const BAD_REQUEST: &str = "bad_request";
    /// The JSON body does not parse or does not match the schema.
    pub const INVALID_JSON: &str = "invalid_json";
    /// A namespace, model name or version label breaks the naming rules.
    pub const INVALID_NAME: &str = "invalid_name";
    /// A digest is not `sha256:<64 lowercase hex>`.
    pub const INVALID_DIGEST: &str = "invalid_digest";
    /// A manifest breaks the path rules, lists duplicates, or is empty.
    pub const INVALID_MANIFEST: &str = "invalid_manifest";
    /// Lineage or metadata breaks a rule or a bound.
    pub const INVALID_LINEAGE: &str = "invalid_lineage";
    /// An uploaded body does not hash to (or is not as long as) what the URL/header says.
    pub const DIGEST_MISMATCH: &str = "digest_mismatch";
    /// The manifest names blobs the server does not have (`details.missing`).
    pub const MISSING_BLOBS: &str = "missing_blobs";
    /// A parent version named in lineage does not exist (`details.missing`).
    pub const UNKNOWN_PARENT: &str = "unknown_parent";
    /// Body over the size limit.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// A free-text field (such as a `reason`) is longer than `MAX_TEXT_LEN` (400).
    pub const TEXT_TOO_LONG: &str = "text_too_long";
    /// Nothing at that name.
    pub const NOT_FOUND: &str = "not_found";
    /// The version label exists with another manifest.
    pub const VERSION_EXISTS: &str = "version_exists";
    /// The requested byte range is outside the blob.
    pub const RANGE_NOT_SATISFIABLE: &str = "range_not_satisfiable";
    /// Wrong or missing `Content-Type`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// No or bad credentials.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// Credentials lack the scope or namespace.
    pub const FORBIDDEN: &str = "forbidden";
    /// The server is shutting down or a dependency is down; retry.
    pub const UNAVAILABLE: &str = "unavailable";
    /// A server fault; details are in the server log, never in the response.
    pub const INTERNAL: &str = "internal";
    /// A token with that name exists.
    pub const TOKEN_EXISTS: &str = "token_exists";
    /// An attestation does not verify (signature, signer, statement, subject); nothing was stored.
    pub const INVALID_ATTESTATION: &str = "invalid_attestation";
    /// The namespace requires signed SLSA provenance bound to the manifest, and none verified.
    pub const PROVENANCE_REQUIRED: &str = "provenance_required";
    /// A public key that does not parse.
    pub const INVALID_KEY: &str = "invalid_key";
    /// A promotion policy denied the move (403; `details.reasons` says why).
    pub const POLICY_DENIED: &str = "policy_denied";
    /// Compare-and-swap failed: the alias no longer points where the caller expected (409).
    pub const ALIAS_MOVED: &str = "alias_moved";
    /// A rollback found no earlier target that passes (409).
    pub const NO_ROLLBACK_TARGET: &str = "no_rollback_target";
    /// A Rego module that does not compile or is not `package registry.promote` (400).
    pub const INVALID_POLICY: &str = "invalid_policy";
    /// A name is taken: an alias cannot shadow a version label, nor a label an alias (409).
    pub const NAME_CONFLICT: &str = "name_conflict";
    /// The quarantine was lifted already (409).
    pub const ALREADY_LIFTED: &str = "already_lifted";
    /// An upload part arrived before the part it follows did, and waiting for it ran out (409):
    /// send parts in order, a few at a time.
    pub const PART_OUT_OF_ORDER: &str = "part_out_of_order";
    /// A part already confirmed was sent again with different bytes (409).
    pub const PART_CONFLICT: &str = "part_conflict";
    /// Completing an upload whose parts have not all been confirmed (409; `details.missing`).
    pub const UPLOAD_INCOMPLETE: &str = "upload_incomplete";
    /// The upload session expired or was completed or aborted (404 is used for unknown ids).
    pub const UPLOAD_GONE: &str = "upload_gone";
    /// The registry's storage is full (507): nothing was stored; an upload session hit by it is
    /// discarded, so its staged parts free their space. Send the bytes again once space is freed.
    pub const STORAGE_FULL: &str = "storage_full";
    /// A concurrent change conflicted with this one; retry (409).
    pub const CONFLICT: &str = "conflict";
    /// The key is already trusted for that namespace pattern (409).
    pub const KEY_EXISTS: &str = "key_exists";
    /// The path exists but not with this method (405).
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
}

/// Every error response: a stable code for programs, a message for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (see the API docs for the list).
    #[schema(example = "invalid_manifest")]
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured detail for some codes (e.g. `missing_blobs` lists `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` when the database answers.
    pub status: String,
    /// Server version.
    pub version: String,
}

/// `POST /v1/blobs:check` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlobCheckRequest {
    /// Digests to look up (at most 10,000).
    pub digests: Vec<Digest>,
}

/// `POST /v1/blobs:check` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlobCheckResponse {
    /// The digests the server does not have, in request order, without repeats.
    pub missing: Vec<Digest>,
}

/// `PUT /v1/blobs/{digest}` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlobResponse {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// False when the blob was already stored (the upload was not needed).
    pub created: bool,
}

/// `POST /v1/uploads`: open (or resume) a resumable upload of one blob.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadRequest {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes (at least 1).
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    #[serde(deserialize_with = "whole_number")]
    pub size: u64,
}

/// A byte count written as a JSON integer, or as a number with a zero fraction (`49047.0`), which
/// JSON Schema also calls an integer; anything else is refused.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match serde_json::Number::deserialize(d)? {
        n if n.is_u64() => n.as_u64().ok_or_else(|| D::Error::custom("not a byte count")),
        n => match n.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0 => Ok(f as u64),
            _ => Err(D::Error::custom(format!("{n} is not a whole, non-negative byte count"))),
        },
    }
}

/// A resumable upload session: send every part not yet `confirmed` (`PUT .../parts/{n}`, in order,
/// a few at a time), then `POST .../complete`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadSession {
    /// Session id (a uuid).
    pub id: String,
    /// The blob being uploaded.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes per part; the last part holds the rest.
    pub part_size: u64,
    /// Number of parts.
    pub parts: u64,
    /// Parts the server has hashed in order and stored (indexes from 0).
    pub confirmed: Vec<u64>,
    /// When the session expires unless used (RFC 3339).
    pub expires_at: String,
}

/// The caller's live upload sessions (`GET /v1/uploads`), newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadList {
    /// The sessions.
    pub uploads: Vec<UploadSession>,
}

/// Free-form description of a version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels (string to string).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Metadata {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), crate::LineageError> {
        if let Some(d) = &self.description
            && d.len() > MAX_DESCRIPTION_LEN
        {
            return Err(crate::LineageError(format!(
                "description is longer than {MAX_DESCRIPTION_LEN} bytes"
            )));
        }
        crate::lineage::check_string_map("labels", &self.labels)
    }
}

/// `PUT /v1/models/{ns}/{name}/versions/{version}` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutVersionRequest {
    /// The files.
    pub manifest: Manifest,
    /// What the version was made from.
    #[serde(default)]
    pub lineage: Lineage,
    /// Description and labels.
    #[serde(default)]
    pub metadata: Metadata,
    /// Attestations to verify and store with the version: each the base64 of the exact bytes of a DSSE
    /// envelope or a Sigstore bundle (at most 64).
    #[serde(default)]
    pub attestations: Vec<String>,
}

/// Most attestations in one push.
pub const MAX_PUSH_ATTESTATIONS: usize = 64;

/// A stored attestation and its verification status now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttestationInfo {
    /// Id (for `GET .../attestations/{id}`).
    pub id: i64,
    /// SHA-256 of the exact stored bytes.
    pub digest: Digest,
    /// `dsse` or `sigstore_bundle`.
    pub format: String,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// Key id of the signer whose signature verified.
    pub signer_key_id: Digest,
    /// How the statement is tied to the version: `manifest`, `files` or `content`.
    pub binding: crate::attest::Binding,
    /// The subject digest that tied it.
    pub subject_digest: Digest,
    /// `verified` while the signer is trusted for this model and predicate; `signer_revoked` or
    /// `signer_not_trusted` after the trust changed.
    pub status: String,
    /// Who added it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Index of its `attestation.added` entry in the transparency log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// `GET .../attestations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttestationList {
    /// Oldest first.
    pub attestations: Vec<AttestationInfo>,
}

/// A trusted signer key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeyInfo {
    /// `sha256:` of the SPKI DER.
    pub key_id: Digest,
    /// Models whose attestations it may sign.
    pub namespace: crate::auth::NamePattern,
    /// `ecdsa-p256` or `ed25519`.
    pub kind: String,
    /// PEM.
    pub public_key: String,
    /// Predicate types it may sign (empty: any).
    pub predicate_types: Vec<String>,
    /// Who added it.
    pub added_by: String,
    /// When (RFC 3339).
    pub added_at: String,
    /// When revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// `GET /v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeyList {
    /// Every key, revoked ones included.
    pub keys: Vec<TrustedKeyInfo>,
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKeyRequest {
    /// Models whose attestations it may sign.
    pub namespace: crate::auth::NamePattern,
    /// PEM `PUBLIC KEY` (ECDSA P-256 or Ed25519).
    pub public_key: String,
    /// Predicate types it may sign (empty: any).
    #[serde(default)]
    pub predicate_types: Vec<String>,
}

/// `PUT /v1/namespaces/{namespace}` and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSettings {
    /// Refuse pushes without signed SLSA provenance bound to the manifest (403 `provenance_required`).
    pub require_provenance: bool,
}

/// A version record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionResponse {
    /// Namespace.
    pub namespace: String,
    /// Model name.
    pub name: String,
    /// Version label.
    pub version: String,
    /// SHA-256 of the manifest's canonical JSON: the version's identity.
    pub manifest_digest: Digest,
    /// OpenSSF Model Signing root digest of the files.
    pub oms_root_digest: Digest,
    /// Number of files.
    pub file_count: u64,
    /// Total bytes.
    pub total_size: u64,
    /// What it was made from.
    pub lineage: Lineage,
    /// Description and labels.
    pub metadata: Metadata,
    /// Who pushed it.
    pub created_by: String,
    /// When (RFC 3339, UTC).
    pub created_at: String,
    /// Index of its `version.created` entry in the transparency log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// Quarantined: pulls refuse it unless forced, promotion policies see it.
    #[serde(default)]
    pub quarantined: bool,
    /// The scrubber found its stored bytes, an attestation or a log entry altered.
    #[serde(default)]
    pub corrupted: bool,
}

/// `GET .../versions` page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    /// Newest first.
    pub versions: Vec<VersionResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelResponse {
    /// Namespace.
    pub namespace: String,
    /// Model name.
    pub name: String,
    /// Number of versions.
    pub version_count: u64,
    /// Newest version label, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339, UTC).
    pub created_at: String,
}

/// `GET /v1/models` page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// Ordered by namespace, then name.
    pub models: Vec<ModelResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// URL paths, built the same way by the server's router and the client.
pub mod paths {
    use crate::digest::Digest;
    use crate::name::ModelName;

    /// `/v1/uploads/{id}`.
    pub fn upload(id: &str) -> String {
        format!("/v1/uploads/{id}")
    }

    /// `/v1/uploads/{id}/parts/{part}`.
    pub fn upload_part(id: &str, part: u64) -> String {
        format!("/v1/uploads/{id}/parts/{part}")
    }

    /// `/v1/blobs/{digest}`.
    pub fn blob(d: &Digest) -> String {
        format!("/v1/blobs/{d}")
    }
    /// `/v1/models/{ns}/{name}`.
    pub fn model(m: &ModelName) -> String {
        format!("/v1/models/{}/{}", m.namespace(), m.name())
    }
    /// `/v1/models/{ns}/{name}/versions/{reference}`.
    pub fn version(m: &ModelName, reference: &str) -> String {
        format!("{}/versions/{reference}", model(m))
    }
    /// `/v1/models/{ns}/{name}/aliases/{alias}`.
    pub fn alias(m: &ModelName, alias: &str) -> String {
        format!("{}/aliases/{alias}", model(m))
    }
}

/// One access-audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who (`token:NAME`, `oidc:ISSUER#SUB`, `anonymous`).
    pub actor: String,
    /// `blob.download` or `bundle.download`.
    pub action: String,
    /// A blob digest or `NS/NAME@VERSION`.
    pub target: String,
}

/// `GET /v1/audit` page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Largest page of `GET /v1/log/entries`.
pub const MAX_LOG_PAGE: u64 = 1000;

/// One log entry: its index and its exact canonical JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntryItem {
    /// Index in the log.
    pub index: u64,
    /// The canonical JSON whose leaf hash is in the tree.
    pub body: String,
}

/// `GET /v1/log/entries`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogEntries {
    /// In index order.
    pub entries: Vec<LogEntryItem>,
}

/// `GET /v1/log/proofs/inclusion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    /// The entry.
    pub index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// RFC 9162 proof hashes, base64.
    pub hashes: Vec<String>,
}

/// `GET /v1/log/proofs/consistency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// RFC 9162 proof hashes, base64.
    pub hashes: Vec<String>,
}
