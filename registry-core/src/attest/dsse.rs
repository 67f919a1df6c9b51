//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>): a payload,
//! its type, and signatures over PAE(type, payload).
//!
//! Both standard and URL-safe base64 are accepted on input, padded or not (the spec allows either);
//! we write standard padded base64. Signatures are checked over the exact decoded payload bytes, never
//! over a re-serialization. Not supported: multiple payload types per envelope (the spec has none),
//! and signature extensions.
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AttestError;
use super::keys::{PublicKey, SigningKey};

/// The payload type of in-toto statements.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Most signatures looked at in one envelope (each is tried against every trusted key).
pub const MAX_SIGNATURES: usize = 16;

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// What the payload is (`application/vnd.in-toto+json`).
    pub payload_type: String,
    /// The payload bytes (base64 on the wire).
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    /// Signatures over PAE(payload_type, payload).
    #[serde(default)]
    pub signatures: Vec<Signature>,
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Optional hint naming the key (we write the key id; `model_signing` writes "").
    #[serde(default)]
    pub keyid: String,
    /// The signature bytes (base64 on the wire).
    #[serde(with = "b64")]
    pub sig: Vec<u8>,
}

/// Base64 in either alphabet, padded or not.
pub fn decode_b64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    let url = s.contains(['-', '_']);
    let padded = s.ends_with('=');
    match (url, padded) {
        (false, true) => STANDARD.decode(s),
        (false, false) => STANDARD_NO_PAD.decode(s).or_else(|_| STANDARD.decode(s)),
        (true, true) => URL_SAFE.decode(s),
        (true, false) => URL_SAFE_NO_PAD.decode(s),
    }
}

mod b64 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode_b64(&s).map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// Pre-Authentication Encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Parses an envelope from JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestError> {
        serde_json::from_slice(bytes).map_err(|e| AttestError::Malformed(format!("DSSE envelope: {e}")))
    }

    /// Signs `payload` with every key in `keys`; each signature's `keyid` is the key id.
    pub fn sign(payload_type: &str, payload: Vec<u8>, keys: &[&SigningKey]) -> Self {
        let msg = pae(payload_type, &payload);
        let signatures = keys
            .iter()
            .map(|k| Signature { keyid: k.public().key_id().to_string(), sig: k.sign(&msg) })
            .collect();
        Self { payload_type: payload_type.to_owned(), payload, signatures }
    }

    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serializes")
    }

    /// Indexes (into `keys`) of the keys that produced a valid signature.
    pub fn verified_by(&self, keys: &[&PublicKey]) -> Vec<usize> {
        let msg = pae(&self.payload_type, &self.payload);
        let mut out: Vec<usize> = Vec::new();
        for s in self.signatures.iter().take(MAX_SIGNATURES) {
            for (i, k) in keys.iter().enumerate() {
                if !out.contains(&i) && k.verify(&msg, &s.sig) {
                    out.push(i);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::keys::KeyKind;
    use proptest::prelude::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // https://github.com/secure-systems-lab/dsse/blob/master/protocol.md#test-vectors
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn both_base64_alphabets_are_read() {
        let e = r#"{"payloadType":"t","payload":"-_8","signatures":[{"keyid":"","sig":"+/8="}]}"#;
        let env = Envelope::parse(e.as_bytes()).expect("parses");
        assert_eq!(env.payload, vec![0xfb, 0xff]);
        assert_eq!(env.signatures[0].sig, vec![0xfb, 0xff]);
        assert!(Envelope::parse(br#"{"payloadType":"t","payload":"!!","signatures":[]}"#).is_err());
    }

    #[test]
    fn a_signed_envelope_verifies_only_unchanged() {
        let k1 = SigningKey::from_seed(KeyKind::P256, &[3; 32]).expect("key");
        let k2 = SigningKey::from_seed(KeyKind::Ed25519, &[4; 32]).expect("key");
        let other = SigningKey::from_seed(KeyKind::Ed25519, &[5; 32]).expect("key");
        let env = Envelope::sign(INTOTO_PAYLOAD_TYPE, b"{}".to_vec(), &[&k1, &k2]);
        let back = Envelope::parse(&env.to_json()).expect("round trip");
        assert_eq!(back.verified_by(&[k1.public(), other.public(), k2.public()]), vec![0, 2]);
        let mut changed = back.clone();
        changed.payload = b"{ }".to_vec();
        assert!(changed.verified_by(&[k1.public(), k2.public()]).is_empty());
        let mut retyped = back;
        retyped.payload_type = "text/plain".into();
        assert!(retyped.verified_by(&[k1.public(), k2.public()]).is_empty());
    }

    proptest! {
        #[test]
        fn envelope_parser_never_panics(s in "\\PC{0,300}") {
            let _ = Envelope::parse(s.as_bytes());
        }

        #[test]
        fn pae_is_injective_on_the_split(t in "[a-z/]{0,10}", p in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut t2 = t.clone();
            t2.push('x');
            prop_assert_ne!(pae(&t, &p), pae(&t2, &p));
        }
    }
}
