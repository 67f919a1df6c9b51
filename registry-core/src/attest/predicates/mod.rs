//! The predicates we write and check: SLSA Provenance v1 for training and the SLSA VSA for promotion
//! decisions ([`slsa`]), OpenSSF Model Signing v1.0 for the file list ([`oms`]). Every item is
//! re-exported here.
pub mod oms;
pub mod slsa;

pub use oms::{OMS_DEFAULT_IGNORE, OMS_V1, check_oms, oms_ignored, oms_predicate};
pub use slsa::{
    RunTimes, SLSA_PROVENANCE_V1, SLSA_VSA_V1, TRAINING_BUILD_TYPE, check_names, slsa_provenance,
};
