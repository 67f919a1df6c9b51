//! Keyless attestations end to end through the CLI, against a test Sigstore deployment
//! (`sigstore-testkit`: a Fulcio-shaped CA with an embedded SCT from a CT log, a Rekor-shaped log
//! signing checkpoints and SETs). The registry trusts a workflow, not a key: a keyless SLSA provenance
//! and a keyless OMS signature over a pushed version are accepted from it, every other signer or bad
//! proof is refused with its reason, a policy reads the signer's claims, and `registry verify` checks
//! the same evidence online and offline with the root and identity the user gives.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::PathBuf;

use base64::Engine;
use common::{Cli, blocking, write};
use predicates::prelude::*;
use registry_core::attest::dsse::INTOTO_PAYLOAD_TYPE;
use registry_core::attest::intoto::Statement;
use registry_core::attest::predicates::{OMS_V1, SLSA_PROVENANCE_V1, oms_predicate};
use registry_core::{Digest, FileEntry, Manifest};
use registry_server::testing::TestServer;
use serde_json::{Value, json};
use sigstore_testkit::{Deployment, GITHUB_ACTIONS_ISSUER, Identity, TlogEvidence, github_workflow};

const FILES: &[(&str, &str)] = &[("config.json", "{}"), ("weights.bin", "weights v1")];
const TRAIN: &str = r"https://github\.com/acme/fraud/\.github/workflows/train\.yml@refs/.*";

fn manifest() -> Manifest {
    Manifest::new(
        FILES
            .iter()
            .map(|(p, c)| FileEntry {
                path: (*p).into(),
                size: c.len() as u64,
                digest: Digest::of(c.as_bytes()),
            })
            .collect(),
    )
    .unwrap()
}

/// A third-party SLSA provenance (GitHub's build type, not ours) about `digest`.
fn provenance(subject: &Digest) -> Vec<u8> {
    let predicate = json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"path": ".github/workflows/train.yml"}},
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
    });
    let st =
        Statement::new(vec![Statement::subject("fraud/detector", subject)], SLSA_PROVENANCE_V1, predicate);
    serde_json::to_vec(&st).unwrap()
}

fn oms(m: &Manifest) -> Vec<u8> {
    let st =
        Statement::new(vec![Statement::subject("detector", &m.oms_root_digest())], OMS_V1, oms_predicate(m));
    serde_json::to_vec(&st).unwrap()
}

/// The bundle with one inclusion-proof hash changed.
fn tampered_proof(bundle: &str) -> String {
    let mut b: Value = serde_json::from_str(bundle).unwrap();
    let h = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0];
    let mut raw = base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap();
    raw[0] ^= 1;
    *h = base64::engine::general_purpose::STANDARD.encode(raw).into();
    b.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_attestations_are_ingested_judged_by_policy_and_verified_through_the_cli() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_path_buf();
    let cli = Cli { url: server.url.clone(), token: server.admin_token.clone(), cfg: w.join("cfg") };
    let vkey = server.state.log.vkey();
    let d = Deployment::new();
    let root = w.join("trusted_root.json");
    std::fs::write(&root, d.trusted_root_json()).unwrap();
    let m = manifest();
    let main = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let dev = github_workflow("acme/fraud", "train.yml", "refs/heads/dev");
    let sign = |who: &Identity, payload: &[u8], name: &str| {
        let path = w.join(name);
        std::fs::write(&path, d.sign_dsse(who, INTOTO_PAYLOAD_TYPE, payload)).unwrap();
        path
    };
    // Accepted: provenance and the OMS signature from train.yml on main; v2's provenance from dev.
    let good = sign(&main, &provenance(&m.digest()), "slsa.json");
    let signed_files = sign(&main, &oms(&m), "oms.json");
    let from_dev = sign(&dev, &provenance(&m.digest()), "slsa-dev.json");
    // Refused, each with its reason.
    let refused = [
        (
            sign(
                &github_workflow("acme/fraud", "deploy.yml", "refs/heads/main"),
                &provenance(&m.digest()),
                "r1.json",
            ),
            "untrusted_identity",
        ),
        (
            sign(
                &Identity::new("https://gitlab.example.com", main.subject.as_str()),
                &provenance(&m.digest()),
                "r2.json",
            ),
            "untrusted_identity",
        ),
        (
            sign(
                &main
                    .clone()
                    .valid_between(
                        time::OffsetDateTime::now_utc() - time::Duration::hours(2),
                        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
                    )
                    .with_tlog(TlogEvidence::ProofOnly),
                &provenance(&m.digest()),
                "r3.json",
            ),
            "no_signing_time",
        ),
        (sign(&main, &provenance(&Digest::of(b"other bytes")), "r4.json"), "subject_mismatch"),
        (
            {
                let p = w.join("r5.json");
                std::fs::write(&p, tampered_proof(&std::fs::read_to_string(&good).unwrap())).unwrap();
                p
            },
            "tlog_proof",
        ),
        (
            {
                // Trusted only through the test root: the same signer under another deployment is not.
                let other = Deployment::new();
                let p = w.join("r6.json");
                std::fs::write(&p, other.sign_dsse(&main, INTOTO_PAYLOAD_TYPE, &provenance(&m.digest())))
                    .unwrap();
                p
            },
            "tlog_proof",
        ),
    ];
    // A confused bundle: a real keyless message signature over the manifest bytes, plus an unsigned
    // DSSE statement after it. A Sigstore verifier reads the first (and verifies it); the statement
    // must never be what gets stored.
    let confused = {
        let signed = d.sign_message(&main, &m.canonical_bytes());
        let unsigned = serde_json::to_vec(&Statement::new(
            vec![Statement::subject("fraud/detector", &m.digest())],
            SLSA_PROVENANCE_V1,
            json!({"buildDefinition": {"buildType": "https://attacker.example/v1"}}),
        ))
        .unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let envelope = json!({
            "payloadType": INTOTO_PAYLOAD_TYPE,
            "payload": b64(&unsigned),
            "signatures": [{"sig": b64(b"not a signature"), "keyid": ""}],
        });
        let text = format!("{},\"dsseEnvelope\":{envelope}}}", signed.trim_end().strip_suffix('}').unwrap());
        assert!(text.find("messageSignature") < text.find("dsseEnvelope"));
        let p = w.join("confused.json");
        std::fs::write(&p, text).unwrap();
        p
    };
    let policy = w.join("workflow.rego");
    std::fs::write(
        &policy,
        r#"package registry.promote

import rego.v1

default allow := false

from_main if {
	some a in input.attestations
	a.verified
	a.predicate_type == "https://slsa.dev/provenance/v1"
	a.signer.issuer == "https://token.actions.githubusercontent.com"
	startswith(a.signer.claims.build_config_uri, "https://github.com/acme/fraud/.github/workflows/train.yml@")
	a.signer.claims.source_repository_ref == "refs/heads/main"
}

allow if from_main

deny contains "no SLSA provenance from acme/fraud train.yml on refs/heads/main" if not from_main
"#,
    )
    .unwrap();

    blocking(move || {
        for v in ["1", "2"] {
            let dir = w.join(format!("m{v}"));
            write(&dir, FILES);
            cli.cmd()
                .args(["push"])
                .arg(&dir)
                .args(["--model", "fraud/detector", "--version", v])
                .assert()
                .success();
        }
        // Nothing trusted yet: no identity is trusted, nothing stored.
        cli.cmd().args(["attest", "fraud/detector@1", "--envelope"]).arg(&good).assert().code(1).stderr(
            predicate::str::contains("invalid_attestation")
                .and(predicate::str::contains("untrusted_identity")),
        );
        cli.cmd().args(["trust-root", "add"]).arg(&root).args(["--name", "test-sigstore"]).assert().success();
        cli.cmd()
            .args(["keys", "add-identity", "--namespace", "fraud/*", "--issuer", GITHUB_ACTIONS_ISSUER])
            .args(["--subject-regex", TRAIN, "--trust-root", "test-sigstore"])
            .assert()
            .success();
        for (bundle, reason) in &refused {
            cli.cmd().args(["attest", "fraud/detector@1", "--envelope"]).arg(bundle).assert().code(1).stderr(
                predicate::str::contains("invalid_attestation").and(predicate::str::contains(*reason)),
            );
        }
        cli.cmd().args(["attest", "fraud/detector@1", "--envelope"]).arg(&confused).assert().code(1).stderr(
            predicate::str::contains("invalid_attestation").and(predicate::str::contains("messageSignature")),
        );
        cli.cmd().args(["attest", "fraud/detector@1", "--envelope"]).arg(&good).assert().success();
        cli.cmd().args(["attest", "fraud/detector@1", "--envelope"]).arg(&signed_files).assert().success();
        cli.cmd().args(["attest", "fraud/detector@2", "--envelope"]).arg(&from_dev).assert().success();
        // A push carries one too (same files, same manifest digest).
        let dir = w.join("m3");
        write(&dir, FILES);
        cli.cmd()
            .args(["push"])
            .arg(&dir)
            .args(["--model", "fraud/detector", "--version", "3", "--attest"])
            .arg(&good)
            .assert()
            .success();
        let listed = cli.cmd().args(["--json", "attestations", "fraud/detector@1"]).output().unwrap();
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
        let atts = listed.as_array().unwrap();
        assert_eq!(atts.len(), 2, "{listed}");
        for a in atts {
            assert_eq!(a["status"], "verified", "{a}");
            assert_eq!(a["signer_identity"]["subject"], main.subject.as_str(), "{a}");
            assert_eq!(a["signer_identity"]["claims"]["source_repository_ref"], "refs/heads/main");
            assert_eq!(a["signer_identity"]["trust_root"], "test-sigstore");
        }
        assert_eq!(atts[1]["binding"], "files", "the OMS signature binds names and digests");

        // A policy on the signer's claims: main passes, dev is denied with the reason.
        cli.cmd().args(["policy", "set", "fraud/*", "production"]).arg(&policy).assert().success();
        cli.cmd()
            .args(["promote", "fraud/detector@2", "--to", "production"])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("train.yml on refs/heads/main"));
        cli.cmd().args(["promote", "fraud/detector@1", "--to", "production"]).assert().success();

        // The user verifies with their own root and identity, online and offline; a wrong identity
        // (or none) verifies nothing the requirement asks for: exit 3.
        let verify = |identity: &str| {
            let mut c = cli.cmd();
            c.args(["verify", "fraud/detector@1", "--trusted-root"]).arg(&root).args([
                "--trusted-identity",
                identity,
                "--require-predicate",
                SLSA_PROVENANCE_V1,
                "--require-predicate",
                OMS_V1,
            ]);
            c
        };
        verify(&format!("{GITHUB_ACTIONS_ISSUER}={TRAIN}")).assert().success().stdout(
            predicate::str::contains("train.yml@refs/heads/main").and(predicate::str::contains("trust root")),
        );
        verify(&format!("{GITHUB_ACTIONS_ISSUER}=https://github\\.com/acme/other/.*")).assert().code(3);
        let bundle = w.join("audit.json");
        cli.cmd().args(["bundle", "fraud/detector@1", "-o"]).arg(&bundle).assert().success();
        let offline = |identity: &str| {
            let mut c = cli.cmd();
            c.args(["verify", "--offline", "--log-key", &vkey, "--bundle"])
                .arg(&bundle)
                .args(["--trust-root"])
                .arg(&root)
                .args(["--trusted-identity", identity, "--require-predicate", SLSA_PROVENANCE_V1]);
            c
        };
        offline(&format!("{GITHUB_ACTIONS_ISSUER}={TRAIN}")).assert().success();
        offline("https://gitlab.example.com=.*").assert().code(3);
        // An identity without a root to check it against is a usage error.
        cli.cmd()
            .args(["verify", "fraud/detector@1", "--trusted-identity", "x=y"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("--trust-root"));
    })
    .await;
    // The log records who signed, and the root's digest.
    let root_digest = Digest::of(d.trusted_root_json().as_bytes()).to_string();
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM log_entries WHERE kind = 'attestation.added'")
            .fetch_all(server.state.db.pool())
            .await
            .unwrap();
    // Four keyless ones (the fifth is the promotion's decision, signed by the server's key).
    let keyless: Vec<&String> = bodies.iter().filter(|b| b.contains("signer_identity")).collect();
    assert_eq!((bodies.len(), keyless.len()), (5, 4));
    for b in keyless {
        assert!(b.contains(&root_digest) && b.contains("token.actions.githubusercontent.com"), "{b}");
    }
}

/// The set-up of the revocation tests: a server, a test Sigstore deployment with its root written
/// out, the CLI, and the GitHub workflow on main that signs.
struct Revocation {
    server: TestServer,
    _work: tempfile::TempDir,
    w: PathBuf,
    cli: Cli,
    d: Deployment,
    root: PathBuf,
    main: Identity,
}

impl Revocation {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let work = tempfile::tempdir().unwrap();
        let w = work.path().to_path_buf();
        let cli = Cli { url: server.url.clone(), token: server.admin_token.clone(), cfg: w.join("cfg") };
        let d = Deployment::new();
        let root = w.join("trusted_root.json");
        std::fs::write(&root, d.trusted_root_json()).unwrap();
        let main = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
        Self { server, _work: work, w, cli, d, root, main }
    }
}

/// Revoking the identity turns its attestations' status to `signer_revoked`; a new one from it is
/// refused. (Trust is re-checked at commit: `trust.rs` covers the race for keys; identities share the mark.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_identity_no_longer_vouches() {
    let Revocation { server: _server, _work, w, cli, d, root, main } = Revocation::start().await;
    let m = manifest();
    let first = w.join("a.json");
    std::fs::write(&first, d.sign_dsse(&main, INTOTO_PAYLOAD_TYPE, &provenance(&m.digest()))).unwrap();
    let second = w.join("b.json");
    std::fs::write(&second, d.sign_dsse(&main, INTOTO_PAYLOAD_TYPE, &oms(&m))).unwrap();
    blocking(move || {
        let dir = w.join("m");
        write(&dir, FILES);
        cli.cmd()
            .args(["push"])
            .arg(&dir)
            .args(["--model", "fraud/detector", "--version", "1"])
            .assert()
            .success();
        cli.cmd().args(["trust-root", "add"]).arg(&root).args(["--name", "t"]).assert().success();
        let id = trust_identity(&cli, main.subject.as_str());
        cli.cmd().args(["attest", "fraud/detector@1", "--envelope"]).arg(&first).assert().success();
        cli.cmd().args(["keys", "revoke", &id]).assert().success();
        let listed = cli.cmd().args(["--json", "attestations", "fraud/detector@1"]).output().unwrap();
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(listed[0]["status"], "signer_revoked", "{listed}");
        cli.cmd()
            .args(["attest", "fraud/detector@1", "--envelope"])
            .arg(&second)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("untrusted_identity"));
    })
    .await;
}

/// Trusts `subject` from GitHub Actions for `fraud/*`; the identity's id.
fn trust_identity(cli: &Cli, subject: &str) -> String {
    let added = cli
        .cmd()
        .args(["--json", "keys", "add-identity", "--namespace", "fraud/*", "--issuer", GITHUB_ACTIONS_ISSUER])
        .args(["--subject", subject])
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&added.stdout).unwrap()["id"].as_str().unwrap().to_owned()
}

/// A promotion decided on a keyless provenance, then the identity is revoked before the decision
/// commits: the promotion is decided again (and denied), as it is for a revoked key. It used to
/// commit on the stale decision: the promotion's evidence mark covered trusted keys only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_decided_before_an_identity_revocation_does_not_commit_on_it() {
    let Revocation { server, _work, w, cli, d, root, main } = Revocation::start().await;
    let slsa = w.join("slsa.json");
    std::fs::write(&slsa, d.sign_dsse(&main, INTOTO_PAYLOAD_TYPE, &provenance(&manifest().digest())))
        .unwrap();
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/policies/provenance.rego");
    let (c, subject) = (cli.clone(), main.subject.clone());
    let id = blocking(move || {
        let dir = c.cfg.with_file_name("m");
        write(&dir, FILES);
        c.cmd()
            .arg("push")
            .arg(&dir)
            .args(["--model", "fraud/detector", "--version", "1"])
            .assert()
            .success();
        c.cmd().args(["trust-root", "add"]).arg(&root).args(["--name", "t"]).assert().success();
        let id = trust_identity(&c, subject.as_str());
        c.cmd().args(["attest", "fraud/detector@1", "--envelope"]).arg(&slsa).assert().success();
        c.cmd().args(["policy", "set", "fraud/*", "production"]).arg(&policy).assert().success();
        id
    })
    .await;

    let (reached, release) = server.state.pauses.arm("promotion.decided");
    let c = cli.clone();
    let promote = tokio::task::spawn_blocking(move || {
        c.cmd().args(["promote", "fraud/detector@1", "--to", "production"]).output().unwrap()
    });
    reached.await.unwrap();
    let c = cli.clone();
    blocking(move || c.cmd().args(["keys", "revoke", &id]).assert().success()).await;
    release.send(()).unwrap();
    let out = promote.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "denied on the identity's revocation: {stderr}");
    assert!(stderr.contains("no verified SLSA provenance"), "{stderr}");
    blocking(move || {
        let history = cli.cmd().args(["--json", "alias", "history", "fraud/detector", "production"]).output();
        let history: Value = serde_json::from_slice(&history.unwrap().stdout).unwrap();
        let decisions: Vec<&str> =
            history["events"].as_array().unwrap().iter().map(|e| e["decision"].as_str().unwrap()).collect();
        assert_eq!(decisions, ["failed"], "{history}");
    })
    .await;
}
