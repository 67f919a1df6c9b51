//! The pin store (`$REGISTRY_CONFIG_DIR/logs.json`): per registry, the log key and the newest checkpoint
//! verified, and per alias the newest logged move verified. Several CLI runs may share it: every change
//! is made under an exclusive lock on `logs.json.lock`, on a fresh read of the file, written to a
//! temporary file of its own and renamed into place, and a pin never moves backwards. A store that
//! cannot be read is an error naming the file, never an empty store.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// The whole store.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Pins {
    #[serde(default)]
    pub logs: BTreeMap<String, Pin>,
    /// `REGISTRY|NS/NAME@ALIAS` -> index of the newest `alias.moved` entry verified for it.
    #[serde(default)]
    pub aliases: BTreeMap<String, u64>,
}

/// One registry's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pin {
    pub key: String,
    pub checkpoint: String,
}

pub(crate) fn path() -> Result<PathBuf, ClientError> {
    Ok(crate::credentials::config_dir()?.join("logs.json"))
}

/// Reads the store (an absent file is an empty store).
pub(crate) fn load() -> Result<Pins, ClientError> {
    let p = path()?;
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            ClientError::Input(format!(
                "{}: the pin store cannot be read ({e}); fix or remove it knowingly: it holds the log keys and checkpoints this client trusts",
                p.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pins::default()),
        Err(e) => Err(ClientError::io(&p)(e)),
    }
}

/// Runs `f` on a fresh read of the store under the store's exclusive lock, and writes the store back
/// when `f` says it changed it. `f` must not wait on the network: other runs wait for the lock.
pub(crate) fn update<R>(
    f: impl FnOnce(&mut Pins) -> Result<(R, bool), ClientError>,
) -> Result<R, ClientError> {
    let p = path()?;
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(ClientError::io(&dir))?;
    let lock_path = dir.join("logs.json.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(ClientError::io(&lock_path))?;
    lock.lock().map_err(ClientError::io(&lock_path))?;
    let mut pins = load()?;
    let (out, changed) = f(&mut pins)?;
    if changed {
        save(&pins)?;
    }
    drop(lock); // unlocks
    Ok(out)
}

fn save(pins: &Pins) -> Result<(), ClientError> {
    let p = path()?;
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    let bytes = serde_json::to_vec_pretty(pins).map_err(|e| ClientError::Input(e.to_string()))?;
    let tmp = dir.join(format!(".logs.json.{}-{:016x}.tmp", std::process::id(), nonce()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(ClientError::io(&tmp)(e));
    }
    std::fs::rename(&tmp, &p).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ClientError::io(&p)(e)
    })
}

fn nonce() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
