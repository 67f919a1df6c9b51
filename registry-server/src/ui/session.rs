//! Web UI sessions: an API token exchanged at `/ui/login` for a cookie. The database keeps the
//! SHA-256 of the cookie's secret and the token's id; every request re-reads the token, so its
//! scopes, namespaces, expiry and revocation apply to the session at once. The CSRF token of a
//! session is derived from its secret, so it needs no storage and no other party can compute it.
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{UiError, UiForm, view};
use crate::auth::Actor;
use crate::db::now_ms;
use crate::db::sessions::SessionRow;
use crate::state::AppState;

/// The cookie's name over plain http.
pub const COOKIE: &str = "registry_session";
/// Its name behind https: the `__Host-` prefix makes browsers refuse it unless it is `Secure`, has
/// `Path=/` and no `Domain`, so a sibling subdomain or a plain-http attacker cannot plant one.
pub const HOST_COOKIE: &str = "__Host-registry_session";

/// The cookie's name and path for this server.
fn cookie_name(secure: bool) -> (&'static str, &'static str) {
    if secure { (HOST_COOKIE, "/") } else { (COOKIE, "/ui") }
}
/// Prefix of a session secret (so a leaked one is recognisable, like `reg_` tokens).
const PREFIX: &str = "regs_";

/// A signed-in session (present only when the cookie named a live session of a live token).
#[derive(Debug, Clone)]
pub struct Session {
    hash: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

/// Who is looking at a page: the session's actor, the anonymous reader (`--anonymous-read`), or
/// nobody (the page then shows the sign-in form).
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Who reads.
    pub actor: Option<Actor>,
    /// The session, when signed in.
    pub session: Option<Session>,
}

impl Viewer {
    /// The reader: 401 (the sign-in page) when nobody reads, 403 when the credential lacks the read
    /// scope (a push- or attest-only CI token reads nothing through `/v1`, and nothing here).
    pub fn reader(&self) -> Result<&Actor, UiError> {
        let actor = self.actor.as_ref().ok_or_else(|| UiError::unauthorized("sign in to see this page"))?;
        if !actor.has(registry_core::auth::Scope::Read) {
            return Err(UiError::forbidden("this credential lacks the read scope"));
        }
        Ok(actor)
    }

    /// The actor of a form POST: a session (401 without one) whose CSRF token the form carries (403
    /// without it). Scopes are checked by the services, as for `/v1`.
    pub fn acting(&self, csrf: Option<&str>) -> Result<&Actor, UiError> {
        let (Some(actor), Some(session)) = (&self.actor, &self.session) else {
            return Err(UiError::unauthorized("sign in first: actions need a session"));
        };
        let sent = csrf.unwrap_or_default().as_bytes();
        if sent.is_empty() || !bool::from(sent.ct_eq(session.csrf.as_bytes())) {
            return Err(UiError::forbidden("missing or wrong CSRF token: reload the page and try again"));
        }
        Ok(actor)
    }

    /// The CSRF token for forms (empty without a session: such forms are refused anyway).
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.csrf.as_str())
    }
}

fn sha256_hex(s: &str) -> String {
    registry_core::Digest::of(s.as_bytes()).hex()
}

fn csrf_of(secret: &str) -> String {
    let mut text = String::from("registry-ui-csrf\n");
    text.push_str(secret);
    sha256_hex(&text)
}

/// The value of our cookie `name` among the request's `Cookie` headers. More than one cookie of
/// that name means someone planted one beside the real one (a more specific path or a parent
/// domain): the request is treated as signed out rather than guessing which is whose.
fn cookie_secret(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name);
    let (_, value) = found.next()?;
    (found.next().is_none() && well_formed(value)).then(|| value.to_owned())
}

/// `regs_` + 43 base64url characters (32 random bytes).
fn well_formed(secret: &str) -> bool {
    secret.strip_prefix(PREFIX).is_some_and(|r| {
        r.len() == 43 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = UiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let (name, _) = cookie_name(state.settings.secure_cookies);
        if let Some(secret) = cookie_secret(&parts.headers, name) {
            let hash = sha256_hex(&secret);
            if let Some(row) =
                state.db.session_get(&hash, now_ms()).await.map_err(crate::error::ApiError::from)?
                && let Some(token) =
                    state.db.token_get(&row.token_id).await.map_err(crate::error::ApiError::from)?
                && let Ok(actor) = crate::auth::live_actor(&token)
            {
                let csrf = csrf_of(&secret);
                return Ok(Viewer { actor: Some(actor), session: Some(Session { hash, csrf }) });
            }
        }
        let actor = state.settings.anonymous_read.then(Actor::anonymous_reader);
        Ok(Viewer { actor, session: None })
    }
}

/// Refuses a form POST another site made the browser send: `Origin` (or, failing that,
/// `Sec-Fetch-Site`) must say this origin. Browsers send one of them on every POST; a client that
/// sends neither is not a browser being abused.
///
/// With `--public-url`, `Origin` must be exactly its origin (scheme, host and port: a page served
/// over plain http to the same host is another origin); without it, `Origin`'s host and port must
/// be the request's `Host`.
pub fn same_origin(headers: &HeaderMap, public_origin: Option<&str>) -> Result<(), UiError> {
    let refused = || UiError::forbidden("cross-origin form submission refused");
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") | Some("none") | None => {}
        Some(_) => return Err(refused()),
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| refused())?;
    let ok = match public_origin {
        Some(own) => origin.eq_ignore_ascii_case(own),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
            let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host))
        }
    };
    if ok { Ok(()) } else { Err(refused()) }
}

/// `GET /ui/login`.
pub async fn login_page(viewer: Viewer) -> Result<Response, UiError> {
    super::render(&view::Login::new(&viewer, None))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /ui/login`: checks the token as `/v1` does, stores a session, sets the cookie, 303 to `/ui/`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    UiForm(form): UiForm<LoginForm>,
) -> Result<Response, UiError> {
    same_origin(&headers, state.settings.public_origin.as_deref())?;
    let text = form.token.trim();
    let failed = |message: &str| -> Result<Response, UiError> {
        let nobody = Viewer { actor: None, session: None };
        let mut resp = super::render(&view::Login::new(&nobody, Some(message)))?;
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        Ok(resp)
    };
    if !text.starts_with(crate::auth::token::PREFIX) {
        return failed("sign in with an API token (reg_...); create one with `registry token create`");
    }
    let token_id = match crate::auth::token::id_of(text) {
        Some(id) if crate::auth::api_token(text, &state).await.is_ok() => id.to_owned(),
        _ => return failed("invalid, expired or revoked token"),
    };
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(crate::error::ApiError::internal)?;
    let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
    let now = now_ms();
    let ttl = i64::try_from(state.settings.ui_session_ttl.as_millis()).unwrap_or(i64::MAX);
    let token = state.db.token_get(&token_id).await.map_err(crate::error::ApiError::from)?;
    let expires_at = now.saturating_add(ttl).min(token.and_then(|t| t.expires_at).unwrap_or(i64::MAX));
    let row = SessionRow { secret_hash: sha256_hex(&secret), token_id, created_at: now, expires_at };
    state.db.session_insert(&row, now).await.map_err(crate::error::ApiError::from)?;
    let max_age = (expires_at - now).max(0) / 1000;
    let cookie = set_cookie(state.settings.secure_cookies, &secret, max_age);
    Ok(see_other("/ui/", Some(cookie)))
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub(super) csrf: Option<String>,
}

/// `POST /ui/logout`: deletes the session, clears the cookie, 303 to `/ui/login`.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    form: Result<UiForm<CsrfForm>, UiError>,
) -> Result<Response, UiError> {
    super::actions::acting(&state, &headers, &viewer, form)?;
    if let Some(s) = &viewer.session {
        state.db.session_delete(&s.hash).await.map_err(crate::error::ApiError::from)?;
    }
    Ok(see_other("/ui/login", Some(set_cookie(state.settings.secure_cookies, "", 0))))
}

/// The `Set-Cookie` value for a session secret (empty with max-age 0: clear it).
fn set_cookie(secure: bool, secret: &str, max_age: i64) -> String {
    let (name, path) = cookie_name(secure);
    let flag = if secure { "; Secure" } else { "" };
    format!("{name}={secret}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{flag}")
}

/// 303 See Other to a path of ours, optionally setting a cookie.
pub fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_secrets_of_our_cookie_are_read() {
        let good = format!("{PREFIX}{}", "a".repeat(43));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_str(&format!("other=x; {COOKIE}={good}")).unwrap());
        assert_eq!(cookie_secret(&h, COOKIE).as_deref(), Some(good.as_str()));
        assert_eq!(cookie_secret(&h, HOST_COOKIE), None, "the other mode's name is not read");
        // Two cookies of our name (one planted with a narrower path): signed out.
        let other = format!("{PREFIX}{}", "b".repeat(43));
        h.append(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}={other}")).unwrap());
        assert_eq!(cookie_secret(&h, COOKIE), None);
        for bad in ["", "regs_short", "reg_aaaa", &format!("{PREFIX}{}", "a;".repeat(22))] {
            let mut h = HeaderMap::new();
            h.append(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}={bad}")).unwrap());
            assert_eq!(cookie_secret(&h, COOKIE), None, "{bad:?}");
        }
    }

    #[test]
    fn csrf_tokens_differ_per_secret_and_are_not_the_secret_or_its_stored_hash() {
        let (a, b) = (format!("{PREFIX}{}", "a".repeat(43)), format!("{PREFIX}{}", "b".repeat(43)));
        assert_ne!(csrf_of(&a), csrf_of(&b));
        assert_ne!(csrf_of(&a), sha256_hex(&a));
        assert!(!csrf_of(&a).contains(&a));
    }

    #[test]
    fn cross_origin_posts_are_refused() {
        let with = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            same_origin(&h, None).is_ok()
        };
        assert!(with(&[("host", "reg.example:8080"), ("origin", "http://reg.example:8080")]));
        assert!(with(&[("host", "reg.example"), ("origin", "https://reg.example")]));
        assert!(!with(&[("host", "reg.example"), ("origin", "https://evil.example")]));
        assert!(!with(&[("host", "reg.example"), ("origin", "null")]));
        assert!(!with(&[("host", "reg.example"), ("sec-fetch-site", "cross-site")]));
        assert!(!with(&[("host", "reg.example"), ("sec-fetch-site", "same-site")]));
        assert!(with(&[("host", "reg.example"), ("sec-fetch-site", "same-origin")]));
        assert!(with(&[("host", "reg.example")]));
        assert!(!with(&[
            ("host", "reg.example"),
            ("origin", "http://reg.example"),
            ("sec-fetch-site", "cross-site")
        ]));
        let public = |origin: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("reg.example"));
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            same_origin(&h, Some("https://reg.example")).is_ok()
        };
        assert!(public("https://reg.example"));
        assert!(!public("http://reg.example"), "plain http is another origin");
        assert!(!public("https://reg.example:8443"));
    }
}
