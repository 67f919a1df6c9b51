//! Keyless trust: who signed a Sigstore bundle, and whether that signer is trusted.
//!
//! A keyless bundle is signed by a short-lived Fulcio certificate naming a workload identity (OIDC
//! issuer, subject SAN, and CI claims such as the source repository and ref). Trust is a list of
//! [`TrustedIdentity`] rules ("provenance signed by workflow `train.yml` of `acme/fraud` on `main`"),
//! checked against the signer a bundle proves after its cryptography verified offline against one of
//! the installed [`TrustRoot`]s: chain to a Fulcio CA valid at the signing time, embedded SCT from a
//! listed CT log, signing time proven by a Rekor entry (inclusion proof and checkpoint, or SET) or an
//! RFC 3161 timestamp, signature over the exact bytes, and the signed subject the artifact.
//!
//! The cryptography is `sigstore-verify`'s; this module adds what it lacks: subject patterns
//! (anchored regular expressions), claim requirements, ties between an identity and the root that
//! may vouch for it, several roots at once, and a stable reason for each refusal.
use std::collections::BTreeMap;

use serde::Serialize;
use sigstore_verify::crypto::{CertificateInfo, FulcioCiClaims, parse_certificate_info};
use sigstore_verify::trust_root::TrustedRoot;
pub use sigstore_verify::types::{Artifact, ArtifactDigest};
use sigstore_verify::types::{Bundle, SignatureContent, VerificationMaterialContent};

/// A SHA-256 digest as the artifact a bundle must be about (the server binds attestations to a
/// version by digest: its manifest digest or OMS root digest).
pub fn digest_artifact(d: &Digest) -> Artifact<'static> {
    Artifact::Digest(ArtifactDigest::sha256(sigstore_verify::types::Sha256Hash::new(*d.as_bytes())))
}
use sigstore_verify::{
    CertificateError, Error as SigstoreError, TimestampError, VerificationPolicy, VerificationResult,
    Verifier,
};

use crate::Digest;

/// The Fulcio certificate claims an identity may require, by their snake_case names (the extension
/// names of Fulcio's OID arc 1.3.6.1.4.1.57264.1).
pub const CLAIM_NAMES: &[&str] = &[
    "build_signer_uri",
    "build_signer_digest",
    "runner_environment",
    "source_repository_uri",
    "source_repository_digest",
    "source_repository_ref",
    "source_repository_identifier",
    "source_repository_owner_uri",
    "source_repository_owner_identifier",
    "build_config_uri",
    "build_config_digest",
    "build_trigger",
    "run_invocation_uri",
    "source_repository_visibility_at_signing",
    "deployment_environment",
    "token_subject",
];

fn claims_of(c: &FulcioCiClaims) -> BTreeMap<String, String> {
    let fields = [
        &c.build_signer_uri,
        &c.build_signer_digest,
        &c.runner_environment,
        &c.source_repository_uri,
        &c.source_repository_digest,
        &c.source_repository_ref,
        &c.source_repository_identifier,
        &c.source_repository_owner_uri,
        &c.source_repository_owner_identifier,
        &c.build_config_uri,
        &c.build_config_digest,
        &c.build_trigger,
        &c.run_invocation_uri,
        &c.source_repository_visibility_at_signing,
        &c.deployment_environment,
        &c.token_subject,
    ];
    CLAIM_NAMES
        .iter()
        .zip(fields)
        .filter_map(|(name, v)| v.as_ref().map(|v| ((*name).to_owned(), v.clone())))
        .collect()
}

/// An installed Sigstore trust root (`trusted_root.json`): Fulcio CAs, Rekor and CT log keys, TSAs.
pub struct TrustRoot {
    name: String,
    digest: Digest,
    /// Built once: its keys and anchors parsed from the root.
    verifier: Verifier,
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoot").field("name", &self.name).field("digest", &self.digest).finish()
    }
}

impl TrustRoot {
    /// Parses a `trusted_root.json` installed as `name`.
    pub fn from_json(name: &str, json: &str) -> Result<Self, KeylessError> {
        let root = TrustedRoot::from_json(json)
            .map_err(|e| KeylessError::Input(format!("trust root {name}: {e}")))?;
        let verifier =
            Verifier::new(&root).map_err(|e| KeylessError::Input(format!("trust root {name}: {e}")))?;
        Ok(Self { name: name.to_owned(), digest: Digest::of(json.as_bytes()), verifier })
    }

    /// The name it was installed under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the file's bytes (what log entries and auditor bundles record).
    pub fn digest(&self) -> Digest {
        self.digest
    }
}

/// How an identity's subject (the certificate's SAN: an email, or a URI such as a workflow) matches.
#[derive(Debug, Clone)]
pub enum SubjectMatch {
    /// Exactly this string.
    Exact(String),
    /// The whole subject matches this regular expression (Rust `regex` syntax, implicitly anchored).
    Regex(String, regex::Regex),
}

impl SubjectMatch {
    /// A pattern matching the whole subject: `acme/fraud` never accepts `acme/fraud-evil`.
    pub fn regex(pattern: &str) -> Result<Self, KeylessError> {
        // Compiled alone first: a pattern that does not parse by itself could close the wrapping
        // group (`x)|(?:.*` wrapped is `^(?:x)|(?:.*)$`, which matches every subject).
        regex::Regex::new(pattern)
            .map_err(|e| KeylessError::Input(format!("subject pattern {pattern:?}: {e}")))?;
        let anchored = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| KeylessError::Input(format!("subject pattern {pattern:?}: {e}")))?;
        Ok(Self::Regex(pattern.to_owned(), anchored))
    }

    fn matches(&self, subject: &str) -> bool {
        match self {
            Self::Exact(s) => s == subject,
            Self::Regex(_, re) => re.is_match(subject),
        }
    }
}

/// A signer the operator trusts: an OIDC issuer (exact), a subject, required claims, and
/// optionally the one root allowed to vouch for it (so a private root cannot mint "GitHub").
#[derive(Debug, Clone)]
pub struct TrustedIdentity {
    /// Exact OIDC issuer URL.
    pub issuer: String,
    /// The subject rule.
    pub subject: SubjectMatch,
    /// Claims that must be present with exactly these values.
    pub claims: BTreeMap<String, String>,
    /// The only trust root this identity is accepted through, if set.
    pub trust_root: Option<String>,
}

impl TrustedIdentity {
    /// A checked identity: a non-empty issuer, known claim names.
    pub fn new(
        issuer: &str,
        subject: SubjectMatch,
        claims: BTreeMap<String, String>,
        trust_root: Option<String>,
    ) -> Result<Self, KeylessError> {
        if issuer.is_empty() {
            return Err(KeylessError::Input("an identity needs its OIDC issuer".into()));
        }
        if let Some(bad) = claims.keys().find(|k| !CLAIM_NAMES.contains(&k.as_str())) {
            return Err(KeylessError::Input(format!(
                "unknown certificate claim {bad:?}; known: {}",
                CLAIM_NAMES.join(", ")
            )));
        }
        Ok(Self { issuer: issuer.to_owned(), subject, claims, trust_root })
    }

    /// `ISSUER=SUBJECT_REGEX`, split at the first `=` (as `registry verify --trusted-identity` takes it).
    pub fn parse_pair(s: &str) -> Result<Self, KeylessError> {
        let (issuer, pattern) = s
            .split_once('=')
            .ok_or_else(|| KeylessError::Input(format!("{s:?}: expected ISSUER=SUBJECT_REGEX")))?;
        Self::new(issuer, SubjectMatch::regex(pattern)?, BTreeMap::new(), None)
    }

    /// Whether `signer`, proven through the root named `root`, is this identity.
    pub fn matches(&self, signer: &Signer, root: &str) -> bool {
        self.trust_root.as_deref().is_none_or(|r| r == root) && self.names(signer)
    }

    /// Whether `signer`'s issuer, subject and claims are this identity's (the root not considered).
    fn names(&self, signer: &Signer) -> bool {
        self.issuer == signer.issuer
            && self.subject.matches(&signer.subject)
            && self.claims.iter().all(|(k, v)| signer.claims.get(k) == Some(v))
    }
}

/// Who a verified keyless bundle was signed by: the `signer` of an attestation in policy input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Signer {
    /// OIDC issuer named by the certificate.
    pub issuer: String,
    /// The certificate's subject (SAN).
    pub subject: String,
    /// Fulcio CI claims present in the certificate, by snake_case name.
    pub claims: BTreeMap<String, String>,
}

/// What a bundle proved.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The signer, matched by a trusted identity.
    pub signer: Signer,
    /// The trust root it chained to.
    pub trust_root: String,
    /// SHA-256 of that root's file.
    pub trust_root_digest: Digest,
    /// `sha256:` of the certificate's public key (SPKI DER): the ephemeral signing key.
    pub key_id: Digest,
    /// When it was signed, as the transparency log or a timestamp authority proved (RFC 3339).
    pub signed_at: Option<String>,
    /// The in-toto predicate type, for DSSE bundles.
    pub predicate_type: Option<String>,
    /// What the signature was verified over, for DSSE bundles: the payload type and the exact payload
    /// bytes (a caller that reads the envelope itself must read these same bytes).
    #[serde(skip)]
    pub signed_payload: Option<(String, Vec<u8>)>,
}

/// Most transparency-log entries, RFC 3161 timestamps or chain certificates one bundle may carry: a
/// real bundle has one or two; each costs signature checks (per root) before its signer is judged.
pub const MAX_EVIDENCE: usize = 4;

/// Why a bundle was refused: one stable reason per class of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// It verified, but no trusted identity names its signer.
    UntrustedIdentity,
    /// The certificate does not chain to a CA of an installed root valid at the signing time.
    CertificateChain,
    /// No valid embedded SCT from a CT log the root lists.
    Sct,
    /// Nothing proved when it was signed (no verified log entry or timestamp).
    NoSigningTime,
    /// The transparency log entry's proof, checkpoint or promise does not verify.
    TlogProof,
    /// The signature is not over these bytes by this certificate.
    Signature,
    /// What was signed is not the artifact.
    SubjectMismatch,
    /// Not a Sigstore bundle this verifier reads.
    Malformed,
}

impl Reason {
    /// The reason as it appears in `details.reason` and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UntrustedIdentity => "untrusted_identity",
            Self::CertificateChain => "certificate_chain",
            Self::Sct => "sct",
            Self::NoSigningTime => "no_signing_time",
            Self::TlogProof => "tlog_proof",
            Self::Signature => "signature",
            Self::SubjectMismatch => "subject_mismatch",
            Self::Malformed => "malformed",
        }
    }

    fn of(e: &SigstoreError) -> Self {
        match e {
            SigstoreError::IdentityMismatch { .. } | SigstoreError::IssuerMismatch { .. } => {
                Self::UntrustedIdentity
            }
            SigstoreError::SignatureInvalid(_) | SigstoreError::Crypto(_) => Self::Signature,
            SigstoreError::ArtifactMismatch(_) => Self::SubjectMismatch,
            SigstoreError::Certificate(CertificateError::Sct(_)) => Self::Sct,
            SigstoreError::Certificate(_) | SigstoreError::TrustedCertificate(_) => Self::CertificateChain,
            SigstoreError::TransparencyLog(_) => Self::TlogProof,
            SigstoreError::Timestamp(TimestampError::NoVerifiedTimestamp(_)) => Self::NoSigningTime,
            SigstoreError::Timestamp(_) => Self::NoSigningTime,
            _ => Self::Malformed,
        }
    }
}

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    /// Bad configuration (a root, an identity rule).
    #[error("{0}")]
    Input(String),
    /// The bundle was refused.
    #[error("{}: {detail}", reason.as_str())]
    Refused {
        /// The stable reason.
        reason: Reason,
        /// What exactly failed.
        detail: String,
    },
}

impl KeylessError {
    fn refused(reason: Reason, detail: impl Into<String>) -> Self {
        Self::Refused { reason, detail: detail.into() }
    }

    /// The refusal reason, if this is a refusal.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::Refused { reason, .. } => Some(*reason),
            Self::Input(_) => None,
        }
    }
}

/// Verifies a Sigstore bundle (JSON) over `artifact` offline against `roots`, and requires its
/// signer to be one of `identities`. The signer named by the certificate is matched first (a bundle
/// from someone not trusted costs no signature check); then a root the certificate does not chain to
/// is passed over, and the refusal reported is the most specific one (a chain failure only when no
/// root accepted the chain).
pub fn verify<'a, R: std::borrow::Borrow<TrustRoot>>(
    bundle: &str,
    artifact: impl Into<Artifact<'a>>,
    roots: &[R],
    identities: &[TrustedIdentity],
) -> Result<Verified, KeylessError> {
    let artifact = artifact.into();
    let bundle = Bundle::from_json(bundle)
        .map_err(|e| KeylessError::refused(Reason::Malformed, format!("bundle: {e}")))?;
    let m = &bundle.verification_material;
    let chain = match &m.content {
        VerificationMaterialContent::X509CertificateChain { certificates } => certificates.len(),
        _ => 1,
    };
    if m.tlog_entries.len() > MAX_EVIDENCE
        || m.timestamp_verification_data.rfc3161_timestamps.len() > MAX_EVIDENCE
        || chain > MAX_EVIDENCE
    {
        return Err(KeylessError::refused(
            Reason::Malformed,
            format!("at most {MAX_EVIDENCE} log entries, timestamps and chain certificates per bundle"),
        ));
    }
    let cert = bundle.signing_certificate().ok_or_else(|| {
        KeylessError::refused(Reason::UntrustedIdentity, "a key-based bundle names no identity")
    })?;
    let named = parse_certificate_info(cert)
        .map_err(|e| KeylessError::refused(Reason::CertificateChain, format!("certificate: {e}")))
        .and_then(|c| signer_in(&c))?
        .0;
    if !identities.iter().any(|i| i.names(&named)) {
        return Err(KeylessError::refused(
            Reason::UntrustedIdentity,
            format!("signed by {} (issuer {}), which no trusted identity names", named.subject, named.issuer),
        ));
    }
    if roots.is_empty() {
        return Err(KeylessError::refused(Reason::CertificateChain, "no trust root is installed"));
    }
    let mut refusal: Option<KeylessError> = None;
    for root in roots {
        let root = root.borrow();
        // Authorisation is ours (patterns, claims, root ties), after the cryptography passed.
        let result =
            match root.verifier.verify(artifact.clone(), &bundle, &VerificationPolicy::any_identity()) {
                Ok(r) => r,
                Err(e) => {
                    let e = KeylessError::refused(Reason::of(&e), format!("{e} (trust root {})", root.name));
                    if refusal.as_ref().is_none_or(|r| r.reason() == Some(Reason::CertificateChain)) {
                        refusal = Some(e);
                    }
                    continue;
                }
            };
        let (signer, key_id) = signer_of(&result)?;
        if identities.iter().any(|i| i.matches(&signer, &root.name)) {
            let signed_payload = match &bundle.content {
                SignatureContent::DsseEnvelope(env) => {
                    Some((env.payload_type.clone(), env.payload.as_bytes().to_vec()))
                }
                _ => None,
            };
            return Ok(Verified {
                trust_root: root.name.clone(),
                trust_root_digest: root.digest,
                key_id,
                signed_at: signed_at(&result),
                predicate_type: predicate_type(&bundle),
                signed_payload,
                signer,
            });
        }
        refusal = Some(KeylessError::refused(
            Reason::UntrustedIdentity,
            format!(
                "signed by {} (issuer {}) through trust root {}, which no trusted identity names",
                signer.subject, signer.issuer, root.name
            ),
        ));
    }
    Err(refusal
        .unwrap_or_else(|| KeylessError::refused(Reason::CertificateChain, "no trust root accepted it")))
}

fn signer_of(r: &VerificationResult) -> Result<(Signer, Digest), KeylessError> {
    let cert = r.certificate().ok_or_else(|| {
        KeylessError::refused(Reason::UntrustedIdentity, "a key-based bundle names no identity")
    })?;
    signer_in(cert)
}

/// The signer a certificate names, and its key's id.
fn signer_in(cert: &CertificateInfo) -> Result<(Signer, Digest), KeylessError> {
    let (Some(subject), Some(issuer)) = (&cert.identity, &cert.issuer) else {
        return Err(KeylessError::refused(
            Reason::UntrustedIdentity,
            "the certificate names no subject or no OIDC issuer",
        ));
    };
    let signer = Signer {
        issuer: issuer.clone(),
        subject: subject.as_str().to_owned(),
        claims: claims_of(&cert.ci_claims),
    };
    Ok((signer, Digest::of(cert.public_key.as_bytes())))
}

fn signed_at(r: &VerificationResult) -> Option<String> {
    r.integrated_time().or_else(|| r.verified_timestamps().iter().min().copied()).map(|t| t.to_string())
}

fn predicate_type(bundle: &Bundle) -> Option<String> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(env) => {
            serde_json::from_slice::<serde_json::Value>(env.payload.as_bytes())
                .ok()
                .and_then(|v| v["predicateType"].as_str().map(String::from))
        }
        _ => None,
    }
}
