//! The server's own keys in a PKCS#11 token (SoftHSM2, each test with its own token directory): the
//! real binary signs checkpoints and promotion decisions in the token, and they verify with the public
//! keys `log-key` and `attestation-key` print; a wrong PIN, a missing object or token, a module that
//! does not load and a key of the wrong type stop the server at start with a clear message.
//! Skipped when SoftHSM2 is missing, unless `REGISTRY_REQUIRE_SOFTHSM=1`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use registry_core::Digest;
use registry_core::attest::dsse::Envelope;
use registry_core::attest::keys::{KeyKind, PublicKey, SigningKey};
use registry_core::tlog::note::{Checkpoint, NoteVerifier};
use serde_json::{Value, json};

const TOKEN: &str = "reg_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const PIN: &str = "314159";
const LOG_URI: &str = "pkcs11:token=registry;object=log";
const VSA_URI: &str = "pkcs11:token=registry;object=vsa;id=%02";

/// A SoftHSM2 token `registry` in a temp dir, holding an Ed25519 key `log` (id 01) and a P-256 key
/// `vsa` (id 02), imported the way docs/security.md tells an operator to move key files into an HSM.
struct Hsm {
    dir: tempfile::TempDir,
    module: PathBuf,
    log: PublicKey,
    vsa: PublicKey,
}

impl Hsm {
    fn new() -> Option<Self> {
        let module = registry_server::testing::softhsm_module()?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let me = Self {
            module,
            log: SigningKey::from_seed(KeyKind::Ed25519, &[11; 32]).unwrap().public().clone(),
            vsa: SigningKey::from_seed(KeyKind::P256, &[12; 32]).unwrap().public().clone(),
            dir,
        };
        me.util(&["--init-token", "--free", "--label", "registry", "--pin", PIN, "--so-pin", "27182818"]);
        for (seed, kind, label, id) in [(11, KeyKind::Ed25519, "log", "01"), (12, KeyKind::P256, "vsa", "02")]
        {
            let pem = me.dir.path().join(format!("{label}.pem"));
            std::fs::write(&pem, pkcs8_v1(kind, &[seed; 32])).unwrap();
            let pem = pem.display().to_string();
            me.util(&["--import", &pem, "--token", "registry", "--label", label, "--id", id, "--pin", PIN]);
            std::fs::remove_file(&pem).unwrap();
        }
        me.pin_file("pin", PIN, 0o600);
        Some(me)
    }

    fn util(&self, args: &[&str]) {
        let out =
            Command::new("softhsm2-util").args(args).env("SOFTHSM2_CONF", self.conf()).output().unwrap();
        assert!(out.status.success(), "softhsm2-util {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn pin_file(&self, name: &str, pin: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("{pin}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// `registry-server ARGS` over `data` with the token's module and environment; `keys` are the
    /// key flags (the two token keys unless a test says otherwise).
    fn command(&self, data: &Path, keys: &[&str], args: &[&str]) -> Command {
        self.command_on(&self.module, data, keys, args)
    }

    fn command_on(&self, module: &Path, data: &Path, keys: &[&str], args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_registry-server"));
        c.arg("--data-dir")
            .arg(data)
            .args(["--scrub-interval", "0", "--pkcs11-module"])
            .arg(module)
            .args(keys)
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .env("REGISTRY_BOOTSTRAP_TOKEN", TOKEN)
            .env("REGISTRY_LOG", "warn")
            .env_remove("REGISTRY_PKCS11_PIN")
            .env_remove("REGISTRY_CONFIG");
        c
    }

    fn keys(&self) -> Vec<String> {
        let pin = self.dir.path().join("pin").display().to_string();
        ["--pkcs11-pin-file", &pin, "--log-key-pkcs11", LOG_URI, "--attestation-key-pkcs11", VSA_URI]
            .map(str::to_owned)
            .to_vec()
    }
}

/// The key of `seed` as PEM PKCS#8 that SoftHSM's OpenSSL reads: Ed25519 as a version 1 structure
/// (the fixed RFC 8410 prefix, then the seed; OpenSSL 3.0 refuses the v2 form with the public key
/// that `SigningKey::to_pkcs8_pem` writes), P-256 as written.
fn pkcs8_v1(kind: KeyKind, seed: &[u8; 32]) -> String {
    use base64::Engine;
    match kind {
        KeyKind::P256 => SigningKey::from_seed(kind, seed).unwrap().to_pkcs8_pem(),
        KeyKind::Ed25519 => {
            let der = [&hex::decode("302e020100300506032b657004220420").unwrap()[..], seed].concat();
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `c` to its end (killed after 60 s: a server that should have refused to start).
fn run(mut c: Command) -> Output {
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("still running after 60 s: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stdout_of(c: Command) -> String {
    let out = run(c);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http() -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::AUTHORIZATION, format!("Bearer {TOKEN}").parse().unwrap());
    reqwest::Client::builder().default_headers(h).build().unwrap()
}

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(mut c: Command, url: &str) -> Running {
    let mut child = Running(c.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap());
    for _ in 0..600 {
        if reqwest::get(format!("{url}/v1/health")).await.is_ok_and(|r| r.status() == 200) {
            return child;
        }
        assert!(child.0.try_wait().unwrap().is_none(), "registry-server exited at start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("registry-server did not answer /v1/health within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs11_keys_sign_checkpoints_and_vsas_that_verify_with_the_exported_public_keys() {
    let Some(hsm) = Hsm::new() else {
        eprintln!("SoftHSM2 not installed: skipped (REGISTRY_REQUIRE_SOFTHSM=1 makes this a failure)");
        return;
    };
    let data = hsm.dir.path().join("data");
    let keys = hsm.keys();

    // The public keys the subcommands print are read from the token: the keys imported into it.
    let vkey = stdout_of(hsm.command(&data, &strs(&keys), &["log-key"]));
    let raw: [u8; 32] = hsm.log.spki_der()[12..].try_into().unwrap();
    let origin = format!("registry/{}", &Digest::of(&raw).hex()[..8]);
    assert_eq!(vkey.trim(), NoteVerifier::from_public_key(&origin, &raw).unwrap().to_vkey());
    let pem = stdout_of(hsm.command(&data, &strs(&keys), &["attestation-key"]));
    assert_eq!(pem, hsm.vsa.to_pem());
    let vsa_key = PublicKey::from_pem(&pem).unwrap();

    // A server on those keys: push, promote (no policy: allowed, with a VSA signed in the token).
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let server = serve(hsm.command(&data, &strs(&keys), &["--listen", &listen]), &url).await;
    let c = http();
    let weights = b"weights signed for in an HSM".to_vec();
    let d = Digest::of(&weights);
    assert!(
        c.put(format!("{url}/v1/blobs/{d}"))
            .body(weights.clone())
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let body = json!({"manifest": {"mediaType": registry_core::manifest::MEDIA_TYPE,
        "files": [{"path": "w.bin", "size": weights.len(), "digest": d}]}});
    let r = c.put(format!("{url}/v1/models/hsm/model/versions/1")).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = c
        .put(format!("{url}/v1/models/hsm/model/aliases/staging"))
        .json(&json!({"version": "1", "reason": "test"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let promoted: Value = r.json().await.unwrap();
    let id = promoted["vsa"]["id"].as_i64().unwrap();

    // The VSA: a DSSE envelope whose one signature (DER ECDSA, keyid = the key id) verifies.
    let raw_vsa = c
        .get(format!("{url}/v1/models/hsm/model/versions/1/attestations/{id}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let env = Envelope::parse(&raw_vsa).unwrap();
    assert_eq!(env.signatures.len(), 1);
    assert_eq!(env.signatures[0].keyid, vsa_key.key_id().to_string());
    assert_eq!(env.signatures[0].sig[0], 0x30, "ASN.1 DER, as a key file signs");
    assert_eq!(env.verified_by(&[&vsa_key]), [0]);
    let statement: Value = serde_json::from_slice(&env.payload).unwrap();
    assert_eq!(statement["predicateType"], registry_core::attest::predicates::SLSA_VSA_V1);

    // The checkpoint: signed in the token, opens with the printed verifier key.
    assert_eq!(
        c.get(format!("{url}/v1/log/key")).send().await.unwrap().text().await.unwrap().trim(),
        vkey.trim()
    );
    let note = c.get(format!("{url}/v1/log/checkpoint")).send().await.unwrap().text().await.unwrap();
    let cp = Checkpoint::open(&note, &NoteVerifier::parse(&vkey).unwrap()).unwrap();
    assert!(cp.size >= 2, "the push and the promotion are logged: {cp:?}");
    drop(server);

    // The token keys were pinned like file keys: `server-keys` finds them recorded.
    let status: Value =
        serde_json::from_str(&stdout_of(hsm.command(&data, &strs(&keys), &["server-keys", "--json"])))
            .unwrap();
    assert!(status.as_array().unwrap().iter().all(|k| k["matches"] == true), "{status}");
}

/// The server refuses to start (non-zero exit) and says `expect`; no PIN appears in its output.
fn refuses(hsm: &Hsm, keys: &[&str], expect: &[&str]) {
    let data = hsm.dir.path().join("refused");
    let out = run(hsm.command(&data, keys, &["--listen", "127.0.0.1:0"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {keys:?}");
    for e in expect {
        assert!(stderr.contains(e), "{keys:?}: {e:?} not in {stderr}");
    }
    assert!(!stderr.contains(PIN) && !stderr.contains("999999"), "a PIN in the output: {stderr}");
}

#[test]
fn pkcs11_misconfiguration_fails_at_start_with_a_clear_message() {
    let Some(hsm) = Hsm::new() else {
        eprintln!("SoftHSM2 not installed: skipped (REGISTRY_REQUIRE_SOFTHSM=1 makes this a failure)");
        return;
    };
    let pin = hsm.dir.path().join("pin").display().to_string();
    let wrong = hsm.pin_file("wrong-pin", "999999", 0o600).display().to_string();
    let open = hsm.pin_file("open-pin", PIN, 0o644).display().to_string();
    let att = ["--attestation-key-pkcs11", VSA_URI];
    let with = |pin: &str, log: &str| {
        [&["--pkcs11-pin-file", pin, "--log-key-pkcs11", log][..], &att[..]]
            .concat()
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
    };

    refuses(&hsm, &strs(&with(&wrong, LOG_URI)), &["PIN for token \"registry\" was refused", "PinIncorrect"]);
    refuses(
        &hsm,
        &strs(&with(&pin, "pkcs11:token=registry;object=nope")),
        &["0 private keys match pkcs11:token=registry;object=nope"],
    );
    refuses(
        &hsm,
        &strs(&with(&pin, "pkcs11:token=elsewhere;object=log")),
        &["0 tokens match pkcs11:token=elsewhere;object=log", "\"registry\""],
    );
    refuses(
        &hsm,
        &strs(&with(&pin, "pkcs11:token=registry;object=vsa")),
        &["the transparency log signing key (--log-key-pkcs11) must be ed25519", "ecdsa-p256"],
    );
    refuses(&hsm, &strs(&with(&open, LOG_URI)), &["chmod 600"]);
    refuses(&hsm, &strs(&with(&pin, &format!("{LOG_URI}?pin-value={PIN}"))), &["must not carry the PIN"]);

    let nope = Path::new("/nonexistent/libnope.so");
    let out = run(hsm.command_on(nope, &hsm.dir.path().join("refused"), &strs(&with(&pin, LOG_URI)), &[]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot load the PKCS#11 module /nonexistent/libnope.so"), "{stderr}");

    // One key named twice (a file and a token): refused before anything opens (exit 2).
    let keys = with(&pin, LOG_URI);
    let mut both = strs(&keys);
    both.extend(["--log-key-file", "/tmp/never-read.key"]);
    let out = run(hsm.command(&hsm.dir.path().join("refused"), &both, &[]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-key-file and --log-key-pkcs11 both name"));
}
