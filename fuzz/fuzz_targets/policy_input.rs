//! Building a promotion policy's input from stored attestations, as the server's policy_input() and
//! evaluate() do (registry-server/src/service/promote/policy.rs): the predicate of a stored body is
//! `attest::parse(body)`'s, or null; the PolicyInput is serialized with serde_json and handed to
//! regorus (same version and features as the server) to evaluate the documented example policies. The
//! first byte picks what the rest is: even, a stored attestation body; odd, a predicate as a trusted
//! signer could sign it. Nothing panics; the input JSON parses back to the same PolicyInput; regorus
//! accepts every input we build; a predicate is never mistaken for a verified provenance.
#![no_main]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use registry_core::Digest;
use registry_core::api::VersionResponse;
use registry_core::attest::Binding;
use registry_core::auth::Scope;
use registry_core::promote::{
    POLICY_PACKAGE, PolicyActor, PolicyAlias, PolicyAttestation, PolicyInput, PolicySigner,
};
use serde_json::{Value, json};

/// The documented example policies that read attestation predicates, compiled once.
static ENGINES: LazyLock<Vec<regorus::Engine>> = LazyLock::new(|| {
    [include_str!("../../docs/policies/datasets.rego"), include_str!("../../docs/policies/provenance.rego")]
        .into_iter()
        .map(|rego| {
            let mut e = regorus::Engine::new();
            e.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
                limit: std::time::Duration::from_millis(500),
                check_interval: std::num::NonZeroU32::new(16).expect("non-zero"),
            });
            e.add_policy("policy.rego".into(), rego.into()).expect("an example policy compiles");
            e
        })
        .collect()
});

static VERSION: LazyLock<VersionResponse> = LazyLock::new(|| {
    let m = &*registry_fuzz::fixtures::MANIFEST;
    serde_json::from_value(json!({
        "namespace": "fraud", "name": "detector", "version": "1.4.0",
        "manifest_digest": m.digest(), "oms_root_digest": m.oms_root_digest(),
        "file_count": m.files().len(), "total_size": m.total_size(),
        "lineage": {"datasets": [{"uri": "s3://data/train.parquet", "role": "train",
                                  "digest": Digest::of(b"train")}],
                    "metrics": {"auc": 0.93}},
        "metadata": {}, "created_by": "token:ci", "created_at": "2026-12-01T00:00:00Z",
    }))
    .expect("a fixed version parses")
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let predicate = if mode % 2 == 0 {
        registry_core::attest::parse(rest).map(|p| p.statement.predicate).unwrap_or(Value::Null)
    } else {
        match serde_json::from_slice::<Value>(rest) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    let verified = mode & 2 != 0;
    let input = PolicyInput {
        version: VERSION.clone(),
        quarantined: false,
        attestations: vec![PolicyAttestation {
            id: 1,
            digest: Digest::of(rest),
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            signer_key_id: Digest::of(b"key"),
            signer: if mode & 4 != 0 {
                PolicySigner::Identity {
                    issuer: "https://token.actions.githubusercontent.com".into(),
                    subject: String::from_utf8_lossy(rest).into_owned(),
                    claims: BTreeMap::from([("source_repository_ref".into(), "refs/heads/main".into())]),
                }
            } else {
                PolicySigner::Key { key_id: Digest::of(b"key") }
            },
            verified,
            status: if verified { "verified" } else { "signer_not_trusted" }.into(),
            binding: Binding::Manifest,
            predicate,
        }],
        alias: PolicyAlias { name: "production".into(), current: None },
        aliases: BTreeMap::new(),
        actor: PolicyActor { id: "token:ci".into(), scopes: vec![Scope::Promote] },
        time: "2026-12-01T00:00:00Z".into(),
    };
    let input_json = serde_json::to_string(&input).expect("a policy input serializes");
    let back: PolicyInput = serde_json::from_str(&input_json).expect("a policy input parses back");
    let same = |x: &PolicyInput| serde_json::to_value(x).expect("serializes");
    assert!(registry_fuzz::json_eq(&same(&back), &same(&input)), "policy input changes through its JSON");

    for (i, engine) in ENGINES.iter().enumerate() {
        let mut e = engine.clone();
        e.set_input_json(&input_json).expect("regorus accepts every policy input we build");
        let mut value = |rule: &str| {
            e.eval_query(format!("{POLICY_PACKAGE}.{rule}"), false).ok().and_then(|r| {
                let v = r.result.into_iter().next()?.expressions.into_iter().next()?;
                serde_json::from_str::<Value>(&v.value.to_json_str().ok()?).ok()
            })
        };
        let allow = value("allow");
        let _deny = value("deny");
        if i == 1 && !verified {
            // provenance.rego: an attestation not verified never allows, whatever its predicate.
            assert_ne!(allow, Some(Value::Bool(true)), "an unverified attestation allowed promotion");
        }
    }
});
