//! Use cases, free of HTTP: they take `&AppState` and domain types and return API types, or typed
//! errors (or `ApiError` for bad input and storage faults) that `error.rs` alone maps to status and code.
pub mod attest;
pub mod audit;
pub mod audit_bundle;
pub mod blobs;
pub mod events;
pub mod gc;
pub mod incident;
pub mod keyless;
pub mod keys;
pub mod lineage;
pub mod log;
pub mod mlflow;
pub mod oci;
pub mod pkcs11;
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
pub mod webhooks;
