//! Where the CLI keeps tokens: `credentials.json` in the user's config directory, one token per
//! registry URL, file mode 0600. `REGISTRY_TOKEN` overrides it. The file is never printed.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ClientError;

#[derive(Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    registries: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    token: String,
}

/// `$REGISTRY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/registry`, else `~/.config/registry`.
pub fn config_dir() -> Result<PathBuf, ClientError> {
    if let Some(d) = std::env::var_os("REGISTRY_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("registry"));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| ClientError::Input("HOME is not set; set REGISTRY_CONFIG_DIR".into()))?;
    Ok(PathBuf::from(home).join(".config").join("registry"))
}

fn path() -> Result<PathBuf, ClientError> {
    Ok(config_dir()?.join("credentials.json"))
}

/// Canonical key for a registry URL (no trailing slash).
fn key(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

fn load() -> Result<File, ClientError> {
    let p = path()?;
    match std::fs::read(&p) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Input(format!("{}: {e}", p.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(ClientError::io(&p)(e)),
    }
}

/// Runs `f` on a fresh read of the file under an exclusive lock (`credentials.json.lock`), so two
/// logins at once never lose one another's token.
fn locked<R>(f: impl FnOnce(&mut File) -> Result<(R, bool), ClientError>) -> Result<R, ClientError> {
    let p = path()?;
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(ClientError::io(&dir))?;
    let lock_path = dir.join("credentials.json.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(ClientError::io(&lock_path))?;
    lock.lock().map_err(ClientError::io(&lock_path))?;
    let mut file = load()?;
    let (out, changed) = f(&mut file)?;
    if changed {
        save(&file)?;
    }
    drop(lock);
    Ok(out)
}

fn save(f: &File) -> Result<(), ClientError> {
    use std::os::unix::fs::OpenOptionsExt;
    let p = path()?;
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    // A name of its own (never a shared temp file another run could be writing), created 0600.
    let nonce = {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now())
    };
    let tmp = dir.join(format!(".credentials.json.{}-{nonce:016x}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(f).map_err(|e| ClientError::Input(e.to_string()))?;
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
    std::fs::rename(&tmp, &p).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ClientError::io(&p)(e)
    })
}

/// The token for `url`: `REGISTRY_TOKEN` if set, else the stored one.
pub fn token_for(url: &str) -> Result<Option<String>, ClientError> {
    if let Ok(t) = std::env::var("REGISTRY_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Some(t.trim().to_owned()));
    }
    Ok(load()?.registries.remove(&key(url)).map(|e| e.token))
}

/// Stores `token` for `url`.
pub fn store(url: &str, token: &str) -> Result<PathBuf, ClientError> {
    locked(|f| {
        f.registries.insert(key(url), Entry { token: token.trim().to_owned() });
        Ok(((), true))
    })?;
    path()
}

/// Forgets the token of `url`; true if there was one.
pub fn remove(url: &str) -> Result<bool, ClientError> {
    locked(|f| {
        let had = f.registries.remove(&key(url)).is_some();
        Ok((had, had))
    })
}
