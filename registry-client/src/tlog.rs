//! Client side of the transparency log: pin the log's key and the newest checkpoint seen per registry
//! (in the config directory), refuse any checkpoint that is not signed by the pinned key or is not an
//! extension of the pinned one (a rewritten or forked log), and check versions against their log
//! entries through the auditor bundle.
use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use registry_core::tlog::note::{Checkpoint, NoteVerifier};
use registry_core::tlog::verify_consistency;
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError};

#[derive(Default, Serialize, Deserialize)]
struct Pins {
    #[serde(default)]
    logs: BTreeMap<String, Pin>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Pin {
    key: String,
    checkpoint: String,
}

fn pins_path() -> Result<PathBuf, ClientError> {
    Ok(crate::credentials::config_dir()?.join("logs.json"))
}

fn load() -> Result<Pins, ClientError> {
    let p = pins_path()?;
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| ClientError::Input(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pins::default()),
        Err(e) => Err(ClientError::io(&p)(e)),
    }
}

fn save(p: &Pins) -> Result<(), ClientError> {
    let path = pins_path()?;
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(ClientError::io(&dir))?;
    let tmp = dir.join(".logs.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(p).map_err(|e| ClientError::Input(e.to_string()))?)
        .map_err(ClientError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(ClientError::io(&path))
}

/// A checkpoint the client has verified and pinned.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The log's key.
    pub key: NoteVerifier,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// True when the key was learned from the registry just now (trust on first use).
    pub first_use: bool,
}

fn key_of(client: &Client) -> String {
    client.base_url().as_str().trim_end_matches('/').to_owned()
}

/// Reads a verifier key given as text or as a file holding it.
pub fn read_log_key(s: &str) -> Result<NoteVerifier, ClientError> {
    let text = if std::path::Path::new(s).exists() {
        std::fs::read_to_string(s).map_err(ClientError::io(s))?
    } else {
        s.to_owned()
    };
    NoteVerifier::parse(text.trim()).map_err(|e| ClientError::Input(format!("log key: {e}")))
}

/// The key to trust for `client`'s log: `given`, else the pinned one, else the registry's (first use).
async fn log_key(
    client: &Client,
    pins: &Pins,
    given: Option<&NoteVerifier>,
) -> Result<(NoteVerifier, bool), ClientError> {
    let pinned = pins.logs.get(&key_of(client));
    if let Some(g) = given {
        if let Some(p) = pinned
            && p.key != g.to_vkey()
        {
            return Err(ClientError::Verify(format!(
                "the log key given ({}) differs from the one pinned for {} ({}); remove the pin in {} only if the registry rotated its key",
                g.to_vkey(),
                key_of(client),
                p.key,
                pins_path()?.display()
            )));
        }
        return Ok((g.clone(), false));
    }
    if let Some(p) = pinned {
        return Ok((
            NoteVerifier::parse(&p.key).map_err(|e| ClientError::Input(format!("pinned log key: {e}")))?,
            false,
        ));
    }
    let text = client.log_key().await?;
    Ok((
        NoteVerifier::parse(&text)
            .map_err(|e| ClientError::Verify(format!("the registry's log key: {e}")))?,
        true,
    ))
}

/// Checks `note` (a checkpoint from `client`) against the pinned state and pins it: signed by the log
/// key, and an extension of the pinned checkpoint (proved with a consistency proof). Any failure is a
/// [`ClientError::Verify`]: the log was rewritten or forked, or is not the one pinned.
pub async fn accept(
    client: &Client,
    note: &str,
    given: Option<&NoteVerifier>,
) -> Result<Verified, ClientError> {
    let mut pins = load()?;
    let (key, first_use) = log_key(client, &pins, given).await?;
    let cp = Checkpoint::open(note, &key).map_err(|e| {
        ClientError::Verify(format!(
            "the log checkpoint does not verify with the log key {}: {e}",
            key.to_vkey()
        ))
    })?;
    if let Some(old) = pins.logs.get(&key_of(client)).and_then(|p| Checkpoint::open(&p.checkpoint, &key).ok())
    {
        if cp.size < old.size {
            return Err(ClientError::Verify(format!(
                "LOG ROLLBACK: the registry's log has {} entries, but {} were already seen (pinned); its history was rewritten",
                cp.size, old.size
            )));
        }
        if cp.size > old.size || cp.root != old.root {
            let proof = if cp.size == old.size {
                vec![]
            } else {
                client.log_consistency(old.size, cp.size).await?.hashes
            };
            let hashes = proof
                .iter()
                .map(|h| {
                    base64::engine::general_purpose::STANDARD
                        .decode(h)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ClientError::Protocol("malformed consistency proof".into()))?;
            if !verify_consistency(old.size, cp.size, &hashes, &old.root, &cp.root) {
                return Err(ClientError::Verify(format!(
                    "LOG FORK: the registry's log at size {} is not an extension of the log pinned at size {}; its history was rewritten or forked",
                    cp.size, old.size
                )));
            }
        }
        if cp.size < old.size || (cp.size == old.size && cp.root == old.root) {
            return Ok(Verified { key, checkpoint: cp, first_use });
        }
    }
    pins.logs.insert(key_of(client), Pin { key: key.to_vkey(), checkpoint: note.to_owned() });
    save(&pins)?;
    Ok(Verified { key, checkpoint: cp, first_use })
}

/// Fetches, verifies and pins the registry's current checkpoint.
pub async fn sync(client: &Client, given: Option<&NoteVerifier>) -> Result<Verified, ClientError> {
    let note = client.log_checkpoint().await?;
    accept(client, &note, given).await
}

/// What checking a version against the log found.
#[derive(Debug)]
pub struct VersionCheck {
    /// The bundle the registry served.
    pub bundle: registry_core::audit_bundle::AuditBundle,
    /// The offline verification of it against the pinned log.
    pub report: registry_core::audit_bundle::OfflineReport,
    /// The pinned checkpoint state.
    pub log: Verified,
}

/// Fetches the version's auditor bundle, pins its checkpoint (consistency with the last one seen) and
/// verifies it exactly as an offline auditor would, with `keys` trusted for attestations.
pub async fn check_version(
    client: &Client,
    model: &registry_core::ModelName,
    reference: &str,
    keys: &[registry_core::attest::keys::PublicKey],
    required: &[String],
    given: Option<&NoteVerifier>,
) -> Result<VersionCheck, ClientError> {
    let bundle = client.bundle(model, reference).await?;
    let log = accept(client, &bundle.log.checkpoint, given).await?;
    let trusted: Vec<registry_core::attest::TrustedKey> =
        keys.iter().cloned().map(registry_core::attest::TrustedKey::any).collect();
    let report = registry_core::audit_bundle::verify_offline(&bundle, &trusted, &log.key, required);
    Ok(VersionCheck { bundle, report, log })
}
