//! `registry push DIR --model NS/NAME --version V [lineage flags]`.
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use registry_client::push::{PushOptions, PushSpec, Signing, push_logged};
use registry_core::api::Metadata;
use registry_core::attest::predicates::RunTimes;
use registry_core::lineage::{Code, Dataset, Run, Scalar};
use registry_core::{Digest, Lineage, ModelName, ModelRef, VersionLabel};

use crate::progress::Bars;
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The model directory.
    dir: PathBuf,
    /// NAMESPACE/NAME.
    #[arg(long)]
    model: String,
    /// Version label (e.g. 1.4.0).
    #[arg(long)]
    version: String,
    /// Dataset used: URI=sha256:HEX[:ROLE] (ROLE defaults to train). Repeatable.
    #[arg(long, value_name = "URI=sha256:HEX[:ROLE]")]
    dataset: Vec<String>,
    /// Code commit (40 or 64 hex); needs --repo.
    #[arg(long, requires = "repo")]
    commit: Option<String>,
    /// Code repository URL; needs --commit.
    #[arg(long, requires = "commit")]
    repo: Option<String>,
    /// Entry point or sub-directory inside the repository.
    #[arg(long, requires = "commit")]
    code_path: Option<String>,
    /// Parent version NS/NAME@V (fine-tuned or distilled from). Repeatable.
    #[arg(long)]
    parent: Vec<String>,
    /// Hyperparameter K=V (numbers stay numbers). Repeatable.
    #[arg(long, value_name = "K=V")]
    param: Vec<String>,
    /// Metric K=V (numbers stay numbers). Repeatable.
    #[arg(long, value_name = "K=V")]
    metric: Vec<String>,
    /// Training run id.
    #[arg(long)]
    run_id: Option<String>,
    /// Link to the training run; needs --run-id.
    #[arg(long, requires = "run_id")]
    run_uri: Option<String>,
    /// Builder identity URI (e.g. the CI system); needs --run-id.
    #[arg(long, requires = "run_id")]
    builder: Option<String>,
    /// Human description.
    #[arg(long)]
    description: Option<String>,
    /// Label K=V. Repeatable.
    #[arg(long, value_name = "K=V")]
    label: Vec<String>,
    /// Sign SLSA provenance and an OpenSSF Model Signing bundle with this private key (PEM).
    #[arg(long, value_name = "KEY")]
    sign_key: Option<std::path::PathBuf>,
    /// Attach an attestation made elsewhere (DSSE envelope or Sigstore bundle, e.g. model_signing's
    /// model.sig). Repeatable.
    #[arg(long, value_name = "FILE")]
    attest: Vec<std::path::PathBuf>,
    /// Training start time for the provenance (RFC 3339).
    #[arg(long, requires = "sign_key")]
    started_on: Option<String>,
    /// Training end time for the provenance (RFC 3339; default: now).
    #[arg(long, requires = "sign_key")]
    finished_on: Option<String>,
    /// Also write the OpenSSF Model Signing bundle to FILE (checkable with `model_signing verify key`).
    #[arg(long, value_name = "FILE", requires = "sign_key")]
    signature_out: Option<std::path::PathBuf>,
    /// Blobs uploaded at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Push nothing: discard this credential's unfinished resumable uploads of these files on the
    /// server (e.g. after a push failed on a full store), freeing the space their parts hold. The
    /// next push sends those files from the start.
    #[arg(long)]
    abort_uploads: bool,
}

/// Parses `URI=sha256:HEX[:ROLE]`; the URI may itself contain `=`.
pub fn parse_dataset(s: &str) -> anyhow::Result<Dataset> {
    let at =
        s.rfind("=sha256:").with_context(|| format!("--dataset {s:?}: expected URI=sha256:HEX[:ROLE]"))?;
    let (uri, rest) = (&s[..at], &s[at + 1..]);
    let (digest, role) = match rest.get(71..) {
        Some("") | None => (rest, "train"),
        Some(r) => (
            &rest[..71],
            r.strip_prefix(':')
                .with_context(|| format!("--dataset {s:?}: expected :ROLE after the digest"))?,
        ),
    };
    let digest = Digest::parse(digest).with_context(|| format!("--dataset {s:?}"))?;
    Ok(Dataset { uri: uri.to_owned(), digest, role: role.to_owned() })
}

fn kv(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in items {
        let (k, v) = s.split_once('=').with_context(|| format!("--{flag} {s:?}: expected K=V"))?;
        if out.insert(k.to_owned(), v.to_owned()).is_some() {
            bail!("--{flag} {k} given twice");
        }
    }
    Ok(out)
}

fn scalars(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, Scalar>> {
    Ok(kv(flag, items)?.into_iter().map(|(k, v)| (k, Scalar::parse_loose(&v))).collect())
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let model = ModelName::parse(&a.model)?;
    let version = VersionLabel::parse(&a.version)?;
    if a.abort_uploads {
        let client = ctx.client()?;
        let r = registry_client::push::abort_uploads(&client, &a.dir, &PushOptions::default()).await?;
        if ctx.json {
            crate::cmd::print_json(&r)?;
        } else {
            eprintln!(
                "discarded {} unfinished upload(s) of {} ({} bytes staged); nothing was pushed",
                r.sessions,
                a.dir.display(),
                r.bytes
            );
        }
        return Ok(());
    }
    let lineage = Lineage {
        datasets: a.dataset.iter().map(|s| parse_dataset(s)).collect::<anyhow::Result<_>>()?,
        code: match (a.repo, a.commit) {
            (Some(repo), Some(commit)) => Some(Code { repo, commit, path: a.code_path }),
            _ => None,
        },
        parents: a.parent.iter().map(|p| ModelRef::parse(p)).collect::<Result<_, _>>()?,
        params: scalars("param", &a.param)?,
        metrics: scalars("metric", &a.metric)?,
        run: a.run_id.map(|id| Run { id, uri: a.run_uri, builder: a.builder }),
    };
    let metadata = Metadata { description: a.description, labels: kv("label", &a.label)? };
    let key = a.sign_key.as_deref().map(registry_client::attest::read_signing_key).transpose()?;
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let sign = key.as_ref().map(|key| Signing {
        key,
        times: RunTimes {
            started_on: a.started_on.clone(),
            finished_on: Some(a.finished_on.clone().unwrap_or(now)),
        },
    });
    let mut attestations = Vec::new();
    for f in &a.attest {
        attestations.push(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?);
    }
    let client = ctx.client()?;
    // A signed provenance pins each parent's manifest digest (taken from the log), and the version is
    // read back through the log after the push.
    let opts = PushOptions { jobs: a.jobs, ..Default::default() };
    let spec =
        PushSpec { dir: &a.dir, model: &model, version: &version, lineage, metadata, sign, attestations };
    let (r, notes) = push_logged(&client, spec, Bars::new(ctx.json), &opts).await?;
    for n in &notes {
        eprintln!("registry: {n}");
    }
    if let (Some(path), Some(bundle)) = (&a.signature_out, &r.oms_bundle) {
        std::fs::write(path, bundle).with_context(|| format!("writing {}", path.display()))?;
    }
    if ctx.json {
        crate::cmd::print_json(&r)?;
    } else {
        println!("{model}@{version} {}", r.version.manifest_digest);
        eprintln!(
            "{} {} files, {} bytes; uploaded {} blob(s), {} bytes; {} attestation(s)",
            if r.created { "created" } else { "already existed:" },
            r.files,
            r.bytes,
            r.blobs_uploaded,
            r.bytes_uploaded,
            r.attestations
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_flags_parse_uri_digest_and_role() {
        let d = Digest::of(b"x");
        let ds = parse_dataset(&format!("s3://b/k?v=1={d}:eval")).expect("parses");
        assert_eq!((ds.uri.as_str(), ds.digest, ds.role.as_str()), ("s3://b/k?v=1", d, "eval"));
        let ds = parse_dataset(&format!("hf://x={d}")).expect("parses");
        assert_eq!(ds.role, "train");
        assert!(parse_dataset("s3://x").is_err());
        assert!(parse_dataset(&format!("s3://x={d}eval")).is_err());
    }
}
