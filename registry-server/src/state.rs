//! Shared server state: the metadata store, the blob store and the settings handlers need.
use std::sync::Arc;

use crate::auth::oidc::Oidc;
use crate::blob::BlobStore;
use crate::db::Db;

/// Limits and switches read by handlers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest blob accepted, in bytes.
    pub max_blob_size: u64,
    /// Callers without credentials may read (never write).
    pub anonymous_read: bool,
    /// Trusted OIDC issuers.
    pub oidc: Arc<Oidc>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { max_blob_size: 100 * 1024 * 1024 * 1024, anonymous_read: false, oidc: Arc::default() }
    }
}

/// Everything a handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Metadata.
    pub db: Db,
    /// Bytes.
    pub blobs: BlobStore,
    /// Limits.
    pub settings: Arc<Settings>,
    /// The transparency log's signing key.
    pub log: Arc<crate::service::log::LogKey>,
    /// The key the server signs its own attestations (promotion decisions) with.
    pub attestation_key: Arc<registry_core::attest::keys::SigningKey>,
    /// The scrubber's running totals.
    pub scrub: Arc<crate::service::scrub::ScrubStats>,
    /// Request metrics for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}
