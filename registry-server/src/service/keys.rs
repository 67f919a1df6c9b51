//! Loading the server's own signing keys from their files (created, owner-only, on first start): the
//! transparency log's note key and the attestation (VSA) key. Pinning their public halves in the
//! database is `service::server_keys`.
use std::io::Write;
use std::path::Path;

use base64::Engine;
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::tlog::note::NoteSigner;

/// The log's signer and origin.
#[derive(Debug)]
pub struct LogKey {
    signer: NoteSigner,
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
            None => {
                let pk = NoteSigner::public_key(&secret);
                format!("registry/{}", &registry_core::Digest::of(&pk).hex()[..8])
            }
        };
        Ok(Self { signer: NoteSigner::new(&origin, &secret)? })
    }

    /// The verifier key text clients pin: `origin+keyid+key`.
    pub fn vkey(&self) -> String {
        self.signer.verifier().to_vkey()
    }

    /// Signs a note's text (a checkpoint).
    pub fn sign(&self, text: &str) -> Result<String, registry_core::tlog::note::NoteError> {
        self.signer.sign(text)
    }

    /// The origin line of checkpoints.
    pub fn origin(&self) -> &str {
        self.signer.verifier().name()
    }
}

/// Loads the server's attestation key (PEM PKCS#8) that signs promotion decisions (VSAs), creating an
/// Ed25519 one (0600) on first start.
pub fn load_or_create_attestation_key(path: &Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(pem) => SigningKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let key = SigningKey::from_seed(KeyKind::Ed25519, &seed)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            write_private(path, key.to_pkcs8_pem().as_bytes())?;
            tracing::warn!(file = %path.display(), key = %key.public().key_id(), "created the server's attestation key");
            Ok(key)
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
