//! One module per subcommand, each with `Args` and `run()`.
pub mod auth;
pub mod events;
pub mod incident;
pub mod keys;
pub mod lineage;
pub mod log;
pub mod ls;
pub mod promote;
pub mod pull;
pub mod push;
pub mod show;
pub mod verify;
pub mod webhook;

use registry_core::{ModelName, ModelRef};

/// Prints `v` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Parses `NS/NAME@REF` into the model and the reference text the API takes.
pub fn parse_ref(s: &str) -> anyhow::Result<(ModelName, String)> {
    let r = ModelRef::parse(s)?;
    Ok((r.model, r.reference.to_string()))
}
