//! Every client check is bound to what the user asked for, and reads the version's state from the log,
//! never from the registry's unsigned fields: a relay with no keys and no database access, and direct
//! database edits on the server, each try to make a "verified" command act on something else.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};

use common::{Cli, Relay, blocking, sql, write};
use predicates::prelude::*;
use registry_server::testing::TestServer;

const SLSA: &str = "https://slsa.dev/provenance/v1";

/// victim/model@1.0 and @2.0 and other/model@2.0, each signed with k.key (trusted), and the log pinned.
async fn setup(work: &Path) -> (TestServer, Cli) {
    let s = TestServer::start().await;
    let cli = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: work.join("cfg") };
    let (c, w) = (cli.clone(), work.to_path_buf());
    blocking(move || {
        c.cmd().args(["keygen", "--out"]).arg(w.join("k")).assert().success();
        c.cmd()
            .args(["keys", "add", "--namespace", "*", "--public-key"])
            .arg(w.join("k.pub"))
            .assert()
            .success();
        for (model, v, content) in
            [("victim/model", "1.0", "one"), ("victim/model", "2.0", "two"), ("other/model", "2.0", "other")]
        {
            let dir = w.join(format!("src-{}-{v}", model.replace('/', "-")));
            write(&dir, &[("weights.bin", content), ("config.json", "{}")]);
            c.cmd()
                .arg("push")
                .arg(&dir)
                .args(["--model", model, "--version", v, "--sign-key"])
                .arg(w.join("k.key"))
                .assert()
                .success();
        }
        c.cmd().args(["log", "checkpoint"]).assert().success();
    })
    .await;
    (s, cli)
}

fn versions_path(model: &str, v: &str) -> String {
    format!("/v1/models/{model}/versions/{v}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_answering_with_another_versions_bundle_is_refused_by_every_command() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    let relay = Relay::start(&s.url).await;
    let (asked, served) = (versions_path("victim/model", "2.0"), versions_path("victim/model", "1.0"));
    relay.route(move |p| p.replace(&format!("{asked}/bundle"), &format!("{served}/bundle")));
    let via = cli.at(&relay.url);
    let w = work.path().to_path_buf();
    blocking(move || {
        let key = w.join("k.pub");
        // pull --verify-with --require-predicate: refused, nothing written.
        let out = w.join("out");
        via.cmd()
            .args(["pull", "victim/model@2.0", "--require-predicate", SLSA, "--verify-with"])
            .arg(&key)
            .arg("-o")
            .arg(&out)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("asked for victim/model@2.0"));
        assert!(!out.exists(), "nothing written");
        // verify with 1.0's files in the directory: refused.
        via.cmd()
            .args(["verify", "victim/model@2.0", "--dir"])
            .arg(w.join("src-victim-model-1.0"))
            .arg("--trusted-key")
            .arg(&key)
            .assert()
            .code(3)
            .stdout(predicate::str::contains("asked for victim/model@2.0"));
        // The auditor's bundle is not written either.
        via.cmd().args(["bundle", "victim/model@2.0", "-o"]).arg(w.join("b.json")).assert().code(3);
        assert!(!w.join("b.json").exists());
    })
    .await;

    // Another model's bundle for the same label.
    let (asked, served) = (versions_path("victim/model", "2.0"), versions_path("other/model", "2.0"));
    relay.route(move |p| p.replace(&format!("{asked}/bundle"), &format!("{served}/bundle")));
    let via = cli.at(&relay.url);
    let w = work.path().to_path_buf();
    blocking(move || {
        via.cmd()
            .args(["pull", "victim/model@2.0", "--verify-with"])
            .arg(w.join("k.pub"))
            .arg("-o")
            .arg(w.join("out"))
            .assert()
            .code(3)
            .stderr(predicate::str::contains("but the bundle is about other/model@2.0"));
        assert!(!w.join("out").exists());
    })
    .await;

    // By manifest digest: 2.0's digest asked, 1.0's bundle served.
    let two = s.state.db.pool();
    let hex: String = sqlx::query_scalar("SELECT manifest_digest FROM versions WHERE version = '2.0' AND model_id = (SELECT id FROM models WHERE namespace = 'victim')")
        .fetch_one(two)
        .await
        .unwrap();
    let served = versions_path("victim/model", "1.0");
    let asked = versions_path("victim/model", &format!("sha256:{hex}"));
    relay.route(move |p| p.replace(&format!("{asked}/bundle"), &format!("{served}/bundle")));
    let via = cli.at(&relay.url);
    let w = work.path().to_path_buf();
    blocking(move || {
        via.cmd()
            .args(["pull", &format!("victim/model@sha256:{hex}"), "-o"])
            .arg(w.join("out"))
            .assert()
            .code(3);
        assert!(!w.join("out").exists());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_read_back_is_bound_to_what_was_pushed() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    let relay = Relay::start(&s.url).await;
    let (asked, served) = (versions_path("victim/model", "3.0"), versions_path("victim/model", "1.0"));
    relay.route(move |p| p.replace(&format!("{asked}/bundle"), &format!("{served}/bundle")));
    let via = cli.at(&relay.url);
    let w = work.path().to_path_buf();
    blocking(move || {
        write(&w.join("three"), &[("weights.bin", "three")]);
        via.cmd()
            .arg("push")
            .arg(w.join("three"))
            .args(["--model", "victim/model", "--version", "3.0"])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("asked for victim/model@3.0"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_reports_the_version_asked_for_when_another_shares_its_manifest() {
    let work = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let cli = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: work.path().join("cfg") };
    let w = work.path().to_path_buf();
    blocking(move || {
        cli.cmd().args(["keygen", "--out"]).arg(w.join("k")).assert().success();
        cli.cmd()
            .args(["keys", "add", "--namespace", "*", "--public-key"])
            .arg(w.join("k.pub"))
            .assert()
            .success();
        write(&w.join("m"), &[("w.bin", "same files")]);
        for v in ["1.0", "1.1"] {
            cli.cmd()
                .arg("push")
                .arg(w.join("m"))
                .args(["--model", "a/m", "--version", v, "--metric", &format!("v={}", &v[2..]), "--sign-key"])
                .arg(w.join("k.key"))
                .assert()
                .success();
        }
        // 1.1 is quarantined; 1.0 is not, and is what the user asked for.
        cli.cmd().args(["quarantine", "--version", "a/m@1.1", "--reason", "bad"]).assert().success();
        let out = w.join("out");
        let json = cli
            .cmd()
            .args(["--json", "pull", "a/m@1.0", "--signature-out"])
            .arg(w.join("model.sig"))
            .arg("-o")
            .arg(&out)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let r: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(r["version"]["version"], "1.0", "{r}");
        assert_eq!(r["version"]["lineage"]["metrics"]["v"], 0, "1.0's own lineage");
        assert_eq!(r["version"]["quarantined"], false);
        cli.cmd()
            .args(["pull", "a/m@1.0", "-o"])
            .arg(w.join("out2"))
            .assert()
            .success()
            .stdout(predicate::str::starts_with("a/m@1.0 "));
        // 1.1 itself is refused.
        cli.cmd().args(["pull", "a/m@1.1", "-o"]).arg(w.join("out3")).assert().code(3);
        // The model signature written is one of 1.0's attestations, not 1.1's.
        let sig = std::fs::read(w.join("model.sig")).unwrap();
        let list = cli.cmd().args(["--json", "attestations", "a/m@1.0"]).output().unwrap();
        let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
        let digest = registry_core::Digest::of(&sig).to_string();
        assert!(list.as_array().unwrap().iter().any(|a| a["digest"] == digest.as_str()), "{list}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_metadata_and_pusher_are_read_from_the_log_not_the_record() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    let (c, w) = (cli.clone(), work.path().to_path_buf());
    let vkey = blocking(move || {
        c.cmd()
            .args(["quarantine", "--version", "victim/model@1.0", "--reason", "poisoned"])
            .assert()
            .success();
        c.cmd().args(["bundle", "victim/model@1.0", "-o"]).arg(w.join("b.json")).assert().success();
        String::from_utf8(c.cmd().args(["--json", "log", "checkpoint"]).output().unwrap().stdout).unwrap()
    })
    .await;
    let vkey: serde_json::Value = serde_json::from_str(&vkey).unwrap();
    let vkey = vkey["log_key"].as_str().unwrap().to_owned();

    // The auditor's bundle file with the flag cleared, then with metadata or pusher changed.
    let w = work.path().to_path_buf();
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("b.json")).unwrap()).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let variants: [(&str, Edit); 3] = [
        ("quarantined", |b| b["version"]["quarantined"] = false.into()),
        ("metadata", |b| b["version"]["metadata"]["description"] = "approved for production".into()),
        ("created_by", |b| b["version"]["created_by"] = "token:release-bot".into()),
    ];
    for (what, f) in variants {
        let mut b = bundle.clone();
        f(&mut b);
        let path = w.join(format!("b-{what}.json"));
        std::fs::write(&path, serde_json::to_vec(&b).unwrap()).unwrap();
    }
    let (c, k) = (cli.clone(), vkey.clone());
    blocking(move || {
        for what in ["quarantined", "metadata", "created_by"] {
            let a = c
                .cmd()
                .args(["verify", "--offline", "--log-key", &k, "--bundle"])
                .arg(w.join(format!("b-{what}.json")))
                .assert()
                .code(3);
            if what == "quarantined" {
                a.stdout(predicate::str::contains("QUARANTINED"));
            } else {
                a.stdout(predicate::str::contains(what));
            }
        }
        // Bound to a reference offline too.
        c.cmd()
            .args(["verify", "--offline", "--allow-quarantined", "--log-key", &k, "--bundle"])
            .arg(w.join("b.json"))
            .arg("victim/model@2.0")
            .assert()
            .code(3)
            .stdout(predicate::str::contains("asked for victim/model@2.0"));
        c.cmd()
            .args(["verify", "--offline", "--allow-quarantined", "--log-key", &k, "--bundle"])
            .arg(w.join("b.json"))
            .arg("victim/model@1.0")
            .assert()
            .success();
    })
    .await;

    // The same edits in the server's database.
    sql(&s, "UPDATE versions SET quarantined = 0").await;
    let (c, w) = (cli.clone(), work.path().to_path_buf());
    blocking(move || {
        c.cmd()
            .args(["pull", "victim/model@1.0", "-o"])
            .arg(w.join("q"))
            .assert()
            .code(3)
            .stderr(predicate::str::contains("quarantined"));
        assert!(!w.join("q").exists());
        c.cmd()
            .args(["verify", "victim/model@1.0"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("QUARANTINED"));
        // A lift is a logged release: the version is clean again.
        c.cmd().args(["quarantine", "--lift", "1", "--reason", "false alarm"]).assert().success();
        c.cmd().args(["verify", "victim/model@1.0"]).assert().success();
    })
    .await;
    sql(&s, r#"UPDATE versions SET metadata = '{"description":"approved","labels":{}}' WHERE version = '2.0' AND model_id = (SELECT id FROM models WHERE namespace = 'victim')"#).await;
    sql(&s, "UPDATE versions SET created_by = 'token:release-bot' WHERE version = '1.0'").await;
    let (c, w) = (cli.clone(), work.path().to_path_buf());
    blocking(move || {
        c.cmd()
            .args(["verify", "victim/model@2.0"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("metadata"));
        c.cmd().args(["pull", "victim/model@2.0", "-o"]).arg(w.join("m")).assert().code(3);
        c.cmd()
            .args(["verify", "victim/model@1.0"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("created_by"));
        c.cmd().args(["verify", "other/model@2.0"]).assert().success();
    })
    .await;
}

/// production moved to 1.0, then to 2.0.
async fn promoted(work: &Path) -> (TestServer, Cli) {
    let (s, cli) = setup(work).await;
    let c = cli.clone();
    blocking(move || {
        for v in ["1.0", "2.0"] {
            c.cmd().args(["promote", &format!("victim/model@{v}"), "--to", "production"]).assert().success();
        }
    })
    .await;
    (s, cli)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_moved_in_the_database_is_refused_and_reported() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = promoted(work.path()).await;
    sql(&s, "UPDATE aliases SET version_id = (SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.namespace = 'victim' AND v.version = '1.0')").await;
    let w: PathBuf = work.path().to_path_buf();
    blocking(move || {
        let out = w.join("prod");
        cli.cmd()
            .args(["pull", "victim/model@production", "-o"])
            .arg(&out)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("newest logged move"));
        assert!(!out.exists());
        cli.cmd().args(["verify", "victim/model@production"]).assert().code(3);
        cli.cmd()
            .args(["log", "verify"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("alias victim/model@production"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_serving_an_alias_s_older_target_is_caught_by_reading_the_log() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = promoted(work.path()).await;
    let relay = Relay::start(&s.url).await;
    // @production answered with 1.0's bundle, which holds the genuine (older) move of production to 1.0.
    let (asked, served) = (versions_path("victim/model", "production"), versions_path("victim/model", "1.0"));
    relay.route(move |p| p.replace(&format!("{asked}/bundle"), &format!("{served}/bundle")));
    // A reader of victim/* only, with its own pins (it never saw the newer move).
    let c = cli.clone();
    let narrow = blocking(move || {
        let out = c
            .cmd()
            .args(["token", "create", "--name", "reader", "--scopes", "read", "--namespace", "victim/*"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
    .await;
    let via = cli.at(&relay.url);
    let w = work.path().to_path_buf();
    blocking(move || {
        via.cmd()
            .args(["pull", "victim/model@production", "-o"])
            .arg(w.join("p"))
            .assert()
            .code(3)
            .stderr(predicate::str::contains("moved again at log entry"));
        assert!(!w.join("p").exists());
        // A credential that cannot read the whole log cannot prove there is no later move: the report
        // says so instead of claiming it.
        let reader = Cli { cfg: w.join("cfg-reader"), ..via.with_token(&narrow) };
        reader
            .cmd()
            .args(["verify", "victim/model@production"])
            .assert()
            .success()
            .stdout(predicate::str::contains("not verified: that no move of alias production follows"));
    })
    .await;
    // An honest relay: the current target checks out, the log read proves nothing moved since.
    relay.honest();
    let via = cli.at(&relay.url);
    blocking(move || {
        via.cmd()
            .args(["verify", "victim/model@production"])
            .assert()
            .success()
            .stdout(predicate::str::contains("no move of alias production follows"));
    })
    .await;
}
