//! `registry pull NS/NAME@V -o DIR [--force]`.
use std::path::PathBuf;

use registry_client::pull::pull;

use crate::progress::Bars;
use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE/NAME@VERSION (or @sha256:<manifest digest>).
    reference: String,
    /// Output directory (created; must be empty unless --force).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace a non-empty output directory.
    #[arg(long)]
    force: bool,
    /// Blobs downloaded at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let (model, reference) = super::parse_ref(&a.reference)?;
    let client = ctx.client()?;
    let r = pull(&client, &model, &reference, &a.output, a.force, Bars::new(ctx.json), a.jobs).await?;
    if ctx.json {
        super::print_json(&r)?;
    } else {
        println!("{model}@{} {} -> {}", r.version.version, r.version.manifest_digest, r.dir.display());
        eprintln!("verified {} files, {} bytes", r.files, r.bytes);
    }
    Ok(())
}
