//! in-toto Statement v1 (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>).
//!
//! Only v1 is accepted (`_type` = `https://in-toto.io/Statement/v1`); v0.1 statements are refused as an
//! unknown type. Subjects must carry at least one digest; we look at `sha256` (lowercase hex).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AttestError;
use crate::digest::Digest;

/// `_type` of a Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// A ResourceDescriptor as a subject: name and digests (other fields are kept, not interpreted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// Name (a model name, a file name).
    #[serde(default)]
    pub name: String,
    /// Algorithm -> hex digest.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    /// Other ResourceDescriptor fields (`uri`, `annotations`, ...).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Subject {
    /// The subject's SHA-256, if it has a well-formed one.
    pub fn sha256(&self) -> Option<Digest> {
        self.digest.get("sha256").and_then(|h| Digest::from_hex(h).ok())
    }
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_V1`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    #[serde(default)]
    pub predicate: serde_json::Value,
}

impl Statement {
    /// A statement about `subject`.
    pub fn new(subject: Vec<Subject>, predicate_type: &str, predicate: serde_json::Value) -> Self {
        Self { type_: STATEMENT_V1.into(), subject, predicate_type: predicate_type.into(), predicate }
    }

    /// Parses and checks a statement's shape.
    pub fn parse(payload: &[u8]) -> Result<Self, AttestError> {
        let s: Statement = serde_json::from_slice(payload)
            .map_err(|e| AttestError::Malformed(format!("in-toto statement: {e}")))?;
        if s.type_ != STATEMENT_V1 {
            return Err(AttestError::UnknownStatementType(s.type_.chars().take(100).collect()));
        }
        if s.subject.is_empty() || s.subject.iter().any(|x| x.digest.is_empty()) {
            return Err(AttestError::Malformed("in-toto statement: every subject needs a digest".into()));
        }
        if s.predicate_type.is_empty() {
            return Err(AttestError::Malformed("in-toto statement: empty predicateType".into()));
        }
        Ok(s)
    }

    /// A subject named `name` with this SHA-256.
    pub fn subject(name: &str, d: &Digest) -> Subject {
        Subject { name: name.into(), digest: [("sha256".to_owned(), d.hex())].into(), other: BTreeMap::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn v1_statements_parse_and_others_are_refused() {
        let d = Digest::of(b"m");
        let s = Statement::new(
            vec![Statement::subject("a/b", &d)],
            "https://slsa.dev/provenance/v1",
            serde_json::json!({}),
        );
        let bytes = serde_json::to_vec(&s).expect("json");
        let back = Statement::parse(&bytes).expect("parses");
        assert_eq!(back.subject[0].sha256(), Some(d));
        let v01 = bytes.clone();
        let v01 = String::from_utf8(v01).expect("utf8").replace("Statement/v1", "Statement/v0.1");
        assert!(matches!(Statement::parse(v01.as_bytes()), Err(AttestError::UnknownStatementType(_))));
        let nodigest =
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x"}],"predicateType":"p"}"#;
        assert!(matches!(Statement::parse(nodigest.as_bytes()), Err(AttestError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn statement_parser_never_panics(s in "\\PC{0,300}") {
            let _ = Statement::parse(s.as_bytes());
        }
    }
}
