//! API tokens: `reg_<id>_<secret>` — a public id to find the row, 256 random bits of secret. Only the
//! SHA-256 of the whole text is stored, and it is compared in constant time.
use base64::Engine;
use registry_core::Digest;
use subtle::ConstantTimeEq;

/// Every token starts with this, so leaked tokens are easy to spot (and to scan for).
pub const PREFIX: &str = "reg_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 43; // 32 bytes, base64url without padding

/// A freshly minted token: its public id and the full secret text (shown once).
pub struct NewToken {
    /// The public id.
    pub id: String,
    /// `reg_<id>_<secret>`.
    pub text: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Mints a token from the OS random source.
pub fn generate() -> Result<NewToken, getrandom::Error> {
    let mut raw = [0u8; 6 + 32];
    getrandom::fill(&mut raw)?;
    let id = hex::encode(&raw[..6]);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[6..]);
    Ok(NewToken { text: format!("{PREFIX}{id}_{secret}"), id })
}

/// True when `s` is shaped like a token id (12 lowercase hex digits). Token names may not be, so that
/// "revoke X" can never mean two tokens.
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The public id of a well-formed token text.
pub fn id_of(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = is_id(id)
        && secret.len() == SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(id)
}

/// What is stored for a token: the hex SHA-256 of its whole text.
pub fn hash(text: &str) -> String {
    Digest::of(text.as_bytes()).hex()
}

/// Constant-time check of `text` against a stored hash.
pub fn matches(text: &str, stored_hex: &str) -> bool {
    let mut stored = [0u8; 32];
    if hex::decode_to_slice(stored_hex, &mut stored).is_err() {
        return false;
    }
    Digest::of(text.as_bytes()).as_bytes().ct_eq(&stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_match_only_their_hash() {
        let t = generate().expect("random");
        assert!(t.text.starts_with("reg_"));
        assert_eq!(id_of(&t.text), Some(t.id.as_str()));
        let h = hash(&t.text);
        assert!(matches(&t.text, &h));
        let mut other = t.text.clone();
        other.pop();
        other.push(if t.text.ends_with('A') { 'B' } else { 'A' });
        assert!(!matches(&other, &h));
        assert_ne!(generate().expect("random").text, t.text);
        assert!(!format!("{t:?}").contains(&t.text[16..]), "Debug never shows the secret");
    }

    #[test]
    fn malformed_tokens_have_no_id() {
        for bad in [
            "",
            "reg_",
            "reg_abc_def",
            "xyz_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "reg_0123456789ab_short",
        ] {
            assert_eq!(id_of(bad), None, "{bad}");
        }
    }
}
