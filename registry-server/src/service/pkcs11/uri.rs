//! PKCS#11 URIs (RFC 7512, <https://www.rfc-editor.org/rfc/rfc7512>) naming the token and the key the
//! server signs with. Supported path attributes: `token`, `manufacturer`, `model`, `serial`, `slot-id`
//! (§2.3, which token), `object`, `id` and `type=private` (which key). The PIN never comes from a URI:
//! `pin-value` and `pin-source` (§2.4) are refused, as are `module-name`/`module-path` (the module is
//! `--pkcs11-module`) and every other attribute, so a typo cannot quietly widen the match.
use std::fmt;

/// Why a PKCS#11 URI was refused. Messages never repeat a URI's query (it may hold a PIN).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not `pkcs11:...`, or a broken attribute.
    #[error("not a PKCS#11 URI (RFC 7512 `pkcs11:token=...;object=...`): {0}")]
    Malformed(String),
    /// An attribute this server does not act on.
    #[error(
        "PKCS#11 URI attribute {0:?} is not supported (token, manufacturer, model, serial, slot-id, object, id, type=private)"
    )]
    Unsupported(String),
    /// A PIN in the URI.
    #[error(
        "a PKCS#11 URI must not carry the PIN ({0}): give it with --pkcs11-pin-file or REGISTRY_PKCS11_PIN"
    )]
    Pin(&'static str),
    /// Neither `object` nor `id`: no way to tell which key.
    #[error("the PKCS#11 URI names no key: add object=LABEL and/or id=%XX..")]
    NoObject,
}

/// A parsed URI: what selects the token and what selects the key on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// Token label (`token`).
    pub token: Option<String>,
    /// Token manufacturer (`manufacturer`).
    pub manufacturer: Option<String>,
    /// Token model (`model`).
    pub model: Option<String>,
    /// Token serial number (`serial`).
    pub serial: Option<String>,
    /// Slot id (`slot-id`).
    pub slot_id: Option<u64>,
    /// Key label, CKA_LABEL (`object`).
    pub object: Option<String>,
    /// Key id, CKA_ID (`id`, percent-encoded bytes).
    pub id: Option<Vec<u8>>,
}

impl Pkcs11Uri {
    /// Parses `pkcs11:attr=value;...` (values percent-decoded; RFC 7512 §2.3).
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let rest = s
            .trim()
            .strip_prefix("pkcs11:")
            .ok_or_else(|| UriError::Malformed("it does not start with pkcs11:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if let Some(attr) = query.split('&').find(|a| !a.is_empty()) {
            let name = attr.split_once('=').map_or(attr, |(n, _)| n);
            return Err(match name {
                "pin-value" => UriError::Pin("pin-value"),
                "pin-source" => UriError::Pin("pin-source"),
                other => UriError::Unsupported(other.to_owned()),
            });
        }
        let mut uri = Self::default();
        let mut seen = std::collections::BTreeSet::new();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            // The name is judged before its value is decoded or quoted: a PIN never reaches a message.
            let name = attr.split_once('=').map_or(attr, |(n, _)| n);
            match name {
                "pin-value" => return Err(UriError::Pin("pin-value")),
                "pin-source" => return Err(UriError::Pin("pin-source")),
                _ => {}
            }
            let Some((_, value)) = attr.split_once('=') else {
                return Err(UriError::Malformed(format!("attribute {name:?} has no value")));
            };
            if !seen.insert(name) {
                return Err(UriError::Malformed(format!(
                    "attribute {name:?} is given twice (RFC 7512: at most once)"
                )));
            }
            let bytes = percent_decode(value)?;
            let text = || {
                String::from_utf8(bytes.clone())
                    .map_err(|_| UriError::Malformed(format!("{name} is not UTF-8")))
            };
            match name {
                "token" => uri.token = Some(text()?),
                "manufacturer" => uri.manufacturer = Some(text()?),
                "model" => uri.model = Some(text()?),
                "serial" => uri.serial = Some(text()?),
                "slot-id" => {
                    let t = text()?;
                    uri.slot_id = Some(
                        t.parse()
                            .map_err(|_| UriError::Malformed(format!("slot-id {t:?} is not a number")))?,
                    );
                }
                "object" => uri.object = Some(text()?),
                "id" => uri.id = Some(bytes),
                "type" if bytes == b"private" => {}
                other => return Err(UriError::Unsupported(other.to_owned())),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(UriError::NoObject);
        }
        Ok(uri)
    }
}

/// The URI again, in RFC 7512's form (for messages; it holds no PIN).
impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut text = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{name}={}", percent_encode(v.as_bytes())));
            }
        };
        text("token", &self.token);
        text("manufacturer", &self.manufacturer);
        text("model", &self.model);
        text("serial", &self.serial);
        text("object", &self.object);
        if let Some(s) = self.slot_id {
            parts.push(format!("slot-id={s}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", id.iter().map(|b| format!("%{b:02X}")).collect::<String>()));
        }
        write!(f, "pkcs11:{}", parts.join(";"))
    }
}

fn percent_decode(v: &str) -> Result<Vec<u8>, UriError> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Exactly two hex digits (`from_str_radix` alone would take a sign: `%+1`).
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| UriError::Malformed(format!("bad percent-encoding in {v:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// RFC 7512 §2.3 `pchar` minus what separates attributes: unreserved characters stay, the rest is `%XX`.
fn percent_encode(v: &[u8]) -> String {
    v.iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || b"-._~:[]@!$'()*+,&".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_object_and_id_parse_and_print_back() {
        let u =
            Pkcs11Uri::parse("pkcs11:token=My%20HSM;object=log%20key;id=%01%a2;type=private").expect("uri");
        assert_eq!(u.token.as_deref(), Some("My HSM"));
        assert_eq!(u.object.as_deref(), Some("log key"));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xa2][..]));
        assert_eq!(u.to_string(), "pkcs11:token=My%20HSM;object=log%20key;id=%01%A2");
        assert_eq!(Pkcs11Uri::parse(&u.to_string()), Ok(u));
        let s = Pkcs11Uri::parse("pkcs11:serial=abc;slot-id=7;object=k").expect("uri");
        assert_eq!((s.serial.as_deref(), s.slot_id), (Some("abc"), Some(7)));
    }

    #[test]
    fn a_pin_in_the_uri_is_refused_without_repeating_it() {
        for u in
            ["pkcs11:token=t;object=k?pin-value=secret1234", "pkcs11:token=t;object=k;pin-value=secret1234"]
        {
            let e = Pkcs11Uri::parse(u).expect_err("pin refused");
            assert!(matches!(e, UriError::Pin(_)), "{e}");
            assert!(!e.to_string().contains("secret1234"), "{e}");
        }
        assert!(matches!(Pkcs11Uri::parse("pkcs11:object=k?pin-source=file:/p"), Err(UriError::Pin(_))));
        // Judged by name before the value is decoded: a badly encoded PIN is not quoted back either.
        let e = Pkcs11Uri::parse("pkcs11:object=k;pin-value=secret%3").expect_err("pin refused");
        assert!(matches!(e, UriError::Pin(_)) && !e.to_string().contains("secret"), "{e}");
        assert!(matches!(Pkcs11Uri::parse("pkcs11:object=k;pin-source=x"), Err(UriError::Pin(_))));
    }

    #[test]
    fn an_attribute_given_twice_or_a_signed_percent_escape_is_refused() {
        // RFC 7512 allows each attribute once; the last one silently winning picked another key.
        assert!(matches!(Pkcs11Uri::parse("pkcs11:object=a;object=b"), Err(UriError::Malformed(_))));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:object=k;id=%+1"), Err(UriError::Malformed(_))));
    }

    #[test]
    fn other_attributes_and_broken_uris_are_refused() {
        assert!(matches!(Pkcs11Uri::parse("pkcs11:token=t"), Err(UriError::NoObject)));
        assert!(matches!(Pkcs11Uri::parse("token=t;object=k"), Err(UriError::Malformed(_))));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:object=k;type=cert"), Err(UriError::Unsupported(_))));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:object=k?module-path=/x.so"),
            Err(UriError::Unsupported(_))
        ));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:object=%zz"), Err(UriError::Malformed(_))));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:object"), Err(UriError::Malformed(_))));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:slot-id=x;object=k"), Err(UriError::Malformed(_))));
    }
}
