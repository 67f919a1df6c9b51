//! `/v2`: the pull side of the OCI Distribution Spec v1.1, read-only (docs/oci.md). Routes parse and
//! authorise; `service::oci` decides. Errors are the spec's `{"errors":[{code,message,detail}]}`;
//! every answer carries `Docker-Distribution-API-Version: registry/2.0`; push and delete methods are
//! 405 UNSUPPORTED.
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, head};
use registry_core::auth::Scope;
use registry_core::oci::INDEX_MEDIA_TYPE;
use serde_json::json;

use crate::auth::Actor;
use crate::mounted::{Access, MountedRoute};
use crate::service::oci::{self as svc, BlobBody, OciError, Repo, code};
use crate::state::AppState;

const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        match self {
            OciError::Api(e) => e.into_response(),
            OciError::Spec { status, code, message, detail } => {
                // RFC 9110 §15.5.17: a 416 names the length the range was checked against.
                let range = (status == StatusCode::RANGE_NOT_SATISFIABLE)
                    .then(|| detail["size"].as_u64())
                    .flatten()
                    .and_then(|n| HeaderValue::try_from(format!("bytes */{n}")).ok());
                let body = json!({"errors": [{"code": code, "message": message, "detail": detail}]});
                let mut resp =
                    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
                if let Some(v) = range {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                resp
            }
        }
    }
}

async fn api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}

/// The caller of a `/v2` route. A missing or refused credential is 401 UNAUTHORIZED with the Bearer
/// challenge token clients (skopeo, containerd, oras) follow: realm `<public url>/v2/token`.
pub struct OciCaller(pub Actor);

impl FromRequestParts<AppState> for OciCaller {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match crate::auth::authenticate(parts, state).await {
            Ok(actor) => Ok(Self(actor)),
            Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
                let mut resp =
                    OciError::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, e.message()).into_response();
                if let Ok(v) = HeaderValue::try_from(challenge(parts, state)) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                Err(resp)
            }
            Err(e) => Err(OciError::from(e).into_response()),
        }
    }
}

/// `Bearer realm="<origin>/v2/token",service="<host>"`, and the repository's pull scope on a
/// repository route. The origin is `--public-url`'s, else `http://` and the request's Host (only
/// characters a host may hold; the header is the caller's own, so it can only mislead itself).
fn challenge(parts: &Parts, state: &AppState) -> String {
    let origin = state.settings.public_origin.clone().unwrap_or_else(|| {
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let ok = !host.is_empty()
            && host.len() <= 255
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        format!("http://{}", if ok { host } else { "localhost" })
    });
    let service = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h);
    let mut c = format!("Bearer realm=\"{origin}/v2/token\",service=\"{service}\"");
    let segs: Vec<&str> = parts.uri.path().split('/').collect();
    if segs.len() > 4 && segs[1] == "v2" && registry_core::ModelName::new(segs[2], segs[3]).is_ok() {
        c.push_str(&format!(",scope=\"repository:{}/{}:pull\"", segs[2], segs[3]));
    }
    c
}

/// The read scope, else 403 DENIED.
fn reader(actor: &Actor) -> Result<(), OciError> {
    if actor.has(Scope::Read) {
        Ok(())
    } else {
        Err(OciError::new(StatusCode::FORBIDDEN, code::DENIED, "this credential lacks the read scope"))
    }
}

/// The path's parameters; one that is not UTF-8 once decoded is 400 NAME_INVALID in the spec's shape
/// (axum's own rejection is plain text).
pub struct Params(RawPathParams);

impl FromRequestParts<AppState> for Params {
    type Rejection = OciError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OciError> {
        RawPathParams::from_request_parts(parts, state).await.map(Self).map_err(|_| {
            OciError::new(StatusCode::BAD_REQUEST, code::NAME_INVALID, "the path is not UTF-8 once decoded")
        })
    }
}

fn param<'a>(Params(params): &'a Params, name: &str) -> &'a str {
    params.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v)
}

async fn repo(state: &AppState, actor: &Actor, params: &Params) -> Result<Repo, OciError> {
    reader(actor)?;
    svc::repository(state, actor, param(params, "ns"), param(params, "name")).await
}

/// The query's pairs, percent-decoded. A `+` stays a `+` (media types hold it; no value here can
/// hold a space), not the space HTML forms make of it.
fn query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| url::form_urlencoded::parse(q.replace('+', "%2B").as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn first<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn value(s: impl AsRef<str>) -> Result<HeaderValue, OciError> {
    HeaderValue::try_from(s.as_ref()).map_err(|e| OciError::Api(crate::error::ApiError::internal(e)))
}

/// `GET /v2/`: 200 `{}` for a valid credential (the spec's "implements v2" answer and auth ping).
async fn base(OciCaller(_): OciCaller) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}

/// `GET /v2/token`: the token endpoint of the Bearer challenge. It answers with the credential the
/// caller presented (Basic password or Bearer): nothing new is minted, so the scopes, namespaces and
/// expiry stay the token's. `service`, `scope` and `account` are accepted and ignored.
async fn token(headers: HeaderMap, OciCaller(actor): OciCaller) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::credential)
        .filter(|c| !c.is_empty());
    let Some(t) = presented else {
        let e = OciError::new(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
            "send the token as the Basic password",
        );
        return e.into_response();
    };
    let now = crate::db::now_ms();
    let left = actor.expires_at.map_or(3600, |e| ((e - now) / 1000).clamp(1, 3600));
    let body =
        json!({"token": t, "access_token": t, "expires_in": left, "issued_at": crate::db::rfc3339(now)});
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body.to_string())
        .into_response()
}

/// `GET|HEAD /v2/{ns}/{name}/manifests/{reference}`.
async fn manifest(
    State(state): State<AppState>,
    method: Method,
    OciCaller(actor): OciCaller,
    params: Params,
) -> Result<Response, OciError> {
    let repo = repo(&state, &actor, &params).await?;
    let m = svc::manifest(&state, &repo, param(&params, "reference")).await?;
    let len = m.bytes.len();
    let body = if method == Method::HEAD { Body::empty() } else { Body::from(m.bytes) };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(m.media_type));
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(CONTENT_DIGEST, value(m.digest.to_string())?);
    h.insert(header::ETAG, value(format!("\"{}\"", m.digest))?);
    Ok(resp)
}

/// `GET|HEAD /v2/{ns}/{name}/blobs/{digest}`: a single `Range: bytes=` is honoured (206).
async fn blob(
    State(state): State<AppState>,
    method: Method,
    OciCaller(actor): OciCaller,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, OciError> {
    let repo = repo(&state, &actor, &params).await?;
    let d = svc::parse_digest(param(&params, "digest"))?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let is_head = method == Method::HEAD;
    let (body, size) = svc::blob(&state, &actor, &repo, &d, range, is_head).await?;
    let mut resp = match body {
        _ if is_head => {
            let mut r = Response::new(Body::empty());
            r.headers_mut().insert(header::CONTENT_LENGTH, size.into());
            r
        }
        BlobBody::Stored(download) => {
            crate::routes::blobs::respond(download).map_err(|e| OciError::from_api(e, code::BLOB_UNKNOWN))?
        }
        BlobBody::Inline { bytes, range } => {
            let Some(r) = range else {
                let mut resp = Response::new(Body::from(bytes));
                resp.headers_mut().insert(header::CONTENT_LENGTH, size.into());
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                resp.headers_mut().insert(CONTENT_DIGEST, value(d.to_string())?);
                resp.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                return Ok(resp);
            };
            let part = bytes[r.start as usize..r.end as usize].to_vec();
            let mut resp = Response::new(Body::from(part));
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let cr = format!("bytes {}-{}/{size}", r.start, r.end - 1);
            resp.headers_mut().insert(header::CONTENT_RANGE, value(cr)?);
            resp.headers_mut().insert(header::CONTENT_LENGTH, (r.end - r.start).into());
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            resp
        }
    };
    let h = resp.headers_mut();
    if is_head {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    }
    h.insert(CONTENT_DIGEST, value(d.to_string())?);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Ok(resp)
}

/// `GET /v2/{ns}/{name}/tags/list[?n=&last=]`: labels (`+` written `_`) and aliases, byte order.
async fn tags(
    State(state): State<AppState>,
    OciCaller(actor): OciCaller,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, OciError> {
    let repo = repo(&state, &actor, &params).await?;
    let q = query(raw.as_deref());
    let n = match first(&q, "n") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            OciError::new(
                StatusCode::BAD_REQUEST,
                code::UNSUPPORTED,
                format!("n must be a whole number, not {v:?}"),
            )
        })?),
    };
    let last = first(&q, "last");
    if let Some(l) = last.filter(|l| !svc::is_tag(l)) {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            code::UNSUPPORTED,
            format!("last must be a tag ([a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}), not {l:?}"),
        ));
    }
    let (page, more) = svc::tags(&state, &repo, n, last).await?;
    let mut resp = (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"name": repo.name.to_string(), "tags": page}).to_string(),
    )
        .into_response();
    if more && let Some(t) = page.last() {
        let link = format!("</v2/{}/tags/list?n={}&last={t}>; rel=\"next\"", repo.name, page.len());
        resp.headers_mut().insert(header::LINK, value(link)?);
    }
    Ok(resp)
}

/// `GET /v2/{ns}/{name}/referrers/{digest}[?artifactType=]`: an image index of the attestations
/// (and promotion decisions) of the version whose OCI manifest is `digest`; empty for any other.
async fn referrers(
    State(state): State<AppState>,
    OciCaller(actor): OciCaller,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, OciError> {
    let repo = repo(&state, &actor, &params).await?;
    let d = svc::parse_digest(param(&params, "digest"))?;
    let q = query(raw.as_deref());
    let filter = first(&q, "artifactType");
    let manifests = svc::referrers(&state, &repo, &d, filter).await?;
    let index = json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests});
    let mut resp = ([(header::CONTENT_TYPE, INDEX_MEDIA_TYPE)], index.to_string()).into_response();
    if filter.is_some() {
        resp.headers_mut().insert(FILTERS_APPLIED, HeaderValue::from_static("artifactType"));
    }
    Ok(resp)
}

async fn unsupported() -> Response {
    let e = OciError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::UNSUPPORTED,
        "this registry serves OCI pulls only: push with `registry push` (docs/oci.md)",
    );
    ([(header::ALLOW, "GET, HEAD")], e).into_response()
}

/// Any other `/v2` path (`_catalog`, names of one or three segments): 404 NAME_UNKNOWN (the
/// router's fallback calls this for paths under `/v2/`).
pub(crate) fn no_such_name() -> OciError {
    OciError::new(
        StatusCode::NOT_FOUND,
        code::NAME_UNKNOWN,
        "no such repository (names are NAMESPACE/NAME; there is no catalog)",
    )
}

/// The `/v2` routes with their access, for [`crate::mounted::beside_the_document`] (so the
/// authorisation matrix walks them). A repository route answers 404 NAME_UNKNOWN for a model outside
/// the credential's pattern, as for a missing one.
pub(crate) fn routes() -> Vec<(MountedRoute, MethodRouter<AppState>)> {
    let route = |method: Method, path: &str, access| MountedRoute { method, path: path.into(), access };
    let read = Access::Scope(Scope::Read);
    let layered = |m: MethodRouter<AppState>| m.layer(map_response(api_version));
    vec![
        (route(Method::GET, "/v2/", Access::Authenticated), layered(get(base).fallback(unsupported))),
        (route(Method::GET, "/v2/token", Access::Authenticated), layered(get(token).fallback(unsupported))),
        (
            route(Method::GET, "/v2/{ns}/{name}/manifests/{reference}", read),
            layered(get(manifest).fallback(unsupported)),
        ),
        (route(Method::HEAD, "/v2/{ns}/{name}/manifests/{reference}", read), layered(head(manifest))),
        (
            route(Method::GET, "/v2/{ns}/{name}/blobs/{digest}", read),
            layered(get(blob).fallback(unsupported)),
        ),
        (route(Method::HEAD, "/v2/{ns}/{name}/blobs/{digest}", read), layered(head(blob))),
        (route(Method::GET, "/v2/{ns}/{name}/tags/list", read), layered(get(tags).fallback(unsupported))),
        (
            route(Method::GET, "/v2/{ns}/{name}/referrers/{digest}", read),
            layered(get(referrers).fallback(unsupported)),
        ),
    ]
}

/// The push endpoints beyond the routes above: 405 UNSUPPORTED.
pub(crate) fn others() -> Router<AppState> {
    Router::new()
        .route("/v2/{ns}/{name}/blobs/uploads/", any(unsupported))
        .route("/v2/{ns}/{name}/blobs/uploads/{*rest}", any(unsupported))
        .layer(map_response(api_version))
}
