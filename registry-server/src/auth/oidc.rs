//! OIDC workload identity: JWT ID tokens (RS256, ES256) from configured issuers, verified against a
//! JWKS file, with `iss`, `aud`, `exp`, `nbf` and `sub` checked; configured rules map claims (e.g.
//! `repository`, `ref`) to scopes and a namespace pattern. The first matching rule wins; no match: 403.
use std::collections::BTreeMap;
use std::path::PathBuf;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use registry_core::auth::{NamePattern, Scope};
use serde::{Deserialize, Serialize};

use super::Actor;

/// Longest `sub` claim accepted (it is recorded as the actor in logs, audit rows and log entries).
pub const MAX_SUBJECT_LEN: usize = 1024;

/// One trusted issuer (the `[[oidc]]` tables of the config file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    /// Exact `iss` value, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// Required `aud` value.
    pub audience: String,
    /// JWKS document with the issuer's public keys (fetched out of band; no network at request time).
    pub jwks_file: PathBuf,
    /// Claim rules, tried in order.
    #[serde(default)]
    pub rules: Vec<OidcRule>,
}

/// If every listed claim matches (exact, or a prefix when the value ends in `*`), grant these.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcRule {
    /// Claim name -> required value.
    pub claims: BTreeMap<String, String>,
    /// Scopes granted.
    pub scopes: Vec<Scope>,
    /// Models covered.
    pub namespace: NamePattern,
}

struct Loaded {
    cfg: OidcIssuer,
    keys: JwkSet,
}

/// The configured issuers with their keys loaded.
#[derive(Default)]
pub struct Oidc {
    issuers: Vec<Loaded>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.issuers.iter().map(|i| &i.cfg.issuer)).finish()
    }
}

/// Why an ID token was refused (the text goes into the 401/403 message; it names no secret).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Malformed, wrong issuer/audience, expired, not yet valid, bad signature, unknown key.
    #[error("{0}")]
    Invalid(String),
    /// Valid, but no rule grants anything to these claims.
    #[error("no OIDC rule grants access to subject {0:?}")]
    NoRule(String),
}

fn claim_matches(value: Option<&serde_json::Value>, want: &str) -> bool {
    let Some(v) = value else { return false };
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match want.strip_suffix('*') {
        Some(prefix) => text.starts_with(prefix),
        None => text == want,
    }
}

impl Oidc {
    /// Loads every issuer's JWKS file.
    pub fn load(cfgs: &[OidcIssuer]) -> anyhow::Result<Self> {
        let mut issuers = Vec::new();
        for cfg in cfgs {
            let text = std::fs::read_to_string(&cfg.jwks_file).map_err(|e| {
                anyhow::anyhow!("OIDC issuer {}: reading {}: {e}", cfg.issuer, cfg.jwks_file.display())
            })?;
            let keys: JwkSet = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("OIDC issuer {}: {}: {e}", cfg.issuer, cfg.jwks_file.display())
            })?;
            issuers.push(Loaded { cfg: cfg.clone(), keys });
        }
        Ok(Self { issuers })
    }

    /// True when at least one issuer is configured.
    pub fn enabled(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Verifies an ID token and maps it to an actor.
    pub fn verify(&self, jwt: &str) -> Result<Actor, OidcError> {
        let invalid = |e: &dyn std::fmt::Display| OidcError::Invalid(format!("invalid ID token: {e}"));
        let header = jsonwebtoken::decode_header(jwt).map_err(|e| invalid(&e))?;
        // RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` names an extension it does
        // not understand, and this verifier understands none.
        if let Some(crit) = &header.crit {
            let names = registry_core::text::clip(&crit.join(", "), 200).into_owned();
            return Err(OidcError::Invalid(format!(
                "ID token marks header parameters as critical ({names}); none is understood here"
            )));
        }
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(OidcError::Invalid(format!(
                "ID token algorithm {:?} is not accepted (RS256, ES256)",
                header.alg
            )));
        }
        // The issuer picks the keys; it is read unverified here and enforced by the validation below.
        let peek: serde_json::Map<String, serde_json::Value> =
            jsonwebtoken::dangerous::insecure_decode(jwt).map_err(|e| invalid(&e))?.claims;
        let iss = peek.get("iss").and_then(|v| v.as_str()).unwrap_or_default();
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.cfg.issuer == iss)
            .ok_or_else(|| OidcError::Invalid(format!("ID token issuer {iss:?} is not trusted")))?;
        let jwk = match &header.kid {
            Some(kid) => issuer.keys.find(kid),
            None if issuer.keys.keys.len() == 1 => issuer.keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| OidcError::Invalid("ID token names no key of its issuer".into()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(&e))?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&issuer.cfg.issuer]);
        v.set_audience(&[&issuer.cfg.audience]);
        v.validate_nbf = true;
        v.leeway = 30;
        v.required_spec_claims = ["exp", "iss", "aud", "sub"].into_iter().map(String::from).collect();
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(jwt, &key, &v)
            .map_err(|e| invalid(&e))?
            .claims;
        // `sub` becomes the actor id in every row this caller writes: a non-empty string of bounded size.
        let sub = match claims.get("sub").and_then(|s| s.as_str()) {
            Some(s) if !s.is_empty() && s.len() <= MAX_SUBJECT_LEN => s.to_owned(),
            _ => {
                return Err(OidcError::Invalid(format!(
                    "ID token `sub` must be a string of 1..={MAX_SUBJECT_LEN} bytes"
                )));
            }
        };
        let rule = issuer
            .cfg
            .rules
            .iter()
            .find(|r| r.claims.iter().all(|(k, want)| claim_matches(claims.get(k), want)))
            .ok_or_else(|| OidcError::NoRule(sub.clone()))?;
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64).map(|s| s.saturating_mul(1000));
        Ok(Actor {
            id: format!("oidc:{}#{sub}", issuer.cfg.issuer),
            scopes: rule.scopes.clone(),
            pattern: rule.namespace.clone(),
            expires_at: exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_match_exactly_or_by_prefix() {
        assert!(claim_matches(Some(&json!("acme/fraud")), "acme/fraud"));
        assert!(!claim_matches(Some(&json!("acme/fraud-x")), "acme/fraud"));
        assert!(claim_matches(Some(&json!("refs/heads/main")), "refs/heads/*"));
        assert!(claim_matches(Some(&json!(true)), "true"));
        assert!(!claim_matches(None, "*"));
    }
}
