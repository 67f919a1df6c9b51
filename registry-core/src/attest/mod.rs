//! Attestations: DSSE envelopes (bare or in a key-based Sigstore bundle) carrying in-toto Statement v1,
//! and the one verification both server and client run, so a verdict never rests on the other side.
//!
//! A statement belongs to a version when a subject carries its manifest digest (`manifest` binding),
//! or, for an OpenSSF Model Signing predicate, when its resources are exactly the version's files by
//! name and digest and its subject is their root digest (`files` binding). A statement of any other
//! predicate whose subject is only the OMS root digest covers the contents but not the names
//! (`content` binding); policies can demand more. A keyless Sigstore bundle (a Fulcio certificate)
//! is bound the same way, and its cryptography and signer checked by [`crate::keyless`] against the
//! installed trust roots and trusted identities.
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::manifest::Manifest;
use crate::name::ModelName;

pub mod dsse;
pub mod intoto;
pub mod keys;
pub mod predicates;
pub mod sigstore_bundle;

use dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use intoto::Statement;
use keys::PublicKey;
use sigstore_bundle::SigstoreBundle;

/// Largest attestation accepted, in bytes.
pub const MAX_ATTESTATION_SIZE: usize = 4 * 1024 * 1024;

/// Why an attestation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    /// Bad JSON, base64, or structure.
    #[error("malformed attestation: {0}")]
    Malformed(String),
    /// Over [`MAX_ATTESTATION_SIZE`].
    #[error("attestation larger than {MAX_ATTESTATION_SIZE} bytes")]
    TooLarge,
    /// The envelope carries no signature.
    #[error("the envelope carries no signature")]
    NoSignature,
    /// Not an in-toto payload.
    #[error("unsupported payload type {0:?} (expected application/vnd.in-toto+json)")]
    PayloadType(String),
    /// `_type` is not in-toto Statement v1.
    #[error("unknown statement type {0:?} (expected https://in-toto.io/Statement/v1)")]
    UnknownStatementType(String),
    /// No signature verifies with a key trusted here (the payload was changed, or the signer is not
    /// trusted for this namespace, or it was revoked).
    #[error("no signature verifies with a key trusted for this model")]
    UntrustedSigner,
    /// The signer is trusted, but not for this predicate type.
    #[error("the signing key {key} is not trusted for predicate type {predicate_type}")]
    PredicateNotAllowed {
        /// The key.
        key: Digest,
        /// The predicate type.
        predicate_type: String,
    },
    /// No subject is this version (a statement about other bytes, e.g. replayed from another model).
    #[error("no subject of the statement is this version's manifest digest or OMS root digest")]
    SubjectMismatch,
    /// An OMS signature whose file list is not the version's.
    #[error("model signature does not match the version: {0}")]
    OmsMismatch(String),
    /// The statement's digest matches, but its predicate names another model or version (a promotion
    /// decision or our training provenance replayed onto another version with the same files).
    #[error("the predicate's {field} names {named:?}, not this version")]
    NamesOther {
        /// Which predicate field.
        field: &'static str,
        /// What it names.
        named: String,
    },
    /// A keyless Sigstore bundle was refused; `reason` is the stable code (`untrusted_identity`,
    /// `certificate_chain`, `sct`, `no_signing_time`, `tlog_proof`, `signature`, `subject_mismatch`).
    #[error("keyless bundle refused ({}): {detail}", reason.as_str())]
    Keyless {
        /// Why.
        reason: crate::keyless::Reason,
        /// What exactly failed.
        detail: String,
    },
}

impl AttestError {
    /// True when the attestation was signed by someone the verifier was not asked to trust (a key
    /// not given or not for this predicate, an identity not named, a root not installed): reported,
    /// not a failure of the evidence itself.
    pub fn is_untrusted_signer(&self) -> bool {
        use crate::keyless::Reason;
        matches!(
            self,
            Self::UntrustedSigner
                | Self::PredicateNotAllowed { .. }
                | Self::Keyless { reason: Reason::UntrustedIdentity | Reason::CertificateChain, .. }
        )
    }
}

/// How the attestation arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A bare DSSE envelope.
    Dsse,
    /// A Sigstore bundle holding a DSSE envelope.
    SigstoreBundle,
}

/// How a statement is tied to a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// A subject is the manifest digest (names, sizes, contents).
    Manifest,
    /// An OMS predicate whose resources are the version's files (names and contents).
    Files,
    /// A subject is the OMS root digest only (contents in order, not names).
    Content,
}

/// A parsed (not yet verified) attestation.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Bare DSSE envelope or Sigstore bundle.
    pub format: Format,
    /// A Sigstore bundle signed by a Fulcio certificate (not by a key).
    pub keyless: bool,
    /// The envelope.
    pub envelope: Envelope,
    /// The decoded statement (untrusted until verified).
    pub statement: Statement,
}

/// Parses a DSSE envelope or a Sigstore bundle (told apart by `mediaType`), and its statement.
pub fn parse(raw: &[u8]) -> Result<Parsed, AttestError> {
    if raw.len() > MAX_ATTESTATION_SIZE {
        return Err(AttestError::TooLarge);
    }
    let probe: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| AttestError::Malformed(format!("not JSON: {e}")))?;
    let mut keyless = false;
    let (format, envelope) = if probe
        .get("mediaType")
        .and_then(|m| m.as_str())
        .is_some_and(sigstore_bundle::is_sigstore_bundle_media_type)
    {
        let b = SigstoreBundle::parse(raw)?;
        // A message signature signs some bytes, not a statement; one beside an envelope would be what
        // a Sigstore verifier checks while the envelope is what is read (first key wins there).
        if b.message_signature.is_some() {
            return Err(AttestError::Malformed(
                "a bundle with a messageSignature is not an attestation (it states no predicate)".into(),
            ));
        }
        keyless = b.is_keyless();
        let env =
            b.dsse_envelope.ok_or_else(|| AttestError::Malformed("bundle holds no DSSE envelope".into()))?;
        (Format::SigstoreBundle, env)
    } else {
        (Format::Dsse, Envelope::parse(raw)?)
    };
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(AttestError::PayloadType(envelope.payload_type.chars().take(100).collect()));
    }
    if envelope.signatures.is_empty() {
        return Err(AttestError::NoSignature);
    }
    let statement = Statement::parse(&envelope.payload)?;
    Ok(Parsed { format, keyless, envelope, statement })
}

/// A key a verifier trusts, optionally only for some predicate types.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Predicate types it may sign; empty: any.
    pub predicate_types: Vec<String>,
}

impl TrustedKey {
    /// A key trusted for every predicate type.
    pub fn any(key: PublicKey) -> Self {
        Self { key, predicate_types: vec![] }
    }

    fn allows(&self, predicate_type: &str) -> bool {
        self.predicate_types.is_empty() || self.predicate_types.iter().any(|p| p == predicate_type)
    }
}

/// The version an attestation must be about.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The model.
    pub model: &'a ModelName,
    /// Its files.
    pub manifest: &'a Manifest,
}

/// What a verifier trusts: keys, and (keyless) Sigstore trust roots with the identities they may
/// vouch for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    /// Trusted keys.
    pub keys: &'a [TrustedKey],
    /// Installed Sigstore trust roots.
    pub roots: &'a [std::sync::Arc<crate::keyless::TrustRoot>],
    /// Trusted workload identities.
    pub identities: &'a [crate::keyless::TrustedIdentity],
}

impl<'a> Trust<'a> {
    /// Keys only.
    pub fn keys(keys: &'a [TrustedKey]) -> Self {
        Self { keys, ..Self::default() }
    }
}

/// A verified attestation.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Bare DSSE envelope or Sigstore bundle.
    pub format: Format,
    /// The statement, now trusted.
    pub statement: Statement,
    /// Id of the key whose signature verified: a trusted key, or (keyless) the certificate's key.
    pub signer: Digest,
    /// Keyless: the workload identity, trust root and signing time the bundle proved.
    pub identity: Option<crate::keyless::Verified>,
    /// How it is tied to the version.
    pub binding: Binding,
    /// The subject digest that tied it.
    pub subject: Digest,
    /// The version's files this statement does not cover: for an OMS signature, those under its own
    /// `serialization.ignore_paths` (model_signing leaves `.git`, `.github`, `.gitattributes` and
    /// `.gitignore` out by default). Empty for every other binding. Such files are never reported as
    /// covered, and the client refuses to write them unless told to.
    pub uncovered: Vec<String>,
}

/// Verifies `raw` against `trusted` keys for `target`: a valid signature over PAE by a key trusted
/// for the predicate type, a well-formed Statement v1, and a subject that is this version.
pub fn verify(raw: &[u8], trusted: &[TrustedKey], target: Target<'_>) -> Result<Verified, AttestError> {
    verify_with(raw, Trust::keys(trusted), target)
}

/// [`verify`] with keyless trust too: a keyless bundle must be bound to the version, verify offline
/// against one of `trust.roots`, and be signed by one of `trust.identities`.
pub fn verify_with(raw: &[u8], trust: Trust<'_>, target: Target<'_>) -> Result<Verified, AttestError> {
    let p = parse(raw)?;
    if p.keyless {
        return verify_keyless(raw, p, trust, target);
    }
    let trusted = trust.keys;
    let pt = p.statement.predicate_type.clone();
    let keys: Vec<&PublicKey> = trusted.iter().map(|t| &t.key).collect();
    let ok = p.envelope.verified_by(&keys);
    let signer = match ok.iter().find(|&&i| trusted[i].allows(&pt)) {
        Some(&i) => trusted[i].key.key_id(),
        None => {
            return Err(match ok.first() {
                Some(&i) => {
                    AttestError::PredicateNotAllowed { key: trusted[i].key.key_id(), predicate_type: pt }
                }
                None => AttestError::UntrustedSigner,
            });
        }
    };
    let (binding, subject) = bind(&p.statement, target)?;
    let uncovered = uncovered(binding, &p.statement, target);
    Ok(Verified {
        format: p.format,
        statement: p.statement,
        signer,
        identity: None,
        binding,
        subject,
        uncovered,
    })
}

fn verify_keyless(
    raw: &[u8],
    p: Parsed,
    trust: Trust<'_>,
    target: Target<'_>,
) -> Result<Verified, AttestError> {
    use crate::keyless::{self, KeylessError, Reason};
    let refused = |reason, detail: String| AttestError::Keyless { reason, detail };
    // Bound first (a pure check of the statement); the cryptography then proves the statement and
    // that its subject is this digest.
    let (binding, subject) =
        bind(&p.statement, target).map_err(|e| refused(Reason::SubjectMismatch, e.to_string()))?;
    let text = std::str::from_utf8(raw).map_err(|_| AttestError::Malformed("not UTF-8".into()))?;
    let v = keyless::verify(text, keyless::digest_artifact(&subject), trust.roots, trust.identities)
        .map_err(|e| match e {
            KeylessError::Refused { reason, detail } => refused(reason, detail),
            KeylessError::Input(m) => refused(Reason::Malformed, m),
        })?;
    // What was verified must be exactly what is read: the same payload type and payload bytes.
    if v.signed_payload.as_ref() != Some(&(p.envelope.payload_type.clone(), p.envelope.payload.clone())) {
        return Err(refused(
            Reason::Malformed,
            "the signed content is not the envelope this bundle holds".into(),
        ));
    }
    let uncovered = uncovered(binding, &p.statement, target);
    Ok(Verified {
        format: p.format,
        statement: p.statement,
        signer: v.key_id,
        identity: Some(v),
        binding,
        subject,
        uncovered,
    })
}

/// The version's files a statement bound this way does not cover (an OMS signature's ignore_paths).
fn uncovered(binding: Binding, s: &Statement, target: Target<'_>) -> Vec<String> {
    match binding {
        Binding::Files => predicates::oms_ignored(&s.predicate, target.manifest),
        Binding::Manifest | Binding::Content => vec![],
    }
}

/// Which subject ties `s` to the version, and how.
pub fn bind(s: &Statement, target: Target<'_>) -> Result<(Binding, Digest), AttestError> {
    let manifest_digest = target.manifest.digest();
    let subjects: Vec<Digest> = s.subject.iter().filter_map(|x| x.sha256()).collect();
    if subjects.contains(&manifest_digest) {
        return Ok((Binding::Manifest, manifest_digest));
    }
    if s.predicate_type == predicates::OMS_V1 {
        let root = predicates::check_oms(&s.predicate, target.manifest, None)?;
        return if subjects.contains(&root) {
            Ok((Binding::Files, root))
        } else {
            Err(AttestError::SubjectMismatch)
        };
    }
    let root = target.manifest.oms_root_digest();
    if subjects.contains(&root) {
        return Ok((Binding::Content, root));
    }
    Err(AttestError::SubjectMismatch)
}

#[cfg(test)]
mod tests;
