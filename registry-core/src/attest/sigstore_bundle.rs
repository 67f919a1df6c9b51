//! Sigstore bundles (<https://github.com/sigstore/protobuf-specs>, v0.1–v0.3 JSON) as far as
//! key-based DSSE needs them: `verificationMaterial.publicKey.hint` and `dsseEnvelope` — what
//! `model_signing sign key` writes. Keyless bundles (a Fulcio certificate plus Rekor/TSA evidence) are
//! recognised here and verified elsewhere against a trust root; `messageSignature` bundles are not
//! attestations and are refused.
use serde::{Deserialize, Serialize};

use super::AttestError;
use super::dsse::Envelope;

/// The media type we write.
pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigstoreBundle {
    /// `application/vnd.dev.sigstore.bundle.v0.3+json` (older forms accepted on input).
    pub media_type: String,
    /// Keys, certificates and log evidence.
    pub verification_material: VerificationMaterial,
    /// The signed DSSE envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
    /// A plain message signature (not an attestation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<serde_json::Value>,
}

/// How to check a bundle's signature.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// A key the verifier already holds, named by a hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<KeyHint>,
    /// Keyless: a Fulcio certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<serde_json::Value>,
    /// Keyless (older bundles): a certificate chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<serde_json::Value>,
    /// Transparency log entries (kept, not interpreted here).
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
    /// RFC 3161 timestamps (kept, not interpreted here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<serde_json::Value>,
}

/// `publicKey: {hint}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyHint {
    /// Free-form hint (`model_signing`: hex SHA-256 of the public key's PEM).
    #[serde(default)]
    pub hint: String,
}

impl SigstoreBundle {
    /// A v0.3 bundle around `envelope`, signed by the key `hint` names, with no log entry.
    pub fn for_key(envelope: Envelope, hint: String) -> Self {
        Self {
            media_type: MEDIA_TYPE_V03.into(),
            verification_material: VerificationMaterial {
                public_key: Some(KeyHint { hint }),
                ..Default::default()
            },
            dsse_envelope: Some(envelope),
            message_signature: None,
        }
    }

    /// Parses a bundle.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestError> {
        let b: SigstoreBundle = serde_json::from_slice(bytes)
            .map_err(|e| AttestError::Malformed(format!("Sigstore bundle: {e}")))?;
        if !is_sigstore_bundle_media_type(&b.media_type) {
            return Err(AttestError::Malformed(format!("unknown bundle mediaType {:?}", b.media_type)));
        }
        Ok(b)
    }

    /// True for a Fulcio-certificate (keyless) bundle.
    pub fn is_keyless(&self) -> bool {
        self.verification_material.certificate.is_some()
            || self.verification_material.x509_certificate_chain.is_some()
    }

    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a bundle serializes")
    }
}

/// `application/vnd.dev.sigstore.bundle[.v0.N]+json[;version=0.N]`.
pub fn is_sigstore_bundle_media_type(m: &str) -> bool {
    m.starts_with("application/vnd.dev.sigstore.bundle")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_signing_bundle_parses() {
        let b = SigstoreBundle::parse(include_bytes!("../../../tests/fixtures/oms-small/model.sig"))
            .expect("parses");
        assert!(!b.is_keyless());
        assert_eq!(
            b.verification_material.public_key.as_ref().map(|k| k.hint.as_str()),
            Some("51c6ab41eba452cc9b23de313cb7ec05ab7da1a9102e0d5ec78c751979c5d9c7")
        );
        assert!(b.dsse_envelope.is_some());
        let again = SigstoreBundle::parse(&b.to_json()).expect("round trip");
        assert_eq!(again, b);
    }

    #[test]
    fn other_json_is_not_a_bundle() {
        assert!(SigstoreBundle::parse(br#"{"mediaType":"x","verificationMaterial":{}}"#).is_err());
        assert!(SigstoreBundle::parse(b"[]").is_err());
    }
}
