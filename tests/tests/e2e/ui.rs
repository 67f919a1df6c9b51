//! The web UI over HTTP (no browser: tests/python/test_ui.py drives Chromium): sessions, CSRF, the
//! headers every response carries, promotion only after confirmation, and the UI's authorisation
//! matrix — every route in `registry_server::ui::ROUTES` x every kind of caller, including a reader
//! of another namespace, who must never see a model outside it.
#![allow(clippy::unwrap_used)]

use registry_core::auth::Scope;
use registry_core::{Lineage, ModelRef};
use registry_e2e::*;
use registry_server::ui::{CSP, ROUTES, UiAccess};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

/// A client that never follows redirects and sends no cookie by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// An `application/x-www-form-urlencoded` body, as a browser sends a form.
trait Form {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        let body = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body)
    }
}

/// A signed-in session: its cookie and its CSRF token (read off a page, as a browser would).
struct Session {
    cookie: String,
    csrf: String,
}

/// `POST /ui/login` with `token` from this origin: asserts the 303 to `/ui/` and returns the whole
/// `Set-Cookie` value.
async fn login(s: &TestServer, token: &str) -> String {
    let resp = browser()
        .post(format!("{}/ui/login", s.url))
        .header(header::ORIGIN, &s.url)
        .form_body(&[("token", token)])
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", resp.text().await.unwrap());
    assert_eq!(headers[header::LOCATION], "/ui/");
    headers[header::SET_COOKIE].to_str().unwrap().to_owned()
}

async fn sign_in(s: &TestServer, token: &str) -> Session {
    let set = login(s, token).await;
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http without an https public URL: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = get(s, "/ui/", Some(&cookie)).await;
    assert_eq!(page.0, StatusCode::OK);
    let csrf = page.2.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    Session { cookie, csrf }
}

/// A session for a token without the read scope: it signs in, but reads no page (403), so its
/// CSRF token is not on any page it can see; the matrix sends it anyway (derived as the server
/// derives it) to show the scope check, not the CSRF check, refuses it.
async fn sign_in_without_read(s: &TestServer, token: &str) -> Session {
    let cookie = login(s, token).await.split(';').next().unwrap().to_owned();
    let secret = cookie.split_once('=').unwrap().1;
    let csrf = registry_core::Digest::of(format!("registry-ui-csrf\n{secret}").as_bytes()).hex();
    assert_eq!(get(s, "/ui/", Some(&cookie)).await.0, StatusCode::FORBIDDEN, "signed in, reads nothing");
    Session { cookie, csrf }
}

async fn get(s: &TestServer, path: &str, cookie: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut req = browser().get(format!("{}{path}", s.url));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.headers().clone(), resp.text().await.unwrap())
}

async fn post(
    s: &TestServer,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut req = browser().post(format!("{}{path}", s.url)).header(header::ORIGIN, &s.url).form_body(form);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.headers().clone(), resp.text().await.unwrap())
}

fn child_of(parent: &str) -> Lineage {
    Lineage { parents: vec![ModelRef::parse(parent).unwrap()], ..Default::default() }
}

/// fraud/detector 1 -> 2 -> 3 (2 signed), an alias `staging` at 1.
async fn seed(s: &TestServer) -> registry_core::attest::keys::SigningKey {
    let c = client(s);
    let key = registry_core::attest::keys::SigningKey::from_seed(
        registry_core::attest::keys::KeyKind::Ed25519,
        &[18; 32],
    )
    .unwrap();
    c.add_key(&trust_key("fraud/*", &key, &[])).await.unwrap();
    TestPush::new("fraud/detector", "1").run(&c).await.unwrap();
    TestPush::new("fraud/detector", "2")
        .lineage(child_of("fraud/detector@1"))
        .signed(&key)
        .run(&c)
        .await
        .unwrap();
    TestPush::new("fraud/detector", "3").lineage(child_of("fraud/detector@2")).run(&c).await.unwrap();
    let m = registry_core::ModelName::parse("fraud/detector").unwrap();
    c.promote(&m, "staging", &promote_req("1")).await.unwrap();
    key
}

#[tokio::test]
async fn the_front_door_redirects_once_and_shows_sign_in_with_200() {
    let s = TestServer::start().await;
    let (status, h, _) = get(&s, "/", None).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(h[header::LOCATION], "/ui/");
    let (status, h, body) = get(&s, "/ui/", None).await;
    assert_eq!(status, StatusCode::OK, "the sign-in page itself, not a redirect");
    assert!(body.contains("action=\"/ui/login\""), "{body}");
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
    // Every /ui response carries the CSP: an unknown page, a refused action, an asset.
    let (status, h, _) = get(&s, "/ui/no/such/page", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
    let (status, h, _) = post(&s, "/ui/logout", None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
    let resp = browser().delete(format!("{}/ui/login", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()[header::CONTENT_SECURITY_POLICY], CSP, "the router's 405 too");
    assert_eq!(resp.headers()[header::X_FRAME_OPTIONS], "DENY");
    let api = browser().get(format!("{}/v1/health", s.url)).send().await.unwrap();
    assert!(api.headers().get(header::CONTENT_SECURITY_POLICY).is_none(), "the API is not a page");
    let css = body.split("rel=\"stylesheet\" href=\"").nth(1).unwrap().split('"').next().unwrap();
    let (status, h, text) = get(&s, css, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
    assert!(h[header::CACHE_CONTROL].to_str().unwrap().contains("immutable"));
    assert!(text.contains("prefers-color-scheme: dark"));
    // No inline script or style anywhere (the CSP would block them).
    assert!(!body.contains("<script") && !body.contains("style=") && !body.contains("<style"));
}

#[tokio::test]
async fn a_session_stores_only_a_hash_acts_as_its_token_and_ends_with_it() {
    let s = TestServer::start().await;
    seed(&s).await;
    let reader = s.token("ui-reader", &[Scope::Read], "fraud/*").await;
    let sess = sign_in(&s, &reader).await;
    let secret = sess.cookie.split_once('=').unwrap().1.to_owned();
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT secret_hash FROM ui_sessions").fetch_all(s.state.db.pool()).await.unwrap();
    assert_eq!(stored, vec![registry_core::Digest::of(secret.as_bytes()).hex()]);
    let (status, _, body) = get(&s, "/ui/models/fraud/detector", Some(&sess.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("token:ui-reader"), "whoami shows the token's identity");
    // /v1 never accepts the cookie.
    let resp = browser()
        .get(format!("{}/v1/models/fraud/detector", s.url))
        .header(header::COOKIE, &sess.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Revoking the token ends the session at once.
    client(&s).revoke_token("ui-reader").await.unwrap();
    let (status, _, body) = get(&s, "/ui/models/fraud/detector", Some(&sess.cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("action=\"/ui/login\""));
    // A bad token is refused on the sign-in page, and no session is stored for it.
    let (status, _, body) = post(&s, "/ui/login", None, &[("token", "reg_000000000000_nope")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("data-testid=\"login-error\""));
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ui_sessions").fetch_one(s.state.db.pool()).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn actions_need_a_session_then_its_csrf_token_then_same_origin() {
    let s = TestServer::start().await;
    seed(&s).await;
    let sess = sign_in(&s, &s.admin_token).await;
    let path = "/ui/models/fraud/detector/aliases/staging/rollback";
    let form = [("reason", "x")];
    assert_eq!(post(&s, path, None, &form).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(&s, path, Some(&sess.cookie), &form).await.0, StatusCode::FORBIDDEN);
    let wrong = [("reason", "x"), ("csrf", "0000")];
    assert_eq!(post(&s, path, Some(&sess.cookie), &wrong).await.0, StatusCode::FORBIDDEN);
    // Another site's form, with the right token even: refused by its Origin.
    let resp = browser()
        .post(format!("{}/ui/logout", s.url))
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &sess.cookie)
        .form_body(&[("csrf", sess.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = browser()
        .post(format!("{}/ui/login", s.url))
        .header(header::ORIGIN, "https://evil.example")
        .form_body(&[("token", s.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "login CSRF");
    // Sign-out with the token ends the session.
    let (status, h, _) = post(&s, "/ui/logout", Some(&sess.cookie), &[("csrf", &sess.csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(h[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(get(&s, "/ui/models/fraud/detector", Some(&sess.cookie)).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn promotion_through_the_ui_moves_the_alias_only_after_confirmation() {
    let s = TestServer::start().await;
    seed(&s).await;
    let sess = sign_in(&s, &s.admin_token).await;
    let m = registry_core::ModelName::parse("fraud/detector").unwrap();
    let c = client(&s);
    let path = "/ui/models/fraud/detector/aliases/staging/promote";
    let (status, _, body) =
        post(&s, path, Some(&sess.cookie), &[("csrf", &sess.csrf), ("version", "2"), ("reason", "eval ok")])
            .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-testid=\"dry-run-allowed\">true<"), "{body}");
    assert_eq!(c.get_alias(&m, "staging", None).await.unwrap().version, "1", "a dry run moves nothing");
    let expected =
        body.split("name=\"expected_current\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(expected, "1");
    let confirm = [
        ("csrf", sess.csrf.as_str()),
        ("version", "2"),
        ("reason", "eval ok"),
        ("expected_current", "1"),
        ("confirm", "yes"),
    ];
    let (status, h, _) = post(&s, path, Some(&sess.cookie), &confirm).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/ui/models/fraud/detector/aliases/staging");
    assert_eq!(c.get_alias(&m, "staging", None).await.unwrap().version, "2");
    let history = c.alias_history(&m, "staging", None).await.unwrap();
    assert_eq!(history.events[0].version, "2");
    assert_eq!(history.events[0].actor, "token:bootstrap-admin");
    // A stale confirmation (the alias moved since the dry run) is refused, not applied.
    let (status, _, body) = post(
        &s,
        path,
        Some(&sess.cookie),
        &[("csrf", &sess.csrf), ("version", "3"), ("expected_current", "1"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(c.get_alias(&m, "staging", None).await.unwrap().version, "2");
}

#[tokio::test]
async fn pages_show_the_chain_badges_and_commands() {
    let s = TestServer::start().await;
    let key = seed(&s).await;
    let sess = sign_in(&s, &s.admin_token).await;
    let (status, _, v2) = get(&s, "/ui/models/fraud/detector/versions/2", Some(&sess.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v2.contains("data-testid=\"badge-verified\""));
    for n in ["fraud/detector@1", "fraud/detector@2", "fraud/detector@3"] {
        assert!(v2.contains(&format!("data-testid=\"graph-node\" data-node=\"{n}\"")), "{n}");
    }
    assert!(v2.contains("data-from=\"fraud/detector@1\" data-to=\"fraud/detector@2\""));
    assert!(v2.contains("data-from=\"fraud/detector@2\" data-to=\"fraud/detector@3\""));
    let _ = key;
    assert!(v2.contains("registry verify fraud/detector@sha256:"), "pinned by digest");
    let (_, _, v3) = get(&s, "/ui/models/fraud/detector/versions/3", Some(&sess.cookie)).await;
    assert!(v3.contains("data-testid=\"badge-unsigned\""));
    let (_, _, log) = get(&s, "/ui/log", Some(&sess.cookie)).await;
    let size = s.state.db.log_size().await.unwrap();
    assert!(log.contains(&format!("data-testid=\"log-size\">{size}<")), "{log}");
    let (status, _, entry) = get(&s, "/ui/log/0", Some(&sess.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(entry.contains("the proof recomputes the checkpoint"));
    let (status, h, bundle) =
        get(&s, "/ui/models/fraud/detector/versions/2/bundle", Some(&sess.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"));
    let b: registry_core::audit_bundle::AuditBundle = serde_json::from_str(&bundle).unwrap();
    assert_eq!(b.version.version, "2");
}

/// The caller kinds of the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    /// Push and attest on fraud/*, no read: reads nothing, as through /v1.
    PushOnly,
    OtherNamespaceReader,
    Reader,
    Admin,
}

/// The request each UI route gets: path and form.
fn ui_request(method: &str, path: &str) -> (String, Vec<(&'static str, &'static str)>) {
    let p = match path {
        "/ui/assets/{file}" => return ("/ui/assets/none.css".into(), vec![]),
        "/ui/models/{namespace}/{name}" => "/ui/models/fraud/detector",
        "/ui/models/{namespace}/{name}/versions/{version}" => "/ui/models/fraud/detector/versions/2",
        "/ui/models/{namespace}/{name}/versions/{version}/bundle" => {
            "/ui/models/fraud/detector/versions/2/bundle"
        }
        "/ui/models/{namespace}/{name}/aliases/{alias}" => "/ui/models/fraud/detector/aliases/staging",
        "/ui/models/{namespace}/{name}/aliases/{alias}/promote" => {
            return (
                path.replace("{namespace}/{name}", "fraud/detector").replace("{alias}", "staging"),
                vec![("version", "2")],
            );
        }
        "/ui/models/{namespace}/{name}/aliases/{alias}/rollback" => {
            return ("/ui/models/fraud/detector/aliases/staging/rollback".into(), vec![("reason", "matrix")]);
        }
        "/ui/policies/{id}" => "/ui/policies/1",
        "/ui/log/{index}" => "/ui/log/0",
        "/ui/quarantines/{id}/lift" => {
            return ("/ui/quarantines/999/lift".into(), vec![("reason", "matrix")]);
        }
        "/ui/quarantines" if method == "POST" => {
            return (
                path.into(),
                vec![("kind", "version"), ("value", "fraud/detector@3"), ("reason", "matrix")],
            );
        }
        "/ui/affected" => "/ui/affected?kind=version&value=fraud/detector@1",
        "/ui/login" if method == "POST" => return (path.into(), vec![("token", "reg_000000000000_x")]),
        "/ui/logout" => return (path.into(), vec![]),
        other => other,
    };
    (p.into(), vec![])
}

#[tokio::test]
async fn ui_authorisation_matrix_and_no_page_leaks_another_namespace() {
    let s = TestServer::start().await;
    seed(&s).await;
    let admin_client = client(&s);
    admin_client
        .set_policy(&registry_core::promote::SetPolicyRequest {
            namespace: registry_core::auth::NamePattern::parse("fraud/*").unwrap(),
            alias: "staging".into(),
            rego: "package registry.promote\nallow := true\n".into(),
        })
        .await
        .unwrap();
    let other = s.token("other-reader", &[Scope::Read, Scope::Promote], "credit/*").await;
    let reader = s.token("fraud-reader", &[Scope::Read], "fraud/*").await;
    let pusher = s.token("fraud-pusher", &[Scope::Push, Scope::Attest], "fraud/*").await;
    let sessions = [
        (Who::Nobody, None),
        (Who::PushOnly, Some(sign_in_without_read(&s, &pusher).await)),
        (Who::OtherNamespaceReader, Some(sign_in(&s, &other).await)),
        (Who::Reader, Some(sign_in(&s, &reader).await)),
        (Who::Admin, Some(sign_in(&s, &s.admin_token).await)),
    ];
    for (method, path, access) in ROUTES {
        for (who, sess) in &sessions {
            let (p, mut form) = ui_request(method, path);
            let cookie = sess.as_ref().map(|x| x.cookie.as_str());
            let csrf;
            // Signing out would end the session the rest of the matrix uses: logout is sent
            // without its CSRF token (and must be refused); tests above sign out for real.
            if let Some(x) = sess
                && *path != "/ui/logout"
            {
                csrf = x.csrf.clone();
                form.push(("csrf", Box::leak(csrf.into_boxed_str())));
            }
            let (status, h, body) =
                if *method == "GET" { get(&s, &p, cookie).await } else { post(&s, &p, cookie, &form).await };
            let cell = format!("{method} {path} as {who:?}: {status}");
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP, "{cell}");
            assert!(status.as_u16() < 500, "{cell}\n{body}");
            // No inline script or style on any page (the CSP would block them), SVG included.
            assert!(
                !body.contains("<script") && !body.contains("style=") && !body.contains("<style"),
                "{cell}"
            );
            match (access, who) {
                (UiAccess::Public, _) => {}
                (_, Who::Nobody) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{cell}"),
                (_, Who::PushOnly) => assert_eq!(status, StatusCode::FORBIDDEN, "{cell}\n{body}"),
                (UiAccess::Admin, Who::Admin) => assert_eq!(status, StatusCode::OK, "{cell}"),
                (UiAccess::Admin, _) => assert_eq!(status, StatusCode::FORBIDDEN, "{cell}"),
                (UiAccess::Read, Who::OtherNamespaceReader) => {
                    // Model pages: the same 404 as a model that does not exist; lists: nothing.
                    assert!(
                        [StatusCode::NOT_FOUND, StatusCode::OK, StatusCode::FORBIDDEN].contains(&status),
                        "{cell}"
                    );
                    if path.starts_with("/ui/models/") {
                        assert_eq!(status, StatusCode::NOT_FOUND, "{cell}");
                    }
                }
                (UiAccess::Read, _) => assert!(
                    status == StatusCode::OK
                        || (*path == "/ui/log/{index}"
                            && status == StatusCode::FORBIDDEN
                            && *who == Who::Reader)
                        || (*path == "/ui/log" && status == StatusCode::FORBIDDEN && *who == Who::Reader),
                    "{cell}"
                ),
                (UiAccess::Act, _) if *path == "/ui/logout" => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{cell}")
                }
                (UiAccess::Act, Who::OtherNamespaceReader | Who::Reader) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{cell}")
                }
                (UiAccess::Act, Who::Admin) => assert!(
                    ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status),
                    "{cell}\n{body}"
                ),
            }
            // A reader of another namespace: a page naming a fraud model answers exactly as for a
            // model that does not exist; every other page (but policies, global as in /v1) names none.
            if *who == Who::PushOnly && *method == "GET" && *access != UiAccess::Public {
                assert!(
                    !body.contains("fraud/detector@") && !body.contains("data-model"),
                    "{cell} shows data:\n{body}"
                );
            }
            if *who == Who::OtherNamespaceReader && *method == "GET" {
                if p.contains("fraud/detector") {
                    let twin = get(&s, &p.replace("fraud/detector", "fraud/nosuchmodel"), cookie).await;
                    assert_eq!(
                        (status, body.clone()),
                        (twin.0, twin.2.replace("nosuchmodel", "detector")),
                        "{cell}"
                    );
                } else if !path.starts_with("/ui/policies") {
                    assert!(!body.contains("fraud/"), "{cell} leaks:\n{body}");
                }
            }
        }
    }
}

#[tokio::test]
async fn anonymous_read_shows_pages_without_sign_in_but_never_acts() {
    let s = TestServer::start_with(TestOptions { anonymous_read: true, ..Default::default() }).await;
    seed(&s).await;
    let (status, _, body) = get(&s, "/ui/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-model=\"fraud/detector\""), "{body}");
    assert!(body.contains("data-testid=\"whoami\">anonymous<"));
    assert_eq!(get(&s, "/ui/models/fraud/detector/versions/2", None).await.0, StatusCode::OK);
    // Read-only: every action needs a session, and the audit needs admin.
    let path = "/ui/models/fraud/detector/aliases/staging/promote";
    assert_eq!(post(&s, path, None, &[("version", "2")]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&s, "/ui/audit", None).await.0, StatusCode::FORBIDDEN);
    let (_, _, alias) = get(&s, "/ui/models/fraud/detector/aliases/staging", None).await;
    assert!(!alias.contains("data-testid=\"promote-form\""), "no action offered without a session");
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure() {
    let s = TestServer::start_with(TestOptions { secure_cookies: true, ..Default::default() }).await;
    let set = login(&s, &s.admin_token).await;
    // __Host-: browsers refuse it unless Secure, Path=/ and no Domain, so nobody can plant one.
    assert!(set.starts_with("__Host-registry_session=regs_"), "{set}");
    assert!(set.contains("; Secure") && set.contains("HttpOnly") && set.contains("Path=/;"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(get(&s, "/ui/audit", Some(&cookie)).await.0, StatusCode::OK);
    // The plain-http name is not read in this mode; two of ours at once is nobody.
    let plain = cookie.replace("__Host-registry_session", "registry_session");
    assert_eq!(get(&s, "/ui/audit", Some(&plain)).await.0, StatusCode::UNAUTHORIZED);
    let planted = format!("__Host-registry_session=regs_{}; {cookie}", "a".repeat(43));
    assert_eq!(get(&s, "/ui/audit", Some(&planted)).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn evidence_labels_and_commands_cannot_be_spoofed_and_the_graph_is_silent_about_other_namespaces() {
    use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
    use registry_core::attest::intoto::Statement;
    use registry_core::attest::predicates::slsa::{SLSA_PROVENANCE_V1, SLSA_VSA_V1};
    let s = TestServer::start().await;
    let key = seed(&s).await; // trusted for every predicate on fraud/*
    let c = client(&s);
    let m = registry_core::ModelName::parse("fraud/detector").unwrap();
    let sign = |predicate: &str, v: &str, digest: &registry_core::Digest| {
        let st = Statement::new(
            vec![Statement::subject("fraud/detector", digest)],
            predicate,
            serde_json::json!({"verificationResult": "PASSED", "resourceUri": format!("registry:fraud/detector@{v}")}),
        );
        Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).unwrap(), &[&key]).to_json()
    };
    let v2 = c.get_version(&m, "2").await.unwrap().manifest_digest;
    let v3 = c.get_version(&m, "3").await.unwrap().manifest_digest;
    // A CI key's own "VSA" and a look-alike provenance type, both verified.
    let look_alike = "https://a.example/slsa.dev/provenance";
    for (v, p, d) in [("2", SLSA_VSA_V1, &v2), ("2", look_alike, &v2), ("3", look_alike, &v3)] {
        assert_eq!(c.add_attestation(&m, v, sign(p, v, d)).await.unwrap().status, "verified");
    }
    let admin = sign_in(&s, &s.admin_token).await;
    let (_, _, page2) = get(&s, "/ui/models/fraud/detector/versions/2", Some(&admin.cookie)).await;
    assert!(
        !page2.contains("this registry&#39;s decision key")
            && !page2.contains("this registry's decision key"),
        "a CI key's VSA is not the registry's"
    );
    assert!(page2.contains(&format!("--require-predicate {SLSA_PROVENANCE_V1}")));
    assert!(!page2.contains(&format!("--require-predicate {look_alike}")));
    let (_, _, page3) = get(&s, "/ui/models/fraud/detector/versions/3", Some(&admin.cookie)).await;
    assert!(!page3.contains("--require-predicate"), "only exact, verified SLSA provenance is required");

    // Another namespace fine-tunes fraud/detector@2: its readers see it, fraud's readers see nothing
    // of it (not even a count).
    TestPush::new("credit/ft", "1").lineage(child_of("fraud/detector@2")).run(&c).await.unwrap();
    let (_, _, all) = get(&s, "/ui/models/fraud/detector/versions/2", Some(&admin.cookie)).await;
    assert!(all.contains("data-from=\"fraud/detector@2\" data-to=\"credit/ft@1\""));
    let reader = s.token("fraud-only", &[Scope::Read], "fraud/*").await;
    let fraud = sign_in(&s, &reader).await;
    let (_, _, mine) = get(&s, "/ui/models/fraud/detector/versions/2", Some(&fraud.cookie)).await;
    assert!(!mine.contains("credit") && !mine.contains("More related versions"), "{mine}");
    assert!(!mine.contains("not shown") && !mine.contains("outside your namespaces"), "no count of others");
    assert_eq!(mine.matches("data-testid=\"graph-node\"").count(), 3);
}

#[tokio::test]
async fn a_session_lasts_its_ttl_and_not_a_moment_past_it() {
    let s = TestServer::start().await;
    let sess = sign_in(&s, &s.admin_token).await;
    let (created, expires): (i64, i64) = sqlx::query_as("SELECT created_at, expires_at FROM ui_sessions")
        .fetch_one(s.state.db.pool())
        .await
        .unwrap();
    assert_eq!(expires - created, 12 * 3600 * 1000, "the documented default TTL");
    // The clock passes its expiry (moved, not waited for): the cookie no longer signs anyone in.
    sqlx::query("UPDATE ui_sessions SET expires_at = $1")
        .bind(registry_server::db::now_ms() - 1)
        .execute(s.state.db.pool())
        .await
        .unwrap();
    assert_eq!(get(&s, "/ui/audit", Some(&sess.cookie)).await.0, StatusCode::UNAUTHORIZED);
    // A token that expires sooner caps its sessions.
    let c = client(&s);
    let soon = c
        .create_token(&registry_core::auth::CreateTokenRequest {
            name: "short".into(),
            scopes: vec![Scope::Read],
            namespace: registry_core::auth::NamePattern::any(),
            expires_at: Some(registry_server::db::rfc3339(registry_server::db::now_ms() + 60_000)),
        })
        .await
        .unwrap();
    sign_in(&s, &soon.token).await;
    let (created, expires): (i64, i64) =
        sqlx::query_as("SELECT created_at, expires_at FROM ui_sessions ORDER BY created_at DESC LIMIT 1")
            .fetch_one(s.state.db.pool())
            .await
            .unwrap();
    assert!(expires - created <= 60_000, "never past the token ({})", expires - created);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_page_never_a_5xx() {
    let s = TestServer::start().await;
    seed(&s).await;
    let sess = sign_in(&s, &s.admin_token).await;
    let huge = "x".repeat(10_000);
    let cases: Vec<(String, u16)> = vec![
        ("/ui/models/BAD/Name".into(), 400),
        ("/ui/models/fraud/detector/versions/not%20a%20label".into(), 400),
        ("/ui/models/fraud/detector?before=-5".into(), 400),
        ("/ui/models/fraud/detector?before=abc".into(), 400),
        ("/ui/models/fraud/detector/versions/2?files=99999999999".into(), 200),
        ("/ui/models/fraud/detector/aliases/NOT_AN_ALIAS".into(), 400),
        ("/ui/policies/not-a-number".into(), 400),
        ("/ui/policies/424242".into(), 404),
        ("/ui/log/999999999".into(), 404),
        ("/ui/log/-1".into(), 400),
        ("/ui/log?before=18446744073709551615".into(), 200),
        ("/ui/affected?kind=dataset&value=sha256:zz".into(), 400),
        ("/ui/affected?kind=nonsense&value=x".into(), 400),
        ("/ui/affected?kind=commit&value=abc".into(), 400),
        (format!("/ui/?q={huge}"), 400),
        ("/ui/?after=not-a-cursor".into(), 400),
        (format!("/ui/audit?actor={huge}"), 400),
    ];
    for (path, want) in cases {
        let (status, h, body) = get(&s, &path, Some(&sess.cookie)).await;
        assert_eq!(status.as_u16(), want, "{path}: {body}");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP, "{path}");
        if want >= 400 {
            assert!(body.contains("data-testid=\"error-message\""), "{path}: a page with the reason");
        }
    }
    // Forms: an over-long reason is refused by the same rule as /v1 (4 KiB), nothing moves.
    let long = "r".repeat(5000);
    let (status, _, _) = post(
        &s,
        "/ui/models/fraud/detector/aliases/staging/rollback",
        Some(&sess.cookie),
        &[("csrf", &sess.csrf), ("reason", &long)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = post(
        &s,
        "/ui/quarantines",
        Some(&sess.cookie),
        &[("csrf", &sess.csrf), ("kind", "dataset"), ("value", "nope"), ("reason", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
