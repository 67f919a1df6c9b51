//! The web UI under `/ui/` (docs/ui.md): pages rendered on the server from templates compiled into
//! the binary, a stylesheet, no JavaScript. Like `/v1`, handlers here parse and authorise, then call
//! the services; nothing here decides what `/v1` would decide differently.
//!
//! Every response under `/ui` — pages, errors, assets, the 404 of an unknown path — carries the
//! [`CSP`] and the other headers of [`headers`].
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};

use crate::error::{ApiError, InternalCause};
use crate::state::AppState;

mod actions;
pub mod graph;
mod pages;
pub mod session;
mod view;

pub use session::Viewer;

/// The Content-Security-Policy of every `/ui` response.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The stylesheet, compiled in; served under a name that carries its digest, so it can be cached
/// forever and a new build is fetched at once.
const STYLE: &str = include_str!("../../assets/ui/style.css");

/// `/ui/assets/style.<first 16 hex of its SHA-256>.css`.
pub fn style_href() -> &'static str {
    static HREF: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HREF.get_or_init(|| {
        let d = registry_core::Digest::of(STYLE.as_bytes()).hex();
        format!("/ui/assets/style.{}.css", &d[..16])
    })
}

/// The icon (browsers ask for one; without it every page load logs a failed request).
const ICON: &str = include_str!("../../assets/ui/icon.svg");

/// `/ui/assets/icon.<first 16 hex of its SHA-256>.svg`.
pub fn icon_href() -> &'static str {
    static HREF: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HREF.get_or_init(|| {
        let d = registry_core::Digest::of(ICON.as_bytes()).hex();
        format!("/ui/assets/icon.{}.svg", &d[..16])
    })
}

/// Who may call a UI route (the UI's authorisation table; the matrix test walks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiAccess {
    /// Anyone.
    Public,
    /// A reader: a session, or anyone when the server runs with `--anonymous-read`.
    Read,
    /// A session holding admin.
    Admin,
    /// A session (and its CSRF token); the service checks the scope.
    Act,
}

/// Every UI route: method, path, access. [`router`] mounts exactly these.
pub const ROUTES: &[(&str, &str, UiAccess)] = &[
    ("GET", "/", UiAccess::Public),
    ("GET", "/ui", UiAccess::Public),
    ("GET", "/ui/", UiAccess::Public),
    ("GET", "/ui/login", UiAccess::Public),
    ("POST", "/ui/login", UiAccess::Public),
    ("POST", "/ui/logout", UiAccess::Act),
    ("GET", "/ui/assets/{file}", UiAccess::Public),
    ("GET", "/ui/models/{namespace}/{name}", UiAccess::Read),
    ("GET", "/ui/models/{namespace}/{name}/versions/{version}", UiAccess::Read),
    ("GET", "/ui/models/{namespace}/{name}/versions/{version}/bundle", UiAccess::Read),
    ("GET", "/ui/models/{namespace}/{name}/aliases/{alias}", UiAccess::Read),
    ("POST", "/ui/models/{namespace}/{name}/aliases/{alias}/promote", UiAccess::Act),
    ("POST", "/ui/models/{namespace}/{name}/aliases/{alias}/rollback", UiAccess::Act),
    ("GET", "/ui/policies", UiAccess::Read),
    ("GET", "/ui/policies/{id}", UiAccess::Read),
    ("GET", "/ui/log", UiAccess::Read),
    ("GET", "/ui/log/{index}", UiAccess::Read),
    ("GET", "/ui/report", UiAccess::Read),
    ("GET", "/ui/quarantines", UiAccess::Read),
    ("POST", "/ui/quarantines", UiAccess::Act),
    ("POST", "/ui/quarantines/{id}/lift", UiAccess::Act),
    ("GET", "/ui/affected", UiAccess::Read),
    ("GET", "/ui/audit", UiAccess::Admin),
];

/// The UI's routes, with the headers of [`headers`] on every response.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(to_ui))
        .route("/ui", get(to_ui))
        .route("/ui/", get(pages::models))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/models/{namespace}/{name}", get(pages::model))
        .route("/ui/models/{namespace}/{name}/versions/{version}", get(pages::version))
        .route("/ui/models/{namespace}/{name}/versions/{version}/bundle", get(pages::bundle))
        .route("/ui/models/{namespace}/{name}/aliases/{alias}", get(pages::alias))
        .route("/ui/models/{namespace}/{name}/aliases/{alias}/promote", post(actions::promote))
        .route("/ui/models/{namespace}/{name}/aliases/{alias}/rollback", post(actions::rollback))
        .route("/ui/policies", get(pages::policies))
        .route("/ui/policies/{id}", get(pages::policy))
        .route("/ui/log", get(pages::log))
        .route("/ui/log/{index}", get(pages::log_entry))
        .route("/ui/report", get(pages::report))
        .route("/ui/quarantines", get(pages::quarantines).post(actions::quarantine))
        .route("/ui/quarantines/{id}/lift", post(actions::lift))
        .route("/ui/affected", get(pages::affected))
        .route("/ui/audit", get(pages::audit))
        .route("/ui/{*rest}", any(|| async { UiError::not_found("no such page") }))
}

/// True for the paths the UI answers (its headers go on every response there, whatever produced it:
/// a page, a 405 from the router, a caught panic).
pub fn is_ui_path(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// `GET /` and `GET /ui`: 302 to `/ui/`.
async fn to_ui() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/ui/")]).into_response()
}

/// Security headers on every UI response; pages are never cached (they show what one credential
/// may see), assets are (their names carry their digest). Mounted over the whole application (outside
/// the panic catcher) by [`crate::build_router`], acting on [`is_ui_path`] paths only.
pub async fn headers(req: Request, next: Next) -> Response {
    let ui = is_ui_path(req.uri().path());
    let mut resp = next.run(req).await;
    if !ui {
        return resp;
    }
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// `GET /ui/assets/{file}`: the stylesheet under its digest name.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let named = |href: &str| href.strip_prefix("/ui/assets/") == Some(file.as_str());
    let (kind, body) = if named(style_href()) {
        ("text/css; charset=utf-8", STYLE)
    } else if named(icon_href()) {
        ("image/svg+xml", ICON)
    } else {
        return UiError::not_found("no such asset").into_response();
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], body)
        .into_response()
}

/// A failure shown as an HTML page: the status and message of the [`ApiError`] `/v1` would have
/// answered (5xx: "internal error", the cause logged, never shown).
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    message: String,
    cause: Option<String>,
}

impl UiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), cause: None }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no session.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        Self { status: e.status(), message: e.message().to_owned(), cause: e.cause().map(str::to_owned) }
    }
}

impl From<crate::service::promote::MoveError> for UiError {
    fn from(e: crate::service::promote::MoveError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "internal error".into(),
            cause: Some(format!("rendering a page: {e}")),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = view::ErrorPage {
            status: self.status.as_u16(),
            message: &self.message,
            style: style_href(),
            icon: icon_href(),
        };
        let body = askama::Template::render(&page).unwrap_or_else(|_| self.message.clone());
        let mut resp = (self.status, Html(body)).into_response();
        if let Some(cause) = self.cause {
            resp.extensions_mut().insert(InternalCause(cause));
        }
        resp
    }
}

/// Renders a page template.
fn render(t: &impl askama::Template) -> Result<Response, UiError> {
    Ok(Html(t.render()?).into_response())
}

/// Path parameters, refused as a UI 400 page (not `/v1`'s JSON).
pub struct UiPath<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<AppState> for UiPath<T> {
    type Rejection = UiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| UiError::bad_request(e.body_text()))
    }
}

/// A query string, refused as a UI 400 page.
pub struct UiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<AppState> for UiQuery<T> {
    type Rejection = UiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| UiError::bad_request(e.body_text()))
    }
}

/// An `application/x-www-form-urlencoded` body (bounded by the server's body limit), refused as a
/// UI 400 page.
pub struct UiForm<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequest<AppState> for UiForm<T> {
    type Rejection = UiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, UiError> {
        axum::extract::Form::<T>::from_request(req, state)
            .await
            .map(|f| Self(f.0))
            .map_err(|e| UiError::bad_request(e.body_text()))
    }
}
