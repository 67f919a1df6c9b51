//! URL paths, built the same way by the server's router and the client.
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
