//! Webhook URLs and signing secrets at rest: AES-256-GCM under one key every replica shares
//! (`--webhook-key-file`; made 0600 in the data directory on first start when not given). A URL often
//! embeds credentials, so neither is stored, logged or answered in the clear.
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

/// The sealing key, and its fingerprint (what the database pins: every replica must hold the same
/// key, or the secrets one sealed would not open on another).
pub struct SealKey {
    key: LessSafeKey,
    fingerprint: String,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// A key from 32 bytes.
    pub fn from_bytes(b: &[u8]) -> anyhow::Result<Self> {
        let k = UnboundKey::new(&AES_256_GCM, b).map_err(|_| anyhow::anyhow!("a webhook key is 32 bytes"))?;
        // A hash of 32 random bytes under its own label: it names the key without helping anyone find it.
        let mut h = Sha256::new();
        h.update(b"registry webhook sealing key v1\0");
        h.update(b);
        Ok(Self { key: LessSafeKey::new(k), fingerprint: format!("sha256:{}", hex::encode(h.finalize())) })
    }

    /// The key the configuration names (`--webhook-key-file`, else the data directory's
    /// `webhook.key`), made on first start when missing — like the signing keys' files. The database
    /// pins its fingerprint, so a replica that made its own refuses to start.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let path = config.webhook_key_file.clone().unwrap_or_else(|| config.data_dir.join("webhook.key"));
        Self::load(&path, true)
    }

    /// What the database pins for this key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Reads the key file (64 hex digits), or, when `create` and it does not exist, writes a new
    /// random one (0600, written whole before it is used).
    pub fn load(path: &Path, create: bool) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .map_err(|_| anyhow::anyhow!("{}: not 64 hex digits", path.display()))?;
                Self::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut b = [0u8; 32];
                getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
                }
                // Written whole under a name of its own, then linked into place without replacing
                // anything: a start stopped midway leaves no half key, and of two starts racing on
                // one directory the second reads the first's key instead of overwriting it.
                let mut tag = [0u8; 8];
                getrandom::fill(&mut tag).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                let tmp = path.with_extension(format!("tmp-{}", hex::encode(tag)));
                crate::service::keys::write_private(&tmp, format!("{}\n", hex::encode(b)).as_bytes())
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
                let linked = std::fs::hard_link(&tmp, path);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => {
                        tracing::warn!(file = %path.display(), "created the webhook sealing key");
                        Self::from_bytes(&b)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path, false),
                    Err(e) => Err(anyhow::anyhow!("writing {}: {e}", path.display())),
                }
            }
            Err(e) => Err(anyhow::anyhow!("reading the webhook key {}: {e}", path.display())),
        }
    }

    /// `base64(nonce || ciphertext || tag)`, bound to `what` (a field name: a sealed URL cannot be
    /// passed off as a secret).
    pub fn seal(&self, what: &str, plain: &[u8]) -> anyhow::Result<String> {
        let mut n = [0u8; NONCE_LEN];
        getrandom::fill(&mut n).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(n), Aad::from(what.as_bytes()), &mut buf)
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = n.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// The plain bytes of [`SealKey::seal`]'s output; an error when altered, sealed for another
    /// field, or sealed under another key.
    pub fn open(&self, what: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let raw = STANDARD.decode(sealed).map_err(|_| anyhow::anyhow!("sealed {what}: not base64"))?;
        if raw.len() < NONCE_LEN {
            anyhow::bail!("sealed {what}: too short");
        }
        let (n, ct) = raw.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(n).map_err(|_| anyhow::anyhow!("sealed {what}: nonce"))?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(what.as_bytes()), &mut buf)
            .map_err(|_| anyhow::anyhow!("sealed {what} does not open with this webhook key"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_field() {
        let k = SealKey::from_bytes(&[1; 32]).unwrap();
        let s = k.seal("url", b"https://user:pw@example.com/hook").unwrap();
        assert!(!s.contains("example"));
        assert_eq!(k.open("url", &s).unwrap(), b"https://user:pw@example.com/hook");
        assert!(k.open("secret", &s).is_err(), "bound to its field");
        assert!(SealKey::from_bytes(&[2; 32]).unwrap().open("url", &s).is_err(), "another key");
        let mut raw = STANDARD.decode(&s).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(k.open("url", &STANDARD.encode(raw)).is_err(), "altered");
        assert_ne!(k.seal("url", b"x").unwrap(), k.seal("url", b"x").unwrap(), "fresh nonces");
    }

    #[test]
    fn a_missing_key_is_made_private_in_a_new_directory_and_kept_after() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-yet").join("webhook.key");
        let a = SealKey::load(&path, true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = SealKey::load(&path, true).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint(), "the second start reads the first's key");
        assert_ne!(a.fingerprint(), SealKey::from_bytes(&[1; 32]).unwrap().fingerprint());
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        assert!(SealKey::load(&dir.path().join("absent.key"), false).is_err(), "a named key is never made");
    }
}
