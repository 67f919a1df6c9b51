//! End-to-end tests: a real registry server on 127.0.0.1:0 driven by the real client
//! (one test binary: each file here is a module, and linking one binary instead of one per file keeps
//! the build's disk and link time down).

mod attestations;
mod audit;
mod auth_matrix;
mod bad_input;
mod direct_downloads;
mod events;
mod free_text;
mod gc;
mod incident;
mod limits;
mod log;
mod mlflow;
mod oci;
mod oci_conformance;
mod oidc;
mod policy_limits;
mod promote;
mod push_pull;
mod scrub;
mod scrub_aliases;
mod secrets;
mod server;
mod tokens;
mod trust;
mod ui;
mod uploads;
mod webhooks;
