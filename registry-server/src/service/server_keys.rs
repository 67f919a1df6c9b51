//! Pinning the server's own keys: the public half of the transparency log's signing key and of the
//! promotion (VSA) signing key is recorded in the database on first use, and a server started with
//! another key refuses to start. A replica started without the shared `--log-key-file` would otherwise
//! sign checkpoints with a fresh key, and every client that pinned the real one would fail.
use crate::db::{Db, now_ms, rfc3339};

/// What a key signs, as recorded, and the flags that name its file or token key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Checkpoints of the transparency log (Ed25519 note key; the verifier key text is recorded).
    Log,
    /// Promotion decisions (SLSA VSAs; the PEM public key is recorded).
    Attestation,
    /// Webhook URLs and secrets at rest (a symmetric key: its fingerprint is recorded).
    Webhook,
}

impl Purpose {
    /// Both, in the order they are checked.
    pub const ALL: [Purpose; 3] = [Purpose::Log, Purpose::Attestation, Purpose::Webhook];

    /// The `server_keys.purpose` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Log => "log",
            Purpose::Attestation => "attestation",
            Purpose::Webhook => "webhook",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Purpose::Log => "transparency log signing key (--log-key-file or --log-key-pkcs11)",
            Purpose::Attestation => {
                "promotion decision signing key (--attestation-key-file or --attestation-key-pkcs11)"
            }
            Purpose::Webhook => "webhook sealing key (--webhook-key-file)",
        }
    }
}

/// The public text of each configured key, as recorded.
#[derive(Debug, Clone)]
pub struct Configured {
    /// Log verifier key text (`origin+keyid+key`).
    pub log: String,
    /// Attestation key, PEM.
    pub attestation: String,
    /// Webhook sealing key's fingerprint.
    pub webhook: String,
}

impl Configured {
    /// The text for `p`.
    pub fn of(&self, p: Purpose) -> &str {
        match p {
            Purpose::Log => &self.log,
            Purpose::Attestation => &self.attestation,
            Purpose::Webhook => &self.webhook,
        }
    }
}

/// Records each configured key on first use; refuses (with what to do) when the database recorded
/// another.
pub async fn pin(db: &Db, keys: &Configured) -> anyhow::Result<()> {
    for p in Purpose::ALL {
        let mine = keys.of(p);
        let (recorded, at) = db.server_key_pin(p.as_str(), mine, now_ms()).await?;
        if recorded != mine {
            anyhow::bail!(
                "the {} is not the one this registry's database recorded on {}.\n  \
                 configured: {}\n  recorded:   {}\n\
                 Every replica must use the same key files or token keys (a replica started without \
                 the shared key file creates a new key). If this is a deliberate rotation, follow \"Rotating server \
                 keys\" in docs/operations.md (`registry-server server-keys --accept`).",
                p.what(),
                rfc3339(at),
                one_line(mine),
                one_line(&recorded)
            );
        }
    }
    Ok(())
}

/// What is recorded for each purpose, next to what is configured: (purpose, configured, recorded).
pub async fn status(db: &Db, keys: &Configured) -> anyhow::Result<Vec<(Purpose, String, Option<String>)>> {
    let mut out = Vec::new();
    for p in Purpose::ALL {
        out.push((p, keys.of(p).to_owned(), db.server_key_get(p.as_str()).await?.map(|(k, _)| k)));
    }
    Ok(out)
}

/// Records the configured keys in place of what was recorded (the rotation step).
pub async fn accept(db: &Db, keys: &Configured) -> anyhow::Result<()> {
    for p in Purpose::ALL {
        db.server_key_replace(p.as_str(), keys.of(p), now_ms()).await?;
    }
    Ok(())
}

/// A PEM or key text on one line, for messages.
pub fn one_line(key: &str) -> String {
    key.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().join("")
}
