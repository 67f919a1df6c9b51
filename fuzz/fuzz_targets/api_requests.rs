//! The JSON bodies the server deserializes (every `ApiJson<T>` request type of registry-core): the
//! first byte picks the type, the rest is the body. Parsing and the checks the services run first
//! (lineage/metadata bounds, a pushed manifest's sizes and digests, the base64 and parse of pushed
//! attestations, name patterns) never panic, and what parses survives its own JSON unchanged.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::api::{
    AddKeyRequest, BlobCheckRequest, CreateUploadRequest, NamespaceSettings, PutVersionRequest,
};
use registry_core::auth::CreateTokenRequest;
use registry_core::incident::{LiftRequest, QuarantineRequest};
use registry_core::promote::{PolicyTestRequest, PromoteRequest, RollbackRequest, SetPolicyRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Parses `body` as `T`; if it parses, `T`'s JSON parses back to the same JSON.
fn round_trip<T: DeserializeOwned + Serialize>(body: &[u8]) -> Option<T> {
    let t: T = serde_json::from_slice(body).ok()?;
    let v = serde_json::to_value(&t).expect("a request serializes");
    let back: T = serde_json::from_value(v.clone()).expect("a request's own JSON parses");
    let again = serde_json::to_value(&back).expect("serializes");
    assert!(registry_fuzz::json_eq(&again, &v), "request changes through its JSON: {v} -> {again}");
    Some(t)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    match which % 12 {
        0 => {
            let Some(r) = round_trip::<PutVersionRequest>(body) else { return };
            let _ = r.lineage.validate();
            let _ = r.metadata.validate();
            let m = &r.manifest;
            assert_eq!(m.digest(), registry_core::Digest::of(&m.canonical_bytes()));
            let _ = (m.total_size(), m.oms_root_digest(), m.blob_digests());
            for a in r.attestations.iter().take(4) {
                if let Ok(raw) = registry_core::attest::dsse::decode_b64(a) {
                    let _ = registry_core::attest::parse(&raw);
                }
            }
        }
        1 => {
            let _ = round_trip::<BlobCheckRequest>(body);
        }
        2 => {
            if let Some(r) = round_trip::<CreateUploadRequest>(body) {
                assert!(r.size <= 1 << 63, "size {} beyond int64 accepted", r.size);
            }
        }
        3 => {
            if let Some(r) = round_trip::<AddKeyRequest>(body) {
                let _ = registry_core::attest::keys::PublicKey::from_pem(&r.public_key);
            }
        }
        4 => {
            let _ = round_trip::<NamespaceSettings>(body);
        }
        5 => {
            if let Some(r) = round_trip::<PromoteRequest>(body) {
                let _ = registry_core::name::VersionLabel::parse(&r.version);
                let _ = registry_core::Digest::parse(&r.version);
            }
        }
        6 => {
            let _ = round_trip::<RollbackRequest>(body);
        }
        7 => {
            if let Some(r) = round_trip::<SetPolicyRequest>(body) {
                let _ = registry_core::promote::AliasPattern::parse(&r.alias);
            }
        }
        8 => {
            if let Some(r) = round_trip::<PolicyTestRequest>(body) {
                let _ = registry_core::promote::AliasName::parse(&r.alias);
            }
        }
        9 => {
            if let Some(r) = round_trip::<QuarantineRequest>(body)
                && let Some(v) = &r.version
            {
                let _ = registry_core::ModelRef::parse(v);
            }
        }
        10 => {
            let _ = round_trip::<LiftRequest>(body);
        }
        _ => {
            if let Some(r) = round_trip::<CreateTokenRequest>(body) {
                let _ = registry_core::auth::NamePattern::parse(&r.namespace.to_string());
            }
        }
    }
});
