//! The MLflow-compatible API: `/api/2.0/mlflow/...` (tracking and model registry) and
//! `/api/2.0/mlflow-artifacts/...` (files), for the unmodified MLflow client. A thin edge: handlers
//! parse MLflow's request shapes, authenticate with the same tokens (Bearer, or Basic with the token
//! as password), call `service::mlflow` (which calls the same services as `/v1`), and answer in
//! MLflow's shapes. Errors are MLflow's `{error_code, message}`; a permanent condition is never a
//! 5xx, because the MLflow client retries every 5xx for minutes.
//!
//! Every route is declared in [`routes`] with its access, and mounted through
//! `crate::mounted::beside_the_document`, so the authorisation matrix covers it.
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use registry_core::auth::Scope;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::auth::{Actor, Auth, Requirement};
use crate::error::{ApiError, InternalCause};
use crate::extract::{ApiJson, ApiPath, ApiQuery, FieldCodes};
use crate::mounted::{Access, MountedRoute};
use crate::state::AppState;

mod artifacts;
mod registry;
mod tracking;
mod wire;

/// MLflow's error codes, as its client knows them.
pub mod code {
    /// Bad input (400).
    pub const INVALID_PARAMETER_VALUE: &str = "INVALID_PARAMETER_VALUE";
    /// Exists already (400 on MLflow).
    pub const RESOURCE_ALREADY_EXISTS: &str = "RESOURCE_ALREADY_EXISTS";
    /// Not found (404).
    pub const RESOURCE_DOES_NOT_EXIST: &str = "RESOURCE_DOES_NOT_EXIST";
    /// No or bad credentials (401).
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// Not allowed (403).
    pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
    /// Too many requests (429).
    pub const REQUEST_LIMIT_EXCEEDED: &str = "REQUEST_LIMIT_EXCEEDED";
    /// Overloaded or a transient fault; retry (503).
    pub const TEMPORARILY_UNAVAILABLE: &str = "TEMPORARILY_UNAVAILABLE";
    /// A server fault (500).
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// An error in MLflow's shape. Built from the registry's `ApiError` (one mapping, by status), so
/// every rule's answer is the same on both APIs but for the spelling.
#[derive(Debug)]
pub struct MlError(pub ApiError);

impl From<ApiError> for MlError {
    fn from(e: ApiError) -> Self {
        MlError(e)
    }
}

impl From<crate::db::DbError> for MlError {
    fn from(e: crate::db::DbError) -> Self {
        MlError(e.into())
    }
}

/// MLflow's status and code for one of our statuses.
pub fn mlflow_status(status: StatusCode) -> (StatusCode, &'static str) {
    match status.as_u16() {
        401 => (status, code::UNAUTHENTICATED),
        403 => (status, code::PERMISSION_DENIED),
        404 => (status, code::RESOURCE_DOES_NOT_EXIST),
        // MLflow answers "already exists" with 400 (its client branches on the code).
        409 => (StatusCode::BAD_REQUEST, code::RESOURCE_ALREADY_EXISTS),
        429 => (status, code::REQUEST_LIMIT_EXCEEDED),
        // 413 stays 413 (never retried); 415, 416 and the rest of 4xx are bad input.
        413 => (status, code::INVALID_PARAMETER_VALUE),
        400..=499 => (StatusCode::BAD_REQUEST, code::INVALID_PARAMETER_VALUE),
        // Transient (GC racing an upload, a store timeout): retrying is right.
        503 => (status, code::TEMPORARILY_UNAVAILABLE),
        // Storage full is not transient for the client's retry loop: 507, not retried.
        507 => (status, code::INTERNAL_ERROR),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL_ERROR),
    }
}

impl IntoResponse for MlError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, code) = mlflow_status(e.status());
        let cause = e.cause().map(str::to_owned);
        let mut resp = (status, Json(json!({"error_code": code, "message": e.message()}))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        if let Some(c) = cause {
            resp.extensions_mut().insert(InternalCause(c));
        }
        resp
    }
}

/// A handler's answer.
pub type MlResult<T = Json<Value>> = Result<T, MlError>;

/// An authenticated caller holding `R`'s scope; rejections in MLflow's shape.
pub struct MlAuth<R>(pub Auth<R>);

impl<R> std::ops::Deref for MlAuth<R> {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.0
    }
}

impl<R: Requirement + Send + Sync> FromRequestParts<AppState> for MlAuth<R> {
    type Rejection = MlError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, MlError> {
        Ok(MlAuth(Auth::<R>::from_request_parts(parts, state).await?))
    }
}

/// A JSON body (MLflow's POST and PATCH requests); unknown fields are ignored, as MLflow does.
pub struct MlJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + FieldCodes> FromRequest<S> for MlJson<T> {
    type Rejection = MlError;
    async fn from_request(req: Request, state: &S) -> Result<Self, MlError> {
        Ok(MlJson(ApiJson::<T>::from_request(req, state).await?.0))
    }
}

/// Query parameters (MLflow's GET requests carry the request message as the query).
pub struct MlQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for MlQuery<T> {
    type Rejection = MlError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MlError> {
        Ok(MlQuery(ApiQuery::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// A DELETE's request message: the MLflow client sends it as a JSON body (only GETs carry it in the
/// query), other clients in the query; a JSON body wins when there is one.
pub struct MlDelete<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + FieldCodes> FromRequest<S> for MlDelete<T> {
    type Rejection = MlError;
    async fn from_request(req: Request, state: &S) -> Result<Self, MlError> {
        let has_body = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|n| n != "0")
            || req.headers().contains_key(axum::http::header::TRANSFER_ENCODING);
        if has_body {
            return Ok(MlDelete(ApiJson::<T>::from_request(req, state).await?.0));
        }
        let (mut parts, _) = req.into_parts();
        Ok(MlDelete(ApiQuery::<T>::from_request_parts(&mut parts, state).await?.0))
    }
}

/// Path parameters.
pub struct MlPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for MlPath<T> {
    type Rejection = MlError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MlError> {
        Ok(MlPath(ApiPath::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// An int64 as MLflow may send it: a JSON number or a string of digits (protobuf's JSON mapping).
pub fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        S(String),
        F(f64),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::I(i)) => Ok(Some(i)),
        Some(N::S(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
        Some(N::F(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Some(N::F(_)) => Err(serde::de::Error::custom("expected an integer")),
    }
}

/// A double as MLflow may send it: a number, or `"NaN"`/`"Infinity"` strings (refused later as
/// non-finite).
pub fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        F(f64),
        S(String),
    }
    match N::deserialize(d)? {
        N::F(f) => Ok(f),
        N::S(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            s => s.parse().map_err(serde::de::Error::custom),
        },
    }
}

/// `{key, value}` pairs.
#[derive(Debug, Default, Deserialize)]
pub struct KeyValue {
    /// Key.
    #[serde(default)]
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// The pairs as tuples.
pub fn pairs(kv: Vec<KeyValue>) -> Vec<(String, String)> {
    kv.into_iter().map(|t| (t.key, t.value)).collect()
}

/// `{}`: MLflow's empty success.
pub fn empty() -> Json<Value> {
    Json(json!({}))
}

/// The routes, each with its method, path, access and handler.
pub fn routes() -> Vec<(MountedRoute, MethodRouter<AppState>)> {
    let mut out = Vec::new();
    tracking::routes(&mut out);
    registry::routes(&mut out);
    artifacts::routes(&mut out);
    out
}

/// Adds one route.
pub(crate) fn add(
    out: &mut Vec<(MountedRoute, MethodRouter<AppState>)>,
    method: Method,
    path: &str,
    access: Access,
    handler: MethodRouter<AppState>,
) {
    out.push((MountedRoute { method, path: path.to_owned(), access }, handler));
}

/// The method filter of a method.
pub(crate) fn filter(m: &Method) -> MethodFilter {
    match *m {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        Method::HEAD => MethodFilter::HEAD,
        _ => MethodFilter::OPTIONS,
    }
}

/// A route for one method.
pub(crate) fn route<H, T>(m: &Method, h: H) -> MethodRouter<AppState>
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    on(filter(m), h)
}

/// Access levels used by the MLflow routes.
pub(crate) const READ: Access = Access::Scope(Scope::Read);
/// Writes to runs, experiments, logged models, files and versions.
pub(crate) const PUSH: Access = Access::Scope(Scope::Push);
/// Alias moves.
pub(crate) const PROMOTE: Access = Access::Scope(Scope::Promote);

/// No request field here has a code of its own.
macro_rules! no_field_codes {
    ($($t:ty),*) => { $(impl crate::extract::FieldCodes for $t {})* };
}
pub(crate) use no_field_codes;
