//! The pull feed (`GET /v1/events`, issue 21, docs/events.md) through a real server: log order, exact
//! entry bytes, paging by `next_after`, and what a namespace-scoped credential may see.
#![allow(clippy::unwrap_used)]

use registry_core::ModelName;
use registry_core::api::EventsPage;
use registry_core::auth::{CreateTokenRequest, NamePattern, Scope};
use registry_core::incident::QuarantineRequest;
use registry_core::tlog::entry::LogEntry;
use registry_e2e::*;

async fn token(c: &registry_client::Client, pattern: &str) -> String {
    c.create_token(&CreateTokenRequest {
        name: format!("reader-{}", pattern.replace(['/', '*'], "-")),
        scopes: vec![Scope::Read],
        namespace: NamePattern::parse(pattern).unwrap(),
        expires_at: None,
    })
    .await
    .unwrap()
    .token
}

/// Every page from the start, following `next_after`, with pages of `limit`.
async fn all_events(url: &str, token: &str, limit: u64) -> Vec<(u64, String)> {
    let c = registry_client::Client::new(url).unwrap().with_token(Some(token.to_owned()));
    let (mut after, mut out) = (-1i64, vec![]);
    loop {
        let page: EventsPage = c.events(after, limit).await.unwrap();
        assert!(page.events.len() as u64 <= limit);
        assert!(page.next_after >= after, "the cursor never goes back");
        if let Some(last) = page.events.last() {
            assert!(page.next_after >= last.index as i64);
        }
        out.extend(page.events.into_iter().map(|e| (e.index, e.body)));
        if page.next_after == after {
            return out;
        }
        after = page.next_after;
    }
}

/// A session touching two namespaces (one with `_`, a LIKE wildcard) and the global state.
async fn session(s: &TestServer) {
    let c = client(s);
    for (model, label) in [("fraud/detector", "1"), ("a_b/m", "1"), ("axb/m", "1"), ("fraud/detector", "2")] {
        TestPush::new(model, label).run(&c).await.unwrap();
    }
    let m = ModelName::parse("fraud/detector").unwrap();
    c.promote(&m, "production", &promote_req("1")).await.unwrap();
    let key = registry_core::attest::keys::SigningKey::from_seed(
        registry_core::attest::keys::KeyKind::Ed25519,
        &[9; 32],
    )
    .unwrap();
    c.add_key(&trust_key("fraud/*", &key, &[])).await.unwrap();
    c.quarantine(&QuarantineRequest {
        version: Some("axb/m@1".into()),
        reason: "bad data".into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_in_log_order_with_its_exact_bytes_for_a_reader_of_everything() {
    let s = TestServer::start().await;
    session(&s).await;
    let c = client(&s);
    let size = c.log_entries(0, 1000).await.unwrap().entries;
    assert!(size.len() > 10, "{} entries", size.len());
    let want: Vec<(u64, String)> = size.into_iter().map(|e| (e.index, e.body)).collect();
    for limit in [1, 3, 1000] {
        assert_eq!(all_events(&s.url, &s.admin_token, limit).await, want, "limit {limit}");
    }
    // After the last entry: nothing, and the cursor stays.
    let last = want.last().unwrap().0 as i64;
    let page = c.events(last, 10).await.unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.next_after, last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_reader_sees_its_models_entries_only_and_its_cursor_still_moves() {
    let s = TestServer::start().await;
    session(&s).await;
    let c = client(&s);
    let everything: Vec<LogEntry> = c
        .log_entries(0, 1000)
        .await
        .unwrap()
        .entries
        .iter()
        .map(|e| LogEntry::parse(e.body.as_bytes()).unwrap())
        .collect();
    for (pattern, prefix) in [("fraud/*", "fraud/"), ("a_b/*", "a_b/"), ("fraud/detector", "fraud/detector")]
    {
        let t = token(&c, pattern).await;
        let seen = all_events(&s.url, &t, 2).await;
        let kinds: Vec<LogEntry> = seen.iter().map(|(_, b)| LogEntry::parse(b.as_bytes()).unwrap()).collect();
        let want: Vec<&LogEntry> = everything
            .iter()
            .filter(|e| {
                let model = e.subject.split('@').next().unwrap();
                let covered = if prefix.ends_with('/') { model.starts_with(prefix) } else { model == prefix };
                registry_core::tlog::entry::MODEL_TYPES.contains(&e.kind.as_str()) && covered
            })
            .collect();
        assert!(!want.is_empty(), "{pattern}");
        assert_eq!(kinds.iter().collect::<Vec<_>>(), want, "{pattern}");
        // Never a key, a policy, a namespace setting or a quarantine declaration (they name many models).
        assert!(kinds.iter().all(|e| !e.kind.starts_with("key.") && e.kind != "quarantine.set"), "{pattern}");
        // Its cursor reaches the end of the log even though the last entries are not its own.
        let end = c.events(-1, 1000).await.unwrap().next_after;
        let tc = registry_client::Client::new(&s.url).unwrap().with_token(Some(t.clone()));
        let mut after = -1;
        loop {
            let p = tc.events(after, 1000).await.unwrap();
            if p.next_after == after {
                break;
            }
            after = p.next_after;
        }
        assert_eq!(after, end, "{pattern}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_400_and_no_credential_is_401() {
    let s = TestServer::start().await;
    let h = http_with(&s.admin_token);
    for q in ["after=-2", "limit=0", "limit=1001", "after=x", "limit=-1", "since=3"] {
        let r = h.get(format!("{}/v1/events?{q}", s.url)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{q}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "bad_request", "{q}: {body}");
    }
    let r = reqwest::get(format!("{}/v1/events", s.url)).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// A quarantine seeded in another namespace: a scoped reader of the model it reached does not get
/// the `version.quarantined` entry (it names the seed, the path and the reason), nor the reason in
/// the rollback it caused (which names the quarantine's number only); a reader covering the seed's
/// namespace too gets the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_seeded_elsewhere_is_not_described_to_a_scoped_reader() {
    let s = TestServer::start().await;
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
    let secret_reason = "base team's corpus shard 7 leaked PII";
    c.quarantine(&QuarantineRequest {
        version: Some("base/llm@1".into()),
        reason: secret_reason.into(),
        rollback: true,
        ..Default::default()
    })
    .await
    .unwrap();

    let fraud_token = token(&c, "fraud/*").await;
    let fraud = all_events(&s.url, &fraud_token, 1000).await;
    let kinds: Vec<LogEntry> = fraud.iter().map(|(_, b)| LogEntry::parse(b.as_bytes()).unwrap()).collect();
    assert!(kinds.iter().all(|e| e.kind != "version.quarantined"), "{kinds:?}");
    assert!(fraud.iter().all(|(_, b)| !b.contains(secret_reason) && !b.contains("base/llm")), "{fraud:?}");
    // Its alias was rolled back: that it sees (its own model), naming the quarantine by number.
    let rollback = kinds.iter().find(|e| {
        e.kind == "alias.moved" && e.details["reason"].as_str().unwrap_or("").starts_with("rollback")
    });
    assert!(rollback.is_some(), "{kinds:?}");
    assert_eq!(rollback.unwrap().details["reason"], "rollback: quarantine 1");

    // The same through the model's alias history.
    let scoped = registry_client::Client::new(&s.url).unwrap().with_token(Some(fraud_token));
    let h = scoped.alias_history(&m, "production", None).await.unwrap();
    assert!(h.events.iter().all(|e| !e.reason.contains(secret_reason)), "{h:?}");

    // A reader of both namespaces sees where it came from.
    let both = all_events(&s.url, &token(&c, "*").await, 1000).await;
    assert!(both.iter().any(|(_, b)| b.contains("version.quarantined") && b.contains("fraud/ft@1")));
}
