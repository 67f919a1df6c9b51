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

fn save(f: &File) -> Result<(), ClientError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let p = path()?;
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(ClientError::io(&dir))?;
    let tmp = dir.join(".credentials.json.tmp");
    let bytes = serde_json::to_vec_pretty(f).map_err(|e| ClientError::Input(e.to_string()))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(ClientError::io(&tmp))?;
    // A pre-existing file keeps its mode on open: narrow it explicitly.
    out.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(ClientError::io(&tmp))?;
    out.write_all(&bytes).and_then(|()| out.sync_all()).map_err(ClientError::io(&tmp))?;
    std::fs::rename(&tmp, &p).map_err(ClientError::io(&p))
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
    let mut f = load()?;
    f.registries.insert(key(url), Entry { token: token.trim().to_owned() });
    save(&f)?;
    path()
}

/// Forgets the token of `url`; true if there was one.
pub fn remove(url: &str) -> Result<bool, ClientError> {
    let mut f = load()?;
    let had = f.registries.remove(&key(url)).is_some();
    if had {
        save(&f)?;
    }
    Ok(had)
}
