//! SHA-256 digests as the registry writes them (`sha256:<64 lowercase hex>`), and a streaming hasher.
//!
//! Only SHA-256 exists for now; the `sha256:` prefix keeps the door open for another algorithm.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The algorithm prefix is not `sha256:`.
    #[error("unsupported digest algorithm in {0:?}: only sha256:<hex> is accepted")]
    UnsupportedAlgorithm(String),
    /// The hex part is not exactly 64 lowercase hex characters.
    #[error("malformed digest {0:?}: expected sha256: followed by 64 lowercase hex characters")]
    Malformed(String),
}

/// A SHA-256 digest. Built by hashing ([`Digest::of`], [`Hasher`]) or by parsing its canonical text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The text prefix of every digest.
    pub const PREFIX: &'static str = "sha256:";

    /// Hashes `bytes` in one go.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finalize()
    }

    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let Some(hex) = s.strip_prefix(Self::PREFIX) else {
            return Err(if s.contains(':') {
                DigestError::UnsupportedAlgorithm(truncate(s))
            } else {
                DigestError::Malformed(truncate(s))
            });
        };
        Self::from_hex(hex).map_err(|_| DigestError::Malformed(truncate(s)))
    }

    /// Parses 64 lowercase hex characters (no prefix), as in-toto statements carry them.
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(DigestError::Malformed(truncate(hex)));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex, &mut out).map_err(|_| DigestError::Malformed(truncate(hex)))?;
        Ok(Self(out))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, without prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Keeps error messages bounded when hostile input is echoed back.
fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Digest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::string_schema(
            "^sha256:[0-9a-f]{64}$",
            "SHA-256 digest: `sha256:` and 64 lowercase hex characters",
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        )
    }
}
impl utoipa::ToSchema for Digest {}

/// Streaming SHA-256 (SHA-NI accelerated where the CPU has it).
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> Digest {
        Digest(self.inner.finalize().into())
    }

    /// The hashing state so far, as bytes to store and [`Hasher::restore`] later: how a resumable
    /// upload keeps hashing in order across requests, processes and restarts.
    pub fn save(&self) -> Vec<u8> {
        use sha2::digest::common::hazmat::SerializableState;
        let mut out = self.len.to_be_bytes().to_vec();
        out.extend_from_slice(&self.inner.serialize());
        out
    }

    /// A hasher from [`Hasher::save`]'s bytes; `None` if they are not such a state.
    pub fn restore(bytes: &[u8]) -> Option<Self> {
        use sha2::digest::common::hazmat::SerializableState;
        let (len, state) = bytes.split_first_chunk::<8>()?;
        let state = state.try_into().ok()?;
        let inner = Sha256::deserialize(state).ok()?;
        Some(Self { inner, len: u64::from_be_bytes(*len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn digest_of_hello_matches_the_known_vector() {
        let d = Digest::of(b"hello");
        assert_eq!(d.to_string(), "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(Digest::parse(&d.to_string()), Ok(d));
    }

    #[test]
    fn streaming_equals_one_shot() {
        let mut h = Hasher::new();
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.len(), 5);
        assert_eq!(h.finalize(), Digest::of(b"hello"));
    }

    #[test]
    fn a_saved_state_resumes_where_it_stopped() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for cut in [0, 1, 63, 64, 65, 4096, 9_999] {
            let mut h = Hasher::new();
            h.update(&data[..cut]);
            let mut r = Hasher::restore(&h.save()).expect("restores");
            assert_eq!(r.len(), cut as u64);
            r.update(&data[cut..]);
            assert_eq!(r.finalize(), Digest::of(&data), "cut at {cut}");
        }
        assert!(Hasher::restore(b"short").is_none());
        assert!(Hasher::restore(&[0u8; 300]).is_none());
    }

    #[test]
    fn uppercase_hex_is_rejected() {
        let s = format!("sha256:{}", "A".repeat(64));
        assert!(matches!(Digest::parse(&s), Err(DigestError::Malformed(_))));
    }

    #[test]
    fn other_algorithms_are_rejected_by_name() {
        let s = format!("sha512:{}", "a".repeat(64));
        assert!(matches!(Digest::parse(&s), Err(DigestError::UnsupportedAlgorithm(_))));
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        for n in [0, 63, 65, 128] {
            let s = format!("sha256:{}", "a".repeat(n));
            assert!(Digest::parse(&s).is_err(), "{n}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".{0,100}") {
            if let Ok(d) = Digest::parse(&s) {
                prop_assert_eq!(d.to_string(), s);
            }
        }

        #[test]
        fn any_bytes_round_trip(b in proptest::array::uniform32(any::<u8>())) {
            let d = Digest::from_bytes(b);
            prop_assert_eq!(Digest::parse(&d.to_string()), Ok(d));
        }
    }
}
