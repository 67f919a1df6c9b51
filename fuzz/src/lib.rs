//! Helpers shared by the fuzz targets in `fuzz_targets/` (one target per parser; see docs/robustness.md).
#![forbid(unsafe_code)]

use serde_json::Value;

/// The input as text, or `None` when it is not UTF-8 (the text parsers only ever see `&str`).
pub fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// JSON equality as RFC 8785 sees it: every number is an IEEE double, so `1`, `1.0` and `-0` compare
/// by value (serde_json keeps integers and floats apart, which canonical form deliberately erases).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// RFC 8785 bytes of `value`, asserting they parse back to an equal value and are a fixed point.
///
/// Panics (a fuzz crash) when canonicalization fails or either property breaks.
pub fn check_canonical(value: &Value) -> Vec<u8> {
    let bytes = registry_core::canonical::to_vec(value).expect("a parsed JSON value canonicalizes");
    let back: Value = serde_json::from_slice(&bytes).expect("canonical bytes parse");
    assert!(json_eq(&back, value), "canonical bytes change the value: {}", String::from_utf8_lossy(&bytes));
    let again = registry_core::canonical::to_vec(&back).expect("re-parsed value canonicalizes");
    assert_eq!(again, bytes, "canonical bytes are not a fixed point");
    bytes
}
