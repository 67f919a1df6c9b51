//! Where the CLI keeps tokens: `credentials.json` in the user's config directory, one token per
//! registry URL, file mode 0600. `REGISTRY_TOKEN` overrides it. The file is never printed.
use std::collections::BTreeMap;
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
    crate::config_file::load(&path()?, |p, e| ClientError::Input(format!("{}: {e}", p.display())))
}

/// Runs `f` on a fresh read of the file under its exclusive lock (`credentials.json.lock`), so two
/// logins at once never lose one another's token.
fn locked<R>(f: impl FnOnce(&mut File) -> Result<(R, bool), ClientError>) -> Result<R, ClientError> {
    crate::config_file::update(&path()?, load, f)
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
