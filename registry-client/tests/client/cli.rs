//! CLI smoke tests: the real `registry` binary against a real server, exit codes included.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;

use assert_cmd::Command;
use common::{blocking, write};
use predicates::prelude::*;
use registry_server::testing::TestServer;

fn registry(url: &str, token: &str) -> Command {
    let mut c = Command::cargo_bin("registry").unwrap();
    c.env("REGISTRY_URL", url)
        .env("REGISTRY_TOKEN", token)
        .env("REGISTRY_CONFIG_DIR", common::config_dir_for(token));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_verify_and_their_exit_codes() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let token = server.admin_token.clone();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().to_path_buf();
    let blobs = server.state.blobs.clone();
    let rt = tokio::runtime::Handle::current();
    blocking(move || {
        let model = root.join("model");
        write(&model, &[("config.json", "{}"), ("weights/w.bin", "weights"), ("tokenizer/vocab.txt", "v")]);
        let commit = "b".repeat(40);
        registry(&url, &token)
            .args(["push", model.to_str().unwrap(), "--model", "fraud/detector", "--version", "1.4.0"])
            .args(["--dataset", &format!("s3://d/train={}:train", registry_core::Digest::of(b"d"))])
            .args(["--commit", &commit, "--repo", "https://github.com/acme/fraud", "--metric", "auc=0.93"])
            .assert()
            .success()
            .stdout(predicate::str::is_match(r"^fraud/detector@1\.4\.0 sha256:[0-9a-f]{64}\n$").unwrap());

        let out = root.join("out");
        registry(&url, &token)
            .args(["pull", "fraud/detector@1.4.0", "-o", out.to_str().unwrap()])
            .assert()
            .success();
        assert_eq!(std::fs::read_to_string(out.join("weights/w.bin")).unwrap(), "weights");
        registry(&url, &token)
            .args(["verify", "fraud/detector@1.4.0", "--dir", out.to_str().unwrap()])
            .assert()
            .success();

        // A pull into a non-empty directory is refused (exit 1) without --force.
        registry(&url, &token)
            .args(["pull", "fraud/detector@1.4.0", "-o", out.to_str().unwrap()])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("not empty"));

        // A changed file: verify exits 3 and names it.
        std::fs::write(out.join("config.json"), "{\"x\":1}").unwrap();
        registry(&url, &token)
            .args(["verify", "fraud/detector@1.4.0", "--dir", out.to_str().unwrap()])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("changed: config.json"));

        // Tampered bytes on the server: pull exits 3 naming the file and leaves nothing behind.
        rt.block_on(registry_server::testing::tamper_blob(
            &blobs,
            &registry_core::Digest::of(b"weights"),
            b"WEIGHTS",
        ));
        let out2 = root.join("out2");
        registry(&url, &token)
            .args(["pull", "fraud/detector@1.4.0", "-o", out2.to_str().unwrap()])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("weights/w.bin"));
        assert!(!out2.exists());

        // JSON output for scripts.
        let json = registry(&url, &token)
            .args(["--json", "show", "fraud/detector@1.4.0"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["lineage"]["metrics"]["auc"], 0.93);
        let json =
            registry(&url, &token).args(["--json", "ls"]).assert().success().get_output().stdout.clone();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v[0]["name"], "detector");
        registry(&url, &token)
            .args(["ls", "fraud/detector"])
            .assert()
            .success()
            .stdout(predicate::str::contains("fraud/detector@1.4.0"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_distinct_exit_codes() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let token = server.admin_token.clone();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().to_path_buf();
    blocking(move || {
        // Usage errors: 2.
        registry(&url, &token).args(["pull"]).assert().code(2);
        registry(&url, &token)
            .args(["push", ".", "--model", "a/b", "--version", "1", "--commit", "abc"])
            .assert()
            .code(2);
        // Unknown version: 1, with the server's message.
        registry(&url, &token)
            .args(["show", "a/b@9"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("not found"));
        // Bad reference: 1, before any request.
        registry(&url, &token)
            .args(["show", "A/b@1"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("invalid reference"));
        // Symlinks are refused by name, not skipped.
        let model = root.join("m");
        write(&model, &[("real", "x")]);
        std::os::unix::fs::symlink(model.join("real"), model.join("alias")).unwrap();
        registry(&url, &token)
            .args(["push", model.to_str().unwrap(), "--model", "a/b", "--version", "1"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("alias").and(predicate::str::contains("symlinks are refused")));
        // Unreachable registry: 1.
        registry("http://127.0.0.1:1", "")
            .args(["ls"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("cannot reach"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_a_private_token_and_tokens_are_managed_by_admins() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start().await;
    let url = server.url.clone();
    let admin = server.admin_token.clone();
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("config");
    blocking(move || {
        let cli = |token: Option<&str>| {
            let mut c = Command::cargo_bin("registry").unwrap();
            c.env("REGISTRY_URL", &url).env("REGISTRY_CONFIG_DIR", &cfg).env_remove("REGISTRY_TOKEN");
            if let Some(t) = token {
                c.env("REGISTRY_TOKEN", t);
            }
            c
        };
        // Without credentials: 401, exit 1.
        cli(None)
            .args(["whoami"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("authentication required"));
        // A wrong token is refused at login and not stored.
        cli(None)
            .args(["login", "--token-stdin"])
            .write_stdin("reg_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
            .assert()
            .code(1);
        assert!(!cfg.join("credentials.json").exists());
        cli(None)
            .args(["login", "--token-stdin"])
            .write_stdin(format!("{admin}\n"))
            .assert()
            .success()
            .stdout(predicate::str::contains("token:bootstrap-admin"))
            .stdout(predicate::str::contains(&admin[admin.len() - 20..]).not());
        let creds = cfg.join("credentials.json");
        assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);
        cli(None)
            .args(["whoami"])
            .assert()
            .success()
            .stdout(predicate::str::contains("token:bootstrap-admin"));
        let out = cli(None).args(["--json", "whoami"]).assert().success().get_output().stdout.clone();
        assert!(
            !String::from_utf8_lossy(&out).contains(&admin[admin.len() - 20..]),
            "--json never shows the caller's token"
        );

        // An admin makes a narrow token; it can read fraud/* only and cannot manage tokens.
        let made = cli(None)
            .args(["token", "create", "--name", "ci-reader", "--scopes", "read", "--namespace", "fraud/*"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let reader = String::from_utf8(made).unwrap().trim().to_owned();
        assert!(reader.starts_with("reg_"));
        cli(Some(&reader))
            .args(["whoami"])
            .assert()
            .success()
            .stdout(predicate::str::contains("token:ci-reader"));
        cli(Some(&reader)).args(["token", "list"]).assert().code(1).stderr(predicate::str::contains("admin"));
        cli(None).args(["token", "list"]).assert().success().stdout(predicate::str::contains("ci-reader"));
        cli(None).args(["token", "revoke", "ci-reader"]).assert().success();
        cli(Some(&reader)).args(["whoami"]).assert().code(1);
        cli(None).args(["logout"]).assert().success();
        cli(None).args(["whoami"]).assert().code(1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_pull_by_alias_policy_denials_and_rollback_through_the_cli() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let token = server.admin_token.clone();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().to_path_buf();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policies/metrics.rego");
    blocking(move || {
        for (v, auc) in [("1", "0.95"), ("2", "0.5")] {
            let model = root.join(format!("m{v}"));
            write(&model, &[("w.bin", v)]);
            registry(&url, &token)
                .args([
                    "push",
                    model.to_str().unwrap(),
                    "--model",
                    "fraud/detector",
                    "--version",
                    v,
                    "--metric",
                ])
                .arg(format!("auc={auc}"))
                .assert()
                .success();
        }
        registry(&url, &token)
            .args(["policy", "set", "fraud/*", "production", policy.to_str().unwrap()])
            .assert()
            .success()
            .stdout(predicate::str::contains("revision 1"));
        // Dry run and a real denial both exit 3 and print the reason; nothing moves.
        registry(&url, &token)
            .args(["policy", "test", "fraud/detector@2", "--to", "production"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("auc 0.5 is below 0.9"));
        registry(&url, &token)
            .args(["promote", "fraud/detector@2", "--to", "production"])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("auc 0.5 is below 0.9"));
        registry(&url, &token)
            .args(["promote", "fraud/detector@1", "--to", "production", "--reason", "eval ok"])
            .assert()
            .success()
            .stdout(predicate::str::contains("fraud/detector@production -> 1"));
        // @alias works for pull (with the bundle check against the log) and show.
        let out = root.join("out");
        registry(&url, &token)
            .args(["pull", "fraud/detector@production", "-o", out.to_str().unwrap()])
            .assert()
            .success();
        assert_eq!(std::fs::read_to_string(out.join("w.bin")).unwrap(), "1");
        let json = registry(&url, &token)
            .args(["--json", "alias", "history", "fraud/detector", "production"])
            .output()
            .unwrap();
        let h: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let decisions: Vec<&str> =
            h["events"].as_array().unwrap().iter().map(|e| e["decision"].as_str().unwrap()).collect();
        assert_eq!(decisions, ["passed", "failed"]);
        registry(&url, &token)
            .args(["rollback", "fraud/detector", "production"])
            .assert()
            .failure()
            .stderr(predicate::str::contains("no_rollback_target"));
        registry(&url, &token)
            .args(["alias", "get", "fraud/detector", "production", "--at", "2000-01-01T00:00:00Z"])
            .assert()
            .failure()
            .stderr(predicate::str::contains("not found"));
        // Quarantined: pull and verify refuse (exit 3) unless --allow-quarantined.
        registry(&url, &token)
            .args(["quarantine", "--version", "fraud/detector@1", "--reason", "bad batch"])
            .assert()
            .success()
            .stdout(predicate::str::contains("fraud/detector@1"));
        registry(&url, &token)
            .args(["affected", "--version", "fraud/detector@1"])
            .assert()
            .success()
            .stdout(predicate::str::contains("[quarantined]"));
        let q = root.join("q");
        registry(&url, &token)
            .args(["pull", "fraud/detector@1", "-o", q.to_str().unwrap()])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("quarantined"));
        assert!(!q.join("w.bin").exists(), "nothing written");
        registry(&url, &token)
            .args(["pull", "fraud/detector@1", "-o", q.to_str().unwrap(), "--allow-quarantined"])
            .assert()
            .success();
        registry(&url, &token)
            .args(["verify", "fraud/detector@1", "--dir", q.to_str().unwrap()])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("QUARANTINED"));
        registry(&url, &token)
            .args(["quarantine", "--lift", "1", "--reason", "false alarm"])
            .assert()
            .success();
        registry(&url, &token)
            .args(["verify", "fraud/detector@1", "--dir", q.to_str().unwrap()])
            .assert()
            .success();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_prints_the_upstream_tree_and_affected_the_downstream_one() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let token = server.admin_token.clone();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().to_path_buf();
    blocking(move || {
        let data = registry_core::Digest::of(b"november");
        let commit = "a".repeat(40);
        let base = root.join("base");
        write(&base, &[("w.bin", "base")]);
        registry(&url, &token)
            .args(["push", base.to_str().unwrap(), "--model", "fraud/base", "--version", "1"])
            .args(["--dataset", &format!("s3://data/nov={data}")])
            .args(["--commit", &commit, "--repo", "https://github.com/acme/fraud"])
            .assert()
            .success();
        let ft = root.join("ft");
        write(&ft, &[("w.bin", "ft")]);
        registry(&url, &token)
            .args([
                "push",
                ft.to_str().unwrap(),
                "--model",
                "fraud/ft",
                "--version",
                "1",
                "--parent",
                "fraud/base@1",
            ])
            .assert()
            .success();
        let out = registry(&url, &token).args(["lineage", "fraud/ft@1"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success());
        for want in ["fraud/ft@1", "parent:", "fraud/base@1", "s3://data/nov", &data.to_string(), &commit] {
            assert!(text.contains(want), "{want} missing from:\n{text}");
        }
        let out = registry(&url, &token).args(["--json", "lineage", "fraud/ft@1"]).output().unwrap();
        let tree: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(tree["parents"][0]["version"], "fraud/base@1");
        registry(&url, &token)
            .args(["affected", "--dataset", &data.to_string()])
            .assert()
            .success()
            .stdout(predicate::str::contains("2 version(s) reached"))
            .stdout(predicate::str::contains("fraud/base@1 -> fraud/ft@1"));
        registry(&url, &token).args(["affected"]).assert().failure();
        registry(&url, &token)
            .args(["report"])
            .assert()
            .success()
            .stdout(predicate::str::is_match(r"fraud\s+2\s+0\.0%\s+50\.0%").unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_trusted_listed_and_revoked_through_the_cli() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let token = server.admin_token.clone();
    let work = tempfile::tempdir().unwrap();
    blocking(move || {
        let cli = || registry(&url, &token);
        let key = work.path().join("signer");
        let out = cli().args(["keygen", "--out"]).arg(&key).assert().success().get_output().stdout.clone();
        let key_id = String::from_utf8(out).unwrap().split_whitespace().next().unwrap().to_owned();
        let public = key.with_extension("pub");
        for ns in ["fraud/*", "vision/*"] {
            cli().args(["keys", "add", "--namespace", ns, "--public-key"]).arg(&public).assert().success();
        }
        // One pattern at a time...
        cli()
            .args(["keys", "revoke", &key_id, "--namespace", "fraud/*"])
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("revoked {key_id} for fraud/*")));
        let listed = cli().args(["--json", "keys", "list"]).assert().success().get_output().stdout.clone();
        let listed: serde_json::Value = serde_json::from_slice(&listed).unwrap();
        let keys = listed["keys"].clone();
        let state = |ns: &str| {
            keys.as_array().unwrap().iter().find(|k| k["namespace"] == ns).unwrap()["revoked_at"].is_string()
        };
        assert!(state("fraud/*") && !state("vision/*"), "{keys}");
        // ...or everywhere; a key that is not trusted (any more) is an error, and so is a bad id.
        cli().args(["keys", "revoke", &key_id]).assert().success();
        cli()
            .args(["keys", "revoke", &key_id])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("not trusted"));
        cli().args(["keys", "revoke", "not-a-key-id"]).assert().code(1);
        cli().args(["keys", "revoke", &key_id, "--namespace", "Bad/*"]).assert().failure();
    })
    .await;
}

/// `registry verify-bundle` with trusted identities: a pattern over the whole subject plus claims,
/// the claims printed with --json, each refusal's reason on stderr with exit 3 (verification failed).
#[test]
fn verify_bundle_checks_trusted_identities_and_their_claims() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sigstore");
    let f = |p: &str| fx.join(p).to_str().unwrap().to_owned();
    let gh = "https://token.actions.githubusercontent.com";
    let run = |extra: &[&str]| {
        let mut c = registry("http://127.0.0.1:1", "");
        c.args(["verify-bundle", &f("conda-attestation.sigstore.json")])
            .args(["--artifact", &f("signed-package-2.1.0-hb0f4dca_0.conda")])
            .args(["--trusted-root", &f("public-good-trusted_root.json")])
            .args(extra);
        c.assert()
    };
    let out = run(&[
        "--json",
        "--trusted-identity",
        &format!(r"{gh}=https://github\.com/prefix-dev/sigstore-example/.+@refs/heads/main"),
        "--claim",
        "source_repository_ref=refs/heads/main",
    ])
    .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["claims"]["source_repository_uri"], "https://github.com/prefix-dev/sigstore-example");
    assert_eq!(v["issuer"], gh);
    // A prefix is not the whole subject; another ref is not the claimed one; another issuer.
    for (id, claim) in [
        (format!(r"{gh}=https://github\.com/prefix-dev/sigstore-example"), None),
        (format!("{gh}=.*"), Some("source_repository_ref=refs/heads/release")),
        ("https://accounts.google.com=.*".to_owned(), None),
    ] {
        let mut args = vec!["--trusted-identity", id.as_str()];
        if let Some(c) = claim {
            args.extend(["--claim", c]);
        }
        run(&args).code(3).stderr(predicate::str::contains("untrusted_identity"));
    }
    run(&["--trusted-identity", &format!("{gh}=.*"), "--claim", "repo=x"])
        .code(1)
        .stderr(predicate::str::contains("unknown certificate claim"));
    let mut c = registry("http://127.0.0.1:1", "");
    c.args(["verify-bundle", &f("conda-attestation.sigstore.json")])
        .args(["--artifact", &f("cosign-v3-blob.txt")])
        .args(["--trusted-root", &f("public-good-trusted_root.json")])
        .args(["--trusted-identity", &format!("{gh}=.*")])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("subject_mismatch"));
}

/// Keyless trust administered through the CLI: a trust root installed (its digest printed and
/// logged), identities added with a pattern, claims and a root tie, listed beside keys, revoked;
/// bad rules refused with their reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_roots_and_identities_are_managed_through_the_cli() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let token = server.admin_token.clone();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sigstore/public-good-trusted_root.json");
    let digest = registry_core::Digest::of(&std::fs::read(&root).unwrap()).to_string();
    blocking(move || {
        let cli = || registry(&url, &token);
        cli()
            .args(["trust-root", "add"])
            .arg(&root)
            .args(["--name", "public-good"])
            .assert()
            .success()
            .stdout(predicate::str::contains(&digest));
        let roots =
            cli().args(["--json", "trust-root", "list"]).assert().success().get_output().stdout.clone();
        let roots: serde_json::Value = serde_json::from_slice(&roots).unwrap();
        assert_eq!(roots[0]["name"], "public-good");
        assert_eq!(roots[0]["digest"], digest.as_str());
        let gh = "https://token.actions.githubusercontent.com";
        let added = cli()
            .args(["--json", "keys", "add-identity", "--namespace", "fraud/*", "--issuer", gh])
            .args([
                "--subject-regex",
                r"https://github\.com/acme/fraud/\.github/workflows/train\.yml@refs/heads/main",
            ])
            .args(["--claim", "source_repository_ref=refs/heads/main", "--trust-root", "public-good"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let added: serde_json::Value = serde_json::from_slice(&added).unwrap();
        let id = added["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("identity-"), "{added}");
        assert_eq!(added["claims"]["source_repository_ref"], "refs/heads/main");
        cli()
            .args(["keys", "list"])
            .assert()
            .success()
            .stdout(predicate::str::contains(&id).and(predicate::str::contains("via public-good")));
        // Bad rules: an unknown claim, a pattern that does not compile, a root not installed.
        for extra in [
            &["--subject", "x", "--claim", "repo=x"][..],
            &["--subject-regex", "(unclosed"][..],
            &["--subject", "x", "--trust-root", "private"][..],
        ] {
            cli()
                .args(["keys", "add-identity", "--namespace", "fraud/*", "--issuer", gh])
                .args(extra)
                .assert()
                .code(1)
                .stderr(predicate::str::contains("invalid_identity"));
        }
        // A root with tied identities stays until they are revoked; ids are canonical.
        cli()
            .args(["trust-root", "remove", "public-good"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("trust_root_in_use"));
        let padded = id.replace("identity-", "identity-0");
        cli().args(["keys", "revoke", &padded]).assert().code(1);
        cli().args(["keys", "revoke", &id]).assert().success().stdout(predicate::str::contains("revoked"));
        cli()
            .args(["keys", "revoke", &id])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("no active identity"));
        cli().args(["trust-root", "remove", "public-good"]).assert().success();
        cli().args(["trust-root", "remove", "public-good"]).assert().code(1);
    })
    .await;
    for kind in ["trust_root.added", "identity.trusted", "identity.revoked", "trust_root.removed"] {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_entries WHERE kind = $1")
            .bind(kind)
            .fetch_one(server.state.db.pool())
            .await
            .unwrap();
        assert_eq!(n, 1, "{kind} is logged once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_prints_the_log_in_order_and_follows_new_entries() {
    let server = TestServer::start().await;
    let (url, token) = (server.url.clone(), server.admin_token.clone());
    let work = tempfile::tempdir().unwrap();
    let root = work.path().to_path_buf();
    blocking(move || {
        let model = root.join("model");
        write(&model, &[("w.bin", "weights")]);
        let push = |v: &str| {
            registry(&url, &token)
                .args(["push", model.to_str().unwrap(), "--model", "fraud/detector", "--version", v])
                .assert()
                .success();
        };
        push("1");
        // Everything so far, then exit: model.created, then version.created.
        let out = registry(&url, &token).args(["events", "tail"]).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("#0  ") && lines[0].contains("model.created  fraud/detector  by "),
            "{text}"
        );
        assert!(
            lines[1].starts_with("#1  ") && lines[1].contains("version.created  fraud/detector@1"),
            "{text}"
        );
        // --json: one API object per line, the body the exact entry.
        let out =
            registry(&url, &token).args(["--json", "events", "tail", "--after", "0"]).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["index"], 1);
        let entry: serde_json::Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
        assert_eq!(entry["type"], "version.created");

        // --follow waits for the next entry; --max ends it once that arrived.
        let (url2, token2) = (url.clone(), token.clone());
        let follower = std::thread::spawn(move || {
            registry(&url2, &token2)
                .args(["events", "tail", "--after", "1", "--follow", "--interval", "0.05", "--max", "1"])
                .timeout(std::time::Duration::from_secs(60))
                .assert()
                .success()
                .get_output()
                .stdout
                .clone()
        });
        push("2");
        let text = String::from_utf8(follower.join().unwrap()).unwrap();
        assert!(text.starts_with("#2  ") && text.contains("version.created  fraud/detector@2"), "{text}");

        // Bad input is an error, not a hang.
        registry(&url, &token).args(["events", "tail", "--interval", "0"]).assert().code(1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_managed_through_the_cli_and_the_url_is_never_printed() {
    let server = TestServer::start().await;
    let (url, token) = (server.url.clone(), server.admin_token.clone());
    blocking(move || {
        let hook = "http://user:hunter2@127.0.0.1:9/hook";
        // The URL from standard input (out of shell history); --json gives the id and the secret.
        let out = registry(&url, &token)
            .args(["--json", "webhook", "add", "--url", "-", "--namespace", "fraud/*"])
            .args(["--events", "version.created,alias.moved"])
            .write_stdin(format!("{hook}\n"))
            .assert()
            .success();
        let created: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(id, "webhook-1");
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(created["url_hash"], registry_core::Digest::of(hook.as_bytes()).to_string());
        assert_eq!(created["events"], serde_json::json!(["alias.moved", "version.created"]));

        let out = registry(&url, &token).args(["webhook", "list"]).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(
            text.starts_with("webhook-1  active  fraud/* [alias.moved,version.created]  cloudevents"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("127.0.0.1") && !text.contains("whsec_"),
            "{text}"
        );

        for (args, said) in [
            (vec!["pause", &id], "webhook-1 paused"),
            (vec!["resume", &id], "webhook-1 resumed"),
            (vec!["redeliver", &id], "webhook-1 dead letters queued"),
        ] {
            let mut a = vec!["webhook"];
            a.extend(args);
            registry(&url, &token).args(&a).assert().success().stdout(predicate::str::contains(said));
        }
        let out = registry(&url, &token).args(["--json", "webhook", "rotate-secret", &id]).assert().success();
        let rotated: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_ne!(rotated["secret"], created["secret"]);

        // Refusals: an unknown event type, a link-local target; an unknown id.
        registry(&url, &token)
            .args(["webhook", "add", "--url", "http://127.0.0.1:9/", "--events", "version.nope"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("unknown event type"));
        registry(&url, &token)
            .args(["webhook", "add", "--url", "http://169.254.169.254/", "--events", "*"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("link-local"));
        registry(&url, &token).args(["webhook", "remove", &id]).assert().success();
        registry(&url, &token)
            .args(["webhook", "remove", &id])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("no webhook"));
    })
    .await;
}
