//! A JSON file in the CLI's config directory (`credentials.json`, the pin store `logs.json`) that several
//! CLI runs may change at once: every change is made under an exclusive lock on `NAME.lock`, on a fresh
//! read of the file, written to a temporary file of its own (mode 0600, synced) and renamed into place.
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ClientError;

/// Reads `path` (an absent file is `T::default()`); `unreadable` words the error for a file that does
/// not parse, which is never taken for an empty one.
pub(crate) fn load<T: DeserializeOwned + Default>(
    path: &Path,
    unreadable: impl FnOnce(&Path, serde_json::Error) -> ClientError,
) -> Result<T, ClientError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| unreadable(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(ClientError::io(path)(e)),
    }
}

/// Runs `f` on a fresh read of `path` (through `load`) under the file's exclusive lock, and writes the
/// file back when `f` says it changed it. `f` must not wait on the network: other runs wait for the lock.
pub(crate) fn update<T: Serialize, R>(
    path: &Path,
    load: impl FnOnce() -> Result<T, ClientError>,
    f: impl FnOnce(&mut T) -> Result<(R, bool), ClientError>,
) -> Result<R, ClientError> {
    let dir = parent(path);
    std::fs::create_dir_all(&dir).map_err(ClientError::io(&dir))?;
    let lock_path = dir.join(format!("{}.lock", file_name(path)));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(ClientError::io(&lock_path))?;
    lock.lock().map_err(ClientError::io(&lock_path))?;
    let mut value = load()?;
    let (out, changed) = f(&mut value)?;
    if changed {
        save(path, &value)?;
    }
    drop(lock); // unlocks
    Ok(out)
}

/// Writes `value` to a temporary file of its own beside `path` (never a shared name another run could
/// be writing), created 0600 and synced, then renames it over `path`.
fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), ClientError> {
    let nonce = {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now())
    };
    let tmp = parent(path).join(format!(".{}.{}-{nonce:016x}.tmp", file_name(path), std::process::id()));
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| ClientError::Input(e.to_string()))?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut out| out.write_all(&bytes).and_then(|()| out.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(ClientError::io(&tmp)(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ClientError::io(path)(e)
    })
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(PathBuf::from).unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
