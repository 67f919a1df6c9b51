//! Third-party Sigstore bundles (keyless cosign signatures, GitHub Actions attestations, key-based
//! bundles with Rekor entries), verified offline with `sigstore-verify` against a trusted root file.
//!
//! The signer must be named: an exact certificate identity (SAN) and OIDC issuer for keyless bundles,
//! or a public key. "Any identity" would prove only that someone with a Fulcio certificate signed, so
//! it is not offered.
use std::path::Path;

use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Bundle, DerPublicKey, SignatureContent};
use sigstore_verify::{IdentityMatcher, PublicKeyVerificationPolicy, VerificationPolicy, Verifier};

use crate::ClientError;

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// Keyless: the certificate's SAN (an email or a URI such as a workflow) and its OIDC issuer.
    Identity {
        /// Exact SAN.
        identity: String,
        /// Exact issuer URL.
        issuer: String,
    },
    /// A key-based Sigstore bundle: the public key (PEM).
    Key(String),
}

/// What a verified Sigstore bundle says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SigstoreBundleReport {
    /// The certificate identity, for keyless bundles.
    pub identity: Option<String>,
    /// The OIDC issuer, for keyless bundles.
    pub issuer: Option<String>,
    /// When the transparency log integrated the entry (RFC 3339), if it did.
    pub integrated_time: Option<String>,
    /// The in-toto predicate type, for DSSE bundles.
    pub predicate_type: Option<String>,
}

fn err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Verify(e.to_string())
}

/// Verifies `bundle` (JSON) over `artifact` against the trust root in `trusted_root` (JSON), requiring
/// `signer`. No network is used.
pub fn verify_sigstore_bundle(
    bundle: &str,
    artifact: &[u8],
    trusted_root: &str,
    signer: &Signer,
) -> Result<SigstoreBundleReport, ClientError> {
    let root =
        TrustedRoot::from_json(trusted_root).map_err(|e| ClientError::Input(format!("trusted root: {e}")))?;
    let bundle = Bundle::from_json(bundle).map_err(|e| ClientError::Input(format!("bundle: {e}")))?;
    let verifier = Verifier::new(&root).map_err(|e| ClientError::Input(format!("trusted root: {e}")))?;
    let result = match signer {
        Signer::Identity { identity, issuer } => {
            // A URI identity (a CI workflow) must be a URI SAN, an address an email SAN.
            let matcher = if identity.contains("://") {
                IdentityMatcher::Uri(identity.clone())
            } else {
                IdentityMatcher::Email(identity.clone())
            };
            verifier
                .verify(artifact, &bundle, &VerificationPolicy::new(matcher, issuer.clone()))
                .map_err(err)?
        }
        Signer::Key(pem) => {
            let key =
                DerPublicKey::from_pem(pem).map_err(|e| ClientError::Input(format!("public key: {e}")))?;
            verifier.verify(artifact, &bundle, &PublicKeyVerificationPolicy::new(key)).map_err(err)?
        }
    };
    let predicate_type = match &bundle.content {
        SignatureContent::DsseEnvelope(env) => {
            serde_json::from_slice::<serde_json::Value>(env.payload.as_bytes())
                .ok()
                .and_then(|v| v["predicateType"].as_str().map(String::from))
        }
        _ => None,
    };
    Ok(SigstoreBundleReport {
        identity: result.identity().map(|i| i.to_string()),
        issuer: result.issuer().map(String::from),
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
