//! Client side of attestations: make the evidence a push carries (SLSA provenance and an OpenSSF
//! Model Signing bundle), read keys, and verify a version's attestations locally with the keys the
//! user trusts — never on the registry's word.
use registry_core::api::AttestationInfo;
use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use registry_core::attest::intoto::Statement;
use registry_core::attest::keys::{KeyKind, PublicKey, SigningKey};
use registry_core::attest::predicates::{
    OMS_V1, RunTimes, SLSA_PROVENANCE_V1, oms_predicate, slsa_provenance,
};
use registry_core::attest::sigstore_bundle::SigstoreBundle;
use registry_core::attest::{self, Binding, Target, TrustedKey};
use registry_core::{Digest, Lineage, Manifest, ModelName};
use serde::Serialize;

use crate::{Client, ClientError};

/// Reads a PEM private key.
pub fn read_signing_key(path: &std::path::Path) -> Result<SigningKey, ClientError> {
    let pem = std::fs::read_to_string(path).map_err(ClientError::io(path))?;
    SigningKey::from_pem(&pem).map_err(|e| ClientError::Input(format!("{}: {e}", path.display())))
}

/// Reads a PEM public key.
pub fn read_public_key(path: &std::path::Path) -> Result<PublicKey, ClientError> {
    let pem = std::fs::read_to_string(path).map_err(ClientError::io(path))?;
    PublicKey::from_pem(&pem).map_err(|e| ClientError::Input(format!("{}: {e}", path.display())))
}

/// A fresh key from the OS random source.
pub fn generate_key(kind: KeyKind) -> Result<SigningKey, ClientError> {
    loop {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ClientError::Input(format!("no randomness: {e}")))?;
        match SigningKey::from_seed(kind, &seed) {
            Ok(k) => return Ok(k),
            Err(registry_core::attest::keys::KeyError::Seed) => continue, // not a P-256 scalar: retry
            Err(e) => return Err(ClientError::Input(e.to_string())),
        }
    }
}

/// The SLSA provenance envelope of a push: subject `NS/NAME` with the manifest digest, and
/// `NS/NAME@VERSION` with the digest of the version's OCI manifest (what `/v2` serves; docs/oci.md),
/// so a "subject = OCI digest" check (cosign-style) holds for the pulled artifact. A version too large
/// for an OCI manifest has only the first.
pub fn provenance_envelope(
    key: &SigningKey,
    model: &ModelName,
    version: &str,
    manifest: &Manifest,
    lineage: &Lineage,
    parents: &[(String, Digest)],
    times: &RunTimes,
) -> Vec<u8> {
    let predicate = slsa_provenance(model, version, lineage, parents, times);
    let mut subjects = vec![Statement::subject(&model.to_string(), &manifest.digest())];
    if let Some(oci) = oci_digest(model, version, manifest) {
        subjects.push(Statement::subject(&format!("{model}@{version}"), &oci));
    }
    let st = Statement::new(subjects, SLSA_PROVENANCE_V1, predicate);
    Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).expect("a statement serializes"), &[key])
        .to_json()
}

/// The digest of the OCI manifest `/v2` serves for `model@version`, computed here (never taken from
/// the registry); `None` when the version has too many files for one.
pub fn oci_digest(model: &ModelName, version: &str, manifest: &Manifest) -> Option<Digest> {
    let label = registry_core::VersionLabel::parse(version).ok()?;
    registry_core::oci::model_artifact(model, &label, manifest).ok().map(|a| a.digest)
}

/// The OpenSSF Model Signing bundle of the files (what `model_signing verify key` checks): subject the
/// OMS root digest, every file a resource, signature in a key-based Sigstore bundle.
pub fn oms_bundle(key: &SigningKey, model: &ModelName, manifest: &Manifest) -> Vec<u8> {
    let st = Statement::new(
        vec![Statement::subject(model.name(), &manifest.oms_root_digest())],
        OMS_V1,
        oms_predicate(manifest),
    );
    let env =
        Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).expect("a statement serializes"), &[key]);
    SigstoreBundle::for_key(env, key.public().oms_hint()).to_json()
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Verified.
    Ok,
    /// Not checked against the user's keys (another signer); not a failure.
    Skipped,
    /// Failed.
    Failed,
}

/// One line of a verification report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The outcome.
    pub status: Status,
    /// What was checked, and why it failed.
    pub what: String,
}

impl Check {
    fn new(ok: bool, what: String) -> Self {
        Self { status: if ok { Status::Ok } else { Status::Failed }, what }
    }
}

/// What `verify_attestations` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttestationReport {
    /// One line per attestation and per requirement.
    pub checks: Vec<Check>,
    /// Predicate types that verified (with the binding), in order.
    pub verified: Vec<(String, Binding)>,
    /// True when nothing failed.
    pub ok: bool,
}

/// Fetches every attestation of `model@version` and verifies each locally against `keys`. Fails the
/// report when stored bytes do not match their listing, when a trusted signer's statement is not about
/// this version, when a required predicate type has no verified attestation, or when keys were given
/// and nothing verified. Attestations by other signers are reported, not failed.
pub async fn verify_attestations(
    client: &Client,
    model: &ModelName,
    version: &str,
    manifest: &Manifest,
    keys: &[PublicKey],
    required: &[String],
) -> Result<AttestationReport, ClientError> {
    let list = client.list_attestations(model, version).await?;
    let trusted: Vec<TrustedKey> = keys.iter().cloned().map(TrustedKey::any).collect();
    let mut r = AttestationReport::default();
    for info in &list.attestations {
        let raw = match client.attestation_bytes(model, version, info).await {
            Ok(raw) => raw,
            Err(ClientError::Verify(msg)) => {
                r.checks.push(Check::new(false, msg));
                continue;
            }
            Err(e) => return Err(e),
        };
        r.checks.push(check_one(info, &raw, &trusted, model, manifest, &mut r.verified));
    }
    for p in required {
        let found = r.verified.iter().any(|(t, _)| t == p);
        r.checks.push(Check::new(
            found,
            if found {
                format!("required predicate {p} is attested")
            } else {
                format!("required predicate {p}: no verified attestation")
            },
        ));
    }
    if !keys.is_empty() && r.verified.is_empty() && required.is_empty() {
        r.checks.push(Check::new(false, "no attestation verifies with the given keys".into()));
    }
    r.ok = r.checks.iter().all(|c| c.status != Status::Failed);
    Ok(r)
}

fn check_one(
    info: &AttestationInfo,
    raw: &[u8],
    trusted: &[TrustedKey],
    model: &ModelName,
    manifest: &Manifest,
    verified: &mut Vec<(String, Binding)>,
) -> Check {
    // Until verified, the predicate type is only the registry's listing.
    let label = format!("attestation {} (listed as {})", info.id, info.predicate_type);
    match attest::verify(raw, trusted, Target { model, manifest }) {
        Ok(v) => {
            verified.push((v.statement.predicate_type.clone(), v.binding));
            // Files the signature leaves out (its ignore_paths) are named, never reported as covered.
            let (binding, uncovered) = registry_core::audit_bundle::describe(&v);
            let pt = &v.statement.predicate_type;
            Check::new(
                true,
                format!("attestation {} {pt} signed by {} ({binding}){uncovered}", info.id, v.signer),
            )
        }
        // Someone we were not asked to trust: say so, do not fail.
        Err(e) if e.is_untrusted_signer() => Check {
            status: Status::Skipped,
            what: format!(
                "{label}: signer {} is not among the trusted keys (not counted)",
                info.signer_key_id
            ),
        },
        Err(e) => Check::new(false, format!("{label}: {e}")),
    }
}
