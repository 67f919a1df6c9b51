//! registry-core: the formats and rules shared by the registry server and its clients.
//!
//! No I/O lives here: digests, names, manifests, lineage and the HTTP API's wire types, so that both
//! sides compute the same bytes and the same verdicts.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod attest;
pub mod audit_bundle;
pub mod auth;
pub mod canonical;
pub mod digest;
pub mod incident;
pub mod keyless;
pub mod lineage;
pub mod manifest;
pub mod name;
pub mod oci;
pub mod openlineage;
pub mod promote;
mod schema;
pub mod text;
pub mod tlog;

pub use digest::{Digest, DigestError, Hasher};
pub use lineage::{Lineage, LineageError};
pub use manifest::{FileEntry, Manifest, ManifestError};
pub use name::{ModelName, ModelRef, NameError, Reference, VersionLabel};
