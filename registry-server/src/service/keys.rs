//! The server's own signing keys: the transparency log's note key and the attestation (VSA) key,
//! each from its file (created, owner-only, on first start) or from a PKCS#11 token
//! (`service::pkcs11`). Pinning their public halves in the database is `service::server_keys`.
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use registry_core::attest::dsse::{Envelope, Signature, pae};
use registry_core::attest::keys::{KeyKind, PublicKey, SigningKey};
use registry_core::tlog::note::{self, NoteError, NoteSigner, NoteVerifier};

use crate::config::Config;
use crate::service::pkcs11::{Pkcs11Error, TokenKey};

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The text is no signable note.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The token failed.
    #[error(transparent)]
    Token(#[from] Pkcs11Error),
    /// The signing thread died.
    #[error("the signing task failed: {0}")]
    Task(String),
    /// The token did not answer in time (or an earlier signature is still stuck in it).
    #[error("the PKCS#11 token did not sign within {} s", TOKEN_TIMEOUT.as_secs())]
    Timeout,
}

impl SignError {
    /// The answer for a request whose signature failed: the token being slow, down or refusing is
    /// 503 (retry later), anything else 500.
    pub fn to_api(&self) -> crate::error::ApiError {
        match self {
            SignError::Timeout | SignError::Token(_) => {
                tracing::error!(error = %self, "server key signing failed");
                crate::error::ApiError::unavailable("the server's signing key is unavailable; retry later")
            }
            _ => crate::error::ApiError::internal(self.to_string()),
        }
    }
}

/// How long one signature may take in the token, waiting for earlier ones included.
pub const TOKEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Signs `msg` with a token key on the blocking pool: C_Sign may take a network HSM's round trip,
/// which must not stall the async workers. One signature per key is in the pool at a time (callers
/// wait here, cancellable), and a token that hangs costs one blocked thread, not one per request.
async fn token_sign(key: &Arc<TokenKey>, msg: Vec<u8>) -> Result<Vec<u8>, SignError> {
    let run = async {
        let permit = key.gate().acquire_owned().await.map_err(|e| SignError::Task(e.to_string()))?;
        let k = key.clone();
        let r = tokio::task::spawn_blocking(move || {
            let _held = permit; // released when the token answers, even after a timeout
            k.sign_blocking(&msg)
        })
        .await;
        r.map_err(|e| SignError::Task(e.to_string()))?.map_err(SignError::from)
    };
    tokio::time::timeout(TOKEN_TIMEOUT, run).await.map_err(|_| SignError::Timeout)?
}

/// Where a signing key lives: its file (loaded into memory) or a PKCS#11 token.
#[derive(Debug)]
pub enum Signer {
    /// A key file.
    File(Box<SigningKey>),
    /// A key in a token.
    Token(Arc<TokenKey>),
}

impl Signer {
    /// The public key.
    pub fn public(&self) -> &PublicKey {
        match self {
            Signer::File(k) => k.public(),
            Signer::Token(k) => k.public(),
        }
    }

    /// A DSSE envelope over `payload` with one signature by this key, byte for byte what
    /// [`Envelope::sign`] makes with a key file (the key id as `keyid`).
    pub async fn sign_envelope(&self, payload_type: &str, payload: Vec<u8>) -> Result<Envelope, SignError> {
        match self {
            Signer::File(k) => Ok(Envelope::sign(payload_type, payload, &[k])),
            Signer::Token(k) => {
                let sig = token_sign(k, pae(payload_type, &payload)).await?;
                let keyid = k.public().key_id().to_string();
                Ok(Envelope {
                    payload_type: payload_type.to_owned(),
                    payload,
                    signatures: vec![Signature { keyid, sig }],
                })
            }
        }
    }
}

enum NoteKey {
    File(Box<NoteSigner>),
    Token(Arc<TokenKey>),
}

/// The log's signer and origin.
pub struct LogKey {
    verifier: NoteVerifier,
    key: NoteKey,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if matches!(self.key, NoteKey::Token(_)) { "token" } else { "file" };
        write!(f, "LogKey({} in {at})", self.verifier.to_vkey())
    }
}

/// `registry/<8 hex of the public key's hash>`: the origin when none is configured.
fn default_origin(public: &[u8]) -> String {
    format!("registry/{}", &registry_core::Digest::of(public).hex()[..8])
}

impl LogKey {
    /// Loads the Ed25519 secret from `path` (base64 of 32 bytes), creating it (mode 0600) on first
    /// start. The origin is `origin` if given, else `registry/<8 hex of the public key's hash>`.
    pub fn load_or_create(path: &Path, origin: Option<&str>) -> anyhow::Result<Self> {
        let secret: [u8; 32] = match std::fs::read_to_string(path) {
            Ok(text) => base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| anyhow::anyhow!("{}: not a base64 32-byte Ed25519 secret", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut s = [0u8; 32];
                getrandom::fill(&mut s).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let text = base64::engine::general_purpose::STANDARD.encode(s) + "\n";
                write_private(path, text.as_bytes())?;
                tracing::warn!(file = %path.display(), "created the transparency log's signing key");
                s
            }
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let origin = match origin {
            Some(o) => o.to_owned(),
            None => default_origin(&NoteSigner::public_key(&secret)),
        };
        let signer = NoteSigner::new(&origin, &secret)?;
        Ok(Self { verifier: signer.verifier().clone(), key: NoteKey::File(Box::new(signer)) })
    }

    /// The log key in a token (Ed25519 only: signed notes know no other algorithm).
    pub fn from_token(key: TokenKey, origin: Option<&str>) -> anyhow::Result<Self> {
        let public: [u8; 32] = key
            .raw_public()
            .try_into()
            .map_err(|_| anyhow::anyhow!("the token's log key is not a 32-byte Ed25519 key"))?;
        let origin = origin.map_or_else(|| default_origin(&public), str::to_owned);
        let verifier = NoteVerifier::from_public_key(&origin, &public)?;
        Ok(Self { verifier, key: NoteKey::Token(Arc::new(key)) })
    }

    /// The configured log key: the token's when `--log-key-pkcs11` is set, else the key file's.
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        match (&config.log_key_pkcs11, &config.pkcs11) {
            (Some(uri), Some(settings)) => {
                let what = "transparency log signing key (--log-key-pkcs11)";
                Self::from_token(
                    TokenKey::open(settings, uri, &[KeyKind::Ed25519], what)?,
                    config.log_origin.as_deref(),
                )
            }
            // A token key without the module and PIN must never fall back to a fresh file key.
            (Some(_), None) => anyhow::bail!("--log-key-pkcs11 needs --pkcs11-module and a PIN"),
            (None, _) => Self::load_or_create(&config.log_key_file, config.log_origin.as_deref()),
        }
    }

    /// The verifier key text clients pin: `origin+keyid+key`.
    pub fn vkey(&self) -> String {
        self.verifier.to_vkey()
    }

    /// Signs a note's text (a checkpoint).
    pub async fn sign(&self, text: &str) -> Result<String, SignError> {
        match &self.key {
            NoteKey::File(s) => Ok(s.sign(text)?),
            NoteKey::Token(k) => {
                note::check_text(text)?;
                let sig = token_sign(k, text.as_bytes().to_vec()).await?;
                let sig: [u8; 64] = sig
                    .as_slice()
                    .try_into()
                    .map_err(|_| SignError::Task("the token's Ed25519 signature is not 64 bytes".into()))?;
                Ok(self.verifier.signed_note(text, &sig))
            }
        }
    }

    /// The origin line of checkpoints.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }
}

/// The configured attestation (VSA) key: the token's when `--attestation-key-pkcs11` is set, else
/// the key file's.
pub fn load_attestation_key(config: &Config) -> anyhow::Result<Signer> {
    match (&config.attestation_key_pkcs11, &config.pkcs11) {
        (Some(uri), Some(settings)) => {
            let what = "promotion decision signing key (--attestation-key-pkcs11)";
            let key = TokenKey::open(settings, uri, &[KeyKind::Ed25519, KeyKind::P256], what)?;
            Ok(Signer::Token(Arc::new(key)))
        }
        (Some(_), None) => anyhow::bail!("--attestation-key-pkcs11 needs --pkcs11-module and a PIN"),
        (None, _) => load_or_create_attestation_key(&config.attestation_key_file),
    }
}

/// Loads the server's attestation key (PEM PKCS#8) that signs promotion decisions (VSAs), creating an
/// Ed25519 one (0600) on first start.
pub fn load_or_create_attestation_key(path: &Path) -> anyhow::Result<Signer> {
    match std::fs::read_to_string(path) {
        Ok(pem) => SigningKey::from_pem(&pem)
            .map(|k| Signer::File(Box::new(k)))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let key = SigningKey::from_seed(KeyKind::Ed25519, &seed)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            write_private(path, key.to_pkcs8_pem().as_bytes())?;
            tracing::warn!(file = %path.display(), key = %key.public().key_id(), "created the server's attestation key");
            Ok(Signer::File(Box::new(key)))
        }
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// Writes a file readable by its owner only (created 0600, never widened).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
