//! Lineage: what a version was made from (datasets, code, parent versions, run, parameters, metrics).
//!
//! Recorded at push, never edited; the incident-response queries walk it. Every field has a bound so
//! a hostile request cannot grow memory or rows without limit.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::digest::Digest;
use crate::name::{ModelRef, Reference};

/// Most datasets per version.
pub const MAX_DATASETS: usize = 1000;
/// Most parent versions per version.
pub const MAX_PARENTS: usize = 100;
/// Most entries in `params`, `metrics` or `labels`.
pub const MAX_ENTRIES: usize = 1000;
/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 128;
/// Longest free-text value or URI, in bytes.
pub const MAX_TEXT_LEN: usize = 4096;

/// Why lineage (or a version's metadata) was refused; each message starts `invalid lineage:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineageError {
    /// A list or map holds more entries than its bound (`what` names it: `datasets`, `params`, ...).
    #[error("invalid lineage: more than {max} {what}")]
    TooMany {
        /// The list or map.
        what: &'static str,
        /// Its bound.
        max: usize,
    },
    /// A text field is longer than its bound.
    #[error("invalid lineage: {what} is longer than {max} bytes")]
    TooLong {
        /// The field.
        what: String,
        /// Its bound, in bytes.
        max: usize,
    },
    /// A text field holds a control character.
    #[error("invalid lineage: {what} contains a control character")]
    ControlCharacter {
        /// The field.
        what: String,
    },
    /// A required field is empty (`dataset uri`, `code repo`, `run id`).
    #[error("invalid lineage: {0} is empty")]
    Empty(&'static str),
    /// A map has an empty key.
    #[error("invalid lineage: empty key in {0}")]
    EmptyKey(&'static str),
    /// A dataset role outside `[a-z0-9_-]{1,32}` (the role as given).
    #[error("invalid lineage: dataset role {0:?} must match [a-z0-9_-]{{1,32}}")]
    DatasetRole(String),
    /// A code commit that is not a full lowercase hex id (its first 80 characters).
    #[error("invalid lineage: code commit {0:?} must be a full 40- or 64-character lowercase hex id")]
    Commit(String),
    /// A parent named by digest rather than by version label.
    #[error("invalid lineage: parent {0} must name a version, not a digest")]
    ParentByDigest(ModelRef),
}

/// A dataset a version was trained or evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Where it lives (`s3://...`, `hf://...`, a path); informative, the digest is what counts.
    #[schema(example = "s3://data/fraud/2026-11.parquet")]
    pub uri: String,
    /// SHA-256 of the dataset (or of its manifest): required.
    pub digest: Digest,
    /// How it was used: `train`, `eval`, `test`, ... (`[a-z0-9_-]{1,32}`, default `train`).
    #[serde(default = "default_role")]
    #[schema(example = "train")]
    pub role: String,
}

fn default_role() -> String {
    "train".to_owned()
}

/// The training code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// Repository URL.
    #[schema(example = "https://github.com/acme/fraud")]
    pub repo: String,
    /// Full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex characters.
    #[schema(example = "3f786850e387550fdab836ed7e6dc881de23001b")]
    pub commit: String,
    /// Entry point or sub-directory inside the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The training run that produced the version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Run id in the orchestrator (Airflow, Kubeflow, CI job id).
    pub id: String,
    /// Link to the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The builder identity (a URI), as SLSA `builder.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
}

/// A parameter or metric value: a number or a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A JSON number.
    Number(serde_json::Number),
    /// A string.
    Text(String),
}

impl utoipa::PartialSchema for Scalar {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some("A number or a string"))
            .into()
    }
}
impl ToSchema for Scalar {}

impl Scalar {
    /// Reads `0.93` as a number and anything else as text (how the CLI reads `--metric auc=0.93`).
    pub fn parse_loose(s: &str) -> Self {
        match s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) if s.trim() == s && !s.is_empty() => match s.parse::<i64>() {
                Ok(i) => Scalar::Number(i.into()),
                Err(_) => Scalar::Number(n),
            },
            _ => Scalar::Text(s.to_owned()),
        }
    }
}

/// Everything a version was made from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    /// Datasets, each with a digest.
    #[serde(default)]
    pub datasets: Vec<Dataset>,
    /// Training code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    /// Versions this one was fine-tuned or distilled from (`NS/NAME@VERSION`; they must exist).
    #[serde(default)]
    pub parents: Vec<ModelRef>,
    /// Hyperparameters.
    #[serde(default)]
    pub params: BTreeMap<String, Scalar>,
    /// Evaluation metrics.
    #[serde(default)]
    pub metrics: BTreeMap<String, Scalar>,
    /// The run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
}

fn text(what: &str, s: &str, max: usize) -> Result<(), LineageError> {
    if s.len() > max {
        return Err(LineageError::TooLong { what: what.to_owned(), max });
    }
    if s.chars().any(char::is_control) {
        return Err(LineageError::ControlCharacter { what: what.to_owned() });
    }
    Ok(())
}

fn map(what: &'static str, m: &BTreeMap<String, Scalar>) -> Result<(), LineageError> {
    if m.len() > MAX_ENTRIES {
        return Err(LineageError::TooMany { what, max: MAX_ENTRIES });
    }
    for (k, v) in m {
        if k.is_empty() {
            return Err(LineageError::EmptyKey(what));
        }
        text(&format!("{what} key"), k, MAX_KEY_LEN)?;
        if let Scalar::Text(s) = v {
            text(&format!("{what} value of {k:?}"), s, MAX_TEXT_LEN)?;
        }
    }
    Ok(())
}

/// Checks `labels`-style string maps (used by metadata).
pub fn check_string_map(what: &'static str, m: &BTreeMap<String, String>) -> Result<(), LineageError> {
    if m.len() > MAX_ENTRIES {
        return Err(LineageError::TooMany { what, max: MAX_ENTRIES });
    }
    for (k, v) in m {
        if k.is_empty() {
            return Err(LineageError::EmptyKey(what));
        }
        text(&format!("{what} key"), k, MAX_KEY_LEN)?;
        text(&format!("{what} value of {k:?}"), v, MAX_TEXT_LEN)?;
    }
    Ok(())
}

impl Lineage {
    /// Checks the bounds and formats (commit ids, roles, parents by version label).
    pub fn validate(&self) -> Result<(), LineageError> {
        if self.datasets.len() > MAX_DATASETS {
            return Err(LineageError::TooMany { what: "datasets", max: MAX_DATASETS });
        }
        for d in &self.datasets {
            if d.uri.is_empty() {
                return Err(LineageError::Empty("dataset uri"));
            }
            text("dataset uri", &d.uri, MAX_TEXT_LEN)?;
            let role_ok = (1..=32).contains(&d.role.len())
                && d.role
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
            if !role_ok {
                return Err(LineageError::DatasetRole(d.role.clone()));
            }
        }
        if let Some(c) = &self.code {
            if c.repo.is_empty() {
                return Err(LineageError::Empty("code repo"));
            }
            text("code repo", &c.repo, MAX_TEXT_LEN)?;
            let ok = matches!(c.commit.len(), 40 | 64)
                && c.commit.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !ok {
                return Err(LineageError::Commit(c.commit.chars().take(80).collect()));
            }
            if let Some(p) = &c.path {
                text("code path", p, MAX_TEXT_LEN)?;
            }
        }
        if self.parents.len() > MAX_PARENTS {
            return Err(LineageError::TooMany { what: "parents", max: MAX_PARENTS });
        }
        for p in &self.parents {
            if matches!(p.reference, Reference::Digest(_)) {
                return Err(LineageError::ParentByDigest(p.clone()));
            }
        }
        map("params", &self.params)?;
        map("metrics", &self.metrics)?;
        if let Some(r) = &self.run {
            if r.id.is_empty() {
                return Err(LineageError::Empty("run id"));
            }
            text("run id", &r.id, MAX_TEXT_LEN)?;
            for (what, v) in [("run uri", &r.uri), ("run builder", &r.builder)] {
                if let Some(v) = v {
                    text(what, v, MAX_TEXT_LEN)?;
                }
            }
        }
        Ok(())
    }

    /// SHA-256 of the canonical JSON: what log entries record.
    pub fn digest(&self) -> Digest {
        crate::canonical::digest(self).expect("lineage is plain JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn loose_scalars_read_numbers_as_numbers() {
        assert_eq!(
            Scalar::parse_loose("0.93"),
            Scalar::Number(serde_json::Number::from_f64(0.93).expect("finite"))
        );
        assert_eq!(Scalar::parse_loose("12"), Scalar::Number(12.into()));
        assert_eq!(Scalar::parse_loose("adam"), Scalar::Text("adam".into()));
        assert_eq!(Scalar::parse_loose("NaN"), Scalar::Text("NaN".into()));
        assert_eq!(Scalar::parse_loose(" 1"), Scalar::Text(" 1".into()));
    }

    #[test]
    fn short_commits_and_digest_parents_are_rejected() {
        let mut l = Lineage {
            code: Some(Code { repo: "r".into(), commit: "abc123".into(), path: None }),
            ..Default::default()
        };
        assert!(l.validate().is_err());
        l.code = Some(Code { repo: "r".into(), commit: "a".repeat(40), path: None });
        assert!(l.validate().is_ok());
        l.parents = vec![ModelRef::parse(&format!("a/b@{}", Digest::of(b""))).expect("valid")];
        assert!(l.validate().is_err());
    }

    #[test]
    fn refusals_name_the_field_and_the_bound() {
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        let l = Lineage { run: Some(Run { id: long, uri: None, builder: None }), ..Default::default() };
        assert_eq!(
            l.validate().map_err(|e| e.to_string()),
            Err(format!("invalid lineage: run id is longer than {MAX_TEXT_LEN} bytes"))
        );
        let l = Lineage {
            code: Some(Code { repo: "r".into(), commit: "abc".into(), path: None }),
            ..Default::default()
        };
        assert_eq!(l.validate(), Err(LineageError::Commit("abc".into())));
        assert_eq!(
            l.validate().map_err(|e| e.to_string()),
            Err(r#"invalid lineage: code commit "abc" must be a full 40- or 64-character lowercase hex id"#
                .into())
        );
        let labels = [(String::new(), "v".to_owned())].into();
        assert_eq!(
            check_string_map("labels", &labels).map_err(|e| e.to_string()),
            Err("invalid lineage: empty key in labels".into())
        );
    }

    #[test]
    fn dataset_without_digest_does_not_parse() {
        let r: Result<Lineage, _> = serde_json::from_str(r#"{"datasets":[{"uri":"s3://x"}]}"#);
        assert!(r.is_err());
        let ok: Lineage = serde_json::from_str(&format!(
            r#"{{"datasets":[{{"uri":"s3://x","digest":"{}"}}]}}"#,
            Digest::of(b"d")
        ))
        .expect("parses");
        assert_eq!(ok.datasets[0].role, "train");
        assert!(ok.validate().is_ok());
    }

    proptest! {
        #[test]
        fn lineage_parser_never_panics(s in "\\PC{0,200}") {
            if let Ok(l) = serde_json::from_str::<Lineage>(&s) { let _ = l.validate(); }
        }
    }
}
