//! Promotion vocabulary: alias names and patterns, requests and decisions, Rego policies, and the
//! documented input every policy sees.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::VersionResponse;
use crate::auth::{NamePattern, Scope};
use crate::digest::Digest;

/// The Rego package a policy must be (`package registry.promote`).
pub const POLICY_PACKAGE: &str = "data.registry.promote";

/// Why an alias name or pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid alias {input:?}: use a lowercase letter, then lowercase letters, digits, '_' or '-', at most 64"
)]
pub struct AliasError {
    /// The refused text (its first 80 characters).
    input: String,
}

impl AliasError {
    fn new(s: &str) -> Self {
        Self { input: s.chars().take(80).collect() }
    }

    /// The refused name or pattern (its first 80 characters).
    pub fn input(&self) -> &str {
        &self.input
    }
}

fn valid_alias(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}

/// An alias name (`production`, `staging`, `champion`): `[a-z][a-z0-9_-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    /// Parses an alias name.
    pub fn parse(s: &str) -> Result<Self, AliasError> {
        if valid_alias(s) { Ok(Self(s.to_owned())) } else { Err(AliasError::new(s)) }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AliasName {
    type Error = AliasError;
    fn try_from(s: String) -> Result<Self, AliasError> {
        Self::parse(&s)
    }
}

impl From<AliasName> for String {
    fn from(a: AliasName) -> String {
        a.0
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which aliases a policy governs: `*`, an exact alias, or a prefix ending in `*` (`prod*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AliasPattern(String);

impl AliasPattern {
    /// Parses a pattern.
    pub fn parse(s: &str) -> Result<Self, AliasError> {
        let core = s.strip_suffix('*').unwrap_or(s);
        if s == "*" || valid_alias(core) { Ok(Self(s.to_owned())) } else { Err(AliasError::new(s)) }
    }

    /// True when `a` is governed.
    pub fn matches(&self, a: &AliasName) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => a.as_str().starts_with(prefix),
            None => a.as_str() == self.0,
        }
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `PUT .../aliases/{alias}`: move the alias to a version, if policy allows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The version label (or `sha256:` manifest digest) to point at.
    #[schema(example = "1.4.0", pattern = r"^([A-Za-z0-9][A-Za-z0-9._+-]{0,127}|sha256:[0-9a-f]{64})$")]
    pub version: String,
    /// Why (recorded in the history and the log).
    #[serde(default)]
    pub reason: String,
    /// Compare-and-swap: the label the alias must point at now (`""`: the alias must not exist yet);
    /// 409 `alias_moved` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_current: Option<String>,
}

/// `POST .../aliases/{alias}:rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// A policy that took part in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyRef {
    /// Policy id.
    pub id: i64,
    /// Namespace pattern it is attached to.
    pub namespace: String,
    /// Alias pattern it is attached to.
    pub alias: String,
    /// Revision.
    pub revision: i64,
    /// SHA-256 of the Rego text.
    pub digest: Digest,
}

/// A policy decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// Every applicable policy allows and none denies.
    pub allowed: bool,
    /// Deny reasons (and evaluation errors), or why it was allowed with no policy.
    pub reasons: Vec<String>,
    /// The policies evaluated (empty: none applies, and promotion is allowed).
    pub policies: Vec<PolicyRef>,
}

/// Where an alias points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AliasResponse {
    /// Alias name.
    pub alias: String,
    /// Version label it points at.
    pub version: String,
    /// That version's manifest digest.
    pub manifest_digest: Digest,
    /// Who moved it there.
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated_at: String,
}

/// `GET .../aliases`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasList {
    /// Every alias of the model.
    pub aliases: Vec<AliasResponse>,
}

/// The answer to an allowed promotion or rollback.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PromoteResponse {
    /// Where the alias points now.
    pub alias: AliasResponse,
    /// The decision.
    pub decision: Decision,
    /// The signed SLSA Verification Summary Attestation stored on the version, if a policy passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vsa: Option<crate::api::AttestationInfo>,
    /// Log index of the `alias.moved` entry.
    pub log_index: u64,
}

/// One promotion attempt of an alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AliasEvent {
    /// Sequence.
    pub id: i64,
    /// `promote` or `rollback`.
    pub kind: String,
    /// The version it was (to be) moved to.
    pub version: String,
    /// Where it pointed before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// `passed` (moved) or `failed` (refused).
    pub decision: String,
    /// Deny reasons.
    pub reasons: Vec<String>,
    /// Policies evaluated.
    pub policies: Vec<PolicyRef>,
    /// Who asked.
    pub actor: String,
    /// Why they said.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
    /// Log index of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// `GET .../aliases/{alias}/history`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasHistory {
    /// Newest first.
    pub events: Vec<AliasEvent>,
}

/// `POST /v1/policies`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPolicyRequest {
    /// Namespace pattern: `*`, `NS/*` or `NS/NAME`.
    pub namespace: NamePattern,
    /// Alias pattern: `*`, an alias, or a prefix ending in `*`.
    #[schema(example = "production", pattern = r"^(\*|[a-z][a-z0-9_-]{0,63}\*?)$")]
    pub alias: String,
    /// A Rego module in `package registry.promote` defining `allow` and `deny`.
    pub rego: String,
}

/// A stored policy revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyInfo {
    /// Id of this revision.
    pub id: i64,
    /// Namespace pattern.
    pub namespace: String,
    /// Alias pattern.
    pub alias: String,
    /// Revision (1, 2, ...): the highest is in force.
    pub revision: i64,
    /// SHA-256 of the Rego text.
    pub digest: Digest,
    /// The Rego text.
    pub rego: String,
    /// Who set it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Log index of its `policy.changed` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// `GET /v1/policies`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyList {
    /// The revisions in force.
    pub policies: Vec<PolicyInfo>,
}

/// `POST /v1/policies:test`: evaluate without moving anything.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestRequest {
    /// `NS/NAME@VERSION`.
    pub version: crate::name::ModelRef,
    /// The alias it would be promoted to.
    #[schema(example = "production", pattern = r"^[a-z][a-z0-9_-]{0,63}$")]
    pub alias: String,
}

/// The signer of an attestation, as a policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PolicySigner {
    /// A keyless signer: the certificate's workload identity.
    Identity {
        /// OIDC issuer.
        issuer: String,
        /// Certificate subject (SAN).
        subject: String,
        /// Fulcio CI claims by snake_case name (`source_repository_ref`, `build_config_uri`, ...).
        claims: BTreeMap<String, String>,
    },
    /// A trusted key.
    Key {
        /// `sha256:` of its SPKI DER.
        key_id: Digest,
    },
}

/// One attestation as a policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyAttestation {
    /// Id.
    pub id: i64,
    /// SHA-256 of the stored bytes.
    pub digest: Digest,
    /// Predicate type.
    pub predicate_type: String,
    /// Signer key id (keyless: the certificate's ephemeral key).
    pub signer_key_id: Digest,
    /// Who signed it: `{"key_id"}` for a key, `{"issuer", "subject", "claims"}` for a keyless
    /// (Fulcio certificate) signer, so a policy can require "provenance from workflow X on main".
    pub signer: PolicySigner,
    /// True when the signer is trusted now for this model and predicate type.
    pub verified: bool,
    /// `verified`, `signer_revoked`, `signer_not_trusted`.
    pub status: String,
    /// `manifest`, `files` or `content`.
    pub binding: crate::attest::Binding,
    /// The decoded predicate.
    pub predicate: serde_json::Value,
}

/// The alias being moved, as a policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyAlias {
    /// Name.
    pub name: String,
    /// Version label it points at now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

/// The caller, as a policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyActor {
    /// `token:NAME`, `oidc:ISSUER#SUB`.
    pub id: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
}

/// Everything a promotion policy sees as `input` (documented in docs/policies.md; JSON Schema in
/// schemas/policy-input.schema.json).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyInput {
    /// The version to promote (record, lineage, metrics, creator).
    pub version: VersionResponse,
    /// True if the version is quarantined.
    pub quarantined: bool,
    /// Every attestation, with its verification status now and its decoded predicate.
    pub attestations: Vec<PolicyAttestation>,
    /// The alias to move.
    pub alias: PolicyAlias,
    /// Every alias of the model -> version label, as it is now.
    pub aliases: BTreeMap<String, String>,
    /// Who asks.
    pub actor: PolicyActor,
    /// Now (RFC 3339).
    pub time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_and_patterns() {
        assert!(AliasName::parse("production").is_ok());
        for bad in ["", "Prod", "1st", "a b", "a:b", &"a".repeat(65)] {
            assert!(AliasName::parse(bad).is_err(), "{bad}");
        }
        let p = AliasPattern::parse("prod*").expect("pattern");
        assert!(p.matches(&AliasName::parse("production").expect("a")));
        assert!(!p.matches(&AliasName::parse("staging").expect("a")));
        assert!(AliasPattern::parse("*").expect("any").matches(&AliasName::parse("x").expect("a")));
        assert!(AliasPattern::parse("*prod").is_err());
    }

    #[test]
    fn a_refused_alias_is_named_in_the_message_cut_at_80_characters() {
        let e = AliasName::parse(&"A".repeat(100)).expect_err("uppercase");
        assert_eq!(e.input(), "A".repeat(80));
        assert_eq!(
            AliasPattern::parse("*prod").map_err(|e| e.to_string()),
            Err(r#"invalid alias "*prod": use a lowercase letter, then lowercase letters, digits, '_' or '-', at most 64"#.into())
        );
    }
}
