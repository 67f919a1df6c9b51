//! Who is calling, and may they. Every handler takes an [`Auth<R>`] whose type names the scope the
//! route needs; the extractor authenticates (API token or OIDC ID token) and enforces the scope, and
//! handlers check the model against the credential's namespace pattern with [`Actor::check_read`]
//! (404: existence is not revealed) or [`Actor::check_write`] (403).
use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use registry_core::ModelName;
use registry_core::auth::{NamePattern, Scope};

use crate::db::now_ms;
use crate::error::ApiError;
use crate::state::AppState;

pub mod oidc;
pub mod token;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Identity recorded in `created_by` and log entries: `token:NAME`, `oidc:ISSUER#SUB`, `anonymous`.
    pub id: String,
    /// Granted scopes (`admin` implies all).
    pub scopes: Vec<Scope>,
    /// Models covered.
    pub pattern: NamePattern,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
}

impl Actor {
    /// The anonymous reader (only when the server runs with `--anonymous-read`).
    pub fn anonymous_reader() -> Self {
        Self {
            id: "anonymous".into(),
            scopes: vec![Scope::Read],
            pattern: NamePattern::any(),
            expires_at: None,
        }
    }

    /// An administrator acting from the server's own command line (`registry-server token ...`).
    pub fn local_admin() -> Self {
        Self {
            id: "local-admin".into(),
            scopes: vec![Scope::Admin],
            pattern: NamePattern::any(),
            expires_at: None,
        }
    }

    /// True when the credential carries `s` (or `admin`).
    pub fn has(&self, s: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&s)
    }

    /// True when `m` is within the credential's namespace pattern.
    pub fn covers(&self, m: &ModelName) -> bool {
        self.pattern.matches(m)
    }

    /// Reads outside the pattern look exactly like reads of something that does not exist.
    pub fn check_read(&self, m: &ModelName, what: impl std::fmt::Display) -> Result<(), ApiError> {
        if self.covers(m) { Ok(()) } else { Err(ApiError::not_found(format!("{what} not found"))) }
    }

    /// Writes need the scope and the model within the pattern.
    pub fn check_write(&self, scope: Scope, m: &ModelName) -> Result<(), ApiError> {
        if !self.has(scope) {
            return Err(ApiError::forbidden(format!("this credential lacks the {scope} scope")));
        }
        if !self.covers(m) {
            return Err(ApiError::forbidden(format!(
                "this credential may not {scope} to {m} (it covers {})",
                self.pattern
            )));
        }
        Ok(())
    }
}

/// What a route requires: a scope, or just a valid credential.
pub trait Requirement {
    /// The scope, or `None` for "any authenticated caller".
    const SCOPE: Option<Scope>;
}

/// Marker types naming route requirements.
pub mod need {
    use super::{Requirement, Scope};
    macro_rules! need {
        ($($t:ident => $s:expr),*) => { $(
            #[doc = concat!("Requires ", stringify!($t), ".")]
            #[derive(Debug)]
            pub struct $t;
            impl Requirement for $t { const SCOPE: Option<Scope> = $s; }
        )* };
    }
    need!(Authenticated => None, Read => Some(Scope::Read), Push => Some(Scope::Push),
          Attest => Some(Scope::Attest), Promote => Some(Scope::Promote), Admin => Some(Scope::Admin));
}

/// An authenticated caller that holds the scope `R` names.
#[derive(Debug)]
pub struct Auth<R>(pub Actor, PhantomData<R>);

impl<R> Deref for Auth<R> {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.0
    }
}

impl<R: Requirement + Send + Sync> FromRequestParts<AppState> for Auth<R> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let actor = authenticate(parts, state).await?;
        if let Some(s) = R::SCOPE
            && !actor.has(s)
        {
            return Err(ApiError::forbidden(format!("this credential lacks the {s} scope")));
        }
        Ok(Auth(actor, PhantomData))
    }
}

/// A hash no token has: compared against when the id is unknown, so both paths cost the same.
const DUMMY_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const INVALID: &str = "invalid, expired or revoked credential";

/// Turns the `Authorization` header into an actor (401 when absent or invalid).
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Actor, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        if state.settings.anonymous_read {
            return Ok(Actor::anonymous_reader());
        }
        return Err(ApiError::unauthorized("authentication required: send Authorization: Bearer <token>"));
    };
    let credential = value.to_str().ok().and_then(credential).unwrap_or_default();
    let text = credential.as_str();
    if text.starts_with(token::PREFIX) {
        return api_token(text, state).await;
    }
    if text.split('.').count() == 3 && state.settings.oidc.enabled() {
        return state.settings.oidc.verify(text).map_err(|e| match e {
            oidc::OidcError::NoRule(_) => ApiError::forbidden(e.to_string()),
            oidc::OidcError::Invalid(_) => ApiError::unauthorized(e.to_string()),
        });
    }
    Err(ApiError::unauthorized(INVALID))
}

/// The credential of an `Authorization` value: `Bearer <credential>`, or `Basic` whose password is
/// the credential (the user name is ignored: the credential says who is calling). Basic is what
/// the MLflow client sends when `MLFLOW_TRACKING_USERNAME`/`PASSWORD` are set.
pub(crate) fn credential(value: &str) -> Option<String> {
    if let Some(c) = bearer(value) {
        return Some(c.to_owned());
    }
    let (scheme, rest) = value.trim_start().split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, password) = text.split_once(':')?;
    Some(password.to_owned())
}

/// The credential of an `Authorization: Bearer <credential>` value. The scheme name is
/// case-insensitive (RFC 9110 §11.1: `bearer`, `BEARER` and `Bearer` are one scheme) and may be
/// followed by more than one space.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The actor an API token's text (`reg_...`) names; 401 when unknown, wrong, expired or revoked.
/// The web UI's sign-in checks a token with this same function.
pub async fn api_token(text: &str, state: &AppState) -> Result<Actor, ApiError> {
    let row = match token::id_of(text) {
        Some(id) => state.db.token_get(id).await?,
        None => None,
    };
    let Some(row) = row else {
        let _ = token::matches(text, DUMMY_HASH);
        return Err(ApiError::unauthorized(INVALID));
    };
    if !token::matches(text, &row.secret_hash) {
        return Err(ApiError::unauthorized(INVALID));
    }
    live_actor(&row)
}

/// The actor of a stored token, if it is still live (not revoked, not expired) now: read again on
/// every request, so a revocation takes effect at once (web UI sessions included).
pub fn live_actor(row: &crate::db::tokens::TokenRow) -> Result<Actor, ApiError> {
    let now = now_ms();
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::unauthorized(INVALID));
    }
    let info = row.info().map_err(ApiError::internal)?;
    Ok(Actor {
        id: format!("token:{}", row.name),
        scopes: info.scopes,
        pattern: info.namespace,
        expires_at: row.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::{bearer, credential};

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_not_bearer() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc ", "Bearer\tabc"] {
            assert_eq!(bearer(v), Some("abc"), "{v:?}");
        }
        for v in ["Basic abc", "Bearerabc", "Bearer", "", "Token abc"] {
            assert_eq!(bearer(v), None, "{v:?}");
        }
    }

    #[test]
    fn basic_credentials_carry_the_token_as_password() {
        // base64("ci:reg_x.y") and base64("ci:a:b") (a colon inside the password is kept).
        assert_eq!(credential("Basic Y2k6cmVnX3gueQ==").as_deref(), Some("reg_x.y"));
        assert_eq!(credential("basic Y2k6YTpi").as_deref(), Some("a:b"));
        assert_eq!(credential("Bearer reg_x.y").as_deref(), Some("reg_x.y"));
        for v in ["Basic", "Basic !!!", "Basic Y2k=", "Digest abc"] {
            assert_eq!(credential(v), None, "{v:?}");
        }
    }
}
