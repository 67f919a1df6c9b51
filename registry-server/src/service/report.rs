//! The compliance report: per namespace, how much of what is stored carries the evidence auditors ask
//! for, judged against the keys trusted now.
use std::collections::{BTreeMap, HashMap, HashSet};

use registry_core::ModelName;
use registry_core::attest::predicates::{OMS_V1, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use registry_core::incident::{ComplianceReport, NamespaceCompliance};

use crate::auth::Actor;
use crate::db::report::{AttestationFactsRow, VersionFactsRow};
use crate::db::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::attest;
use crate::state::AppState;

fn pct(n: u64, of: u64) -> f64 {
    if of == 0 { 100.0 } else { (n as f64 * 10000.0 / of as f64).round() / 100.0 }
}

/// The report over every version `actor` can see.
pub async fn compliance(state: &AppState, actor: &Actor) -> Result<ComplianceReport, ApiError> {
    let versions = state.db.report_versions().await?;
    let attestations = state.db.report_attestations().await?;
    let promoted: HashSet<i64> = state.db.versions_promoted().await?.into_iter().collect();
    let mut by_version: HashMap<i64, Vec<AttestationFactsRow>> = HashMap::new();
    for row in attestations {
        by_version.entry(row.version_id).or_default().push(row);
    }
    let own = state.attestation_key.public().key_id().hex();
    let mut trust: HashMap<String, attest::Trusted> = HashMap::new();
    let mut out: BTreeMap<String, NamespaceCompliance> = BTreeMap::new();
    for VersionFactsRow { id, namespace: ns, name, quarantined, corrupted, datasets } in versions {
        let Ok(model) = ModelName::new(&ns, &name) else { continue };
        if !actor.covers(&model) {
            continue;
        }
        let key = model.to_string();
        if !trust.contains_key(&key) {
            trust.insert(key.clone(), attest::trusted_for(state, &model).await?);
        }
        let trusted = &trust[&key];
        let atts = by_version.get(&id).map(Vec::as_slice).unwrap_or_default();
        let ok = |a: &AttestationFactsRow| -> Result<bool, ApiError> {
            let identity = attest::signer_identity(a.signer_identity.as_deref())?;
            Ok(trusted.status(&a.predicate_type, &a.signer_key_id, identity.as_ref(), &[]) == "verified")
        };
        let mut has_provenance = false;
        let mut has_oms = false;
        for a in atts {
            if a.predicate_type == SLSA_PROVENANCE_V1 && a.binding == "manifest" && ok(a)? {
                has_provenance = true;
            }
            if a.predicate_type == OMS_V1 && ok(a)? {
                has_oms = true;
            }
        }
        let n = out
            .entry(ns.clone())
            .or_insert_with(|| NamespaceCompliance { namespace: ns.clone(), ..Default::default() });
        n.versions += 1;
        n.signed_provenance += u64::from(has_provenance);
        n.with_datasets += u64::from(datasets > 0);
        n.oms_signature += u64::from(has_oms);
        if promoted.contains(&id) {
            n.promoted += 1;
            n.promoted_with_vsa +=
                u64::from(atts.iter().any(|a| a.predicate_type == SLSA_VSA_V1 && a.signer_key_id == own));
        }
        n.quarantined += u64::from(quarantined != 0);
        n.corrupted += u64::from(corrupted != 0);
    }
    let namespaces = out
        .into_values()
        .map(|mut n| {
            n.signed_provenance_pct = pct(n.signed_provenance, n.versions);
            n.with_datasets_pct = pct(n.with_datasets, n.versions);
            n.oms_signature_pct = pct(n.oms_signature, n.versions);
            n.promoted_with_vsa_pct = pct(n.promoted_with_vsa, n.promoted);
            n
        })
        .collect();
    Ok(ComplianceReport { generated_at: rfc3339(now_ms()), namespaces })
}
