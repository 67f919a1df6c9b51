//! Who is calling. Every handler takes an [`Actor`]; today every caller is anonymous, and the
//! identity issue fills this extractor in (tokens, scopes, OIDC) without touching handlers.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Stable identity recorded in `created_by` and log entries.
    pub id: String,
}

impl Actor {
    /// The anonymous caller.
    pub fn anonymous() -> Self {
        Self { id: "anonymous".into() }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;
    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Actor::anonymous())
    }
}
