//! `pull -o TARGET [--force]` never destroys what the user has: `.`, `..` and anything holding the
//! current directory are refused before a byte moves; `DIR/.` means `DIR`; a forced pull replaces the
//! target only once the new tree is complete and verified.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use registry_server::testing::TestServer;

fn registry(url: &str, token: &str, cfg: &Path) -> Command {
    let mut c = Command::cargo_bin("registry").unwrap();
    c.env("REGISTRY_URL", url).env("REGISTRY_TOKEN", token).env("REGISTRY_CONFIG_DIR", cfg);
    c
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

/// Every file under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_force_never_deletes_the_current_directory_or_its_parents() {
    let server = TestServer::start().await;
    let (url, token) = (server.url.clone(), server.admin_token.clone());
    let work = tempfile::tempdir().unwrap();
    let root: PathBuf = work.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let cfg = root.join("cfg");
        let cli = || registry(&url, &token, &cfg);
        write(&root.join("model"), &[("w.bin", "weights"), ("sub/config.json", "{}")]);
        cli()
            .arg("push")
            .arg(root.join("model"))
            .args(["--model", "a/m", "--version", "1"])
            .assert()
            .success();

        // The user's project: the pull is run from inside it.
        let proj = root.join("proj");
        write(&proj, &[("keep.txt", "mine"), ("sub/notes.md", "also mine")]);
        let before = tree(&root);
        for (cwd, target) in [
            (proj.clone(), "."),
            (proj.clone(), "./"),
            (proj.join("sub"), ".."),
            (proj.join("sub"), "../sub"),
            (proj.join("sub"), "../../proj"),
            (proj.clone(), "sub/.."),
        ] {
            cli()
                .current_dir(&cwd)
                .args(["pull", "a/m@1", "--force", "-o", target])
                .assert()
                .code(1)
                .stderr(predicate::str::contains("refusing to pull into"));
            assert_eq!(tree(&root), before, "-o {target} from {} touched something", cwd.display());
        }

        // `DIR/.` is DIR: a forced pull replaces DIR's contents with the model and nothing else moves.
        cli().current_dir(&proj).args(["pull", "a/m@1", "--force", "-o", "sub/."]).assert().success();
        assert_eq!(tree(&proj), ["keep.txt", "sub/sub/config.json", "sub/w.bin"]);

        // A symbolic link as the target is refused, and what it points at is untouched.
        std::os::unix::fs::symlink(proj.join("sub"), root.join("link")).unwrap();
        cli()
            .current_dir(&root)
            .args(["pull", "a/m@1", "--force", "-o", "link"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("symbolic link"));
        assert_eq!(tree(&proj), ["keep.txt", "sub/sub/config.json", "sub/w.bin"]);
        // No staging or aside directory is left anywhere.
        let names: Vec<String> = std::fs::read_dir(&proj)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_pull_that_fails_verification_leaves_the_old_tree_in_place() {
    let server = TestServer::start().await;
    let (url, token) = (server.url.clone(), server.admin_token.clone());
    let work = tempfile::tempdir().unwrap();
    let root: PathBuf = work.path().to_path_buf();
    let r = root.clone();
    let (u, t) = (url.clone(), token.clone());
    tokio::task::spawn_blocking(move || {
        write(&r.join("model"), &[("w.bin", "weights")]);
        registry(&u, &t, &r.join("cfg"))
            .arg("push")
            .arg(r.join("model"))
            .args(["--model", "a/m", "--version", "1"])
            .assert()
            .success();
    })
    .await
    .unwrap();
    server.tamper_blob(&registry_core::Digest::of(b"weights"), b"WEIGHTS").await;
    tokio::task::spawn_blocking(move || {
        let out = root.join("out");
        write(&out, &[("old.txt", "previous model")]);
        registry(&url, &token, &root.join("cfg"))
            .args(["pull", "a/m@1", "--force", "-o"])
            .arg(&out)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("w.bin"));
        assert_eq!(tree(&out), ["old.txt"]);
        assert_eq!(tree(&root).iter().filter(|p| p.contains(".out.")).count(), 0, "staging removed");
    })
    .await
    .unwrap();
}
