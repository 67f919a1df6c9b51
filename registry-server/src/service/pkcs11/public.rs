//! Reading a token key's public half (CKA_KEY_TYPE, CKA_EC_PARAMS, CKA_EC_POINT of the public key
//! object) into a [`PublicKey`], refusing a key of another type or curve than its use allows.
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;
use registry_core::attest::keys::{KeyKind, PublicKey};

use super::{Pkcs11Error, Pkcs11Uri};

/// DER OID 1.2.840.10045.3.1.7 (prime256v1), as CKA_EC_PARAMS holds it.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER OID 1.3.101.112 (id-Ed25519, RFC 8410).
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// PrintableString "edwards25519" (the PKCS#11 3.0 curve name form; SoftHSM accepts both).
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
/// SubjectPublicKeyInfo DER of an Ed25519 key, before its 32 bytes (RFC 8410 §4).
const ED25519_SPKI_PREFIX: &[u8] = &[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

pub(super) fn read_public(
    session: &Session,
    public: ObjectHandle,
    uri: &Pkcs11Uri,
    kinds: &[KeyKind],
    what: &str,
) -> Result<(KeyKind, Vec<u8>, PublicKey), Pkcs11Error> {
    let attrs = session
        .get_attributes(public, &[AttributeType::KeyType, AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|source| Pkcs11Error::Call { op: "C_GetAttributeValue", uri: uri.to_string(), source })?;
    let (mut key_type, mut params, mut point) = (None, Vec::new(), Vec::new());
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = p,
            Attribute::EcPoint(p) => point = p,
            _ => {}
        }
    }
    let wrong = |found: String| Pkcs11Error::KeyType {
        uri: uri.to_string(),
        found,
        what: what.to_owned(),
        want: kinds.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or "),
    };
    let kind = match key_type {
        Some(t) if t == KeyType::EC && params == P256_PARAMS => KeyKind::P256,
        Some(t) if t == KeyType::EC_EDWARDS && (params == ED25519_OID || params == ED25519_NAME) => {
            KeyKind::Ed25519
        }
        Some(t) if t == KeyType::EC || t == KeyType::EC_EDWARDS => {
            return Err(wrong(format!("{t} on curve {}", hex::encode(&params))));
        }
        Some(t) => return Err(wrong(t.to_string())),
        None => return Err(wrong("a key without CKA_KEY_TYPE".into())),
    };
    if !kinds.contains(&kind) {
        return Err(wrong(kind.to_string()));
    }
    // CKA_EC_POINT is a DER OCTET STRING around the point; a few modules store the bare point.
    let bad = |m: &str| wrong(format!("{kind} with an unreadable CKA_EC_POINT ({m})"));
    let (raw, spki) = match kind {
        KeyKind::Ed25519 => {
            let raw = match point.as_slice() {
                [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest.to_vec(),
                bare if bare.len() == 32 => bare.to_vec(),
                _ => return Err(bad("not 32 bytes")),
            };
            (raw.clone(), [ED25519_SPKI_PREFIX, &raw].concat())
        }
        KeyKind::P256 => {
            let raw = match point.as_slice() {
                [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest.to_vec(),
                bare => bare.to_vec(),
            };
            use p256::pkcs8::EncodePublicKey;
            let vk =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&raw).map_err(|_| bad("not a P-256 point"))?;
            let der = vk.to_public_key_der().map_err(|_| bad("does not encode"))?;
            (raw, der.as_bytes().to_vec())
        }
    };
    let public = PublicKey::from_spki_der(&spki).map_err(|e| bad(&e.to_string()))?;
    Ok((kind, raw, public))
}
