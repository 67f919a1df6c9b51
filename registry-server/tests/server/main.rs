//! Process-level tests of the real `registry-server` binary: bootstrap, admin commands, crashes, replicas, keys
//! (one test binary: each file here is a module, and linking one binary instead of one per file keeps
//! the build's disk and link time down).

mod admin_commands;
mod bootstrap;
mod common;
mod crash;
mod gc_faults;
mod pkcs11;
mod replicas;
mod schemas;
mod server_keys;
