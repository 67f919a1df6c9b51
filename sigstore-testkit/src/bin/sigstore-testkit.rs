//! `sigstore-testkit write DIR`: a fresh test deployment's `trusted_root.json` and
//! `trust_config.json` (sigstore-python's `--trust-config`), an artifact and its keyless
//! bundles (`artifact.txt.sigstore.json`, a message signature; `artifact.txt.dsse.sigstore.json`, an
//! in-toto statement about it in a DSSE envelope), for checking them against other Sigstore
//! verifiers.
use std::path::PathBuf;
use std::process::ExitCode;

use sha2::{Digest as _, Sha256};
use sigstore_testkit::{Deployment, github_workflow};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cmd, dir] = args.as_slice() else {
        eprintln!("usage: sigstore-testkit write DIR");
        return ExitCode::from(2);
    };
    if cmd != "write" {
        eprintln!("usage: sigstore-testkit write DIR");
        return ExitCode::from(2);
    }
    match write(PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigstore-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(dir: PathBuf) -> std::io::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let deployment = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let artifact = b"sigstore-testkit artifact\n";
    std::fs::write(dir.join("trusted_root.json"), deployment.trusted_root_json())?;
    std::fs::write(dir.join("trust_config.json"), deployment.client_trust_config_json())?;
    std::fs::write(dir.join("artifact.txt"), artifact)?;
    std::fs::write(dir.join("artifact.txt.sigstore.json"), deployment.sign_message(&who, artifact))?;
    let digest: String = Sha256::digest(artifact).iter().map(|b| format!("{b:02x}")).collect();
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"artifact.txt","digest":{{"sha256":"{digest}"}}}}],"predicateType":"https://sigstore-testkit.invalid/predicate/v1","predicate":{{}}}}"#
    );
    let dsse = deployment.sign_dsse(&who, "application/vnd.in-toto+json", statement.as_bytes());
    std::fs::write(dir.join("artifact.txt.dsse.sigstore.json"), dsse)?;
    println!("identity: {}\nissuer:   {}", who.subject, who.issuer);
    Ok(())
}
