//! registry-server: the HTTP API over a metadata database (SQLite | PostgreSQL) and a blob store.
//!
//! `main.rs` only reads configuration and calls [`run`]; tests call [`open_state`], [`build_router`]
//! and [`serve`] with a listener they bound to port 0.
// `deny`, not `forbid`: `alloc` holds the crate's only `unsafe` code (two calls into mimalloc's C API).
#![deny(unsafe_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

pub mod alloc;
pub mod auth;
pub mod blob;
pub mod config;
pub mod conn;
pub mod db;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod mounted;
pub mod routes;
pub mod service;
pub mod state;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod ui;

pub use config::Config;
pub use state::{AppState, Settings};

use crate::error::{ApiError, InternalCause};

/// The OpenAPI document of the routes [`build_router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::router_and_spec().1
}

/// The whole HTTP application over `state`.
pub fn build_router(state: AppState) -> Router {
    let (api, spec) = routes::router_and_spec();
    let spec = Arc::new(spec.to_pretty_json().expect("the OpenAPI document serializes"));
    let mut app = api;
    for (route, handler) in mounted::beside_the_document(spec) {
        app = app.route(&route.path, handler);
    }
    // The web UI (its own auth: a session cookie that /v1 never reads).
    app = app.merge(ui::router());
    // What /v2 answers beyond its routes (push methods, unknown paths), in the OCI spec's shapes.
    app = app.merge(routes::oci::others());
    app.fallback(routes::fallback)
        .method_not_allowed_fallback(|uri: axum::http::Uri| async move {
            let e = ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                registry_core::api::codes::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            );
            match routes::aliases::allow_of(uri.path()) {
                Some(allow) => ([(axum::http::header::ALLOW, allow)], e).into_response(),
                None => e.into_response(), // the router fills in Allow
            }
        })
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()))
        .layer(middleware::from_fn(ui::headers))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// Longest request path logged (longer ones are cut, marked with `...`): a path is input, and a log
/// line should not grow with it.
const MAX_LOGGED_PATH: usize = 512;

pub use registry_core::text::clip;

/// One log line per request; a 5xx carries its hidden cause. Query strings are not logged, the method
/// is one of a closed set (`OTHER` for the rest) and the path is clipped, so no input grows a line.
async fn log_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = metrics::method_label(req.method().as_str());
    let path = clip(req.uri().path(), MAX_LOGGED_PATH).into_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let length = |h: &axum::http::HeaderMap| {
        h.get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let bytes_in = length(req.headers()).unwrap_or(0);
    let start = Instant::now();
    let mutating = !req.method().is_safe();
    let resp = next.run(req).await;
    if mutating {
        // It may have appended to the log (denials too): deliveries start now, not at the next poll.
        state.webhooks.ring();
    }
    let status = resp.status().as_u16();
    let secs = start.elapsed().as_secs_f64();
    state.metrics.observe(method, &route, status, secs, bytes_in, length(resp.headers()).unwrap_or(0));
    let ms = secs * 1000.0;
    if let Some(InternalCause(cause)) = resp.extensions().get::<InternalCause>() {
        tracing::error!(%method, %path, status, ms, cause = %cause, "request failed");
    } else if status >= 500 {
        tracing::error!(%method, %path, status, ms, "request failed");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    resp
}

/// Opens the database (applying migrations) and the blob store. Touches nothing in flight: one-off
/// commands (`gc`, `scrub`) open the same state beside a live server; the serving process alone clears
/// what a crash left half-written ([`clear_staged_uploads`]).
pub async fn open_state(config: &Config) -> anyhow::Result<AppState> {
    let db = db::Db::open(&config.database_url, config.migrate).await?;
    // Before anything else is written: a server with the wrong keys must not start at all.
    let log = service::log::LogKey::load(config)?;
    let attestation_key = service::keys::load_attestation_key(config)?;
    let webhook_key = service::webhooks::seal::SealKey::from_config(config)?;
    let configured = service::server_keys::Configured {
        log: log.vkey(),
        attestation: attestation_key.public().to_pem(),
        webhook: webhook_key.fingerprint().to_owned(),
    };
    service::server_keys::pin(&db, &configured).await?;
    let blobs = blob::BlobStore::from_url_with(&config.blobs_url, &config.blob_options)?
        .with_timeout(std::time::Duration::from_secs(config.store_timeout));
    anyhow::ensure!(
        !config.direct_downloads || blobs.can_presign(),
        "direct_downloads needs a store that can presign URLs (s3://, gs://, az://), not {}",
        blobs.describe()
    );
    let keyed = service::attest::backfill_evidence_keys(&db).await?;
    if keyed > 0 {
        tracing::info!(keyed, "gave stored attestations their evidence keys");
    }
    let (versions, attestations) = service::oci::backfill(&db).await?;
    if versions + attestations > 0 {
        tracing::info!(versions, attestations, "gave stored versions and attestations their OCI digests");
    }
    if let Some(path) =
        service::tokens::bootstrap(&db, &config.data_dir, config.bootstrap_token.clone()).await?
    {
        // Printed once, on the first start only, to the operator's terminal (not the log stream).
        eprintln!(
            "\n  A bootstrap admin token was created and written to {} (mode 0600).\n  \
             Log in with: registry login --token-stdin < {}\n  \
             Then create narrower tokens (registry token create ...) and revoke this one.\n",
            path.display(),
            path.display()
        );
        tracing::warn!(file = %path.display(), "bootstrap admin token created");
    }
    let oidc = auth::oidc::Oidc::load(&config.oidc)?;
    let settings = Settings {
        max_blob_size: config.max_blob_size,
        anonymous_read: config.anonymous_read,
        oidc: Arc::new(oidc),
        direct_downloads: config.direct_downloads,
        presign_ttl: std::time::Duration::from_secs(config.presign_ttl),
        upload_part_size: config.upload_part_size,
        upload_memory_budget: config.upload_memory_budget,
        upload_expiry: std::time::Duration::from_secs(config.upload_expiry),
        allow_unportable_paths: config.allow_unportable_paths,
        secure_cookies: config.public_url.as_ref().is_some_and(|u| u.scheme() == "https"),
        public_origin: config.public_url.as_ref().map(|u| u.origin().ascii_serialization()),
        ui_session_ttl: std::time::Duration::from_secs(config.ui_session_ttl),
    };
    Ok(AppState {
        db,
        blobs,
        settings: Arc::new(settings),
        log: Arc::new(log),
        attestation_key: Arc::new(attestation_key),
        scrub: Arc::default(),
        metrics: Arc::default(),
        pauses: Arc::default(),
        trust_roots: Arc::default(),
        webhooks: Arc::new(service::webhooks::Webhooks::new(webhook_key, config.webhooks.clone())?),
        uploads: Arc::new(service::uploads::Uploads::new(
            config.upload_memory_budget,
            service::uploads::BUDGET_WAIT,
        )),
        predicates: Arc::default(),
    })
}

/// Removes uploads an earlier stop left half-written (local directories only). Only the serving
/// process calls this, at its start, before it accepts requests: a one-off command beside a live
/// server would delete that server's uploads in flight.
pub async fn clear_staged_uploads(state: &AppState) -> anyhow::Result<()> {
    let staged = state.blobs.cleanup_staged().await?;
    if staged > 0 {
        tracing::warn!(staged, "removed uploads left unfinished by an earlier stop");
    }
    Ok(())
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish; with
/// the default connection limits (see [`conn::serve_with`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve_with(listener, router, shutdown, conn::ConnLimits::default()).await
}
