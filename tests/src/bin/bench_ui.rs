//! Web UI render-time benchmark (issue 18): one model `bench/big` with VERSIONS versions (default
//! 10,000) created through the real API (`PUT .../versions/{v}`, 8 at a time; every 100th pushed by
//! the real client with signed SLSA provenance and an OMS signature; 90 % with a parent, 1–3
//! datasets, code, params, metrics, a run), VERSIONS/10 real promotions, then the log topped up to
//! LOG_ENTRIES (default 100,000) by bulk appends through `db::log::append` in write transactions.
//! Then REQUESTS (default 200) sequential GETs of each page through a signed-in UI session, and of
//! the equivalent `/v1` reads with a bearer token, client-side over one keep-alive connection; and
//! the same pages of a fresh registry holding one version, for comparison.
//!   bench_ui [REQUESTS=200] [VERSIONS=10000] [LOG_ENTRIES=100000]
//! `BENCH_UI_PROFILE=1` also times each service call of the version page in process;
//! `BENCH_UI_KEEP_DB=PATH` keeps a copy of the generated database (SQLite) for inspection.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use futures::future::join_all;
use registry_client::Client;
use registry_core::api::{Metadata, PutVersionRequest};
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::attest::predicates::{OMS_V1, SLSA_PROVENANCE_V1};
use registry_core::lineage::{Code, Dataset, Run, Scalar};
use registry_core::{Digest, FileEntry, Lineage, Manifest, ModelName, ModelRef};
use registry_e2e::{Rng, TestPush, TestServer, client, pct, promote_req, trust_key};
use registry_server::db::log;

/// Versions created at once (one wave; a version's parent is the newest of the waves before).
const WAVE: u64 = 8;
/// Every this many versions is pushed signed (SLSA provenance + OMS signature).
const SIGNED_EVERY: u64 = 100;
/// Requests per page before timing starts (the first log read after the bulk appends signs a
/// checkpoint; the first of anything warms the SQLite page cache).
const WARMUP: usize = 3;
const MODEL: &str = "bench/big";

/// Version `i`'s lineage: 1–3 of 500 datasets, a commit per 20 versions, `parent` if any.
fn lineage(i: u64, parent: Option<u64>, rng: &mut Rng) -> Lineage {
    let datasets = (0..=rng.below(3))
        .map(|_| {
            let d = rng.below(500);
            Dataset {
                uri: format!("s3://bench-data/big/shard-{d}.parquet"),
                digest: Digest::of(format!("dataset {d}").as_bytes()),
                role: if d.is_multiple_of(5) { "eval".into() } else { "train".into() },
            }
        })
        .collect();
    let num = |x: f64| Scalar::Number(serde_json::Number::from_f64(x).unwrap());
    Lineage {
        datasets,
        code: Some(Code {
            repo: "https://github.com/bench/big".into(),
            commit: format!("{:040x}", i / 20 + 1),
            path: Some("train.py".into()),
        }),
        parents: parent.map(|p| ModelRef::parse(&format!("{MODEL}@{p}")).unwrap()).into_iter().collect(),
        params: [
            ("lr".to_owned(), num(1e-4 * (1 + rng.below(10)) as f64)),
            ("epochs".to_owned(), Scalar::Number((1 + rng.below(20)).into())),
            ("optimizer".to_owned(), Scalar::Text("adamw".into())),
        ]
        .into(),
        metrics: [
            ("auc".to_owned(), num(0.8 + rng.below(2000) as f64 / 10_000.0)),
            ("loss".to_owned(), num(rng.below(1000) as f64 / 1000.0)),
        ]
        .into(),
        run: Some(Run { id: format!("run-{i}"), uri: None, builder: Some("https://ci.bench/runner".into()) }),
    }
}

/// Uploads `bytes` as a blob; its manifest entry at `path`.
async fn upload(c: &Client, path: &str, bytes: &[u8]) -> FileEntry {
    let digest = Digest::of(bytes);
    c.put_blob(&digest, bytes.len() as u64, bytes.to_vec().into()).await.unwrap();
    FileEntry { path: path.into(), size: bytes.len() as u64, digest }
}

/// Creates version `i`: its own `config.json` blob plus the shared weights; signed through the real
/// client push when `key` is given, else one `PUT .../versions/{i}`.
async fn create(c: &Client, i: u64, weights: &[u8], l: Lineage, key: Option<&SigningKey>) {
    let config = serde_json::to_vec(&serde_json::json!({"version": i, "hidden": 768, "layers": 12})).unwrap();
    if key.is_some() {
        TestPush::new(MODEL, &i.to_string())
            .files(&[("config.json", &config), ("weights.bin", weights)])
            .lineage(l)
            .signed(key)
            .run(c)
            .await
            .unwrap();
        return;
    }
    let files = vec![upload(c, "config.json", &config).await, upload(c, "weights.bin", weights).await];
    let req = PutVersionRequest {
        manifest: Manifest::new(files).unwrap(),
        lineage: l,
        metadata: Metadata {
            description: Some(format!("nightly build {i}")),
            labels: [("team".to_owned(), "bench".to_owned())].into(),
        },
        attestations: vec![],
    };
    let m = ModelName::parse(MODEL).unwrap();
    c.put_version(&m, &i.to_string(), &req).await.unwrap();
}

/// Versions `1..=n` of `bench/big`, WAVE at a time; returns how many have a parent.
async fn create_versions(s: &TestServer, n: u64) -> u64 {
    let c = client(s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[7; 32]).unwrap();
    c.add_key(&trust_key("bench/*", &key, &[SLSA_PROVENANCE_V1, OMS_V1])).await.unwrap();
    let weights = registry_server::testing::noise(64 * 1024, 1);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut with_parent = 0;
    for start in (1..=n).step_by(WAVE as usize) {
        let wave: Vec<_> = (start..(start + WAVE).min(n + 1))
            .map(|i| {
                let parent = (start > 1 && rng.below(10) < 9).then_some(start - 1);
                with_parent += u64::from(parent.is_some());
                let l = lineage(i, parent, &mut rng);
                let signed = i.is_multiple_of(SIGNED_EVERY).then_some(&key);
                create(&c, i, &weights, l, signed)
            })
            .collect();
        join_all(wave).await;
    }
    with_parent
}

/// `n` promotions through the API (no policy, so each one passes), over three aliases and the
/// newest 2,000 versions.
async fn promote(s: &TestServer, versions: u64, n: u64) {
    let c = client(s);
    let m = ModelName::parse(MODEL).unwrap();
    let span = versions.min(2000);
    for k in 0..n {
        let alias = ["staging", "canary", "production"][(k % 3) as usize];
        let v = versions - span + 1 + (k * 7919) % span;
        c.promote(&m, alias, &promote_req(&v.to_string())).await.unwrap();
    }
}

/// Appends entries until the log holds `total`, 1,000 per write transaction (each takes the global
/// write lock first, as every change does). Bodies are shaped like `version.created` entries of
/// other models; no rows stand behind them.
async fn fill_log(s: &TestServer, total: u64) -> u64 {
    let db = &s.state.db;
    let mut size = db.log_size().await.unwrap();
    let before = size;
    while size < total {
        let mut tx = db.begin_logged().await.unwrap();
        for _ in 0..1000.min(total - size) {
            let e = registry_server::service::log::entry(
                "version.created",
                &format!("bench/other-{}@{}", size % 997, size),
                "token:bench",
                &[("manifest_digest", serde_json::json!(format!("sha256:{:064x}", size)))],
            );
            log::append(&mut tx, &e).await.unwrap();
            size += 1;
        }
        tx.commit().await.unwrap();
    }
    size - before
}

/// Signs in to the UI with `token`; the `registry_session=...` cookie.
async fn sign_in(url: &str, token: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http
        .post(format!("{url}/ui/login"))
        .header(reqwest::header::ORIGIN, url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "sign-in");
    let set = resp.headers().get(reqwest::header::SET_COOKIE).unwrap().to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Two clients: one sending the UI session cookie, one the bearer token.
fn clients(cookie: &str, token: &str) -> (reqwest::Client, reqwest::Client) {
    let with = |k, v: String| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(k, reqwest::header::HeaderValue::from_str(&v).unwrap());
        reqwest::Client::builder()
            .default_headers(h)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    (
        with(reqwest::header::COOKIE, cookie.to_owned()),
        with(reqwest::header::AUTHORIZATION, format!("Bearer {token}")),
    )
}

/// `n` sequential GETs of `url` (after WARMUP more): a table row, and the last body.
async fn time_get(http: &reqwest::Client, label: &str, url: &str, n: usize) -> String {
    let mut ms = Vec::with_capacity(n);
    let mut body = String::new();
    for k in 0..WARMUP + n {
        let t = Instant::now();
        let resp = http.get(url).send().await.unwrap();
        let status = resp.status();
        body = resp.text().await.unwrap();
        let took = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(status, 200, "{url}: {}", &body[..body.len().min(300)]);
        if k >= WARMUP {
            ms.push(took);
        }
    }
    println!(
        "| {label} | {:.2} | {:.2} | {:.2} | {} |",
        pct(ms.clone(), 0.5),
        pct(ms.clone(), 0.99),
        pct(ms, 1.0),
        body.len()
    );
    body
}

/// How often `needle` occurs in `body`.
fn count(body: &str, needle: &str) -> usize {
    body.matches(needle).count()
}

/// Times the UI pages of a server whose `bench/big` has `versions` versions: the model page, the
/// version pages (middle, newest, oldest) and the newest log page; a note on what the middle
/// version's page drew.
async fn measure_ui(ui: &reqwest::Client, url: &str, versions: u64, n: usize, prefix: &str) -> String {
    let model = format!("{url}/ui/models/{MODEL}");
    time_get(ui, &format!("{prefix}UI model page `/ui/models/{MODEL}`"), &model, n).await;
    let deep = (versions / 2).max(1);
    let label = format!("{prefix}UI version page, middle `@{deep}`");
    let page = time_get(ui, &label, &format!("{model}/versions/{deep}"), n).await;
    let note = format!(
        "{prefix}version page `@{deep}`: {} lineage-graph nodes, {} edges, {} attestation rows",
        count(&page, "data-testid=\"graph-node\""),
        count(&page, "data-testid=\"graph-edge\""),
        count(&page, "data-testid=\"attestation-row\"")
    );
    if versions > 1 {
        let label = format!("{prefix}UI version page, newest `@{versions}`");
        time_get(ui, &label, &format!("{model}/versions/{versions}"), n).await;
        time_get(ui, &format!("{prefix}UI version page, oldest `@1`"), &format!("{model}/versions/1"), n)
            .await;
    }
    time_get(ui, &format!("{prefix}UI log page, newest `/ui/log`"), &format!("{url}/ui/log"), n).await;
    note
}

/// Times the deep log page and the `/v1` reads of the same data (plus the middle version read by
/// its manifest digest, as `registry pull NAME@sha256:...` does).
async fn measure_v1(
    ui: &reqwest::Client,
    v1: &reqwest::Client,
    url: &str,
    versions: u64,
    log_size: u64,
    n: usize,
) {
    let mid = log_size / 2;
    let label = format!("UI log page, deep `/ui/log?before={mid}`");
    time_get(ui, &label, &format!("{url}/ui/log?before={mid}"), n).await;
    let v1m = format!("{url}/v1/models/{MODEL}");
    time_get(v1, "`/v1` versions list `?limit=50`", &format!("{v1m}/versions?limit=50"), n).await;
    let deep = (versions / 2).max(1);
    let body = time_get(v1, &format!("`/v1` version `{deep}`"), &format!("{v1m}/versions/{deep}"), n).await;
    let rec: serde_json::Value = serde_json::from_str(&body).unwrap();
    let digest = rec["manifest_digest"].as_str().unwrap();
    let label = format!("`/v1` version `{deep}` by manifest digest");
    time_get(v1, &label, &format!("{v1m}/versions/{digest}"), n).await;
    let (a, b) = (log_size.saturating_sub(50), log_size);
    let label = format!("`/v1` log entries `{a}..{b}`");
    time_get(v1, &label, &format!("{url}/v1/log/entries?start={a}&end={b}"), n).await;
}

/// Times `step` `n` times; its table row.
async fn step<F, Fut, T>(label: &str, n: usize, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(step().await);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "| {label} | {:.3} | {:.3} | {:.3} |",
        pct(ms.clone(), 0.5),
        pct(ms.clone(), 0.99),
        pct(ms, 1.0)
    );
}

/// `BENCH_UI_PROFILE=1`: the service calls the version page makes for `@{v}`, each timed alone in
/// process (no HTTP, no template), in the handler's order.
async fn profile(s: &TestServer, v: u64, n: usize) {
    use registry_server::service::{attest, lineage, log as svc, promote, read};
    let (st, m) = (&s.state, ModelName::parse(MODEL).unwrap());
    let r = registry_core::Reference::Label(registry_core::VersionLabel::parse(&v.to_string()).unwrap());
    let actor = registry_server::auth::Actor::local_admin();
    let row = read::resolve(st, &m, &r).await.unwrap();
    let d = registry_core::Reference::Digest(Digest::from_hex(&row.manifest_digest).unwrap());
    let idx = row.log_index.unwrap() as u64;
    println!(
        "\n| version page `@{v}`, step (in process, {n} each) | p50 ms | p99 ms | max ms |\n|---|---|---|---|"
    );
    step("read::resolve (label)", n, || read::resolve(st, &m, &r)).await;
    step("read::get_manifest (by digest)", n, || read::get_manifest(st, &m, &d)).await;
    step("attest::list", n, || attest::list(st, &m, row.id)).await;
    step("lineage::neighbourhood", n, || lineage::neighbourhood(st, &actor, &row)).await;
    step("log::checkpoint", n, || svc::checkpoint(&st.db, &st.log)).await;
    step("log::entries (1)", n, || svc::entries(&st.db, idx, idx + 1)).await;
    let size = st.db.log_size().await.unwrap();
    step("log::inclusion", n, || svc::inclusion(&st.db, idx, size)).await;
    step("promote::list", n, || promote::list(st, &m)).await;
}

/// The whole history: versions, promotions, then bulk appends up to `log_total`; a summary line.
async fn generate(s: &TestServer, versions: u64, log_total: u64) -> String {
    let t = Instant::now();
    let with_parent = create_versions(s, versions).await;
    let t_versions = t.elapsed().as_secs_f64();
    let after_versions = s.state.db.log_size().await.unwrap();
    let t = Instant::now();
    promote(s, versions, versions / 10).await;
    let t_promote = t.elapsed().as_secs_f64();
    let after_promote = s.state.db.log_size().await.unwrap();
    let t = Instant::now();
    let filled = fill_log(s, log_total).await;
    let t_fill = t.elapsed().as_secs_f64();
    let log_size = s.state.db.log_size().await.unwrap();
    format!(
        "generation: {versions} versions ({with_parent} with a parent, every {SIGNED_EVERY}th signed) through \
         the API in {t_versions:.1} s ({:.0}/s, {after_versions} log entries); {} promotions through the API \
         in {t_promote:.1} s ({} log entries); {filled} log entries bulk-appended through db::log::append \
         (1,000 per write transaction) in {t_fill:.1} s; log size {log_size}",
        versions as f64 / t_versions,
        versions / 10,
        after_promote - after_versions,
    )
}

#[tokio::main]
async fn main() {
    let arg = |i: usize, d: u64| std::env::args().nth(i).map_or(d, |s| s.parse().unwrap());
    let (n, versions, log_total) = (arg(1, 200) as usize, arg(2, 10_000), arg(3, 100_000));

    let s = TestServer::start().await;
    println!("{}\n", generate(&s, versions, log_total).await);
    if let Ok(path) = std::env::var("BENCH_UI_KEEP_DB") {
        let sql = format!("VACUUM INTO '{path}'");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(s.state.db.pool()).await.unwrap();
    }
    println!(
        "| page ({n} sequential GETs each, after {WARMUP} warm-up) | p50 ms | p99 ms | max ms | bytes |"
    );
    println!("|---|---|---|---|---|");
    let cookie = sign_in(&s.url, &s.admin_token).await;
    let (ui, v1) = clients(&cookie, &s.admin_token);
    let big = measure_ui(&ui, &s.url, versions, n, "").await;
    let log_size = s.state.db.log_size().await.unwrap();
    measure_v1(&ui, &v1, &s.url, versions, log_size, n).await;

    let small = TestServer::start().await;
    create_versions(&small, 1).await;
    let cookie = sign_in(&small.url, &small.admin_token).await;
    let (ui, _) = clients(&cookie, &small.admin_token);
    let empty = measure_ui(&ui, &small.url, 1, n, "empty registry (1 version): ").await;
    small.stop().await;
    println!("\n{big}\n{empty}");
    if std::env::var("BENCH_UI_PROFILE").as_deref() == Ok("1") {
        for v in [versions, (versions / 2).max(1), 1] {
            profile(&s, v, n).await;
        }
    }
    s.stop().await;
}
