//! OIDC workload identity: ID tokens from a configured issuer are accepted and mapped by rules;
//! wrong issuer, audience, expiry, not-before, signature or algorithm are refused.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use registry_core::auth::{NamePattern, Scope};
use registry_e2e::*;
use registry_server::auth::oidc::{OidcIssuer, OidcRule};
use serde_json::{Value, json};

const ISS: &str = "https://ci.example.test";
const AUD: &str = "registry";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/oidc").join(name)
}

fn now() -> i64 {
    registry_server::db::now_ms() / 1000
}

fn sign(alg: Algorithm, kid: &str, key_file: &str, claims: &Value) -> String {
    let pem = std::fs::read(fixture(key_file)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        _ => EncodingKey::from_ec_pem(&pem).unwrap(),
    };
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

fn claims(repo: &str) -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": format!("repo:{repo}:ref:refs/heads/main"), "repository": repo,
           "ref": "refs/heads/main", "iat": now(), "nbf": now() - 5, "exp": now() + 300})
}

async fn server() -> TestServer {
    let rule = OidcRule {
        claims: [
            ("repository".to_owned(), "acme/fraud".to_owned()),
            ("ref".to_owned(), "refs/heads/*".to_owned()),
        ]
        .into(),
        scopes: vec![Scope::Read, Scope::Push],
        namespace: NamePattern::parse("fraud/*").unwrap(),
    };
    let issuer = OidcIssuer {
        issuer: ISS.into(),
        audience: AUD.into(),
        jwks_file: fixture("jwks.json"),
        rules: vec![rule],
    };
    TestServer::start_with(TestOptions { oidc: vec![issuer], ..Default::default() }).await
}

async fn whoami(s: &TestServer, jwt: &str) -> (u16, Value) {
    let r = http_with(jwt).get(format!("{}/v1/whoami", s.url)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_from_the_trusted_issuer_map_to_scopes_and_identity() {
    let s = server().await;
    for (alg, kid, key) in [(Algorithm::RS256, "rsa-1", "rsa.pem"), (Algorithm::ES256, "ec-1", "ec.pem")] {
        let jwt = sign(alg, kid, key, &claims("acme/fraud"));
        let (status, who) = whoami(&s, &jwt).await;
        assert_eq!(status, 200, "{alg:?}: {who}");
        assert_eq!(who["actor"], format!("oidc:{ISS}#repo:acme/fraud:ref:refs/heads/main"));
        assert_eq!(who["scopes"], json!(["read", "push"]));
        assert_eq!(who["namespace"], "fraud/*");
    }
    // The identity flows into what it creates.
    let jwt = sign(Algorithm::ES256, "ec-1", "ec.pem", &claims("acme/fraud"));
    let c = registry_client::Client::new(&s.url).unwrap().with_token(Some(jwt));
    let d = model_dir(&[("w", b"oidc")]);
    let r = TestPush::new("fraud/detector", "1").dir(d.path()).run(&c).await.unwrap();
    assert_eq!(r.version.created_by, format!("oidc:{ISS}#repo:acme/fraud:ref:refs/heads/main"));
    let err = TestPush::new("nlp/bert", "1").dir(d.path()).run(&c).await.unwrap_err();
    assert!(matches!(err, registry_client::ClientError::Api { status: 403, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_id_tokens_are_refused() {
    let s = server().await;
    let mut cases: Vec<(&str, String, u16)> = Vec::new();
    let mut c = claims("acme/fraud");
    c["iss"] = json!("https://evil.example.test");
    cases.push(("wrong issuer", sign(Algorithm::RS256, "rsa-1", "rsa.pem", &c), 401));
    let mut c = claims("acme/fraud");
    c["aud"] = json!("someone-else");
    cases.push(("wrong audience", sign(Algorithm::RS256, "rsa-1", "rsa.pem", &c), 401));
    let mut c = claims("acme/fraud");
    c["exp"] = json!(now() - 120);
    cases.push(("expired", sign(Algorithm::RS256, "rsa-1", "rsa.pem", &c), 401));
    let mut c = claims("acme/fraud");
    c["nbf"] = json!(now() + 600);
    cases.push(("not yet valid", sign(Algorithm::RS256, "rsa-1", "rsa.pem", &c), 401));
    cases.push((
        "signed by an untrusted key",
        sign(Algorithm::ES256, "ec-1", "untrusted-ec.pem", &claims("acme/fraud")),
        401,
    ));
    cases.push(("unknown key id", sign(Algorithm::ES256, "nope", "ec.pem", &claims("acme/fraud")), 401));
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("acme/fraud"),
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    cases.push(("HS256", hs, 401));
    let mut c = claims("acme/fraud");
    c.as_object_mut().unwrap().remove("sub");
    cases.push(("no subject", sign(Algorithm::RS256, "rsa-1", "rsa.pem", &c), 401));
    cases.push(("no matching rule", sign(Algorithm::RS256, "rsa-1", "rsa.pem", &claims("acme/other")), 403));
    let good = sign(Algorithm::RS256, "rsa-1", "rsa.pem", &claims("acme/fraud"));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_claims = {
        use base64::Engine;
        let mut c = claims("acme/fraud");
        c["repository"] = json!("acme/fraud");
        c["sub"] = json!("repo:acme/fraud:forged");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string())
    };
    cases.push(("payload swapped under a valid signature", format!("{head}.{forged_claims}.{sig}"), 401));
    for (what, jwt, want) in cases {
        let (status, body) = whoami(&s, &jwt).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(body["code"].is_string(), "{what}: {body}");
    }
}

fn sign_with(h: Header, key_file: &str, claims: &Value) -> String {
    let pem = std::fs::read(fixture(key_file)).unwrap();
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_ec_pem(&pem).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_with_critical_headers_or_odd_subjects_are_refused() {
    let s = server().await;
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("ec-1".into());
    assert_eq!(whoami(&s, &sign_with(h.clone(), "ec.pem", &claims("acme/fraud"))).await.0, 200);
    // A critical extension the server does not implement (here RFC 7797's unencoded payload, `b64`):
    // the token must be refused even though its signature and claims are good.
    let mut crit = h.clone();
    crit.crit = Some(vec!["b64".into()]);
    crit.extras.insert("b64", false);
    let (status, body) = whoami(&s, &sign_with(crit, "ec.pem", &claims("acme/fraud"))).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["message"].as_str().unwrap().contains("critical"), "{body}");
    let mut unknown = h.clone();
    unknown.crit = Some(vec!["exp-by-policy".into()]);
    assert_eq!(whoami(&s, &sign_with(unknown, "ec.pem", &claims("acme/fraud"))).await.0, 401);
    // `sub` becomes the actor id: empty, not a string, or over 1 KiB is refused.
    for sub in [json!(""), json!(42), json!("s".repeat(1025))] {
        let mut c = claims("acme/fraud");
        c["sub"] = sub.clone();
        assert_eq!(whoami(&s, &sign_with(h.clone(), "ec.pem", &c)).await.0, 401, "{sub}");
    }
}
