//! Checkpoint notes are parsed as Go's note package parses them and verified strictly, and the offline
//! report takes no label from the bundle's unsigned fields.
#![allow(clippy::unwrap_used)]

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Cli, Relay, blocking, write};
use predicates::prelude::*;
use registry_server::testing::TestServer;

/// A server with one signed version, its bundle in `b.json`, and the log key.
async fn setup(work: &std::path::Path) -> (TestServer, Cli, String) {
    let s = TestServer::start().await;
    let cli = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: work.join("cfg") };
    let (c, w) = (cli.clone(), work.to_path_buf());
    let vkey = blocking(move || {
        c.cmd().args(["keygen", "--out"]).arg(w.join("k")).assert().success();
        c.cmd()
            .args(["keys", "add", "--namespace", "*", "--public-key"])
            .arg(w.join("k.pub"))
            .assert()
            .success();
        write(&w.join("m"), &[("w.bin", "weights")]);
        c.cmd()
            .arg("push")
            .arg(w.join("m"))
            .args(["--model", "a/m", "--version", "1", "--sign-key"])
            .arg(w.join("k.key"))
            .assert()
            .success();
        c.cmd().args(["bundle", "a/m@1", "-o"]).arg(w.join("b.json")).assert().success();
        let out = c.cmd().args(["--json", "log", "checkpoint"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["log_key"].as_str().unwrap().to_owned()
    })
    .await;
    (s, cli, vkey)
}

fn edit_bundle(w: &std::path::Path, name: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(w.join("b.json")).unwrap()).unwrap();
    f(&mut b);
    std::fs::write(w.join(name), serde_json::to_vec(&b).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_with_a_junk_line_after_its_signature_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli, vkey) = setup(work.path()).await;
    let w = work.path().to_path_buf();
    edit_bundle(&w, "junk.json", |b| {
        let cp = b["log"]["checkpoint"].as_str().unwrap().to_owned();
        b["log"]["checkpoint"] = format!("{cp}this line is not a signature\n").into();
    });
    let (c, k) = (cli.clone(), vkey.clone());
    blocking(move || {
        c.cmd()
            .args(["verify", "--offline", "--log-key", &k, "--bundle"])
            .arg(w.join("b.json"))
            .assert()
            .success();
        c.cmd()
            .args(["verify", "--offline", "--log-key", &k, "--bundle"])
            .arg(w.join("junk.json"))
            .assert()
            .code(3)
            .stdout(predicate::str::contains("malformed signed note"));
    })
    .await;
    // The same note served online by a relay.
    let relay = Relay::start(&s.url).await;
    relay.edit(|path, body| {
        if path.starts_with("/v1/log/checkpoint") {
            let mut v = body.to_vec();
            v.extend_from_slice("\u{2014} junk\n".as_bytes());
            v.into()
        } else {
            body
        }
    });
    let via = cli.at(&relay.url);
    blocking(move || {
        via.cmd()
            .args(["log", "checkpoint", "--log-key", &vkey])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("malformed signed note"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_report_names_attestations_by_what_was_verified() {
    let work = tempfile::tempdir().unwrap();
    let (_s, cli, vkey) = setup(work.path()).await;
    let w = work.path().to_path_buf();
    edit_bundle(&w, "labels.json", |b| {
        for a in b["attestations"].as_array_mut().unwrap() {
            a["info"]["predicate_type"] = "https://example.com/approved-by-security/v1".into();
        }
    });
    blocking(move || {
        let out = cli
            .cmd()
            .args(["verify", "--offline", "--log-key", &vkey, "--trusted-key"])
            .arg(w.join("k.pub"))
            .arg("--bundle")
            .arg(w.join("labels.json"))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("approved-by-security"), "{text}");
        assert!(text.contains("https://slsa.dev/provenance/v1 verifies"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_log_key_learned_on_first_use_is_refused_with_its_forged_checkpoints() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli, _) = setup(work.path()).await;
    // The relay swaps in the Ed25519 identity point as the log key, and "signs" its own checkpoint with
    // R = identity, s = 0, which a non-strict verifier accepts for any text under that key.
    let name = "evil.example/log";
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let id = *registry_core::Digest::of(&[name.as_bytes(), b"\n\x01", &identity].concat()).as_bytes();
    let mut raw = vec![1u8];
    raw.extend_from_slice(&identity);
    let vkey = format!("{name}+{}+{}", hex::encode(&id[..4]), STANDARD.encode(&raw));
    let mut sig = id[..4].to_vec();
    sig.extend_from_slice(&identity);
    sig.extend_from_slice(&[0u8; 32]);
    let note = format!(
        "{name}\n0\n{}\n\n\u{2014} {name} {}\n",
        STANDARD.encode(registry_core::Digest::of(b"").as_bytes()),
        STANDARD.encode(&sig)
    );
    let relay = Relay::start(&s.url).await;
    relay.edit(move |path, body| {
        if path.starts_with("/v1/log/key") {
            format!("{vkey}\n").into()
        } else if path.starts_with("/v1/log/checkpoint") {
            note.clone().into()
        } else {
            body
        }
    });
    let fresh = Cli { cfg: work.path().join("cfg-fresh"), ..cli.at(&relay.url) };
    blocking(move || {
        fresh.cmd().args(["log", "checkpoint"]).assert().code(3).stderr(predicate::str::contains("weak"));
        assert!(!fresh.cfg.join("logs.json").exists(), "nothing pinned");
    })
    .await;
}
