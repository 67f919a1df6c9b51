//! Token names and ids, and how a credential is presented.
#![allow(clippy::unwrap_used)]

use registry_core::auth::{CreateTokenRequest, NamePattern, Scope};
use registry_e2e::*;
use registry_server::auth::token;
use registry_server::db::tokens::TokenRow;
use serde_json::json;

async fn whoami(s: &TestServer, authorization: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/v1/whoami", s.url))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_name_shaped_like_an_id_is_refused_and_revoking_an_id_revokes_one_token() {
    let s = TestServer::start().await;
    let c = client(&s);
    let victim = c
        .create_token(&CreateTokenRequest {
            name: "deployer".into(),
            scopes: vec![Scope::Read],
            namespace: NamePattern::parse("fraud/*").unwrap(),
            expires_at: None,
        })
        .await
        .unwrap();
    // A name equal to another token's id (12 hex digits) is refused over the API...
    let r = http(&s)
        .post(format!("{}/v1/tokens", s.url))
        .json(&json!({"name": victim.info.id, "scopes": ["read"], "namespace": "*"}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_name"));
    // ...and a row that has one anyway (made before this rule) is not what "revoke <id>" reaches.
    let t = token::generate().unwrap();
    let legacy = TokenRow {
        id: t.id.clone(),
        name: victim.info.id.clone(),
        secret_hash: token::hash(&t.text),
        scopes: "read".into(),
        namespace: "*".into(),
        created_by: "test".into(),
        created_at: registry_server::db::now_ms(),
        expires_at: None,
        revoked_at: None,
    };
    s.state.db.token_insert(&legacy).await.unwrap();
    let revoked = c.revoke_token(&victim.info.id).await.unwrap();
    assert_eq!(revoked.name, "deployer");
    assert_eq!(whoami(&s, &format!("Bearer {}", victim.token)).await, 401, "the victim is revoked");
    assert_eq!(whoami(&s, &format!("Bearer {}", t.text)).await, 200, "the token named like its id is not");
    // Names revoke by name.
    c.create_token(&CreateTokenRequest {
        name: "ci".into(),
        scopes: vec![Scope::Read],
        namespace: NamePattern::any(),
        expires_at: None,
    })
    .await
    .unwrap();
    assert_eq!(c.revoke_token("ci").await.unwrap().name, "ci");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = TestServer::start().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        assert_eq!(whoami(&s, &format!("{scheme} {}", s.admin_token)).await, 200, "{scheme}");
    }
    assert_eq!(whoami(&s, &format!("Bearer   {}", s.admin_token)).await, 200, "several spaces");
    assert_eq!(whoami(&s, &format!("Basic {}", s.admin_token)).await, 401);
    assert_eq!(whoami(&s, &format!("Bearer{}", s.admin_token)).await, 401);
}
