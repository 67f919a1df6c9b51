//! Walking a model directory: regular files only, every path checked against the manifest rules.
//!
//! Symlinks and special files are refused with the file named, never skipped: a push must carry
//! exactly the directory the user sees.
use std::path::{Path, PathBuf};

use registry_core::manifest::{check_path, path_order};

use crate::ClientError;

/// A regular file under the walked root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Manifest path: relative, `/`-separated.
    pub path: String,
    /// Where it is on disk.
    pub abs: PathBuf,
    /// Size when walked.
    pub size: u64,
}

/// Lists the regular files under `root` in manifest order.
pub fn walk(root: &Path) -> Result<Vec<LocalFile>, ClientError> {
    let meta = std::fs::metadata(root).map_err(ClientError::io(root))?;
    if !meta.is_dir() {
        return Err(ClientError::Input(format!("{} is not a directory", root.display())));
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(ClientError::io(&dir))? {
            let entry = entry.map_err(ClientError::io(&dir))?;
            let abs = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| ClientError::Input(format!("{}: file name is not UTF-8", abs.display())))?;
            let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let ft = entry.file_type().map_err(ClientError::io(&abs))?;
            if ft.is_symlink() {
                return Err(ClientError::Input(format!(
                    "{}: symlinks are refused (copy the file into the model directory instead)",
                    abs.display()
                )));
            } else if ft.is_dir() {
                stack.push((abs, rel));
            } else if ft.is_file() {
                check_path(&rel).map_err(|why| ClientError::Input(format!("{}: {why}", abs.display())))?;
                let size = entry.metadata().map_err(ClientError::io(&abs))?.len();
                out.push(LocalFile { path: rel, abs, size });
            } else {
                return Err(ClientError::Input(format!(
                    "{}: special files (devices, sockets, FIFOs) are refused",
                    abs.display()
                )));
            }
        }
    }
    out.sort_by(|a, b| path_order(&a.path, &b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_nested_files_in_manifest_order() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("tokenizer")).expect("mkdir");
        std::fs::write(d.path().join("tokenizer/vocab.txt"), b"v").expect("write");
        std::fs::write(d.path().join("tokenizer-extra.txt"), b"e").expect("write");
        std::fs::write(d.path().join("a.bin"), b"aaa").expect("write");
        let files = walk(d.path()).expect("walks");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.bin", "tokenizer/vocab.txt", "tokenizer-extra.txt"]);
        assert_eq!(files[0].size, 3);
    }

    #[test]
    fn symlinks_and_fifos_are_refused_by_name() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("real"), b"x").expect("write");
        std::os::unix::fs::symlink(d.path().join("real"), d.path().join("link")).expect("symlink");
        let e = walk(d.path()).expect_err("refused").to_string();
        assert!(e.contains("link") && e.contains("symlinks are refused"), "{e}");

        let d = tempfile::tempdir().expect("tempdir");
        let fifo = d.path().join("pipe");
        let ok =
            std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
        if ok {
            let e = walk(d.path()).expect_err("refused").to_string();
            assert!(e.contains("pipe") && e.contains("special files"), "{e}");
        }
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("f"), b"x").expect("write");
        assert!(walk(&d.path().join("f")).is_err());
    }
}
