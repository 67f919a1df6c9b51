//! Use cases, free of HTTP: they take `&AppState` and domain types and return API types or `ApiError`.
pub mod attest;
pub mod audit;
pub mod blobs;
pub mod bundle;
pub mod gc;
pub mod incident;
pub mod log;
pub mod promote;
pub mod push;
pub mod read;
pub mod rego;
pub mod report;
pub mod scrub;
pub mod scrub_aliases;
pub mod server_keys;
pub mod tokens;
pub mod uploads;
