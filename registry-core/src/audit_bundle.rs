//! The auditor's bundle: one JSON file with everything needed to check a version offline — the
//! version record, the exact manifest, every attestation's exact bytes, each one's log entry with an
//! inclusion proof, the signed checkpoint those proofs lead to, and the log's public key. Checking it
//! needs only the keys the auditor trusts.
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{AttestationInfo, VersionResponse};
use crate::attest::{self, Binding, Target, TrustedKey};
use crate::manifest::Manifest;
use crate::name::ModelName;
use crate::tlog::entry::{ATTESTATION_ADDED, LogEntry, VERSION_CREATED};
use crate::tlog::note::{Checkpoint, NoteVerifier};
use crate::tlog::{Hash, leaf_hash, verify_inclusion};
use crate::{Digest, canonical};

/// The bundle's media type.
pub const MEDIA_TYPE: &str = "application/vnd.registry.bundle.v1+json";

/// One attestation: the registry's record and the exact bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BundleAttestation {
    /// The record (id, digest, predicate type, signer, log index).
    pub info: AttestationInfo,
    /// The exact bytes as stored.
    pub body: String,
}

/// A log entry and its inclusion proof at the bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BundleEntry {
    /// Index.
    pub index: u64,
    /// The canonical JSON in the tree.
    pub body: String,
    /// RFC 9162 inclusion proof (base64 hashes) for the checkpoint's tree size.
    pub inclusion_proof: Vec<String>,
}

/// The log part of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BundleLog {
    /// The log's verifier key (`origin+keyid+key`), as `GET /v1/log/key` serves it. Informative: the
    /// auditor supplies the key they trust.
    pub log_key: String,
    /// The signed checkpoint (C2SP signed note) every proof leads to.
    pub checkpoint: String,
    /// The version's entries.
    pub entries: Vec<BundleEntry>,
}

/// Everything about one version, for offline verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditBundle {
    /// [`MEDIA_TYPE`].
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The version record.
    pub version: VersionResponse,
    /// The canonical manifest text.
    pub manifest: String,
    /// Every attestation.
    pub attestations: Vec<BundleAttestation>,
    /// Log evidence.
    pub log: BundleLog,
}

/// One finding of an offline check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Passed.
    pub ok: bool,
    /// What.
    pub what: String,
}

/// The result of [`verify_offline`].
#[derive(Debug, Clone, Serialize)]
pub struct OfflineReport {
    /// Every check, in order.
    pub findings: Vec<Finding>,
    /// The verified manifest, for checking files.
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    /// The verified checkpoint.
    #[serde(skip)]
    pub checkpoint: Option<Checkpoint>,
}

impl OfflineReport {
    /// True when every check passed.
    pub fn ok(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }

    fn push(&mut self, ok: bool, what: impl Into<String>) -> bool {
        self.findings.push(Finding { ok, what: what.into() });
        ok
    }
}

fn b64_hashes(v: &[String]) -> Option<Vec<Hash>> {
    v.iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
        })
        .collect()
}

/// Checks a bundle with nothing but the keys the auditor holds: the checkpoint's signature with
/// `log_key`; every entry's inclusion in it; that the entries record exactly this manifest, lineage
/// and these attestation bytes; every attestation against `trusted` keys; and `required` predicates.
pub fn verify_offline(
    bundle: &AuditBundle,
    trusted: &[TrustedKey],
    log_key: &NoteVerifier,
    required: &[String],
) -> OfflineReport {
    let mut r = OfflineReport { findings: vec![], manifest: None, checkpoint: None };
    if !r.push(bundle.media_type == MEDIA_TYPE, format!("bundle media type {}", bundle.media_type)) {
        return r;
    }
    let v = &bundle.version;
    let name = format!("{}/{}@{}", v.namespace, v.name, v.version);
    let cp = match Checkpoint::open(&bundle.log.checkpoint, log_key) {
        Ok(cp) => cp,
        Err(e) => {
            r.push(false, format!("checkpoint: {e}"));
            return r;
        }
    };
    r.push(true, format!("checkpoint of {} (size {}) is signed by the log key", cp.origin, cp.size));
    let mut entries = Vec::new();
    for e in &bundle.log.entries {
        let proof = b64_hashes(&e.inclusion_proof);
        let ok = proof
            .is_some_and(|p| verify_inclusion(&leaf_hash(e.body.as_bytes()), e.index, cp.size, &p, &cp.root));
        if r.push(ok, format!("log entry {} is included in the checkpoint", e.index)) {
            match LogEntry::parse(e.body.as_bytes()) {
                Ok(le) => entries.push((e.index, le)),
                Err(err) => {
                    r.push(false, format!("log entry {}: {err}", e.index));
                }
            }
        }
    }
    // The manifest: the exact bytes the version's digest and its log entry name.
    let manifest_digest = Digest::of(bundle.manifest.as_bytes());
    let manifest: Option<Manifest> = serde_json::from_str(&bundle.manifest).ok();
    let canonical_ok = manifest.as_ref().is_some_and(|m| m.canonical_bytes() == bundle.manifest.as_bytes());
    r.push(
        manifest_digest == v.manifest_digest && canonical_ok,
        format!("manifest {manifest_digest} is canonical and is the version's"),
    );
    let created = entries.iter().find(|(_, e)| e.kind == VERSION_CREATED && e.subject == name);
    let lineage_digest = canonical::digest(&v.lineage).ok();
    let logged = created.is_some_and(|(_, e)| {
        e.detail("manifest_digest") == Some(&v.manifest_digest.to_string())
            && e.detail("oms_root_digest") == Some(&v.oms_root_digest.to_string())
            && lineage_digest.is_some_and(|d| e.detail("lineage_digest") == Some(&d.to_string()))
    });
    r.push(logged, format!("the log records {name} with this manifest, OMS root and lineage"));
    let Some(manifest) = manifest else { return r };
    let model = ModelName::new(&v.namespace, &v.name);
    let mut verified: Vec<(String, Binding)> = Vec::new();
    for a in &bundle.attestations {
        let digest = Digest::of(a.body.as_bytes());
        let in_log = entries.iter().any(|(_, e)| {
            e.kind == ATTESTATION_ADDED
                && e.subject == name
                && e.detail("digest") == Some(&digest.to_string())
        });
        r.push(
            digest == a.info.digest && in_log,
            format!("attestation {} bytes are the ones the log records", a.info.id),
        );
        let Ok(model) = &model else { continue };
        match attest::verify(a.body.as_bytes(), trusted, Target { model, manifest: &manifest }) {
            Ok(ok) => {
                verified.push((ok.statement.predicate_type.clone(), ok.binding));
                r.push(
                    true,
                    format!(
                        "attestation {} {} verifies, signed by {}",
                        a.info.id, a.info.predicate_type, ok.signer
                    ),
                );
            }
            Err(attest::AttestError::UntrustedSigner | attest::AttestError::PredicateNotAllowed { .. }) => {}
            Err(e) => {
                r.push(false, format!("attestation {}: {e}", a.info.id));
            }
        }
    }
    // Promotion decisions recorded for this version (their inclusion was checked above).
    for (idx, e) in entries.iter().filter(|(_, e)| {
        e.subject == name
            && (e.kind == crate::tlog::entry::ALIAS_MOVED || e.kind == crate::tlog::entry::ALIAS_DENIED)
    }) {
        r.push(
            true,
            format!(
                "log entry {idx}: {} alias {} ({}) by {} at {}",
                e.kind,
                e.detail("alias").unwrap_or("?"),
                e.detail("decision").unwrap_or("?"),
                e.actor,
                e.time
            ),
        );
    }
    for p in required {
        r.push(verified.iter().any(|(t, _)| t == p), format!("required predicate {p}"));
    }
    if !trusted.is_empty() && required.is_empty() {
        r.push(!verified.is_empty(), "at least one attestation verifies with the trusted keys");
    }
    r.checkpoint = Some(cp);
    r.manifest = Some(manifest);
    r
}
