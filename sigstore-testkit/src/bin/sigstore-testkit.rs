//! `sigstore-testkit write DIR`: a fresh test deployment's `trusted_root.json` and
//! `trust_config.json` (sigstore-python's `--trust-config`), an artifact and its keyless
//! bundles (`artifact.txt.sigstore.json`, a message signature; `artifact.txt.dsse.sigstore.json`, an
//! in-toto statement about it in a DSSE envelope), for checking them against other Sigstore
//! verifiers.
use std::path::PathBuf;
use std::process::ExitCode;

use sha2::{Digest as _, Sha256};
use sigstore_testkit::{Deployment, github_workflow};

const USAGE: &str = "usage: sigstore-testkit write DIR [--artifact FILE] [--predicate-type URI] [--count N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("write"), Some(dir)) = (args.first().map(String::as_str), args.get(1)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let mut artifact = None;
    let mut predicate_type = "https://sigstore-testkit.invalid/predicate/v1".to_owned();
    let mut count = 1usize;
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.next()) {
            ("--artifact", Some(v)) => artifact = Some(PathBuf::from(v)),
            ("--predicate-type", Some(v)) => predicate_type = v.clone(),
            ("--count", Some(v)) if v.parse::<usize>().is_ok_and(|n| n >= 1) => {
                count = v.parse().unwrap_or(1)
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match write(PathBuf::from(dir), artifact, &predicate_type, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigstore-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the deployment's roots, the artifact (or a copy of `artifact`, as `artifact.txt`) and its
/// two bundles (a message signature, and a DSSE in-toto statement of `predicate_type` whose subject is
/// the artifact's SHA-256). With `count` > 1, also `artifact.txt.dsse.N.sigstore.json` for N in 2..=count,
/// each a distinct statement (`predicate.n`) under the same deployment.
fn write(dir: PathBuf, artifact: Option<PathBuf>, predicate_type: &str, count: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let deployment = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let artifact = match artifact {
        Some(p) => std::fs::read(p)?,
        None => b"sigstore-testkit artifact\n".to_vec(),
    };
    std::fs::write(dir.join("trusted_root.json"), deployment.trusted_root_json())?;
    std::fs::write(dir.join("trust_config.json"), deployment.client_trust_config_json())?;
    std::fs::write(dir.join("artifact.txt"), &artifact)?;
    std::fs::write(dir.join("artifact.txt.sigstore.json"), deployment.sign_message(&who, &artifact))?;
    let digest: String = Sha256::digest(&artifact).iter().map(|b| format!("{b:02x}")).collect();
    for n in 1..=count {
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "artifact.txt", "digest": {"sha256": digest}}],
            "predicateType": predicate_type,
            "predicate": if n == 1 { serde_json::json!({}) } else { serde_json::json!({"n": n}) },
        });
        let dsse =
            deployment.sign_dsse(&who, "application/vnd.in-toto+json", statement.to_string().as_bytes());
        let name = if n == 1 {
            "artifact.txt.dsse.sigstore.json".to_owned()
        } else {
            format!("artifact.txt.dsse.{n}.sigstore.json")
        };
        std::fs::write(dir.join(name), dsse)?;
    }
    println!("identity: {}\nissuer:   {}", who.subject, who.issuer);
    Ok(())
}
