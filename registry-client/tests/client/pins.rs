//! The pin store under concurrent CLI runs and damage: a pin never moves backwards, a pin that does
//! not verify is an error naming the file (never "no pin"), and an alias's newest verified move is
//! pinned too.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{Cli, Relay, blocking, write};
use predicates::prelude::*;
use registry_server::testing::TestServer;

/// The size of the checkpoint pinned for `url` in `cfg`.
fn pinned_size(cfg: &Path, url: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.join("logs.json")).unwrap()).unwrap();
    v["logs"][url]["checkpoint"].as_str().unwrap().lines().nth(1).unwrap().parse().unwrap()
}

fn push(c: &Cli, w: &Path, v: &str) {
    write(&w.join(format!("m{v}")), &[("w.bin", v)]);
    c.cmd()
        .arg("push")
        .arg(w.join(format!("m{v}")))
        .args(["--model", "a/m", "--version", v])
        .assert()
        .success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_run_never_moves_the_pin_back_behind_a_faster_one() {
    let work = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let relay = Relay::start(&s.url).await;
    let w = work.path().to_path_buf();
    // The two runs share a config directory and a registry URL (the relay); pushes pin elsewhere.
    let shared = Cli { url: relay.url.clone(), token: s.admin_token.clone(), cfg: w.join("cfg") };
    let pusher = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: w.join("cfg-push") };
    let (sh, pu, ww) = (shared.clone(), pusher.clone(), w.clone());
    blocking(move || {
        push(&pu, &ww, "1");
        sh.cmd().args(["log", "checkpoint"]).assert().success();
        push(&pu, &ww, "2");
    })
    .await;
    let small = s.state.db.log_size().await.unwrap();
    let (arrived, release) = relay.hold("/v1/log/proofs/consistency");
    let (sh, ww) = (shared.clone(), w.clone());
    let slow = blocking(move || {
        // Run A: loads the pin, fetches the checkpoint, then waits for its consistency proof...
        #[allow(deprecated)]
        let bin = assert_cmd::cargo::cargo_bin("registry");
        let mut a = std::process::Command::new(bin)
            .args(["log", "checkpoint"])
            .env("REGISTRY_URL", &sh.url)
            .env("REGISTRY_TOKEN", &sh.token)
            .env("REGISTRY_CONFIG_DIR", &sh.cfg)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        arrived.recv_timeout(Duration::from_secs(60)).expect("run A asked for its proof");
        // ...while run B, after another push, pins a bigger tree.
        push(&pusher, &ww, "3");
        sh.cmd().args(["log", "checkpoint"]).assert().success();
        let big = pinned_size(&sh.cfg, &sh.url);
        let _ = release.send(());
        let status = a.wait().unwrap();
        (status, big)
    })
    .await;
    let (status, big) = slow;
    assert!(status.success(), "run A's smaller checkpoint is a genuine prefix");
    assert!(big > small);
    assert_eq!(pinned_size(&shared.cfg, &shared.url), big, "the pin stays at the bigger tree");
    drop(relay);
}

/// Two runs sharing a config directory: run A asks for the checkpoint, and while the answer is on its
/// way run B pins a bigger tree. A's answer is older than B's pin but was current when A asked: a
/// prefix of it, not a rollback (this was "LOG ROLLBACK" when the pin was read after the answer came).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_overtaken_by_another_runs_pin_is_not_a_rollback() {
    let work = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let relay = Relay::start(&s.url).await;
    let w = work.path().to_path_buf();
    let shared = Cli { url: relay.url.clone(), token: s.admin_token.clone(), cfg: w.join("cfg") };
    let pusher = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: w.join("cfg-push") };
    let (sh, pu, ww) = (shared.clone(), pusher.clone(), w.clone());
    blocking(move || {
        push(&pu, &ww, "1");
        sh.cmd().args(["log", "checkpoint"]).assert().success();
    })
    .await;
    let small = s.state.db.log_size().await.unwrap();
    // The answer run A gets: the checkpoint as it is now, once the bigger one is pinned.
    let stale = reqwest::Client::new()
        .get(format!("{}/v1/log/checkpoint", s.url))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 200);
    let stale = stale.bytes().await.unwrap();
    let serve_stale = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = serve_stale.clone();
    relay.edit(move |path, body| {
        match path.starts_with("/v1/log/checkpoint") && flag.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            true => stale.clone(),
            false => body,
        }
    });
    let (arrived, release) = relay.hold("/v1/log/checkpoint");
    let (sh, ww) = (shared.clone(), w.clone());
    let (status, stderr, big) = blocking(move || {
        #[allow(deprecated)]
        let bin = assert_cmd::cargo::cargo_bin("registry");
        let a = std::process::Command::new(bin)
            .args(["log", "checkpoint"])
            .env("REGISTRY_URL", &sh.url)
            .env("REGISTRY_TOKEN", &sh.token)
            .env("REGISTRY_CONFIG_DIR", &sh.cfg)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        arrived.recv_timeout(Duration::from_secs(60)).expect("run A asked for the checkpoint");
        // While A's answer is on its way: another push, and run B pins the bigger tree.
        push(&pusher, &ww, "2");
        sh.cmd().args(["log", "checkpoint"]).assert().success();
        let big = pinned_size(&sh.cfg, &sh.url);
        serve_stale.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = release.send(());
        let out = a.wait_with_output().unwrap();
        (out.status, String::from_utf8_lossy(&out.stderr).into_owned(), big)
    })
    .await;
    assert!(status.success(), "run A failed: {stderr}");
    assert!(big > small);
    assert_eq!(pinned_size(&shared.cfg, &shared.url), big, "the pin stays at the bigger tree");
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_that_does_not_verify_is_an_error_naming_the_file() {
    let work = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let cli = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: work.path().join("cfg") };
    blocking(move || {
        push(&cli, cli.cfg.parent().unwrap(), "1");
        let pins = cli.cfg.join("logs.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&pins).unwrap()).unwrap();
        let cp = v["logs"][&cli.url]["checkpoint"].as_str().unwrap().to_owned();
        let mut lines: Vec<&str> = cp.split('\n').collect();
        lines[1] = "1"; // a smaller size under the same signature
        v["logs"][&cli.url]["checkpoint"] = lines.join("\n").into();
        std::fs::write(&pins, serde_json::to_vec(&v).unwrap()).unwrap();
        for args in [&["log", "checkpoint"][..], &["verify", "a/m@1"][..]] {
            cli.cmd().args(args).assert().code(3).stderr(
                predicate::str::contains(pins.display().to_string())
                    .and(predicate::str::contains("does not verify")),
            );
        }
        // The damaged pin is left for the user to look at, not replaced.
        let after: serde_json::Value = serde_json::from_slice(&std::fs::read(&pins).unwrap()).unwrap();
        assert_eq!(after, v);
        // Unreadable JSON is an error naming the file too.
        std::fs::write(&pins, b"{not json").unwrap();
        cli.cmd().args(["log", "checkpoint"]).assert().code(1).stderr(predicate::str::contains("logs.json"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_s_newest_verified_move_is_pinned() {
    let work = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let relay = Relay::start(&s.url).await;
    let w = work.path().to_path_buf();
    let admin = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: w.join("cfg-admin") };
    let (a, ww) = (admin.clone(), w.clone());
    let reader = blocking(move || {
        push(&a, &ww, "1");
        push(&a, &ww, "2");
        for v in ["1", "2"] {
            a.cmd().args(["promote", &format!("a/m@{v}"), "--to", "production"]).assert().success();
        }
        let out = a
            .cmd()
            .args(["token", "create", "--name", "reader", "--scopes", "read", "--namespace", "a/*"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
    .await;
    // A reader that cannot read the whole log, through the relay, sees production -> 2 first...
    let reader = Cli { url: relay.url.clone(), token: reader, cfg: w.join("cfg-reader") };
    let r = reader.clone();
    blocking(move || {
        r.cmd().args(["verify", "a/m@production"]).assert().success();
    })
    .await;
    // ...then the relay answers @production with 1's bundle (its genuine, older move).
    relay.route(|p| p.replace("/versions/production/bundle", "/versions/1/bundle"));
    blocking(move || {
        reader
            .cmd()
            .args(["pull", "a/m@production", "-o"])
            .arg(w.join("p"))
            .assert()
            .code(3)
            .stderr(predicate::str::contains("ALIAS ROLLBACK"));
        assert!(!w.join("p").exists());
    })
    .await;
}
