//! Webhooks (issue 21, docs/events.md) through a real server and a real HTTP receiver on loopback:
//! every event in log order with Standard Webhooks headers, retries through a receiver outage, dead
//! letters and redelivery, two delivery workers sharing one database, a worker killed mid-delivery,
//! namespace scoping, and the targets refused (SSRF).
//! The signatures are checked by the `standardwebhooks` library in tests/python/test_webhooks.py.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use registry_core::ModelName;
use registry_core::api::{CreateWebhookRequest, WebhookCreated, WebhookInfo};
use registry_e2e::*;
use registry_server::testing::TestOptions;
use serde_json::Value;

/// What the receiver got: (webhook-id, headers, body).
type Got = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

/// A receiver on 127.0.0.1: records every request, answers `status` (200 unless changed), and holds
/// requests while `hold` is locked.
struct Receiver {
    url: String,
    got: Got,
    status: Arc<AtomicU16>,
    fail_prefix: Arc<Mutex<Option<String>>>,
    hold: Arc<tokio::sync::Mutex<()>>,
    arrived: Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Clone)]
struct RecvState {
    got: Got,
    status: Arc<AtomicU16>,
    /// Events whose id starts with this are answered 500.
    fail_prefix: Arc<Mutex<Option<String>>>,
    hold: Arc<tokio::sync::Mutex<()>>,
    arrived: Arc<std::sync::atomic::AtomicUsize>,
}

async fn receive(State(s): State<RecvState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.arrived.fetch_add(1, Ordering::SeqCst);
    let _held = s.hold.lock().await;
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let failing = s.fail_prefix.lock().unwrap().as_deref().is_some_and(|p| id.starts_with(p));
    let status = match failing {
        true => StatusCode::INTERNAL_SERVER_ERROR,
        false => StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap(),
    };
    if status.is_success() {
        s.got.lock().unwrap().push((id, headers, body));
    }
    status
}

impl Receiver {
    async fn start() -> Self {
        let st = RecvState {
            got: Got::default(),
            status: Arc::new(AtomicU16::new(200)),
            fail_prefix: Arc::default(),
            hold: Arc::default(),
            arrived: Arc::default(),
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(st.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://user:s3cret@{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            got: st.got,
            status: st.status,
            fail_prefix: st.fail_prefix,
            hold: st.hold,
            arrived: st.arrived,
        }
    }

    fn ids(&self) -> Vec<String> {
        self.got.lock().unwrap().iter().map(|(id, ..)| id.clone()).collect()
    }

    /// Waits (up to 30 s) until `f` holds for what arrived; panics with what did otherwise.
    async fn until(&self, what: &str, f: impl Fn(&[String]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if f(&self.ids()) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: got {:?}", self.ids());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn subscribe(s: &TestServer, url: &str, namespace: &str, events: &[&str]) -> WebhookCreated {
    subscribe_as(s, url, namespace, events, None).await
}

/// `POST /v1/webhooks/{id}/{what}` (`pause`, `resume`) as the admin: 204.
async fn webhook_action(s: &TestServer, id: &str, what: &str) {
    let r =
        http_with(&s.admin_token).post(format!("{}/v1/webhooks/{id}/{what}", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204, "{what}");
}

/// [`subscribe`] in a format (`None`: CloudEvents, the default).
async fn subscribe_as(
    s: &TestServer,
    url: &str,
    namespace: &str,
    events: &[&str],
    format: Option<&str>,
) -> WebhookCreated {
    let r = http_with(&s.admin_token)
        .post(format!("{}/v1/webhooks", s.url))
        .json(&CreateWebhookRequest {
            url: url.into(),
            namespace: namespace.into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            format: format.map(str::to_owned),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.json().await.unwrap()
}

/// The log ids (`log-N`) of the entries of these types (and models, if given) after index `after`.
async fn log_ids(s: &TestServer, after: u64, types: &[&str], prefix: Option<&str>) -> Vec<String> {
    let c = client(s);
    let mut out = vec![];
    for e in c.log_entries(after + 1, 10_000).await.unwrap().entries {
        let v: Value = serde_json::from_str(&e.body).unwrap();
        let ty = v["type"].as_str().unwrap();
        let subject = v["subject"].as_str().unwrap();
        if (types.contains(&"*") || types.contains(&ty)) && prefix.is_none_or(|p| subject.starts_with(p)) {
            out.push(format!("log-{}", e.index));
        }
    }
    out
}

async fn session(s: &TestServer, tag: &str) {
    let c = client(s);
    for (model, label) in [("fraud/detector", "1"), ("other/model", "1"), ("fraud/detector", "2")] {
        TestPush::new(model, &format!("{label}{tag}")).run(&c).await.unwrap();
    }
    let m = ModelName::parse("fraud/detector").unwrap();
    c.promote(&m, "production", &promote_req(&format!("1{tag}"))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_log_order_signed_with_cloudevents_fields() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let created = subscribe(&s, &rx.url, "*", &["*"]).await;
    assert!(created.secret.starts_with("whsec_"));
    let start = created.webhook.log_cursor as u64;
    session(&s, "").await;
    let want = log_ids(&s, start, &["*"], None).await;
    assert!(want.len() >= 7, "{want:?}");
    rx.until("every entry once, in order", |ids| ids == want.as_slice()).await;

    for (id, headers, body) in rx.got.lock().unwrap().iter() {
        let ts: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        let sig = registry_server::service::webhooks::deliver::sign(&created.secret, id, ts, body).unwrap();
        assert_eq!(headers["webhook-signature"].to_str().unwrap(), sig);
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/cloudevents+json"));
        let ce: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["id"], id.as_str());
        let entry = &ce["data"]["entry"];
        assert_eq!(ce["type"], format!("dev.registry.{}", entry["type"].as_str().unwrap()));
        assert_eq!(ce["time"], entry["time"]);
        if entry["type"] == "version.created" {
            let subject = entry["subject"].as_str().unwrap();
            assert_eq!(ce["subject"], subject);
            assert_eq!(ce["data"]["model"], subject.split('@').next().unwrap());
        }
        if entry["type"] == "alias.moved" {
            assert_eq!(ce["data"]["alias"], "production");
            assert_eq!(ce["data"]["decision"], "allowed");
        }
    }
    // The URL (with its credentials) is never answered, listed or logged.
    let list = http_with(&s.admin_token).get(format!("{}/v1/webhooks", s.url)).send().await.unwrap();
    let text = list.text().await.unwrap();
    assert!(!text.contains("s3cret") && !text.contains("127.0.0.1"), "{text}");
    let entries = client(&s).log_entries(0, 10_000).await.unwrap().entries;
    assert!(entries.iter().all(|e| !e.body.contains("s3cret")));
    let n = want.len() as i64;
    webhook_until(&s, &created.webhook.id, "every delivery counted", |w| w.delivered == n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_scoped_subscription_sees_only_its_models_and_types() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "fraud/*", &["version.created", "alias.moved"]).await;
    session(&s, "").await;
    let want =
        log_ids(&s, sub.webhook.log_cursor as u64, &["version.created", "alias.moved"], Some("fraud/")).await;
    assert_eq!(want.len(), 3, "{want:?}");
    rx.until("fraud's creations and moves", |ids| ids == want.as_slice()).await;
    // Everything after has been looked at: nothing else comes.
    let end = client(&s).events(-1, 1000).await.unwrap().next_after;
    webhook_until(&s, &sub.webhook.id, "the cursor at the log's end", |w| w.log_cursor >= end).await;
    assert_eq!(rx.ids(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_outage_delays_events_but_loses_none_and_order_holds() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["version.created"]).await;
    rx.status.store(503, Ordering::SeqCst);
    session(&s, "").await;
    // Failing: the subscription says so, and nothing is recorded as delivered.
    let w = webhook_until(&s, &sub.webhook.id, "failed attempts recorded", |w| w.attempts >= 2).await;
    assert_eq!(w.last_error.as_deref(), Some("HTTP 503 Service Unavailable"));
    assert_eq!(w.delivered, 0);
    rx.status.store(200, Ordering::SeqCst);
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    rx.until("all after the outage, in order", |ids| ids == want.as_slice()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_does_not_block_the_rest_and_redeliver_sends_it() {
    let opts = with_webhooks(|w| w.dead_after = Duration::from_millis(200));
    let s = TestServer::start_with(opts).await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["version.created"]).await;
    rx.status.store(500, Ordering::SeqCst);
    TestPush::new("fraud/detector", "1").run(&client(&s)).await.unwrap();
    let first = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    // Given up on after 200 ms of failures: a dead letter.
    webhook_until(&s, &sub.webhook.id, "dead-lettered", |w| w.dead_letters == 1).await;
    rx.status.store(200, Ordering::SeqCst);
    TestPush::new("fraud/detector", "2").run(&client(&s)).await.unwrap();
    let all = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    rx.until("the event after the dead letter", |ids| ids == &all[1..]).await;
    // Redelivered on request, with its own id (receivers dedup on it).
    let r = http_with(&s.admin_token)
        .post(format!("{}/v1/webhooks/{}/redeliver", s.url, sub.webhook.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    rx.until("the dead letter, redelivered", |ids| ids.len() == 2 && ids[1] == first[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_database_deliver_each_event_in_order() {
    let s = TestServer::start().await;
    // A second replica's worker: the same database, its own lease owner.
    let mut other = s.state.clone();
    other.webhooks = Arc::new(
        registry_server::service::webhooks::Webhooks::new(
            registry_server::service::webhooks::seal::SealKey::load(&s.dir.path().join("webhook.key"), false)
                .unwrap(),
            TestOptions::default().webhooks,
        )
        .unwrap(),
    );
    let second = registry_server::service::webhooks::deliver::spawn(other);
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["*"]).await;
    for k in 0..5 {
        session(&s, &format!(".{k}")).await;
    }
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["*"], None).await;
    rx.until("every entry, in order, each once", |ids| ids.len() >= want.len()).await;
    let ids = rx.ids();
    // At least once, in order: duplicates only of an event in flight when a lease moved (none here).
    let mut dedup = ids.clone();
    dedup.dedup();
    assert_eq!(dedup, want);
    second.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_loses_nothing_and_repeats_only_that_event() {
    let mut s = TestServer::start().await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["version.created"]).await;
    // The receiver holds the first delivery; the worker is killed while it waits.
    let held = rx.hold.clone().lock_owned().await;
    session(&s, "").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rx.arrived.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing was sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.stop_webhooks();
    drop(held);
    // A new worker (a restarted process) with another lease owner: the lease of the killed one has
    // to expire first, so take it over directly by clearing it, as an expiry would.
    sqlx::query("UPDATE webhooks SET lease_until = 0").execute(s.state.db.pool()).await.unwrap();
    let mut next = s.state.clone();
    next.webhooks = Arc::new(
        registry_server::service::webhooks::Webhooks::new(
            registry_server::service::webhooks::seal::SealKey::load(&s.dir.path().join("webhook.key"), false)
                .unwrap(),
            TestOptions::default().webhooks,
        )
        .unwrap(),
    );
    let worker = registry_server::service::webhooks::deliver::spawn(next);
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    rx.until("every creation after the restart", |ids| {
        let mut d = ids.to_vec();
        d.dedup();
        d == want
    })
    .await;
    let ids = rx.ids();
    assert!(ids.len() <= want.len() + 1, "at most the event in flight repeats: {ids:?}");
    worker.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_targets_unknown_types_and_formats_are_400() {
    let strict = TestOptions {
        webhooks: registry_server::service::webhooks::WebhookSettings {
            allow_private: false,
            ..TestOptions::default().webhooks
        },
        ..Default::default()
    };
    let s = TestServer::start_with(strict).await;
    let h = http_with(&s.admin_token);
    for (url, events, format) in [
        ("http://127.0.0.1:9/hook", vec!["*"], None),
        ("http://localhost:9/hook", vec!["*"], None),
        ("http://10.0.0.1/hook", vec!["*"], None),
        ("http://169.254.169.254/latest/meta-data", vec!["*"], None),
        ("http://[::1]/", vec!["*"], None),
        ("file:///etc/passwd", vec!["*"], None),
        ("https://example.invalid/hook", vec!["version.nope"], None),
        ("https://example.invalid/hook", vec![], None),
        ("https://example.invalid/hook", vec!["*"], Some("xml")),
        ("https://example.invalid/hook", vec!["alias.moved"], Some("openlineage")),
    ] {
        let r = h
            .post(format!("{}/v1/webhooks", s.url))
            .json(&serde_json::json!({"url": url, "namespace": "*", "events": events, "format": format}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{url} {events:?} {format:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_webhook", "{body}");
        assert!(!body["message"].as_str().unwrap().contains("s3cret"));
    }
    // Link-local stays refused even where private targets are allowed.
    let s2 = TestServer::start().await;
    let r = http_with(&s2.admin_token)
        .post(format!("{}/v1/webhooks", s2.url))
        .json(&serde_json::json!({"url": "http://169.254.169.254/", "namespace": "*", "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Not an admin: 403.
    let reader = s.token("reader", &[registry_core::auth::Scope::Read], "*").await;
    let r = http_with(&reader).get(format!("{}/v1/webhooks", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_records_go_to_access_subscriptions_scoped_like_log_entries() {
    let s = TestServer::start().await;
    let all = Receiver::start().await;
    let scoped = Receiver::start().await;
    subscribe(&s, &all.url, "*", &["access"]).await;
    subscribe(&s, &scoped.url, "fraud/*", &["access"]).await;
    let c = client(&s);
    TestPush::new("fraud/detector", "1").run(&c).await.unwrap();
    TestPush::new("other/model", "1").run(&c).await.unwrap();
    let h = http_with(&s.admin_token);
    for m in ["fraud/detector", "other/model"] {
        let r = h.get(format!("{}/v1/models/{m}/versions/1/bundle", s.url)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let blob = registry_core::Digest::of(b"weights of fraud/detector@1");
    let r = h.get(format!("{}/v1/blobs/{blob}", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    all.until("three access records", |ids| ids.len() == 3).await;
    let kinds: Vec<(String, String)> = all
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, b)| {
            let v: Value = serde_json::from_slice(b).unwrap();
            (v["type"].as_str().unwrap().to_owned(), v["subject"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(kinds[2], ("dev.registry.access.blob.download".to_owned(), blob.to_string()));
    // The scoped subscription: its model's bundle only (a blob digest names no model).
    scoped.until("fraud's bundle download", |ids| !ids.is_empty()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let w: registry_core::api::WebhookList =
            h.get(format!("{}/v1/webhooks", s.url)).send().await.unwrap().json().await.unwrap();
        if w.webhooks[1].access_cursor >= w.webhooks[0].access_cursor && w.webhooks[0].delivered == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{w:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = scoped.got.lock().unwrap();
    assert_eq!(got.len(), 1, "{:?}", got.iter().map(|(i, ..)| i).collect::<Vec<_>>());
    let v: Value = serde_json::from_slice(&got[0].2).unwrap();
    assert_eq!(v["type"], "dev.registry.access.bundle.download");
    assert!(v["subject"].as_str().unwrap().starts_with("fraud/detector"), "{v}");
}

/// A redirect is a failure (never followed); a receiver that does not answer in time is a failure;
/// both show in the subscription's state and in /metrics, and the events arrive once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_timeouts_are_failures_shown_in_metrics() {
    let opts = with_webhooks(|w| w.timeout = Duration::from_secs(1));
    let s = TestServer::start_with(opts).await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["version.created"]).await;
    let h = http_with(&s.admin_token);
    let state = |h: reqwest::Client| {
        let url = format!("{}/v1/webhooks/{}", s.url, sub.webhook.id);
        async move { h.get(url).send().await.unwrap().json::<WebhookInfo>().await.unwrap() }
    };
    let wait_error = |want: &'static str| {
        let h = h.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let w = state(h.clone()).await;
                if w.last_error.as_deref().is_some_and(|e| e.contains(want)) {
                    return w;
                }
                assert!(tokio::time::Instant::now() < deadline, "no {want:?} error: {w:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    rx.status.store(302, Ordering::SeqCst);
    TestPush::new("fraud/detector", "1").run(&client(&s)).await.unwrap();
    let w = wait_error("redirects are not followed").await;
    assert_eq!(w.delivered, 0);
    let metrics = reqwest::get(format!("{}/metrics", s.url)).await.unwrap().text().await.unwrap();
    let id = &sub.webhook.id;
    assert!(metrics.contains(&format!("registry_webhook_failing{{webhook=\"{id}\"}} 1")), "{metrics}");
    assert!(metrics.contains(&format!("registry_webhook_delivered_total{{webhook=\"{id}\"}} 0")));
    assert!(!metrics.contains("s3cret"));

    // Held past the timeout: a failure too.
    let held = rx.hold.clone().lock_owned().await;
    rx.status.store(200, Ordering::SeqCst);
    wait_error("timed out").await;
    drop(held);
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    rx.until("the event, once answered", |ids| ids.first() == want.first()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = reqwest::get(format!("{}/metrics", s.url)).await.unwrap().text().await.unwrap();
        if metrics.contains(&format!("registry_webhook_delivered_total{{webhook=\"{id}\"}} 1"))
            && metrics.contains(&format!("registry_webhook_failing{{webhook=\"{id}\"}} 0"))
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The test server's options with these webhook settings changed.
fn with_webhooks(f: impl FnOnce(&mut registry_server::service::webhooks::WebhookSettings)) -> TestOptions {
    let mut opts = TestOptions::default();
    f(&mut opts.webhooks);
    opts
}

/// Waits (up to 30 s) until the subscription's state satisfies `f`; panics with the state otherwise.
/// Cursor moves are committed every `cursor_flush`, so its cursor and counts trail the deliveries.
async fn webhook_until(
    s: &TestServer,
    id: &str,
    what: &str,
    f: impl Fn(&WebhookInfo) -> bool,
) -> WebhookInfo {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let w = webhook_info(s, id).await;
        if f(&w) {
            return w;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {w:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn webhook_info(s: &TestServer, id: &str) -> WebhookInfo {
    http_with(&s.admin_token)
        .get(format!("{}/v1/webhooks/{id}", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// One receiver that does not answer holds back its own subscription only: the others keep getting
/// new events while its delivery waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_hold_back_other_subscriptions() {
    let opts = with_webhooks(|w| w.timeout = Duration::from_secs(60)); // the slow delivery outlasts the test's bound
    let s = TestServer::start_with(opts).await;
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    subscribe(&s, &slow.url, "*", &["version.created"]).await;
    let sub = subscribe(&s, &fast.url, "*", &["version.created"]).await;
    let held = slow.hold.clone().lock_owned().await;
    let c = client(&s);
    TestPush::new("fraud/detector", "1").run(&c).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while slow.arrived.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing was sent to the slow receiver");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The slow delivery is in flight (held): later events still reach the other subscription.
    for label in ["2", "3"] {
        TestPush::new("fraud/detector", label).run(&c).await.unwrap();
    }
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    fast.until("every creation while the other receiver hangs", |ids| ids == want.as_slice()).await;
    assert!(slow.ids().is_empty(), "the slow receiver is still held");
    drop(held);
    slow.until("the slow receiver catches up", |ids| ids == want.as_slice()).await;
}

/// Rotating the secret takes the lease back: events after the rotation are signed with the new
/// secret even when a batch was in flight under the old one (only the event in flight may carry it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_everything_after_the_delivery_in_flight() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["*"]).await;
    let held = rx.hold.clone().lock_owned().await;
    session(&s, "").await; // a batch of events waits behind the held one
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rx.arrived.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing was sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = http_with(&s.admin_token)
        .post(format!("{}/v1/webhooks/{}/rotate-secret", s.url, sub.webhook.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let rotated: WebhookCreated = r.json().await.unwrap();
    drop(held);
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["*"], None).await;
    rx.until("the whole session", |ids| {
        let mut d = ids.to_vec();
        d.dedup();
        d.len() >= want.len()
    })
    .await;
    let got = rx.got.lock().unwrap();
    let signed_with = |secret: &str, (id, h, body): &(String, HeaderMap, Bytes)| {
        let ts: i64 = h["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        let sig = registry_server::service::webhooks::deliver::sign(secret, id, ts, body).unwrap();
        h["webhook-signature"].to_str().unwrap() == sig
    };
    // Only the first delivery (in flight at the rotation) may carry the old secret.
    for g in &got[1..] {
        assert!(signed_with(&rotated.secret, g), "{} not signed with the new secret", g.0);
    }
    let mut ids: Vec<String> = got.iter().map(|g| g.0.clone()).collect();
    ids.dedup();
    assert_eq!(ids, want, "nothing lost, order kept");
}

/// A failing access record is dead-lettered after `dead_after` even while log entries the
/// subscription does not want keep arriving (moving past them must not reset its failure state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_unwanted_entries_does_not_reset_a_failing_events_clock() {
    let opts = with_webhooks(|w| w.dead_after = Duration::from_millis(300));
    let s = TestServer::start_with(opts).await;
    let rx = Receiver::start().await;
    let c = client(&s);
    TestPush::new("fraud/detector", "1").run(&c).await.unwrap();
    let sub = subscribe(&s, &rx.url, "*", &["access"]).await;
    rx.status.store(500, Ordering::SeqCst);
    let h = http_with(&s.admin_token);
    let r = h.get(format!("{}/v1/models/fraud/detector/versions/1/bundle", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Log entries keep coming (unwanted by this subscription) while the access record fails.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        TestPush::new("other/model", &format!("{n}")).run(&c).await.unwrap();
        let w = webhook_info(&s, &sub.webhook.id).await;
        if w.dead_letters == 1 {
            assert_eq!(w.delivered, 0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never dead-lettered: {w:?}");
    }
}

/// Cursor moves are held and committed together (one commit per `cursor_flush`, not one per
/// event); what was delivered is still committed when the subscription is paused and when the
/// worker stops cleanly, so a resume sends nothing twice and a restart only the event that was in
/// flight at the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_cursor_moves_are_committed_at_a_pause_and_a_clean_stop() {
    let opts = with_webhooks(|w| w.cursor_flush = Duration::from_secs(600));
    let mut s = TestServer::start_with(opts.clone()).await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["version.created"]).await;
    let c = client(&s);
    TestPush::new("fraud/detector", "1").run(&c).await.unwrap();
    rx.until("the first creation", |ids| ids.len() == 1).await;
    let first: i64 = rx.ids()[0].strip_prefix("log-").unwrap().parse().unwrap();
    // Delivered, not committed yet: the cursor trails.
    let w = webhook_info(&s, &sub.webhook.id).await;
    assert!(w.log_cursor < first && w.delivered == 0, "{w:?}");
    webhook_action(&s, &sub.webhook.id, "pause").await;
    webhook_until(&s, &sub.webhook.id, "the delivery committed at the pause", |w| w.log_cursor >= first)
        .await;
    webhook_action(&s, &sub.webhook.id, "resume").await;
    // The receiver records an event before the server has read its answer, so the second one is
    // known to be delivered (and its move held) only once the third has arrived: one event at a
    // time. The third may still be in flight at the stop, which drops it by design.
    TestPush::new("fraud/detector", "2").run(&c).await.unwrap();
    TestPush::new("fraud/detector", "3").run(&c).await.unwrap();
    rx.until("the second and third creations", |ids| ids.len() == 3).await;
    let second: i64 = rx.ids()[1].strip_prefix("log-").unwrap().parse().unwrap();
    let third = rx.ids()[2].clone();
    s.stop_webhooks_cleanly().await;
    let w = webhook_info(&s, &sub.webhook.id).await;
    assert!(w.delivered >= 2 && w.log_cursor >= second, "committed at the stop: {w:?}");
    TestPush::new("fraud/detector", "4").run(&c).await.unwrap();
    let mut next = s.state.clone();
    next.webhooks = Arc::new(
        registry_server::service::webhooks::Webhooks::new(
            registry_server::service::webhooks::seal::SealKey::load(&s.dir.path().join("webhook.key"), false)
                .unwrap(),
            opts.webhooks,
        )
        .unwrap(),
    );
    let worker = registry_server::service::webhooks::deliver::spawn(next);
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    let deduped = |ids: &[String]| {
        let mut d = ids.to_vec();
        d.dedup();
        d
    };
    rx.until("each creation", |ids| deduped(ids).len() >= 4).await;
    assert_eq!(deduped(&rx.ids()), want);
    // Sent again, if at all, only the one that was in flight at the stop.
    let again: Vec<String> = rx.ids().windows(2).filter(|p| p[0] == p[1]).map(|p| p[0].clone()).collect();
    assert!(again.is_empty() || again == [third.clone()], "sent twice: {again:?}");
    worker.abort();
}

/// A server that stops gives its leases back: a new process delivers at once instead of waiting for
/// the lease to expire (here: far longer than the test's bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_given_back_at_shutdown() {
    let opts = with_webhooks(|w| w.timeout = Duration::from_secs(60)); // a lease of over two minutes
    let mut s = TestServer::start_with(opts.clone()).await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["version.created"]).await;
    TestPush::new("fraud/detector", "1").run(&client(&s)).await.unwrap();
    rx.until("the first creation", |ids| ids.len() == 1).await;
    s.stop_webhooks_cleanly().await;
    TestPush::new("fraud/detector", "2").run(&client(&s)).await.unwrap();
    let mut next = s.state.clone();
    next.webhooks = Arc::new(
        registry_server::service::webhooks::Webhooks::new(
            registry_server::service::webhooks::seal::SealKey::load(&s.dir.path().join("webhook.key"), false)
                .unwrap(),
            opts.webhooks,
        )
        .unwrap(),
    );
    let worker = registry_server::service::webhooks::deliver::spawn(next);
    let want = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
    // The first may come again (stopped between its answer and the cursor's move): same id.
    rx.until("the second creation, from the new worker", |ids| {
        let mut d = ids.to_vec();
        d.dedup();
        d == want
    })
    .await;
    worker.abort();
}

/// Access records are numbered before they commit: a record visible after a gap in the numbering
/// waits until the gap is filled (a lower record still committing, as on PostgreSQL) — moving past
/// it would lose that record — and goes out in order once it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_record_after_a_gap_waits_for_the_record_still_committing() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let sub = subscribe(&s, &rx.url, "*", &["access", "version.created"]).await;
    let last = sub.webhook.access_cursor;
    let insert = |id: i64| {
        let pool = s.state.db.pool().clone();
        async move {
            sqlx::query(
                "INSERT INTO access_audit (id, at, actor, action, target) VALUES ($1, $2, 'token:x', 'blob.download', $3)",
            )
            .bind(id)
            .bind(registry_server::db::now_ms())
            .bind(format!("sha256:{id:064x}"))
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    // Record last+2 commits first; last+1 is "still committing".
    insert(last + 2).await;
    // Two creations delivered one after the other: the delivery of the second starts after the run
    // that sent the first has also looked at the access records (one run per subscription at a time).
    let c = client(&s);
    for label in ["1", "2"] {
        TestPush::new("fraud/detector", label).run(&c).await.unwrap();
        let want = log_ids(&s, sub.webhook.log_cursor as u64, &["version.created"], None).await;
        rx.until("the creation", |ids| ids.len() == want.len()).await;
    }
    assert!(rx.ids().iter().all(|i| i.starts_with("log-")), "sent past a gap: {:?}", rx.ids());
    assert_eq!(webhook_info(&s, &sub.webhook.id).await.access_cursor, last);
    insert(last + 1).await;
    rx.until("both access records, in order", |ids| {
        ids.iter().filter(|i| i.starts_with("access-")).cloned().collect::<Vec<_>>()
            == [format!("access-{}", last + 1), format!("access-{}", last + 2)]
    })
    .await;
}

/// An OpenLineage event is drawn from the stored lineage only when it still hashes to the digest the
/// log recorded: a row altered since gives a recorded failure, never a lineage the log does not back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_lineage_row_is_not_sent_as_openlineage() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let sub = subscribe_as(&s, &rx.url, "*", &["version.created"], Some("openlineage")).await;
    let c = client(&s);
    TestPush::new("fraud/detector", "1").dataset("s3://data/train.parquet", b"rows").run(&c).await.unwrap();
    rx.until("the first run event", |ids| ids.len() == 1).await;
    webhook_action(&s, &sub.webhook.id, "pause").await;
    TestPush::new("fraud/detector", "2").dataset("s3://data/train.parquet", b"rows").run(&c).await.unwrap();
    sqlx::query("UPDATE versions SET lineage = REPLACE(lineage, 's3://data/train.parquet', 's3://evil/x') WHERE version = '2'")
        .execute(s.state.db.pool())
        .await
        .unwrap();
    webhook_action(&s, &sub.webhook.id, "resume").await;
    let w = webhook_until(&s, &sub.webhook.id, "a failure recorded", |w| w.attempts >= 1).await;
    let e = w.last_error.unwrap_or_default();
    assert!(e.contains("not what log entry"), "{e}");
    assert_eq!(rx.ids().len(), 1, "nothing sent for the altered version");
    assert!(rx.got.lock().unwrap().iter().all(|(_, _, b)| !String::from_utf8_lossy(b).contains("evil")));
}

/// Each sequence keeps its own failure clock: log events that keep arriving do not reset the clock of
/// a failing access record, which is dead-lettered after `dead_after` like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_access_record_is_dead_lettered_while_log_events_succeed() {
    let opts = with_webhooks(|w| w.dead_after = Duration::from_millis(300));
    let s = TestServer::start_with(opts).await;
    let rx = Receiver::start().await;
    let c = client(&s);
    TestPush::new("fraud/detector", "1").run(&c).await.unwrap();
    let sub = subscribe(&s, &rx.url, "*", &["access", "version.created"]).await;
    *rx.fail_prefix.lock().unwrap() = Some("access-".into());
    let h = http_with(&s.admin_token);
    let r = h.get(format!("{}/v1/models/fraud/detector/versions/1/bundle", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut n = 1;
    loop {
        n += 1;
        TestPush::new("fraud/detector", &format!("{n}")).run(&c).await.unwrap();
        let w = webhook_info(&s, &sub.webhook.id).await;
        if w.dead_letters == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never dead-lettered: {w:?}");
    }
    assert!(rx.ids().iter().all(|i| i.starts_with("log-")));
}

/// A quarantine seeded in another namespace is not described to a scoped subscription (the pull
/// feed's rule): its `version.quarantined` entry is not sent; the rollback on its own model is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_seeded_elsewhere_is_not_sent_to_a_scoped_subscription() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let c = client(&s);
    TestPush::new("base/llm", "1").run(&c).await.unwrap();
    let child = registry_core::Lineage {
        parents: vec![registry_core::ModelRef::parse("base/llm@1").unwrap()],
        ..Default::default()
    };
    TestPush::new("fraud/ft", "1").lineage(child).run(&c).await.unwrap();
    TestPush::new("fraud/ft", "0").run(&c).await.unwrap();
    let m = ModelName::parse("fraud/ft").unwrap();
    c.promote(&m, "production", &promote_req("0")).await.unwrap();
    c.promote(&m, "production", &promote_req("1")).await.unwrap();
    let sub = subscribe(&s, &rx.url, "fraud/*", &["*"]).await;
    // A `*` subscription builds every event first (the quarantine's included) while the scoped one is
    // paused: resumed, the scoped one is served the events built for it, and must still be refused the
    // quarantine (the visibility check is each subscription's own).
    let rx_all = Receiver::start().await;
    let everyone = subscribe(&s, &rx_all.url, "*", &["*"]).await;
    webhook_action(&s, &sub.webhook.id, "pause").await;
    c.quarantine(&registry_core::incident::QuarantineRequest {
        version: Some("base/llm@1".into()),
        reason: "base team's secret".into(),
        rollback: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let every = log_ids(&s, everyone.webhook.log_cursor as u64, &["*"], None).await;
    rx_all.until("every entry, the quarantine's included", |ids| ids == every.as_slice()).await;
    webhook_action(&s, &sub.webhook.id, "resume").await;
    let all = log_ids(&s, sub.webhook.log_cursor as u64, &["*"], Some("fraud/")).await;
    let quarantined =
        log_ids(&s, sub.webhook.log_cursor as u64, &["version.quarantined"], Some("fraud/")).await;
    assert_eq!(quarantined.len(), 1);
    let want: Vec<String> = all.into_iter().filter(|i| !quarantined.contains(i)).collect();
    assert!(!want.is_empty());
    rx.until("the rollback, not the quarantine", |ids| ids == want.as_slice()).await;
    assert!(rx.got.lock().unwrap().iter().all(|(_, _, b)| !String::from_utf8_lossy(b).contains("secret")));
}

/// Subscriptions in both formats get the same change each in its own: CloudEvents bodies are built once
/// and shared between subscriptions, OpenLineage events are not taken from that store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscription_gets_its_own_format_of_the_same_change() {
    let s = TestServer::start().await;
    let (rx_ce, rx_ce2, rx_ol) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    subscribe(&s, &rx_ce.url, "*", &["version.created"]).await;
    subscribe(&s, &rx_ce2.url, "*", &["version.created"]).await;
    subscribe_as(&s, &rx_ol.url, "*", &["version.created"], Some("openlineage")).await;
    let c = client(&s);
    for label in ["1", "2"] {
        TestPush::new("fraud/detector", label)
            .dataset("s3://data/train.parquet", b"rows")
            .run(&c)
            .await
            .unwrap();
    }
    for rx in [&rx_ce, &rx_ce2, &rx_ol] {
        rx.until("both creations", |ids| ids.len() == 2).await;
    }
    let bodies = |rx: &Receiver| -> Vec<serde_json::Value> {
        rx.got.lock().unwrap().iter().map(|(_, _, b)| serde_json::from_slice(b).unwrap()).collect()
    };
    let (ce, ce2, ol) = (bodies(&rx_ce), bodies(&rx_ce2), bodies(&rx_ol));
    assert_eq!(ce, ce2, "the same CloudEvents to both CloudEvents subscriptions");
    for (e, label) in ce.iter().zip(["1", "2"]) {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["subject"], format!("fraud/detector@{label}"));
    }
    for e in &ol {
        assert_eq!(e["eventType"], "COMPLETE", "OpenLineage RunEvents, not CloudEvents: {e}");
        assert!(e.get("specversion").is_none());
    }
    assert_eq!(rx_ol.ids(), rx_ce.ids(), "the same changes, under the same ids");
}
