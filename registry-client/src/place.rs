//! Where a pull may write, and how a finished tree replaces what was there. Nothing on a user path is
//! removed until the new tree is complete and verified; a target that is, or contains, the current
//! directory is refused before anything is touched; a replacement is a rename swap (atomic on Linux,
//! `renameat2(RENAME_EXCHANGE)`), and the old tree is removed only after the swap.
use std::path::{Component, Path, PathBuf};

use crate::ClientError;

/// A checked output directory: its path with trailing `.` components dropped (`DIR/.` is `DIR`), and
/// the existing directory it will hold the tree in (beside the target, so the final rename never
/// crosses file systems).
#[derive(Debug, Clone)]
pub struct Target {
    /// The directory to fill or replace.
    pub path: PathBuf,
    /// Its parent, where the staging directory is made.
    pub parent: PathBuf,
    /// Its final component.
    pub name: String,
}

/// Checks `out` before anything is written. Refused (as [`ClientError::Input`], exit 1, nothing
/// touched): a path that ends in `..` or names only `.` (give the directory by name), a symbolic
/// link, something that is not a directory, and any directory that is or contains the current
/// directory (replacing it would pull the floor from under the caller).
pub fn check_target(out: &Path) -> Result<Target, ClientError> {
    let refuse = |why: &str| ClientError::Input(format!("refusing to pull into {}: {why}", out.display()));
    // `Path::components` drops interior and trailing `.`; a path that is only `.` keeps one CurDir.
    let mut parts: Vec<Component<'_>> = out.components().collect();
    while parts.len() > 1 && parts.last() == Some(&Component::CurDir) {
        parts.pop();
    }
    let name = match parts.last() {
        Some(Component::Normal(n)) => n.to_string_lossy().into_owned(),
        Some(Component::CurDir) => return Err(refuse("it is the current directory")),
        Some(Component::ParentDir) => {
            return Err(refuse("it ends in `..` (name the directory itself)"));
        }
        _ => return Err(refuse("it is not a directory path")),
    };
    let path: PathBuf = parts.iter().collect();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(refuse("it is a symbolic link (name the directory it points to)"));
        }
        Ok(m) if !m.is_dir() => return Err(refuse("it exists and is not a directory")),
        Ok(_) => {
            let real = std::fs::canonicalize(&path).map_err(ClientError::io(&path))?;
            let cwd =
                std::env::current_dir().and_then(std::fs::canonicalize).map_err(ClientError::io("."))?;
            if cwd.starts_with(&real) {
                return Err(refuse("it is or contains the current directory"));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ClientError::io(&path)(e)),
    }
    Ok(Target { path, parent, name })
}

/// True when `p` is a directory with no entries.
pub fn is_empty_dir(p: &Path) -> Result<bool, ClientError> {
    Ok(std::fs::read_dir(p).map_err(ClientError::io(p))?.next().is_none())
}

/// A staging directory beside the target (a fresh name; `create_dir` refuses one that exists). It is
/// removed when dropped unless [`Staging::place`] moved it into place.
#[derive(Debug)]
pub struct Staging {
    path: Option<PathBuf>,
}

impl Staging {
    /// Makes `.NAME.pull-PID-NONCE` in the target's parent (creating the parent if needed).
    pub fn new(t: &Target) -> Result<Self, ClientError> {
        std::fs::create_dir_all(&t.parent).map_err(ClientError::io(&t.parent))?;
        let p = t.parent.join(format!(".{}.pull-{}-{:016x}", t.name, std::process::id(), nonce()));
        std::fs::create_dir(&p).map_err(ClientError::io(&p))?;
        Ok(Self { path: Some(p) })
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Moves the finished tree to `t`. An absent or empty target is replaced by one rename (which
    /// fails, touching nothing, if the target gained entries meanwhile). A non-empty one only with
    /// `replace`: swapped in one step where the OS can, else moved aside, replaced, and moved back if the
    /// second rename fails; the old tree is deleted only once the new one is in place.
    pub fn place(mut self, t: &Target, replace: bool) -> Result<(), ClientError> {
        let staged = self.path.clone().unwrap_or_default();
        let exists = std::fs::symlink_metadata(&t.path).is_ok();
        if !exists || is_empty_dir(&t.path)? {
            std::fs::rename(&staged, &t.path).map_err(ClientError::io(&t.path))?;
            self.path = None;
            return Ok(());
        }
        if !replace {
            return Err(ClientError::Input(format!(
                "{} is not empty (use --force to replace it)",
                t.path.display()
            )));
        }
        if exchange(&staged, &t.path)? {
            // `staged` now holds the old tree; Drop removes it.
            return Ok(());
        }
        let aside = t.parent.join(format!(".{}.old-{}-{:016x}", t.name, std::process::id(), nonce()));
        std::fs::rename(&t.path, &aside).map_err(ClientError::io(&t.path))?;
        if let Err(e) = std::fs::rename(&staged, &t.path) {
            let _ = std::fs::rename(&aside, &t.path);
            return Err(ClientError::io(&t.path)(e));
        }
        self.path = Some(aside);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Atomically exchanges two directories; false when this OS or file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool, ClientError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => Ok(false),
        Err(e) => Err(ClientError::io(b)(e.into())),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> Result<bool, ClientError> {
    Ok(false)
}

fn nonce() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dot_dotdot_and_paths_ending_in_dotdot_are_refused() {
        for p in [".", "./", "..", "../", "a/..", "a/../.", "./."] {
            assert!(check_target(Path::new(p)).is_err(), "{p} accepted");
        }
    }

    #[test]
    fn a_trailing_dot_names_the_directory_itself() {
        let t = check_target(Path::new("some-new-dir/.")).unwrap();
        assert_eq!(t.path, Path::new("some-new-dir"));
        assert_eq!(t.name, "some-new-dir");
        assert_eq!(t.parent, Path::new("."));
    }

    #[test]
    fn a_swap_keeps_the_new_tree_and_removes_the_old_one_only_after() {
        let w = tempfile::tempdir().unwrap();
        let target = w.path().join("out");
        std::fs::create_dir_all(target.join("old")).unwrap();
        std::fs::write(target.join("old/f"), "old").unwrap();
        let t = check_target(&target).unwrap();
        let s = Staging::new(&t).unwrap();
        std::fs::write(s.path().join("new"), "new").unwrap();
        assert!(matches!(
            Staging::new(&t).unwrap().place(&t, false),
            Err(ClientError::Input(m)) if m.contains("not empty")
        ));
        assert!(target.join("old/f").exists(), "a refused placement touches nothing");
        s.place(&t, true).unwrap();
        assert_eq!(std::fs::read_to_string(target.join("new")).unwrap(), "new");
        assert!(!target.join("old").exists());
        let left: Vec<_> = std::fs::read_dir(w.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("out")], "no staging or old tree left behind");
    }
}
