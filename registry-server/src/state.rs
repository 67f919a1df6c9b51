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
    /// Answer blob downloads with a redirect to a presigned URL (remote stores only).
    pub direct_downloads: bool,
    /// How long a presigned download URL stays valid.
    pub presign_ttl: std::time::Duration,
    /// Part size of resumable upload sessions, bytes.
    pub upload_part_size: u64,
    /// Memory that upload parts held whole (remote stores) may take, bytes.
    pub upload_memory_budget: u64,
    /// An upload session untouched this long expires.
    pub upload_expiry: std::time::Duration,
    /// Accept manifest paths that break on other systems (`C:x`, `CON`, case-only collisions, bidi).
    pub allow_unportable_paths: bool,
    /// Web UI session cookies carry `Secure` and the `__Host-` prefix (the public URL is https).
    pub secure_cookies: bool,
    /// The public URL's origin (`https://host[:port]`), when configured: UI form posts must come from it.
    pub public_origin: Option<String>,
    /// Web UI session lifetime.
    pub ui_session_ttl: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_blob_size: 100 * 1024 * 1024 * 1024,
            anonymous_read: false,
            oidc: Arc::default(),
            direct_downloads: false,
            presign_ttl: std::time::Duration::from_secs(300),
            upload_part_size: 32 * 1024 * 1024,
            upload_memory_budget: 64 * 1024 * 1024,
            upload_expiry: std::time::Duration::from_secs(24 * 3600),
            allow_unportable_paths: false,
            secure_cookies: false,
            public_origin: None,
            ui_session_ttl: std::time::Duration::from_secs(12 * 3600),
        }
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
    pub attestation_key: Arc<crate::service::keys::Signer>,
    /// The scrubber's running totals.
    pub scrub: Arc<crate::service::scrub::ScrubStats>,
    /// Request metrics for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Points where tests hold a request (none armed in production).
    pub pauses: Arc<Pauses>,
    /// Parsed Sigstore trust roots (keyless attestations).
    pub trust_roots: Arc<crate::service::keyless::RootCache>,
    /// Webhook subscriptions' key, settings and delivery client.
    pub webhooks: Arc<crate::service::webhooks::Webhooks>,
    /// Resumable uploads' memory budget and sessions' turns.
    pub uploads: Arc<crate::service::uploads::Uploads>,
    /// Decoded attestation predicates, by digest (promotion decisions).
    pub predicates: Arc<crate::service::promote::Predicates>,
}

/// Named points where a test can hold one request (e.g. a promotion between its decision and its
/// commit) to land a concurrent change exactly there. Nothing is armed in production, where a point
/// costs one uncontended lock.
#[derive(Debug, Default)]
pub struct Pauses(std::sync::Mutex<Vec<(&'static str, Pause)>>);

#[derive(Debug)]
struct Pause {
    reached: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

impl Pauses {
    /// Holds the first request that reaches `name` after [`Pauses::arm`] until it is released.
    pub async fn point(&self, name: &'static str) {
        let armed = {
            let mut v = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            v.iter().position(|(n, _)| *n == name).map(|i| v.swap_remove(i).1)
        };
        if let Some(p) = armed {
            let _ = p.reached.send(());
            let _ = p.release.await;
        }
    }

    /// Arms `name`: the receiver fires when a request reaches it; sending (or dropping) the sender
    /// lets that request go on.
    pub fn arm(
        &self,
        name: &'static str,
    ) -> (tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
        let (reached_tx, reached_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel();
        let mut v = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        v.push((name, Pause { reached: reached_tx, release: release_rx }));
        (reached_rx, release_tx)
    }
}
