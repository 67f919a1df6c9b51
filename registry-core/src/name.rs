//! Names: `namespace/name` for models, version labels, and `NS/NAME@REF` references.
//!
//! Every name is built through `parse()`, so a value of these types is always valid.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;

/// Longest namespace, model name or version label, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A namespace or model name segment breaks `[a-z0-9][a-z0-9._-]*` (max 128).
    #[error(
        "invalid {what} {value:?}: use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 128 characters"
    )]
    Segment {
        /// `namespace` or `model name`.
        what: &'static str,
        /// The refused text (truncated).
        value: String,
    },
    /// A model name is not `namespace/name`.
    #[error("invalid model {0:?}: expected NAMESPACE/NAME")]
    Model(String),
    /// A version label breaks `[A-Za-z0-9][A-Za-z0-9._+-]*` (max 128).
    #[error(
        "invalid version {0:?}: use letters, digits, '.', '_', '+' or '-', starting with a letter or digit, at most 128 characters"
    )]
    Version(String),
    /// A reference is not `NAMESPACE/NAME@VERSION|ALIAS|sha256:...`.
    #[error(
        "invalid reference {0:?}: expected NAMESPACE/NAME@VERSION (or @ALIAS, or @sha256:<manifest digest>)"
    )]
    Reference(String),
}

fn truncate(s: &str) -> String {
    s.chars().take(140).collect()
}

fn valid_segment(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// Checks a namespace segment (also used for filters).
pub fn parse_namespace(s: &str) -> Result<String, NameError> {
    if valid_segment(s) {
        Ok(s.to_owned())
    } else {
        Err(NameError::Segment { what: "namespace", value: truncate(s) })
    }
}

/// A model's full name: `namespace/name`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelName {
    namespace: String,
    name: String,
}

impl ModelName {
    /// Builds a name from its two segments.
    pub fn new(namespace: &str, name: &str) -> Result<Self, NameError> {
        let namespace = parse_namespace(namespace)?;
        if !valid_segment(name) {
            return Err(NameError::Segment { what: "model name", value: truncate(name) });
        }
        Ok(Self { namespace, name: name.to_owned() })
    }

    /// Parses `namespace/name`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let (ns, name) = s.split_once('/').ok_or_else(|| NameError::Model(truncate(s)))?;
        Self::new(ns, name)
    }

    /// The namespace segment.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name segment.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl fmt::Debug for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A version label chosen by the pusher (e.g. `1.4.0`): unique per model, bound to one manifest forever.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionLabel(String);

impl VersionLabel {
    /// Parses a label: `[A-Za-z0-9][A-Za-z0-9._+-]*`, at most 128 bytes.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= MAX_NAME_LEN
            && b[0].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'));
        if ok { Ok(Self(s.to_owned())) } else { Err(NameError::Version(truncate(s))) }
    }

    /// The label text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VersionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VersionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What follows the `@` in a reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A version label (or, once aliases exist, an alias name: the server resolves which).
    Label(VersionLabel),
    /// A manifest digest.
    Digest(Digest),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Label(l) => l.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

/// `NAMESPACE/NAME@REF`: how users name one version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// The model.
    pub model: ModelName,
    /// The version, alias or manifest digest.
    pub reference: Reference,
}

impl ModelRef {
    /// Parses `NAMESPACE/NAME@VERSION`, `NAMESPACE/NAME@ALIAS` or `NAMESPACE/NAME@sha256:<hex>`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bad = || NameError::Reference(truncate(s));
        let (model, r) = s.split_once('@').ok_or_else(bad)?;
        let model = ModelName::parse(model).map_err(|_| bad())?;
        let reference = if r.starts_with(Digest::PREFIX) {
            Reference::Digest(Digest::parse(r).map_err(|_| bad())?)
        } else {
            Reference::Label(VersionLabel::parse(r).map_err(|_| bad())?)
        };
        Ok(Self { model, reference })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.model, self.reference)
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl FromStr for $t {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(ModelName);
string_serde!(VersionLabel);
string_serde!(ModelRef);

impl utoipa::PartialSchema for ModelRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::string_schema(
            "^[a-z0-9][a-z0-9._-]{0,127}/[a-z0-9][a-z0-9._-]{0,127}@[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$",
            "A model version: NAMESPACE/NAME@VERSION",
            "fraud/detector@1.4.0",
        )
    }
}
impl utoipa::ToSchema for ModelRef {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn model_names_follow_the_segment_rule() {
        let m = ModelName::parse("fraud/detector-v2.1_x").expect("valid");
        assert_eq!(m.namespace(), "fraud");
        assert_eq!(m.name(), "detector-v2.1_x");
        for bad in ["Fraud/x", "fraud", "fraud/", "/x", "fraud/x/y", "-a/b", "a/.b", "a/b c", "a/é"] {
            assert!(ModelName::parse(bad).is_err(), "{bad}");
        }
        assert!(ModelName::parse(&format!("a/{}", "b".repeat(129))).is_err());
        assert!(ModelName::parse(&format!("a/{}", "b".repeat(128))).is_ok());
    }

    #[test]
    fn version_with_leading_dot_or_slash_is_rejected() {
        assert!(VersionLabel::parse("1.4.0+build.7").is_ok());
        assert!(VersionLabel::parse("v1").is_ok());
        for bad in ["", ".1", "1/2", "1 2", "../x", "a:b", "1@2"] {
            assert!(VersionLabel::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_parse_labels_and_digests() {
        let r = ModelRef::parse("fraud/detector@1.4.0").expect("valid");
        assert_eq!(r.reference, Reference::Label(VersionLabel::parse("1.4.0").expect("valid")));
        let d = Digest::of(b"x");
        let r = ModelRef::parse(&format!("fraud/detector@{d}")).expect("valid");
        assert_eq!(r.reference, Reference::Digest(d));
        assert_eq!(r.to_string(), format!("fraud/detector@{d}"));
        for bad in ["fraud/detector", "fraud/detector@", "fraud@1", "fraud/detector@sha256:zz"] {
            assert!(ModelRef::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic_and_round_trip(s in "\\PC{0,64}") {
            if let Ok(m) = ModelName::parse(&s) { prop_assert_eq!(m.to_string(), s.clone()); }
            if let Ok(v) = VersionLabel::parse(&s) { prop_assert_eq!(v.to_string(), s.clone()); }
            if let Ok(r) = ModelRef::parse(&s) { prop_assert_eq!(r.to_string(), s.clone()); }
        }
    }
}
