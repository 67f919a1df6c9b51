//! The server's admin subcommands: they open the same configuration's database (and blob store) beside
//! a running server and act through the same services, as `local-admin`.
mod keys;
mod maintenance;
mod tokens;

pub use keys::{KeysCmd, NamespaceCmd, keys_cmd, namespace_cmd, server_keys_cmd};
pub use maintenance::{gc_cmd, gc_options, scrub_cmd, scrub_rates};
pub use tokens::{TokenCmd, token_cmd};
