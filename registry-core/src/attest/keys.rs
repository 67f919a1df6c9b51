//! Signing keys and public keys: ECDSA P-256 (sigstore/cosign default; DER signatures over SHA-256) and
//! Ed25519. PEM in, PEM out: SPKI for public keys, PKCS#8 (or SEC1 for EC) for private keys. A key's id
//! is `sha256:` of its SPKI DER, so the same key has the same id in every tool.
use std::fmt;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey};

use crate::digest::Digest;

/// Why a key or signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM public key of a supported kind.
    #[error("not a supported public key (PEM SubjectPublicKeyInfo, ECDSA P-256 or Ed25519): {0}")]
    Public(String),
    /// Not a PEM private key of a supported kind.
    #[error("not a supported private key (PEM PKCS#8 or SEC1, ECDSA P-256 or Ed25519): {0}")]
    Private(String),
    /// Random bytes that are no valid P-256 scalar (retry with other bytes).
    #[error("seed is not a valid key")]
    Seed,
}

/// Which algorithm a key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA over NIST P-256 with SHA-256.
    P256,
    /// Ed25519.
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::P256 => "ecdsa-p256",
            KeyKind::Ed25519 => "ed25519",
        })
    }
}

#[derive(Clone)]
enum Public {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A public key that verifies signatures.
#[derive(Clone)]
pub struct PublicKey {
    inner: Public,
    spki_der: Vec<u8>,
}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim()) {
            return Self::build(Public::P256(k));
        }
        match ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim()) {
            Ok(k) => Self::build(Public::Ed25519(k)),
            Err(e) => Err(KeyError::Public(e.to_string())),
        }
    }

    /// Parses SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Self::build(Public::P256(k));
        }
        match ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            Ok(k) => Self::build(Public::Ed25519(k)),
            Err(e) => Err(KeyError::Public(e.to_string())),
        }
    }

    fn build(inner: Public) -> Result<Self, KeyError> {
        let der = match &inner {
            Public::P256(k) => k.to_public_key_der(),
            Public::Ed25519(k) => k.to_public_key_der(),
        }
        .map_err(|e| KeyError::Public(e.to_string()))?;
        Ok(Self { inner, spki_der: der.as_bytes().to_vec() })
    }

    /// `sha256:` of the SPKI DER.
    pub fn key_id(&self) -> Digest {
        Digest::of(&self.spki_der)
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyKind {
        match self.inner {
            Public::P256(_) => KeyKind::P256,
            Public::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// PEM `PUBLIC KEY`, LF line endings (the exact text `model_signing` hashes into its key hint).
    pub fn to_pem(&self) -> String {
        let r = match &self.inner {
            Public::P256(k) => k.to_public_key_pem(LineEnding::LF),
            Public::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        };
        r.expect("a parsed key re-encodes")
    }

    /// The SPKI DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The hint `model_signing` writes into a Sigstore bundle's `verificationMaterial.publicKey.hint`:
    /// hex SHA-256 of the PEM text.
    pub fn oms_hint(&self) -> String {
        Digest::of(self.to_pem().as_bytes()).hex()
    }

    /// True when `sig` is a valid signature of `msg`: ASN.1 DER ECDSA over SHA-256 (P-256), or a
    /// 64-byte Ed25519 signature checked strictly.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match &self.inner {
            Public::P256(k) => match p256::ecdsa::Signature::from_der(sig) {
                Ok(s) => k.verify(msg, &s).is_ok(),
                Err(_) => false,
            },
            Public::Ed25519(k) => match ed25519_dalek::Signature::from_slice(sig) {
                Ok(s) => k.verify_strict(msg, &s).is_ok(),
                Err(_) => false,
            },
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.kind(), self.key_id())
    }
}

enum Secret {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A private key that signs. Its `Debug` never shows the secret.
pub struct SigningKey {
    inner: Secret,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} {})", self.public.kind(), self.public.key_id())
    }
}

impl SigningKey {
    /// Parses PEM `PRIVATE KEY` (PKCS#8, P-256 or Ed25519) or `EC PRIVATE KEY` (SEC1, P-256).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        use p256::elliptic_curve::SecretKey;
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = pem.trim();
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Self::build(Secret::P256(k));
        }
        if let Ok(k) = SecretKey::<p256::NistP256>::from_sec1_pem(pem) {
            return Self::build(Secret::P256(k.into()));
        }
        match ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            Ok(k) => Self::build(Secret::Ed25519(k)),
            Err(e) => Err(KeyError::Private(e.to_string())),
        }
    }

    /// A key from 32 random bytes (the caller supplies them: this crate does no I/O). For P-256 a
    /// seed that is not a valid scalar gives [`KeyError::Seed`]; retry with fresh bytes.
    pub fn from_seed(kind: KeyKind, seed: &[u8; 32]) -> Result<Self, KeyError> {
        match kind {
            KeyKind::P256 => {
                let k = p256::ecdsa::SigningKey::from_slice(seed).map_err(|_| KeyError::Seed)?;
                Self::build(Secret::P256(k))
            }
            KeyKind::Ed25519 => Self::build(Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed))),
        }
    }

    fn build(inner: Secret) -> Result<Self, KeyError> {
        let public = match &inner {
            Secret::P256(k) => PublicKey::build(Public::P256(*k.verifying_key()))?,
            Secret::Ed25519(k) => PublicKey::build(Public::Ed25519(k.verifying_key()))?,
        };
        Ok(Self { inner, public })
    }

    /// The matching public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// PEM PKCS#8 `PRIVATE KEY` (write it with mode 0600).
    pub fn to_pkcs8_pem(&self) -> String {
        let r = match &self.inner {
            Secret::P256(k) => k.to_pkcs8_pem(LineEnding::LF).map(|z| z.to_string()),
            Secret::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF).map(|z| z.to_string()),
        };
        r.expect("a key encodes as PKCS#8")
    }

    /// Signs `msg`: DER ECDSA over SHA-256 (P-256) or Ed25519.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match &self.inner {
            Secret::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
            Secret::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_verify_and_round_trip_through_pem() {
        for kind in [KeyKind::P256, KeyKind::Ed25519] {
            let k = SigningKey::from_seed(kind, &[7u8; 32]).expect("seed");
            let sig = k.sign(b"message");
            assert!(k.public().verify(b"message", &sig), "{kind}");
            assert!(!k.public().verify(b"messagE", &sig), "{kind}");
            let back = SigningKey::from_pem(&k.to_pkcs8_pem()).expect("private pem");
            assert_eq!(back.public(), k.public());
            let p = PublicKey::from_pem(&k.public().to_pem()).expect("public pem");
            assert_eq!(p.key_id(), k.public().key_id());
            assert!(p.verify(b"message", &sig));
            assert!(!format!("{k:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn the_model_signing_hint_is_the_sha256_of_the_pem() {
        let pem = include_str!("../../../tests/fixtures/oms-small/k.pub");
        let p = PublicKey::from_pem(pem).expect("p256 key");
        assert_eq!(p.to_pem(), pem, "our PEM is byte-identical to openssl's");
        assert_eq!(p.oms_hint(), "51c6ab41eba452cc9b23de313cb7ec05ab7da1a9102e0d5ec78c751979c5d9c7");
        // And the SEC1 private key openssl wrote for it parses.
        let sk = SigningKey::from_pem(include_str!("../../../tests/fixtures/oms-small/k.pem")).expect("sec1");
        assert_eq!(sk.public(), &p);
    }

    #[test]
    fn garbage_is_refused_with_a_message() {
        assert!(matches!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
            Err(KeyError::Public(_))
        ));
        assert!(matches!(SigningKey::from_pem("nope"), Err(KeyError::Private(_))));
        let k = SigningKey::from_seed(KeyKind::P256, &[1u8; 32]).expect("seed");
        assert!(!k.public().verify(b"m", b"\x30\x00"));
        assert!(SigningKey::from_seed(KeyKind::P256, &[0u8; 32]).is_err(), "zero is no scalar");
    }
}
