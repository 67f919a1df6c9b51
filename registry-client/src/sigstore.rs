//! Third-party Sigstore bundles (keyless cosign signatures, GitHub Actions attestations, key-based
//! bundles with Rekor entries), verified offline with `sigstore-verify` against a trusted root file.
//! Keyless signers are checked by `registry_core::keyless` (the rules the server applies at ingest).
//!
//! The signer must be named: trusted identities (an exact OIDC issuer and a subject, exact or an
//! anchored pattern, optionally with certificate claims) for keyless bundles, or a public key. "Any
//! identity" would prove only that someone with a Fulcio certificate signed, so it is not offered.
use std::collections::BTreeMap;
use std::path::Path;

use registry_core::keyless::{self, SubjectMatch, TrustRoot, TrustedIdentity};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Bundle, DerPublicKey, SignatureContent};
use sigstore_verify::{PublicKeyVerificationPolicy, Verifier};

use crate::ClientError;

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// Keyless: the certificate's exact SAN (an email or a URI such as a workflow) and OIDC issuer.
    Identity {
        /// Exact SAN.
        identity: String,
        /// Exact issuer URL.
        issuer: String,
    },
    /// Keyless: any of these identities.
    Trusted(Vec<TrustedIdentity>),
    /// A key-based Sigstore bundle: the public key (PEM).
    Key(String),
}

/// `ISSUER=SUBJECT_REGEX` rules (split at the first `=`), each requiring every `NAME=VALUE` claim: how
/// the CLI (`--trusted-identity`, `--claim`) and the SDK name keyless signers.
pub fn trusted_identities(pairs: &[String], claims: &[String]) -> Result<Vec<TrustedIdentity>, ClientError> {
    let mut required = BTreeMap::new();
    for c in claims {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| ClientError::Input(format!("claim {c:?}: expected NAME=VALUE")))?;
        required.insert(k.to_owned(), v.to_owned());
    }
    if pairs.is_empty() {
        return Err(ClientError::Input("name at least one trusted identity (ISSUER=SUBJECT_REGEX)".into()));
    }
    pairs
        .iter()
        .map(|p| {
            let id = TrustedIdentity::parse_pair(p)?;
            TrustedIdentity::new(&id.issuer, id.subject, required.clone(), None)
        })
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::Input(e.to_string()))
}

/// Keyless trust as a verifier is given it (`registry verify --trust-root --trusted-identity`, the
/// SDK): Sigstore trust root files and the identities they may vouch for.
#[derive(Debug, Default)]
pub struct KeylessTrust {
    /// The roots, each named by its file.
    pub roots: Vec<std::sync::Arc<TrustRoot>>,
    /// The trusted signers.
    pub identities: Vec<TrustedIdentity>,
}

impl KeylessTrust {
    /// Reads `root_files` and parses `ISSUER=SUBJECT_REGEX` `pairs`, each requiring every `NAME=VALUE`
    /// of `claims`. Nothing given is no keyless trust; roots without identities (or the reverse) are
    /// refused: a root alone would trust nobody, an identity alone could not be checked.
    pub fn load(
        root_files: &[impl AsRef<Path>],
        pairs: &[String],
        claims: &[String],
    ) -> Result<Self, ClientError> {
        if root_files.is_empty() && pairs.is_empty() && claims.is_empty() {
            return Ok(Self::default());
        }
        if root_files.is_empty() {
            return Err(ClientError::Input(
                "a trusted identity needs --trust-root FILE (the Sigstore trusted_root.json its certificates chain to)"
                    .into(),
            ));
        }
        let identities = trusted_identities(pairs, claims)?;
        let roots = root_files
            .iter()
            .map(|p| {
                let p = p.as_ref();
                let text = std::fs::read_to_string(p).map_err(ClientError::io(p))?;
                TrustRoot::from_json(&p.display().to_string(), &text)
                    .map(std::sync::Arc::new)
                    .map_err(|e| ClientError::Input(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { roots, identities })
    }
}

/// What a verified Sigstore bundle says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SigstoreBundleReport {
    /// The certificate identity, for keyless bundles.
    pub identity: Option<String>,
    /// The OIDC issuer, for keyless bundles.
    pub issuer: Option<String>,
    /// The Fulcio CI claims of the certificate (snake_case names), for keyless bundles.
    pub claims: BTreeMap<String, String>,
    /// When it was signed (RFC 3339), as the transparency log or a timestamp authority proved.
    pub integrated_time: Option<String>,
    /// The in-toto predicate type, for DSSE bundles.
    pub predicate_type: Option<String>,
}

fn err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Verify(e.to_string())
}

/// Verifies `bundle` (JSON) over `artifact` against the trust root in `trusted_root` (JSON), requiring
/// `signer`. No network is used. A keyless refusal names its reason (`untrusted_identity`,
/// `certificate_chain`, `sct`, `no_signing_time`, `tlog_proof`, `signature`, `subject_mismatch`).
pub fn verify_sigstore_bundle(
    bundle: &str,
    artifact: &[u8],
    trusted_root: &str,
    signer: &Signer,
) -> Result<SigstoreBundleReport, ClientError> {
    let identities = match signer {
        Signer::Key(pem) => return verify_with_key(bundle, artifact, trusted_root, pem),
        Signer::Identity { identity, issuer } => vec![
            TrustedIdentity::new(issuer, SubjectMatch::Exact(identity.clone()), BTreeMap::new(), None)
                .map_err(|e| ClientError::Input(e.to_string()))?,
        ],
        Signer::Trusted(ids) => ids.clone(),
    };
    let root =
        TrustRoot::from_json("trusted-root", trusted_root).map_err(|e| ClientError::Input(e.to_string()))?;
    let v = keyless::verify(bundle, artifact, &[root], &identities).map_err(|e| match e {
        keyless::KeylessError::Input(m) => ClientError::Input(m),
        refused => err(refused),
    })?;
    Ok(SigstoreBundleReport {
        identity: Some(v.signer.subject),
        issuer: Some(v.signer.issuer),
        claims: v.signer.claims,
        integrated_time: v.signed_at,
        predicate_type: v.predicate_type,
    })
}

fn verify_with_key(
    bundle: &str,
    artifact: &[u8],
    trusted_root: &str,
    pem: &str,
) -> Result<SigstoreBundleReport, ClientError> {
    let root =
        TrustedRoot::from_json(trusted_root).map_err(|e| ClientError::Input(format!("trusted root: {e}")))?;
    let bundle = Bundle::from_json(bundle).map_err(|e| ClientError::Input(format!("bundle: {e}")))?;
    let verifier = Verifier::new(&root).map_err(|e| ClientError::Input(format!("trusted root: {e}")))?;
    let key = DerPublicKey::from_pem(pem).map_err(|e| ClientError::Input(format!("public key: {e}")))?;
    let result = verifier.verify(artifact, &bundle, &PublicKeyVerificationPolicy::new(key)).map_err(err)?;
    let predicate_type = match &bundle.content {
        SignatureContent::DsseEnvelope(env) => {
            serde_json::from_slice::<serde_json::Value>(env.payload.as_bytes())
                .ok()
                .and_then(|v| v["predicateType"].as_str().map(String::from))
        }
        _ => None,
    };
    Ok(SigstoreBundleReport {
        identity: None,
        issuer: None,
        claims: BTreeMap::new(),
        integrated_time: result.integrated_time().map(|t| t.to_string()),
        predicate_type,
    })
}

/// [`verify_sigstore_bundle`] with files.
pub fn verify_sigstore_bundle_files(
    bundle: &Path,
    artifact: &Path,
    trusted_root: &Path,
    signer: &Signer,
) -> Result<SigstoreBundleReport, ClientError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(ClientError::io(p));
    let artifact = std::fs::read(artifact).map_err(ClientError::io(artifact))?;
    verify_sigstore_bundle(&read(bundle)?, &artifact, &read(trusted_root)?, signer)
}
