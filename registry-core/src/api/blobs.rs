//! Blob wire types: the missing-blob check, single-request uploads and resumable upload sessions.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::digest::Digest;

/// Most digests in one `POST /v1/blobs:check`.
pub const MAX_CHECK_DIGESTS: usize = 10_000;

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
