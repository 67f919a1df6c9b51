//! Canonical JSON (RFC 8785, JSON Canonicalization Scheme): the bytes we hash and sign.
//!
//! Key order, whitespace and number formatting are fixed by the RFC, so two parties that agree on a
//! value agree on its digest.
use serde::Serialize;

use crate::digest::Digest;

/// RFC 8785 bytes of `value`.
///
/// Fails only for values JSON cannot represent (maps with non-string keys, non-finite floats).
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json_canonicalizer::to_vec(value)
}

/// SHA-256 of the RFC 8785 bytes of `value`.
pub fn digest<T: Serialize>(value: &T) -> Result<Digest, serde_json::Error> {
    Ok(Digest::of(&to_vec(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    #[test]
    fn keys_are_sorted_and_whitespace_dropped() {
        let v = json!({"b": 1, "a": [true, null, "x"], "c": {"z": 1.5, "y": "é"}});
        let s = String::from_utf8(to_vec(&v).expect("json")).expect("utf8");
        assert_eq!(s, r#"{"a":[true,null,"x"],"b":1,"c":{"y":"é","z":1.5}}"#);
    }

    #[test]
    fn rfc8785_number_examples() {
        // From RFC 8785 §3.2.2.3 / Appendix B.
        let v: Value = serde_json::from_str("[1E30, 4.50, 0.002, 1e-7, 333333333.33333329]").expect("json");
        let s = String::from_utf8(to_vec(&v).expect("json")).expect("utf8");
        assert_eq!(s, "[1e+30,4.5,0.002,1e-7,333333333.3333333]");
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_bytes_round_trip_and_are_a_fixed_point(v in arb_json()) {
            let a = to_vec(&v).expect("json");
            let back: Value = serde_json::from_slice(&a).expect("canonical output parses");
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(to_vec(&back).expect("json"), a);
        }

        #[test]
        fn object_key_order_does_not_change_the_bytes(
            m in prop::collection::btree_map("[a-z]{1,4}", any::<i16>(), 0..8)
        ) {
            let fwd: serde_json::Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let rev: serde_json::Map<String, Value> = m.iter().rev().map(|(k, v)| (k.clone(), json!(v))).collect();
            prop_assert_eq!(to_vec(&fwd).expect("json"), to_vec(&rev).expect("json"));
        }
    }
}
