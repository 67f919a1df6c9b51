//! Checking a directory against a manifest: missing, extra and changed files.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use registry_core::Manifest;
use serde::Serialize;

use crate::ClientError;
use crate::hash::hash_files;
use crate::progress::Progress;
use crate::walk::{LocalFile, walk};

/// What a directory holds compared with a manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DirReport {
    /// Files that match.
    pub ok: usize,
    /// In the manifest, not in the directory.
    pub missing: Vec<String>,
    /// In the directory, not in the manifest.
    pub extra: Vec<String>,
    /// In both, with other contents.
    pub changed: Vec<String>,
}

impl DirReport {
    /// True when the directory is exactly the manifest.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

/// Re-hashes `dir` and compares it with `manifest`.
pub fn verify_dir(
    dir: &Path,
    manifest: &Manifest,
    progress: Arc<dyn Progress>,
    threads: usize,
) -> Result<DirReport, ClientError> {
    let local = walk(dir)?;
    let mut by_path: HashMap<&str, &LocalFile> = local.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut report = DirReport::default();
    let mut to_hash: Vec<(LocalFile, registry_core::Digest)> = Vec::new();
    for f in manifest.files() {
        match by_path.remove(f.path.as_str()) {
            None => report.missing.push(f.path.clone()),
            Some(l) if l.size != f.size => report.changed.push(f.path.clone()),
            Some(l) => to_hash.push((l.clone(), f.digest)),
        }
    }
    report.extra = by_path.into_keys().map(str::to_owned).collect();
    report.extra.sort();
    let files: Vec<LocalFile> = to_hash.iter().map(|(l, _)| l.clone()).collect();
    let digests = hash_files(&files, progress, threads)?;
    for ((l, want), got) in to_hash.iter().zip(digests) {
        if got == *want {
            report.ok += 1;
        } else {
            report.changed.push(l.path.clone());
        }
    }
    Ok(report)
}
