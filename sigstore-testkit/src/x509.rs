//! Keys and Fulcio-shaped certificates: a self-signed root, an intermediate, and short-lived leaves
//! carrying an embedded SCT, built field by field with `x509-cert` types (the ones sigstore-verify
//! decodes them with, so re-encoding a decoded TBS gives back the bytes signed here).
use std::str::FromStr;
use std::time::SystemTime;

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_cert::der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString, UtcTime, Utf8StringRef};
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const CT_PRECERT_SCTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// Fulcio's OIDC issuer, v1: the extension value is the string's raw bytes.
const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer, v2: the extension value is a DER UTF8String.
const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random number generator");
    buf
}

/// An ECDSA P-256 key pair and its DER SubjectPublicKeyInfo.
pub(crate) struct Key {
    signing: p256::ecdsa::SigningKey,
    spki: Vec<u8>,
}

impl Key {
    pub(crate) fn random() -> Self {
        // A random 32-byte string is a valid scalar except with negligible probability.
        let signing = loop {
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&random::<32>()) {
                break k;
            }
        };
        let spki = signing
            .verifying_key()
            .to_public_key_der()
            .expect("a P-256 public key encodes as SPKI")
            .as_bytes()
            .to_vec();
        Self { signing, spki }
    }

    /// DER SubjectPublicKeyInfo.
    pub(crate) fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// RFC 6962 key ID, which Sigstore also uses as the log ID: SHA-256 of the DER SPKI.
    pub(crate) fn key_id(&self) -> [u8; 32] {
        sha256(&self.spki)
    }

    /// ECDSA P-256 with SHA-256 over `msg`, DER-encoded.
    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::Signature = self.signing.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }

    fn spki_owned(&self) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned::from_der(&self.spki).expect("our own SPKI decodes")
    }

    /// Subject key identifier: the first 20 bytes of SHA-256 over the key bits (RFC 7093 method 1).
    fn ski(&self) -> OctetString {
        let bits = self.spki_owned().subject_public_key;
        OctetString::new(&sha256(bits.raw_bytes())[..20]).expect("20 bytes")
    }
}

/// A CA certificate with its key.
pub(crate) struct Ca {
    pub(crate) der: Vec<u8>,
    pub(crate) key: Key,
    name: Name,
}

impl Ca {
    /// A self-signed root valid from `start` for ten years.
    pub(crate) fn root(common_name: &str, start: OffsetDateTime) -> Self {
        let key = Key::random();
        let name = name(common_name);
        let exts = vec![
            ext(BasicConstraints { ca: true, path_len_constraint: Some(1) }, true),
            ext(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), true),
            ext(SubjectKeyIdentifier(key.ski()), false),
            ext(authority_key_id(&key), false),
        ];
        let tbs = tbs(&name, name.clone(), validity(start, ten_years(start)), &key, exts);
        Self { der: sign_tbs(tbs, &key), key, name }
    }

    /// An intermediate CA issued by `self`, valid from `start` for ten years.
    pub(crate) fn intermediate(&self, common_name: &str, start: OffsetDateTime) -> Self {
        let key = Key::random();
        let name = name(common_name);
        let exts = vec![
            ext(BasicConstraints { ca: true, path_len_constraint: Some(0) }, true),
            ext(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), true),
            ext(SubjectKeyIdentifier(key.ski()), false),
            ext(authority_key_id(&self.key), false),
        ];
        let tbs = tbs(&self.name, name.clone(), validity(start, ten_years(start)), &key, exts);
        Self { der: sign_tbs(tbs, &self.key), key, name }
    }
}

/// What goes into a leaf, beyond its key.
pub(crate) struct LeafSpec<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) subject: &'a str,
    /// (Fulcio arc number under 1.3.6.1.4.1.57264.1, value)
    pub(crate) claims: Vec<(u32, &'a str)>,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    /// The CT log that signs the embedded SCT, or none for a certificate without one.
    pub(crate) ct_log: Option<&'a Key>,
}

/// A Fulcio-shaped leaf for `key`, issued by `ca`: DER.
pub(crate) fn leaf(ca: &Ca, key: &Key, spec: &LeafSpec<'_>) -> Vec<u8> {
    let san = if spec.subject.contains("://") {
        GeneralName::UniformResourceIdentifier(ia5(spec.subject))
    } else {
        GeneralName::Rfc822Name(ia5(spec.subject))
    };
    let mut exts = vec![
        ext(KeyUsage(KeyUsages::DigitalSignature.into()), true),
        ext(ExtendedKeyUsage(vec![CODE_SIGNING]), false),
        ext(SubjectKeyIdentifier(key.ski()), false),
        ext(authority_key_id(&ca.key), false),
        ext(SubjectAltName(vec![san]), true),
        raw_ext(FULCIO_ISSUER_V1, spec.issuer.as_bytes().to_vec()),
        raw_ext(FULCIO_ISSUER_V2, utf8(spec.issuer)),
    ];
    for (arc, value) in &spec.claims {
        let oid =
            ObjectIdentifier::from_str(&format!("1.3.6.1.4.1.57264.1.{arc}")).expect("a Fulcio arc OID");
        exts.push(raw_ext(oid, utf8(value)));
    }
    let validity = validity(spec.not_before, spec.not_after);
    let mut tbs = tbs(&ca.name, Name::default(), validity, key, exts);
    if let Some(ct_log) = spec.ct_log {
        // The CT log signs the precertificate entry: the issuer's key hash and this TBS without
        // the SCT list (RFC 6962 §3.2), which is what a verifier rebuilds from the final TBS.
        let precert_tbs = tbs.to_der().expect("a TBS certificate encodes");
        let issuer_spki = SubjectPublicKeyInfoOwned::from_der(ca.key.spki())
            .and_then(|s| s.to_der())
            .expect("the issuer's SPKI re-encodes");
        let millis = u64::try_from(spec.not_before.unix_timestamp()).unwrap_or(0) * 1000;
        let sct = sct(ct_log, millis, &sha256(&issuer_spki), &precert_tbs);
        // SignedCertificateTimestampList: TLS `opaque<1..2^16-1>` of serialized SCTs, each itself
        // length-prefixed, inside a DER OCTET STRING inside the extension's OCTET STRING.
        let mut list = u16_prefixed(&u16_prefixed(&sct));
        list = OctetString::new(list).and_then(|o| o.to_der()).expect("an SCT list encodes");
        if let Some(exts) = tbs.extensions.as_mut() {
            exts.push(raw_ext(CT_PRECERT_SCTS, list));
        }
    }
    sign_tbs(tbs, &ca.key)
}

/// An RFC 6962 v1 SCT over a precertificate entry, TLS-encoded.
fn sct(log: &Key, timestamp_ms: u64, issuer_key_hash: &[u8; 32], precert_tbs: &[u8]) -> Vec<u8> {
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&timestamp_ms.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    signed.extend_from_slice(issuer_key_hash);
    let len = u32::try_from(precert_tbs.len()).expect("a TBS under 16 MiB").to_be_bytes();
    signed.extend_from_slice(&len[1..]); // opaque<1..2^24-1>
    signed.extend_from_slice(precert_tbs);
    signed.extend_from_slice(&0u16.to_be_bytes()); // no extensions
    let signature = log.sign(&signed);

    let mut sct = vec![0u8]; // v1
    sct.extend_from_slice(&log.key_id());
    sct.extend_from_slice(&timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&0u16.to_be_bytes()); // no extensions
    sct.extend_from_slice(&[4, 3]); // SHA-256, ECDSA
    sct.extend_from_slice(&u16_prefixed(&signature));
    sct
}

fn u16_prefixed(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("under 64 KiB");
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// PEM as Python's `cryptography` writes it (64-column lines, trailing newline): Rekor bodies
/// carry the certificate this way and sigstore-python compares the encoding byte for byte.
pub(crate) fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn name(common_name: &str) -> Name {
    Name::from_str(&format!("CN={common_name},O=sigstore-testkit")).expect("a distinguished name")
}

fn ia5(s: &str) -> Ia5String {
    Ia5String::new(s).unwrap_or_else(|e| panic!("{s:?} is not an IA5 (ASCII) string: {e}"))
}

fn utf8(s: &str) -> Vec<u8> {
    Utf8StringRef::new(s).and_then(|u| u.to_der()).expect("a UTF8String encodes")
}

fn ten_years(start: OffsetDateTime) -> OffsetDateTime {
    start + time::Duration::days(3652)
}

fn validity(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Validity {
    // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (sigstore-python's
    // `cryptography` refuses anything else).
    let t = |t: OffsetDateTime| {
        let st = SystemTime::from(t.replace_nanosecond(0).expect("0 ns is valid"));
        let time = if t.year() < 2050 {
            UtcTime::from_system_time(st).map(Time::UtcTime)
        } else {
            GeneralizedTime::from_system_time(st).map(Time::GeneralTime)
        };
        time.expect("a certificate time")
    };
    Validity { not_before: t(not_before), not_after: t(not_after) }
}

fn authority_key_id(issuer: &Key) -> AuthorityKeyIdentifier {
    AuthorityKeyIdentifier {
        key_identifier: Some(issuer.ski()),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    }
}

fn ext<T: AssociatedOid + x509_cert::der::Encode>(value: T, critical: bool) -> Extension {
    let der = value.to_der().expect("an extension encodes");
    Extension { extn_id: T::OID, critical, extn_value: OctetString::new(der).expect("an OCTET STRING") }
}

fn raw_ext(oid: ObjectIdentifier, value: Vec<u8>) -> Extension {
    Extension { extn_id: oid, critical: false, extn_value: OctetString::new(value).expect("an OCTET STRING") }
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None }
}

fn tbs(issuer: &Name, subject: Name, validity: Validity, key: &Key, exts: Vec<Extension>) -> TbsCertificate {
    // A positive serial of at most 20 octets (RFC 5280 §4.1.2.2).
    let mut serial = random::<20>();
    serial[0] = (serial[0] & 0x7f) | 0x01;
    TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).expect("a 20-byte serial"),
        signature: ecdsa_sha256(),
        issuer: issuer.clone(),
        validity,
        subject,
        subject_public_key_info: key.spki_owned(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    }
}

fn sign_tbs(tbs: TbsCertificate, issuer: &Key) -> Vec<u8> {
    let signature = issuer.sign(&tbs.to_der().expect("a TBS certificate encodes"));
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(&signature).expect("a BIT STRING"),
    }
    .to_der()
    .expect("a certificate encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_wraps_at_64_columns() {
        let p = pem(&[0u8; 100]);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(p.ends_with('\n'));
    }

    #[test]
    fn serial_and_key_id_shapes() {
        let k = Key::random();
        assert_eq!(k.key_id(), sha256(k.spki()));
        assert_eq!(k.ski().as_bytes().len(), 20);
    }
}
