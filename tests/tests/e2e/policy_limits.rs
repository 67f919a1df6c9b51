//! A promotion policy is admin-written code run on every promotion: its evaluation is bounded in time
//! and memory, inside builtins too (`numbers.range(1, 3e7)` once ran 2.3 s and took 736 MB), and a
//! policy that hits a bound denies.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use registry_client::Client;
use registry_core::ModelRef;
use registry_core::auth::NamePattern;
use registry_core::promote::{PolicyTestRequest, SetPolicyRequest};
use registry_e2e::*;

/// Peak resident memory of this process (the server runs in it), bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

async fn with_policy(rego: &str) -> (TestServer, Client) {
    let s = TestServer::start().await;
    let c = client(&s);
    TestPush::new("fraud/m", "1").files(&[("w.bin", b"w")]).run(&c).await.unwrap();
    c.set_policy(&SetPolicyRequest {
        namespace: NamePattern::parse("fraud/*").unwrap(),
        alias: "prod".into(),
        rego: rego.into(),
    })
    .await
    .unwrap();
    (s, c)
}

fn dry_run() -> PolicyTestRequest {
    PolicyTestRequest { version: ModelRef::parse("fraud/m@1").unwrap(), alias: "prod".into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builtin_that_allocates_without_bound_is_cut_off_and_denies() {
    let rego = "package registry.promote\nimport rego.v1\nallow if count(numbers.range(1, 3e7)) > 0\n";
    let (_s, c) = with_policy(rego).await;
    let before = peak_rss();
    let start = Instant::now();
    let d = c.test_policy(&dry_run()).await.unwrap();
    let took = start.elapsed();
    let grew = peak_rss().saturating_sub(before);
    eprintln!("cut off after {took:?}, peak memory +{} MiB: {:?}", grew >> 20, d.reasons);
    assert!(!d.allowed, "{d:?}");
    assert!(d.reasons.iter().any(|r| r.contains("could not be evaluated")), "{d:?}");
    assert!(grew < 300 << 20, "peak memory grew by {} MiB", grew >> 20);
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_bounded_inside_a_single_builtin_call() {
    // One regex call over an 8 MiB string whose 8,192 matches each copy 33 nested 1 KiB groups:
    // ~280 MB built inside a single builtin, which the execution timer never sees the middle of. The
    // memory budget (checked inside) must stop it.
    let half_kib = "x".repeat(512);
    let pattern = format!("{}x{{1024}}{}", "(".repeat(32), ")".repeat(32));
    let rego = format!(
        "package registry.promote\nimport rego.v1\n\
         chunk := \"{half_kib}\"\n\
         big := concat(\"\", [chunk | some _ in numbers.range(1, 16384)])\n\
         allow if count(regex.find_all_string_submatch_n(`{pattern}`, big, -1)) > 0\n"
    );
    let (_s, c) = with_policy(&rego).await;
    c.set_policy(&SetPolicyRequest {
        namespace: NamePattern::parse("fraud/*").unwrap(),
        alias: "other".into(),
        rego: "package registry.promote\nimport rego.v1\nallow := true\n".into(),
    })
    .await
    .unwrap();
    let before = peak_rss();
    let start = Instant::now();
    let d = c.test_policy(&dry_run()).await.unwrap();
    let took = start.elapsed();
    // Evaluations run one at a time: once a second (cheap) one has been decided, the first has ended
    // (on a slow machine the caller's deadline may answer for it before its budget stops it).
    let cheap = PolicyTestRequest { alias: "other".into(), ..dry_run() };
    assert!(c.test_policy(&cheap).await.unwrap().allowed);
    let grew = peak_rss().saturating_sub(before);
    eprintln!("cut off after {took:?}, peak memory +{} MiB: {:?}", grew >> 20, d.reasons);
    assert!(!d.allowed, "{d:?}");
    assert!(
        d.reasons.iter().any(|r| r.contains("memory limit") || r.contains("no decision within")),
        "{d:?}"
    );
    assert!(grew < 250 << 20, "peak memory grew by {} MiB", grew >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_loops_is_cut_off_at_the_time_limit_and_denies() {
    // Cheap steps, many of them: the execution timer's business.
    let rego = "package registry.promote\nimport rego.v1\n\
                allow if count([x | some x in numbers.range(1, 2000000); x % 7 == 3]) > 0\n";
    let (_s, c) = with_policy(rego).await;
    let start = Instant::now();
    let d = c.test_policy(&dry_run()).await.unwrap();
    assert!(!d.allowed, "{d:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_policy_still_decides() {
    let rego = "package registry.promote\nimport rego.v1\nallow if count(numbers.range(1, 1000)) == 1000\n";
    let (_s, c) = with_policy(rego).await;
    let d = c.test_policy(&dry_run()).await.unwrap();
    assert!(d.allowed, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builtin_asked_for_more_memory_than_the_machine_has_denies_and_the_server_lives() {
    for n in ["1e11", "1e15", "9e18"] {
        let rego =
            format!("package registry.promote\nimport rego.v1\nallow if count(numbers.range(1, {n})) > 0\n");
        let (s, c) = with_policy(&rego).await;
        let d = c.test_policy(&dry_run()).await.unwrap();
        assert!(!d.allowed, "{n}: {d:?}");
        assert_healthy(&s.url).await;
    }
}
