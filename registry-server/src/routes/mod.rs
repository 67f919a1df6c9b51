//! The HTTP API v1: one file per resource; this module assembles the router and its OpenAPI document.
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

pub mod aliases;
pub mod attestations;
pub mod audit;
pub mod blobs;
pub mod bundle;
pub mod events;
pub mod health;
pub mod incident;
pub mod keys;
pub mod log;
pub mod mlflow;
pub mod models;
pub mod namespaces;
pub mod oci;
pub mod params;
pub mod tokens;
pub mod uploads;
pub mod webhooks;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "registry",
        description = "Model registry with provenance attestation. Every error is `{code, message}` with a stable code.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "blobs", description = "Content-addressed file contents"),
        (name = "models", description = "Models and their immutable versions"),
        (name = "auth", description = "Identity, tokens and the access audit"),
        (name = "attestations", description = "Signed evidence, trusted keys, namespace settings"),
        (name = "log", description = "The transparency log and auditor bundles"),
        (name = "promotion", description = "Aliases moved under Rego policies, signed decisions, rollback"),
        (name = "incident", description = "Blast radius of a dataset, commit, key or version; quarantines"),
        (name = "meta", description = "Health and API description")
    ),
    paths(aliases::rollback_alias),
    // Not a request or response body, but documented with a schema: what every policy sees.
    components(schemas(registry_core::promote::PolicyInput)),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// Declares the `token` security scheme the routes' `security(...)` entries name: an API token
/// (`reg_...`) or an OIDC ID token, as `Authorization: Bearer`. Its scopes are in each operation.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("API token (reg_...) or OIDC ID token; scopes per operation"))
                    .build(),
            ),
        );
    }
}

/// The router and the OpenAPI document describing exactly its routes.
pub fn router_and_spec() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(blobs::head_blob, blobs::get_blob, blobs::put_blob))
        .routes(routes!(blobs::check_blobs))
        .routes(routes!(uploads::create_upload, uploads::list_uploads))
        .routes(routes!(uploads::get_upload, uploads::abort_upload))
        .routes(routes!(uploads::put_part))
        .routes(routes!(uploads::complete_upload))
        .routes(routes!(models::list_models))
        .routes(routes!(models::get_model))
        .routes(routes!(models::list_versions))
        .routes(routes!(models::get_version, models::put_version))
        .routes(routes!(models::get_manifest))
        .routes(routes!(tokens::whoami))
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(audit::list_audit))
        .routes(routes!(attestations::list_attestations, attestations::add_attestation))
        .routes(routes!(attestations::get_attestation))
        .routes(routes!(keys::list_keys, keys::add_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(keys::list_trust_roots))
        .routes(routes!(keys::put_trust_root, keys::remove_trust_root))
        .routes(routes!(keys::list_identities, keys::add_identity))
        .routes(routes!(keys::revoke_identity))
        .routes(routes!(namespaces::get_namespace, namespaces::put_namespace))
        .routes(routes!(log::log_key))
        .routes(routes!(keys::attestation_key))
        .routes(routes!(log::checkpoint))
        .routes(routes!(log::entries))
        .routes(routes!(log::inclusion))
        .routes(routes!(log::consistency))
        .routes(routes!(events::list))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::get_webhook, webhooks::remove_webhook))
        .routes(routes!(webhooks::pause_webhook))
        .routes(routes!(webhooks::resume_webhook))
        .routes(routes!(webhooks::redeliver_webhook))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(bundle::bundle))
        .routes(routes!(aliases::list_aliases))
        .routes(routes!(aliases::get_alias, aliases::put_alias))
        // `POST .../aliases/{alias}:rollback`: matchit has no suffixes, so the handler takes the
        // whole last segment (documented above through `paths(...)`).
        .route("/v1/models/{namespace}/{name}/aliases/{alias}", axum::routing::post(aliases::rollback_alias))
        .routes(routes!(aliases::alias_history))
        .routes(routes!(aliases::set_policy, aliases::list_policies))
        .routes(routes!(aliases::get_policy))
        .routes(routes!(aliases::test_policy))
        .routes(routes!(incident::affected))
        .routes(routes!(incident::quarantine, incident::list))
        .routes(routes!(incident::get))
        .routes(routes!(incident::lift))
        .routes(routes!(incident::compliance))
        .split_for_parts()
}

/// JSON 404 for unknown paths.
pub async fn fallback(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/v2/") {
        let mut resp = oci::no_such_name().into_response();
        let v = axum::http::HeaderValue::from_static("registry/2.0");
        resp.headers_mut().insert("docker-distribution-api-version", v);
        return resp;
    }
    ApiError::not_found("no such route").into_response()
}

/// Reads a row cursor (`next_cursor` of a newest-first page: list the rows before it). Any
/// positive integer the documented pattern admits is accepted; one beyond every row id (past
/// `i64::MAX`) lists from the newest, as no cursor would.
pub fn row_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(c) = cursor else { return Ok(None) };
    let ok = !c.is_empty() && c.len() <= 19 && c.bytes().all(|b| b.is_ascii_digit()) && !c.starts_with('0');
    match c.parse::<u64>() {
        Ok(n) if ok => Ok(Some(i64::try_from(n).unwrap_or(i64::MAX))),
        _ => Err(ApiError::bad_request(registry_core::api::codes::BAD_REQUEST, "malformed cursor")),
    }
}

/// Bounds a `limit` query parameter.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    use registry_core::api::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, codes};
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            codes::BAD_REQUEST,
            format!("limit {n} is outside 1..={MAX_PAGE_SIZE}"),
        )),
    }
}
