//! Every route the server mounts, with who may call it: the OpenAPI operations (their `security`
//! says) and the routes mounted beside the document (one table, [`beside_the_document`]). The
//! authorisation matrix test walks [`mounted_routes`], so a new front door (its routes added to that
//! table) joins the matrix by construction.
use std::sync::Arc;

use axum::http::{Method, header};
use axum::routing::{MethodRouter, get};
use registry_core::auth::Scope;

use crate::state::AppState;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a credential.
    Public,
    /// Any authenticated caller.
    Authenticated,
    /// A caller holding this scope (or admin).
    Scope(Scope),
}

/// One mounted route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountedRoute {
    /// Its method.
    pub method: Method,
    /// Its path template, `{param}` for a segment.
    pub path: String,
    /// Who may call it.
    pub access: Access,
}

/// The routes mounted beside the OpenAPI document, each with its method, access and handler.
/// `spec` is the document `GET /v1/openapi.json` serves.
pub(crate) fn beside_the_document(spec: Arc<String>) -> Vec<(MountedRoute, MethodRouter<AppState>)> {
    let route = |method: Method, path: &str, access| MountedRoute { method, path: path.into(), access };
    let mut out = vec![
        (
            route(Method::GET, "/v1/openapi.json", Access::Public),
            get(move || {
                let spec = spec.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], spec.as_str().to_owned()) }
            }),
        ),
        (
            route(Method::GET, "/metrics", Access::Public),
            get(|axum::extract::State(state): axum::extract::State<AppState>| async move {
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::render(&state).await)
            }),
        ),
    ];
    // The MLflow-compatible API (its own error shapes; no OpenAPI document of ours describes it).
    out.extend(crate::routes::mlflow::routes());
    // The OCI Distribution view (the spec's error shapes; docs/oci.md).
    out.extend(crate::routes::oci::routes());
    out
}

/// Every route [`crate::build_router`] mounts.
pub fn mounted_routes() -> Vec<MountedRoute> {
    let spec = crate::openapi();
    let mut out = Vec::new();
    for (path, item) in &spec.paths.paths {
        let json = serde_json::to_value(item).unwrap_or_default();
        let Some(ops) = json.as_object() else { continue };
        for (method, op) in ops {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            out.push(MountedRoute { method, path: path.clone(), access: access_of(op) });
        }
    }
    out.extend(beside_the_document(Arc::default()).into_iter().map(|(r, _)| r));
    out
}

/// An operation's access from its `security`: absent, public; `[{"token": []}]`, any caller;
/// `[{"token": ["push"]}]`, that scope.
fn access_of(op: &serde_json::Value) -> Access {
    let Some(security) = op.get("security") else { return Access::Public };
    match security[0]["token"].as_array().and_then(|s| s.first()).and_then(|v| v.as_str()) {
        None => Access::Authenticated,
        Some(scope) => scope.parse().map_or(Access::Authenticated, Access::Scope),
    }
}
