//! `registry ls [NS[/NAME]]`: models (optionally of one namespace), or one model's versions.
use registry_core::ModelName;

use crate::{Ctx, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// NAMESPACE to list its models, or NAMESPACE/NAME to list its versions.
    target: Option<String>,
    /// Only models whose name starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// At most this many entries (all by default).
    #[arg(long)]
    limit: Option<usize>,
}

pub async fn run(ctx: &Ctx, a: Args) -> Result<(), Failure> {
    let client = ctx.client()?;
    let max = a.limit.unwrap_or(usize::MAX);
    if let Some(t) = a.target.as_deref().filter(|t| t.contains('/')) {
        let model = ModelName::parse(t)?;
        let all = pages(max, async |cursor| {
            let page = client.list_versions(&model, cursor, Some(500)).await?;
            Ok((page.versions, page.next_cursor))
        })
        .await?;
        if ctx.json {
            return Ok(super::print_json(&all)?);
        }
        for v in all {
            println!(
                "{model}@{}\t{}\t{} files\t{} bytes\t{}\t{}",
                v.version, v.manifest_digest, v.file_count, v.total_size, v.created_at, v.created_by
            );
        }
        return Ok(());
    }
    let all = pages(max, async |cursor| {
        let page = client.list_models(a.target.as_deref(), a.prefix.as_deref(), cursor, Some(500)).await?;
        Ok((page.models, page.next_cursor))
    })
    .await?;
    if ctx.json {
        return Ok(super::print_json(&all)?);
    }
    for m in all {
        println!(
            "{}/{}\t{} version(s)\tlatest {}",
            m.namespace,
            m.name,
            m.version_count,
            m.latest_version.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// Up to `max` items, fetched page by page: `fetch(cursor)` gives a page and the next cursor.
async fn pages<T>(
    max: usize,
    mut fetch: impl AsyncFnMut(Option<&str>) -> Result<(Vec<T>, Option<String>), registry_client::ClientError>,
) -> Result<Vec<T>, registry_client::ClientError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (items, next) = fetch(cursor.as_deref()).await?;
        all.extend(items);
        cursor = next;
        if cursor.is_none() || all.len() >= max {
            break;
        }
    }
    all.truncate(max);
    Ok(all)
}
