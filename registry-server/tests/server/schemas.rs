//! `schemas/` holds JSON Schemas (2020-12) generated from the API types; this test fails when they
//! drift from the code. Regenerate with `REGISTRY_BLESS=1 cargo test -p registry-server --test schemas`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

const SCHEMAS: &[(&str, &str)] = &[
    ("manifest.schema.json", "Manifest"),
    ("lineage.schema.json", "Lineage"),
    ("put-version-request.schema.json", "PutVersionRequest"),
    ("version.schema.json", "VersionResponse"),
    ("error.schema.json", "ErrorBody"),
    ("bundle.schema.json", "AuditBundle"),
    ("attestation.schema.json", "AttestationInfo"),
    ("policy-input.schema.json", "PolicyInput"),
    ("promote-response.schema.json", "PromoteResponse"),
];

/// Rewrites OpenAPI component refs into `$defs` refs and collects the names referenced.
fn rewrite(v: &mut Value, seen: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                seen.insert(name.to_owned());
                *r = format!("#/$defs/{name}");
            }
            m.values_mut().for_each(|x| rewrite(x, seen));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, seen)),
        _ => {}
    }
}

fn schema_for(root: &str, components: &Map<String, Value>) -> Value {
    let mut defs = Map::new();
    let mut todo = vec![root.to_owned()];
    while let Some(name) = todo.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let mut s = components.get(&name).unwrap_or_else(|| panic!("no component {name}")).clone();
        let mut seen = BTreeSet::new();
        rewrite(&mut s, &mut seen);
        defs.insert(name, s);
        todo.extend(seen);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://registry.dev/schemas/{}", root),
        "$ref": format!("#/$defs/{root}"),
        "$defs": defs,
    })
}

#[test]
fn schemas_match_the_code() {
    let doc = serde_json::to_value(registry_server::openapi()).unwrap();
    let components = doc["components"]["schemas"].as_object().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let bless = std::env::var("REGISTRY_BLESS").as_deref() == Ok("1");
    let mut stale = Vec::new();
    for (file, root) in SCHEMAS {
        let text = serde_json::to_string_pretty(&schema_for(root, components)).unwrap() + "\n";
        let path = dir.join(file);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(*file);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas/ is out of date: {stale:?}; run REGISTRY_BLESS=1 cargo test -p registry-server --test schemas"
    );
}
