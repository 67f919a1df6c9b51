//! The pin store (`$REGISTRY_CONFIG_DIR/logs.json`): per registry, the log key and the newest checkpoint
//! verified, and per alias the newest logged move verified. Several CLI runs may share it: every change
//! is made under an exclusive lock on `logs.json.lock`, on a fresh read of the file, written to a
//! temporary file of its own and renamed into place, and a pin never moves backwards. A store that
//! cannot be read is an error naming the file, never an empty store.
use std::collections::BTreeMap;
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
    crate::config_file::load(&path()?, |p, e| {
        ClientError::Input(format!(
            "{}: the pin store cannot be read ({e}); fix or remove it knowingly: it holds the log keys and checkpoints this client trusts",
            p.display()
        ))
    })
}

/// Runs `f` on a fresh read of the store under the store's exclusive lock, and writes the store back
/// when `f` says it changed it. `f` must not wait on the network: other runs wait for the lock.
pub(crate) fn update<R>(
    f: impl FnOnce(&mut Pins) -> Result<(R, bool), ClientError>,
) -> Result<R, ClientError> {
    crate::config_file::update(&path()?, load, f)
}
