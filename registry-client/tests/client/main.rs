//! The client's tests: the real `registry` binary and library against real servers and adversarial relays
//! (one test binary: each file here is a module, and linking one binary instead of one per file keeps
//! the build's disk and link time down).

mod binding;
mod cli;
mod common;
mod keyless;
mod keyless_ingest;
mod notes;
mod oms_ignore;
mod pins;
mod pull_target;
mod resume;
mod sigstore;
mod tamper;
