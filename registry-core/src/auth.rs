//! Authorisation vocabulary shared by server and client: scopes, namespace patterns, token wire types.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use crate::name::ModelName;

/// What a credential may do. `admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read models, versions, blobs, audit bundles.
    Read,
    /// Upload blobs and create versions.
    Push,
    /// Add attestations to existing versions.
    Attest,
    /// Move aliases (promotion, rollback).
    Promote,
    /// Manage tokens, trusted keys, policies; read the access audit.
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 5] = [Scope::Read, Scope::Push, Scope::Attest, Scope::Promote, Scope::Admin];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Push => "push",
            Scope::Attest => "attest",
            Scope::Promote => "promote",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A name that is not a scope (as given).
    #[error("unknown scope {0:?} (read, push, attest, promote, admin)")]
    Unknown(String),
    /// The list names no scope.
    #[error("at least one scope is needed")]
    Empty,
}

/// A namespace pattern that is not `*`, `NS/*` or `NS/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid namespace pattern {input:?}: use *, NAMESPACE/* or NAMESPACE/NAME")]
pub struct NamePatternError {
    input: String,
}

impl NamePatternError {
    /// The refused pattern.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| ScopeError::Unknown(s.to_owned()))
    }
}

/// Parses `read,push` into scopes (no repeats, at least one).
pub fn parse_scopes(s: &str) -> Result<Vec<Scope>, ScopeError> {
    let mut out: Vec<Scope> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let sc: Scope = part.parse()?;
        if !out.contains(&sc) {
            out.push(sc);
        }
    }
    if out.is_empty() {
        return Err(ScopeError::Empty);
    }
    out.sort();
    Ok(out)
}

/// Which models a credential covers: `*` (all), `NS/*` (one namespace) or `NS/NAME` (one model).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NamePattern {
    namespace: Option<String>,
    name: Option<String>,
}

impl NamePattern {
    /// Every model.
    pub fn any() -> Self {
        Self { namespace: None, name: None }
    }

    /// Parses `*`, `NS/*` or `NS/NAME`.
    pub fn parse(s: &str) -> Result<Self, NamePatternError> {
        let bad = || NamePatternError { input: s.to_owned() };
        if s == "*" {
            return Ok(Self::any());
        }
        let (ns, name) = s.split_once('/').ok_or_else(bad)?;
        crate::name::parse_namespace(ns).map_err(|_| bad())?;
        if name == "*" {
            return Ok(Self { namespace: Some(ns.into()), name: None });
        }
        ModelName::new(ns, name).map_err(|_| bad())?;
        Ok(Self { namespace: Some(ns.into()), name: Some(name.into()) })
    }

    /// True when `m` is covered.
    pub fn matches(&self, m: &ModelName) -> bool {
        self.matches_parts(m.namespace(), m.name())
    }

    /// True when `namespace/name` is covered.
    pub fn matches_parts(&self, namespace: &str, name: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
            && self.name.as_deref().is_none_or(|n| n == name)
    }

    /// True when some model of `namespace` may be covered.
    pub fn covers_namespace(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
    }

    /// The single namespace this pattern is limited to, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The single model name this pattern is limited to, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True for `*`.
    pub fn is_any(&self) -> bool {
        self.namespace.is_none()
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.namespace, &self.name) {
            (None, _) => f.write_str("*"),
            (Some(ns), None) => write!(f, "{ns}/*"),
            (Some(ns), Some(n)) => write!(f, "{ns}/{n}"),
        }
    }
}

impl fmt::Debug for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for NamePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for NamePattern {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::string_schema(
            r"^(\*|[a-z0-9][a-z0-9._-]{0,127}/(\*|[a-z0-9][a-z0-9._-]{0,127}))$",
            "Models covered: `*`, `NAMESPACE/*` or `NAMESPACE/NAME`",
            "fraud/*",
        )
    }
}
impl ToSchema for NamePattern {}

/// `GET /v1/whoami`: the caller as the server sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// Identity recorded in `created_by` and log entries (`token:NAME`, `oidc:ISSUER#SUBJECT`, `anonymous`).
    pub actor: String,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// Models covered.
    pub namespace: NamePattern,
    /// Expiry (RFC 3339), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `POST /v1/tokens` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// Unique name (`[a-z0-9][a-z0-9._-]*`, at most 64): shows up as `token:NAME` in records.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$", example = "ci-fraud")]
    pub name: String,
    /// Granted scopes.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// Models covered.
    pub namespace: NamePattern,
    /// Expiry, RFC 3339 (must be in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// A token's public record (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Public id (part of the token text).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// Models covered.
    pub namespace: NamePattern,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Revocation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// `POST /v1/tokens` answer: the only time the secret is shown.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token's record.
    pub info: TokenInfo,
    /// The secret to present as `Authorization: Bearer ...`; store it now, it is not kept.
    pub token: String,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken").field("info", &self.info).field("token", &"<redacted>").finish()
    }
}

/// `GET /v1/tokens` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// Every token, newest first.
    pub tokens: Vec<TokenInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn patterns_cover_what_they_say() {
        let m = ModelName::parse("fraud/detector").expect("valid");
        let o = ModelName::parse("nlp/bert").expect("valid");
        assert!(NamePattern::parse("*").expect("p").matches(&m));
        let ns = NamePattern::parse("fraud/*").expect("p");
        assert!(ns.matches(&m) && !ns.matches(&o));
        let one = NamePattern::parse("fraud/detector").expect("p");
        assert!(one.matches(&m) && !one.matches(&ModelName::parse("fraud/other").expect("valid")));
        for bad in ["", "fraud", "*/x", "Fraud/*", "fraud/*/x", "fraud/de*"] {
            assert!(NamePattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ns.to_string(), "fraud/*");
    }

    #[test]
    fn scopes_parse_from_a_comma_list() {
        assert_eq!(parse_scopes("push, read,push"), Ok(vec![Scope::Read, Scope::Push]));
        assert_eq!(parse_scopes(" , "), Err(ScopeError::Empty));
        assert_eq!(parse_scopes("read,root"), Err(ScopeError::Unknown("root".into())));
        assert_eq!(
            parse_scopes("root").map_err(|e| e.to_string()),
            Err(r#"unknown scope "root" (read, push, attest, promote, admin)"#.into())
        );
        assert_eq!(
            NamePattern::parse("fraud").map_err(|e| e.to_string()),
            Err(r#"invalid namespace pattern "fraud": use *, NAMESPACE/* or NAMESPACE/NAME"#.into())
        );
    }

    proptest! {
        #[test]
        fn pattern_parser_never_panics_and_round_trips(s in "\\PC{0,40}") {
            if let Ok(p) = NamePattern::parse(&s) { prop_assert_eq!(p.to_string(), s); }
        }
    }
}
