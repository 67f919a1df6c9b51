//! Incident response vocabulary: what a poisoned input reached (blast radius), and quarantines.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::digest::Digest;

/// One version reached from the query's seed, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AffectedVersion {
    /// `NS/NAME`.
    #[schema(example = "fraud/detector")]
    pub model: String,
    /// Version label.
    pub version: String,
    /// Its manifest digest.
    pub manifest_digest: Digest,
    /// Quarantined now.
    pub quarantined: bool,
    /// From the seed to this version: the seed (`dataset sha256:...`, `commit ...`, `key sha256:...`,
    /// or `NS/NAME@V`), then every version on the way, this one last.
    pub path: Vec<String>,
}

/// The answer of `GET /v1/lineage/affected`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AffectedResponse {
    /// The seed, as text.
    pub seed: String,
    /// Every version reached, directly or through parents, each once (shortest path), in BFS order.
    pub versions: Vec<AffectedVersion>,
}

/// What to quarantine: exactly one seed, everything it reached.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRequest {
    /// A dataset digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Digest>,
    /// A code commit (40 or 64 hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^([0-9a-f]{40}|[0-9a-f]{64})$")]
    pub commit: Option<String>,
    /// A signer key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Digest>,
    /// `NS/NAME@VERSION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "fraud/detector@1.4.0")]
    pub version: Option<String>,
    /// Why (recorded and logged).
    pub reason: String,
    /// Also move every alias that points at an affected version back to its newest earlier unaffected
    /// target (a signed decision per move).
    #[serde(default)]
    pub rollback: bool,
}

/// One alias moved by a quarantine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasRollback {
    /// `NS/NAME`.
    pub model: String,
    /// The alias.
    pub alias: String,
    /// Where it pointed.
    pub from: String,
    /// Where it points now (absent when no earlier target passed: the alias still points at `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Why it could not move, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A quarantine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineInfo {
    /// Id.
    pub id: i64,
    /// The seed, as text.
    pub seed: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// When it was lifted, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<String>,
    /// Every version it covers.
    pub versions: Vec<AffectedVersion>,
    /// Alias moves it made (with `rollback`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<AliasRollback>,
    /// Its log entry.
    pub log_index: u64,
}

/// Quarantines, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineList {
    /// Quarantines.
    pub quarantines: Vec<QuarantineInfo>,
}

/// Lifting a quarantine.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftRequest {
    /// Why (recorded and logged).
    pub reason: String,
}

/// Provenance coverage of one namespace (the versions the caller can see).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamespaceCompliance {
    /// Namespace.
    pub namespace: String,
    /// Versions.
    pub versions: u64,
    /// With SLSA provenance bound to the manifest, signed by a key trusted now.
    pub signed_provenance: u64,
    /// Recording at least one dataset (every dataset carries a digest: the format requires it).
    pub with_datasets: u64,
    /// With an OpenSSF Model Signing signature by a key trusted now.
    pub oms_signature: u64,
    /// Ever promoted (an alias moved to it).
    pub promoted: u64,
    /// Promoted and carrying a PASSED VSA signed by this registry.
    pub promoted_with_vsa: u64,
    /// Quarantined now.
    pub quarantined: u64,
    /// Marked corrupted by the scrubber.
    pub corrupted: u64,
    /// `signed_provenance / versions`, percent.
    pub signed_provenance_pct: f64,
    /// `with_datasets / versions`, percent.
    pub with_datasets_pct: f64,
    /// `oms_signature / versions`, percent.
    pub oms_signature_pct: f64,
    /// `promoted_with_vsa / promoted`, percent (100 when nothing was promoted).
    pub promoted_with_vsa_pct: f64,
}

/// `GET /v1/reports/compliance`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplianceReport {
    /// When (RFC 3339).
    pub generated_at: String,
    /// Per namespace, by name.
    pub namespaces: Vec<NamespaceCompliance>,
}
