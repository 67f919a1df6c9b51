//! The audit bundle (the auditor's bundle; not a Sigstore bundle): one JSON file with everything needed to check a version offline — the
//! version record, the exact manifest, every attestation's exact bytes, each one's log entry with an
//! inclusion proof, the signed checkpoint those proofs lead to, and the log's public key. Checking it
//! needs only the keys the auditor trusts.
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Digest;
use crate::api::{AttestationInfo, VersionResponse};
use crate::attest::{self, Binding, Target, Trust, TrustedKey};
use crate::manifest::Manifest;
use crate::name::ModelName;
use crate::tlog::entry::{ATTESTATION_ADDED, LogEntry};
use crate::tlog::note::{Checkpoint, NoteVerifier};
use crate::tlog::{Hash, leaf_hash, verify_inclusion};

/// The audit bundle's media type.
pub const MEDIA_TYPE: &str = "application/vnd.registry.bundle.v1+json";

/// One attestation: the registry's record and the exact bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = BundleAttestation)] // the OpenAPI component name, kept
pub struct AuditBundleAttestation {
    /// The record (id, digest, predicate type, signer, log index).
    pub info: AttestationInfo,
    /// The exact bytes as stored.
    pub body: String,
}

/// A log entry and its inclusion proof at the audit bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = BundleEntry)] // the OpenAPI component name, kept
pub struct AuditBundleEntry {
    /// Index.
    pub index: u64,
    /// The canonical JSON in the tree.
    pub body: String,
    /// RFC 9162 inclusion proof (base64 hashes) for the checkpoint's tree size.
    pub inclusion_proof: Vec<String>,
}

/// The log part of an audit bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = BundleLog)] // the OpenAPI component name, kept
pub struct AuditBundleLog {
    /// The log's verifier key (`origin+keyid+key`), as `GET /v1/log/key` serves it. Informative: the
    /// auditor supplies the key they trust.
    pub log_key: String,
    /// The signed checkpoint (C2SP signed note) every proof leads to.
    pub checkpoint: String,
    /// Every entry whose subject is the version (creation, attestations, promotion decisions,
    /// quarantines and releases, corruption) and, when the bundle was asked for by alias, every move
    /// of that alias; each with its inclusion proof.
    pub entries: Vec<AuditBundleEntry>,
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
    pub attestations: Vec<AuditBundleAttestation>,
    /// Log evidence.
    pub log: AuditBundleLog,
}

mod facts;

pub use facts::{LogFacts, Request};

/// One finding of an offline check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Passed.
    pub ok: bool,
    /// What.
    pub what: String,
}

/// The result of [`verify_offline`] and [`verify_audit_bundle`].
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
    /// What the log says about the version (quarantine, corruption, the alias move a request rests
    /// on). Decisions take these, never the record's unsigned flags alone.
    #[serde(skip)]
    pub facts: LogFacts,
    /// Files of the version that no verified attestation covers (with trusted keys given).
    #[serde(skip)]
    pub uncovered: Vec<String>,
    /// The exact bytes of each attestation that verified, with its predicate type (for
    /// `pull --signature-out`: bytes the log records, never a second download).
    #[serde(skip)]
    pub verified_attestations: Vec<(String, String)>,
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

/// What an audit bundle is checked against: the keys and keyless identities the verifier trusts, the
/// predicate types it requires, and what was asked for.
#[derive(Debug, Clone, Default)]
pub struct Policy<'a> {
    /// Keys, Sigstore roots and identities trusted for attestations.
    pub trust: Trust<'a>,
    /// Predicate types that must have a verified attestation.
    pub required: &'a [String],
    /// The model and reference the user asked for: the bundle must be about exactly that. `None`
    /// only for an auditor's bundle checked without a reference (the report then names what the log
    /// shows the bundle is about).
    pub request: Option<&'a Request>,
    /// With trusted keys: do not fail when some of the version's files are covered by no verified
    /// attestation (they are still listed).
    pub allow_unsigned_files: bool,
}

/// [`verify_audit_bundle`] with no request, for an auditor holding a bundle file: `trusted` keys,
/// `required` predicate types.
pub fn verify_offline(
    bundle: &AuditBundle,
    trusted: &[TrustedKey],
    log_key: &NoteVerifier,
    required: &[String],
) -> OfflineReport {
    verify_audit_bundle(
        bundle,
        log_key,
        &Policy { trust: Trust::keys(trusted), required, ..Default::default() },
    )
}

/// Checks an audit bundle with nothing but the keys the verifier holds: the checkpoint's signature with
/// `log_key`; every entry's inclusion in it; that the bundle is about what was asked for
/// ([`Policy::request`]); that the entries record exactly this manifest, OMS root, lineage, metadata,
/// pusher and these attestation bytes; what the log says about quarantine and corruption; every
/// attestation against the trusted keys; and the required predicates.
pub fn verify_audit_bundle(
    bundle: &AuditBundle,
    log_key: &NoteVerifier,
    policy: &Policy<'_>,
) -> OfflineReport {
    let mut r = OfflineReport {
        findings: vec![],
        manifest: None,
        checkpoint: None,
        facts: LogFacts::default(),
        uncovered: vec![],
        verified_attestations: vec![],
    };
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
    facts::check_record(&mut r, v, &name, &entries, manifest.as_ref());
    match policy.request {
        Some(req) => facts::check_request(&mut r, v, &name, &entries, req),
        None => {
            r.push(true, format!("the bundle is about {name} (no reference was given to bind it to)"));
        }
    }
    facts::state(&mut r, v, &name, &entries);
    let Some(manifest) = manifest else { return r };
    let model = ModelName::new(&v.namespace, &v.name);
    let mut verified: Vec<(String, Binding)> = Vec::new();
    let mut covers_all = false;
    let mut partly: Vec<Vec<String>> = Vec::new();
    for a in &bundle.attestations {
        let digest = Digest::of(a.body.as_bytes());
        let in_log = entries.iter().any(|(_, e)| {
            e.kind == ATTESTATION_ADDED
                && e.subject == name
                && e.detail("digest") == Some(&digest.to_string())
        });
        let logged = r.push(
            digest == a.info.digest && in_log,
            format!("attestation {digest} bytes are the ones the log records"),
        );
        let Ok(model) = &model else { continue };
        // Labels come from the verified statement, never from the registry's unsigned `info`.
        match attest::verify_with(a.body.as_bytes(), policy.trust, Target { model, manifest: &manifest }) {
            Ok(ok) => {
                let pt = ok.statement.predicate_type.clone();
                let (how, uncovered) = describe(&ok);
                r.push(
                    true,
                    format!(
                        "attestation {digest} {pt} verifies, signed by {} ({how}){uncovered}",
                        signer_of(&ok)
                    ),
                );
                if logged {
                    verified.push((pt.clone(), ok.binding));
                    r.verified_attestations.push((pt, a.body.clone()));
                    if ok.uncovered.is_empty() {
                        covers_all = true;
                    } else {
                        partly.push(ok.uncovered);
                    }
                }
            }
            Err(e) if e.is_untrusted_signer() => {}
            Err(e) => {
                r.push(false, format!("attestation {digest}: {e}"));
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
    for p in policy.required {
        r.push(verified.iter().any(|(t, _)| t == p), format!("required predicate {p}"));
    }
    let trusts_someone = !policy.trust.keys.is_empty() || !policy.trust.identities.is_empty();
    if trusts_someone && policy.required.is_empty() {
        r.push(!verified.is_empty(), "at least one attestation verifies with the trusted keys or identities");
    }
    if trusts_someone && !verified.is_empty() && !covers_all {
        // A file is covered when some verified attestation covers it; with none covering all, the
        // files every one of them leaves out are signed by nobody trusted.
        let mut uncovered: Vec<String> = partly.first().cloned().unwrap_or_default();
        uncovered.retain(|f| partly.iter().all(|p| p.contains(f)));
        if !uncovered.is_empty() {
            r.push(
                policy.allow_unsigned_files,
                format!(
                    "{} file(s) are covered by no verified attestation (left out by a signature's ignore_paths): {}",
                    uncovered.len(),
                    uncovered.join(", ")
                ),
            );
            r.uncovered = uncovered;
        }
    }
    r.checkpoint = Some(cp);
    r.manifest = Some(manifest);
    r
}

/// Who signed a verified attestation, for a report line: the key id, or the keyless identity with
/// its issuer and the root it chained to.
pub fn signer_of(v: &attest::Verified) -> String {
    match &v.identity {
        Some(i) => format!(
            "{} (issuer {}, trust root {} {})",
            i.signer.subject, i.signer.issuer, i.trust_root, i.trust_root_digest
        ),
        None => v.signer.to_string(),
    }
}

/// How a verified attestation is tied to the version, and the files it does not cover.
pub fn describe(v: &attest::Verified) -> (&'static str, String) {
    let how = match v.binding {
        Binding::Manifest => "bound to the manifest",
        Binding::Files if v.uncovered.is_empty() => "bound to the files by name and digest",
        Binding::Files => "bound to the files by name and digest, except the ones it ignores",
        Binding::Content => "bound to the contents only (not the file names)",
    };
    let uncovered = if v.uncovered.is_empty() {
        String::new()
    } else {
        format!("; NOT covered: {}", v.uncovered.join(", "))
    };
    (how, uncovered)
}
