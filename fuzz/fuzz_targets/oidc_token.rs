//! OIDC ID tokens, through the server's own verifier (registry-server/src/auth/oidc.rs, compiled
//! here as a module so that the fuzz build needs no server crate) with the test issuer's JWKS
//! (tests/fixtures/oidc). The first byte picks the mode: 0 a raw token; 1 the claims of a token the
//! issuer's EC key signs (header fixed); 2 `header\npayload`, both raw, signed by the issuer's key; 3
//! the same signed by an untrusted key. Oidc::verify never panics; a token accepted is RS256/ES256,
//! from the configured issuer and audience, not expired or early, has a string `sub` that is in its
//! actor id, and got exactly the scopes of the first rule its claims match; a token signed by the
//! untrusted key or whose header names another algorithm than the signature's is refused.
#![no_main]
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use registry_core::auth::{NamePattern, Scope};
use serde_json::{Map, Value};

/// What oidc.rs maps a token to (`registry_server::auth::Actor`, same fields).
#[derive(Debug)]
#[allow(dead_code)]
pub struct Actor {
    id: String,
    scopes: Vec<Scope>,
    pattern: NamePattern,
    expires_at: Option<i64>,
}

#[allow(dead_code, clippy::all)]
#[path = "../../registry-server/src/auth/oidc.rs"]
mod oidc;

use oidc::{Oidc, OidcIssuer, OidcRule};

const ISS: &str = "https://ci.example.test";
const AUD: &str = "registry";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/oidc").join(name)
}

fn rules() -> Vec<OidcRule> {
    let rule = |claims: &[(&str, &str)], scopes: Vec<Scope>, ns: &str| OidcRule {
        claims: claims.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        scopes,
        namespace: NamePattern::parse(ns).expect("a fixed pattern parses"),
    };
    vec![
        rule(
            &[("repository", "acme/fraud"), ("ref", "refs/heads/*")],
            vec![Scope::Read, Scope::Push],
            "fraud/*",
        ),
        rule(&[("run_attempt", "1")], vec![Scope::Read], "*"),
    ]
}

static OIDC: LazyLock<Oidc> = LazyLock::new(|| {
    Oidc::load(&[OidcIssuer {
        issuer: ISS.into(),
        audience: AUD.into(),
        jwks_file: fixture("jwks.json"),
        rules: rules(),
    }])
    .expect("the fixture JWKS loads")
});

static ISSUER_KEY: LazyLock<EncodingKey> = LazyLock::new(|| {
    EncodingKey::from_ec_pem(&std::fs::read(fixture("ec.pem")).expect("fixture")).expect("EC key")
});
static UNTRUSTED_KEY: LazyLock<EncodingKey> = LazyLock::new(|| {
    EncodingKey::from_ec_pem(&std::fs::read(fixture("untrusted-ec.pem")).expect("fixture")).expect("EC key")
});

fn signed(header: &[u8], payload: &[u8], key: &EncodingKey) -> String {
    let msg = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let sig = jsonwebtoken::crypto::sign(msg.as_bytes(), key, Algorithm::ES256).expect("ES256 signs");
    format!("{msg}.{sig}")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn matches(v: Option<&Value>, want: &str) -> bool {
    let Some(v) = v else { return false };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match want.strip_suffix('*') {
        Some(prefix) => text.starts_with(prefix),
        None => text == want,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let header_es256 = br#"{"alg":"ES256","kid":"ec-1","typ":"JWT"}"#;
    let jwt = match mode % 4 {
        0 => match std::str::from_utf8(rest) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        },
        1 => signed(header_es256, rest, &ISSUER_KEY),
        m => {
            let (h, p) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&header_es256[..], rest),
            };
            signed(h, p, if m == 2 { &ISSUER_KEY } else { &UNTRUSTED_KEY })
        }
    };
    let Ok(actor) = OIDC.verify(&jwt) else { return };
    assert!(mode % 4 != 3, "a token signed by an untrusted key was accepted");
    let header = jsonwebtoken::decode_header(&jwt).expect("an accepted token's header parses");
    assert!(matches!(header.alg, Algorithm::RS256 | Algorithm::ES256), "accepted alg {:?}", header.alg);
    if mode % 4 != 0 {
        assert_eq!(header.alg, Algorithm::ES256, "header algorithm differs from the signature's");
    }
    let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode(&jwt).expect("claims").claims;
    assert_eq!(claims.get("iss").and_then(Value::as_str), Some(ISS));
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == AUD,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(AUD)),
        _ => false,
    };
    assert!(aud_ok, "accepted audience {:?}", claims.get("aud"));
    let exp = claims.get("exp").and_then(Value::as_f64).expect("accepted without a numeric exp");
    assert!(exp >= (now() - 60) as f64, "accepted an expired token (exp {exp})");
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64) {
        assert!(nbf <= (now() + 60) as f64, "accepted a token before its nbf {nbf}");
    }
    let sub = claims.get("sub").and_then(Value::as_str).expect("accepted without a string sub");
    assert_eq!(actor.id, format!("oidc:{ISS}#{sub}"));
    let rule = rules()
        .into_iter()
        .find(|r| r.claims.iter().all(|(k, want)| matches(claims.get(k), want)))
        .expect("accepted without a matching rule");
    assert_eq!(actor.scopes, rule.scopes);
    assert_eq!(actor.pattern, rule.namespace);
});
