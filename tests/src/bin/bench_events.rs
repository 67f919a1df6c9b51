//! Webhook delivery benchmark (issue 21): an in-process registry server (`TestServer`: SQLite + local
//! blob dir) and HTTP receivers on 127.0.0.1 that record when each `webhook-id` (`log-<index>`)
//! arrived. Every change is a `PUT /v1/models/bench/m/versions/{label}` of one manifest whose blob
//! was uploaded first; subscriptions are `POST /v1/webhooks` (`namespace` `*`, `version.created`).
//! Everything runs twice: with the server's default poll (200 ms) and with a 20 ms poll.
//! - lag: RATE changes/s for SECONDS s, open loop (each PUT starts on its tick whatever the ones
//!   before it do); per change, from the moment its PUT returned (the commit) to the moment its
//!   event's headers reached the receiver: p50 / p99 / max (and min: an event can arrive before
//!   the PUT's answer does).
//! - outbox throughput: the subscription paused, PENDING versions created, resumed; from the resume
//!   request to the last arrival: events/s.
//! - push overhead: PUSHES versions by 8 clients at once, with 0 subscribers and with 3 active
//!   subscribers (3 receivers), ROUNDS rounds in alternating order, each on a fresh server.
//!   bench_events [RATE=100] [SECONDS=10] [PENDING=1000] [PUSHES=500] [ROUNDS=4]
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use registry_client::Client;
use registry_core::api::{CreateWebhookRequest, Metadata, PutVersionRequest};
use registry_core::{Digest, FileEntry, Lineage, Manifest, ModelName};
use registry_e2e::{TestServer, client, pct};
use registry_server::service::webhooks::WebhookSettings;
use registry_server::testing::TestOptions;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const MODEL: &str = "bench/m";
/// Clients pushing at once in the overhead rounds and while filling the outbox.
const CLIENTS: u64 = 8;
/// Longest wait for deliveries before the benchmark gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// First arrival of each log index at a receiver.
type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

/// A minimal HTTP/1.1 receiver on 127.0.0.1 (keep-alive, `Content-Length` bodies, always 200): it
/// records when the headers of each `webhook-id: log-<index>` request arrived.
struct Receiver {
    url: String,
    got: Arrivals,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arrivals::default();
        let g = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, g.clone()));
            }
        });
        Self { url, got, task }
    }

    /// Waits until every index of `idx` arrived (or DRAIN_LIMIT passed); the last arrival.
    async fn until_all(&self, idx: &[u64]) -> Instant {
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            {
                let got = self.got.lock().unwrap();
                let times: Option<Vec<Instant>> = idx.iter().map(|i| got.get(i).copied()).collect();
                if let Some(t) = times {
                    return t.into_iter().max().unwrap_or_else(Instant::now);
                }
                let missing = idx.iter().filter(|i| !got.contains_key(i)).count();
                assert!(Instant::now() < deadline, "{missing} of {} events never arrived", idx.len());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn at(&self, i: u64) -> Instant {
        self.got.lock().unwrap()[&i]
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one connection's requests in turn.
async fn serve(sock: TcpStream, got: Arrivals) {
    let _ = sock.set_nodelay(true);
    let mut r = BufReader::new(sock);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return; // the sender closed the connection
        }
        let (mut id, mut len) = (None, 0usize);
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("webhook-id") {
                    id = v.strip_prefix("log-").and_then(|n| n.parse::<u64>().ok());
                } else if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().unwrap_or(0);
                }
            }
        }
        let at = Instant::now();
        let mut body = vec![0; len];
        if r.read_exact(&mut body).await.is_err() {
            return;
        }
        if let Some(i) = id {
            got.lock().unwrap().entry(i).or_insert(at);
        }
        if r.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

/// Server options with delivery polling every `poll`; `NORMAL_PRIORITY=1` in the environment sends
/// deliveries at the requests' priority (`--webhook-normal-priority`).
fn options(poll: Duration) -> TestOptions {
    let low_priority = std::env::var("NORMAL_PRIORITY").map_or(true, |v| v != "1");
    TestOptions {
        webhooks: WebhookSettings { poll, low_priority, ..TestOptions::default().webhooks },
        ..Default::default()
    }
}

/// Subscribes `url` to every model's `version.created`; the subscription's id.
async fn subscribe(c: &Client, url: &str) -> String {
    let req = CreateWebhookRequest {
        url: url.into(),
        namespace: "*".into(),
        events: vec!["version.created".into()],
        format: None,
    };
    c.add_webhook(&req).await.unwrap().webhook.id
}

/// The one version body every change sends: a manifest of one uploaded 4 KiB blob.
async fn version_request(c: &Client) -> Arc<PutVersionRequest> {
    let bytes = registry_server::testing::noise(4096, 21);
    let digest = Digest::of(&bytes);
    c.put_blob(&digest, bytes.len() as u64, bytes.clone().into()).await.unwrap();
    let entry = FileEntry { path: "weights.bin".into(), size: bytes.len() as u64, digest };
    Arc::new(PutVersionRequest {
        manifest: Manifest::new(vec![entry]).unwrap(),
        lineage: Lineage::default(),
        metadata: Metadata::default(),
        attestations: vec![],
    })
}

/// Creates version `label`; the index of its `version.created` log entry.
async fn put(c: &Client, req: &PutVersionRequest, label: &str) -> u64 {
    let m = ModelName::parse(MODEL).unwrap();
    let (v, created) = c.put_version(&m, label, req).await.unwrap();
    assert!(created, "{label} existed");
    v.log_index.unwrap()
}

/// Versions `{prefix}{0..n}`, CLIENTS clients at once (one connection pool each); their log
/// indices.
async fn put_many(s: &TestServer, req: &Arc<PutVersionRequest>, prefix: &str, n: u64) -> Vec<u64> {
    let next = Arc::new(AtomicU64::new(0));
    let workers = (0..CLIENTS).map(|_| {
        let (c, req, next, prefix) = (client(s), req.clone(), next.clone(), prefix.to_owned());
        async move {
            let mut idx = vec![];
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return idx;
                }
                idx.push(put(&c, &req, &format!("{prefix}{k}")).await);
            }
        }
    });
    join_all(workers).await.concat()
}

/// Milliseconds from `a` to `b` (negative when `b` came first).
fn ms(a: Instant, b: Instant) -> f64 {
    if b >= a { (b - a).as_secs_f64() * 1000.0 } else { -((a - b).as_secs_f64() * 1000.0) }
}

/// What one poll setting measured.
struct Setting {
    poll: Duration,
    lag: Vec<f64>,
    put_ms: Vec<f64>,
    rate: f64,
    drain_first_ms: f64,
    drain_rate: f64,
    push_none: Vec<f64>,
    push_three: Vec<f64>,
    tail_ms: Vec<f64>,
}

/// Lag at `rate` changes/s for `secs` s, then the outbox drain of `pending` events, on one server
/// with one subscriber (the push rounds still to come).
async fn lag_and_drain(poll: Duration, rate: u64, secs: u64, pending: u64) -> Setting {
    let s = TestServer::start_with(options(poll)).await;
    let c = client(&s);
    let req = version_request(&c).await;
    let recv = Receiver::start().await;
    let id = subscribe(&c, &recv.url).await;
    // The model's first version (it also creates the model): untimed, opens the delivery connection.
    let first = put(&c, &req, "warm").await;
    recv.until_all(&[first]).await;

    let n = rate * secs;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..n {
        tokio::time::sleep_until(start + period * k as u32).await;
        let (c, req) = (c.clone(), req.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let idx = put(&c, &req, &format!("lag{k}")).await;
            (idx, sent, Instant::now())
        });
    }
    let done: Vec<(u64, Instant, Instant)> = tasks.join_all().await;
    let idx: Vec<u64> = done.iter().map(|d| d.0).collect();
    recv.until_all(&idx).await;
    let lag = done.iter().map(|&(i, _, committed)| ms(committed, recv.at(i))).collect();
    let put_ms = done.iter().map(|&(_, sent, committed)| ms(sent, committed)).collect();
    let first_sent = done.iter().map(|d| d.1).min().unwrap();
    let last_done = done.iter().map(|d| d.2).max().unwrap();
    let achieved = n as f64 / (last_done - first_sent).as_secs_f64();

    c.webhook_action(&id, "pause").await.unwrap();
    let idx = put_many(&s, &req, "pending", pending).await;
    let t0 = Instant::now();
    c.webhook_action(&id, "resume").await.unwrap();
    let last = recv.until_all(&idx).await;
    let first = idx.iter().map(|&i| recv.at(i)).min().unwrap();
    let drain_rate = pending as f64 / (last - t0).as_secs_f64();
    s.stop().await;
    Setting {
        poll,
        lag,
        put_ms,
        rate: achieved,
        drain_first_ms: ms(t0, first),
        drain_rate,
        push_none: vec![],
        push_three: vec![],
        tail_ms: vec![],
    }
}

/// One overhead round on a fresh server: `pushes` versions by CLIENTS clients with `subs`
/// subscribers; the pushes' seconds and, with subscribers, ms from the last push's answer to the
/// last delivery.
async fn push_round(poll: Duration, subs: usize, pushes: u64) -> (f64, Option<f64>) {
    let s = TestServer::start_with(options(poll)).await;
    let c = client(&s);
    let req = version_request(&c).await;
    let mut recvs = vec![];
    for _ in 0..subs {
        let r = Receiver::start().await;
        subscribe(&c, &r.url).await;
        recvs.push(r);
    }
    let first = put(&c, &req, "warm").await;
    for r in &recvs {
        r.until_all(&[first]).await;
    }
    let t = Instant::now();
    let idx = put_many(&s, &req, "p", pushes).await;
    let secs = t.elapsed().as_secs_f64();
    let end = Instant::now();
    let mut tail = None;
    for r in &recvs {
        let last = r.until_all(&idx).await;
        tail = Some(tail.unwrap_or(f64::MIN).max(ms(end, last)));
    }
    s.stop().await;
    (secs, tail)
}

/// Everything at one poll setting.
async fn measure(poll: Duration, rate: u64, secs: u64, pending: u64, pushes: u64, rounds: u64) -> Setting {
    let mut m = lag_and_drain(poll, rate, secs, pending).await;
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 3] } else { [3, 0] };
        for subs in order {
            let (t, tail) = push_round(poll, subs, pushes).await;
            if subs == 0 {
                m.push_none.push(t);
            } else {
                m.push_three.push(t);
                m.tail_ms.extend(tail);
            }
        }
    }
    m
}

#[tokio::main]
async fn main() {
    let arg = |i: usize, d: u64| std::env::args().nth(i).map_or(d, |s| s.parse().unwrap());
    let (rate, secs, pending, pushes, rounds) =
        (arg(1, 100), arg(2, 10), arg(3, 1000), arg(4, 500), arg(5, 4));

    let mut all = vec![];
    for poll in [Duration::from_millis(200), Duration::from_millis(20)] {
        let t = Instant::now();
        all.push(measure(poll, rate, secs, pending, pushes, rounds).await);
        eprintln!("poll {} ms measured in {:.0} s", poll.as_millis(), t.elapsed().as_secs_f64());
    }

    let head: Vec<String> = all.iter().map(|s| format!("poll {} ms", s.poll.as_millis())).collect();
    println!("| measure | {} |", head.join(" | "));
    println!("|---|{}", "---|".repeat(all.len()));
    let row = |label: &str, f: &dyn Fn(&Setting) -> String| {
        let cells: Vec<String> = all.iter().map(f).collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    let n = rate * secs;
    row(&format!("lag commit → receiver, p50 / p99 / max ms ({n} changes at {rate}/s)"), &|s| {
        format!(
            "{:.1} / {:.1} / {:.1}",
            pct(s.lag.clone(), 0.5),
            pct(s.lag.clone(), 0.99),
            pct(s.lag.clone(), 1.0)
        )
    });
    row("lag min ms", &|s| format!("{:.1}", pct(s.lag.clone(), 0.0)));
    row("changes/s achieved; PUT p50 / p99 ms", &|s| {
        format!("{:.1}; {:.1} / {:.1}", s.rate, pct(s.put_ms.clone(), 0.5), pct(s.put_ms.clone(), 0.99))
    });
    row(&format!("outbox drain, {pending} pending: events/s from resume"), &|s| {
        format!("{:.0}", s.drain_rate)
    });
    row("outbox drain: first event after resume, ms", &|s| format!("{:.1}", s.drain_first_ms));
    let rate_of = |t: &[f64]| (pushes * t.len() as u64) as f64 / t.iter().sum::<f64>();
    let rounds_of =
        |t: &[f64]| t.iter().map(|x| format!("{:.0}", pushes as f64 / x)).collect::<Vec<_>>().join(", ");
    row(&format!("pushes/s, 0 subscribers ({rounds} × {pushes}, {CLIENTS} clients; per round)"), &|s| {
        format!("{:.1} ({})", rate_of(&s.push_none), rounds_of(&s.push_none))
    });
    row("pushes/s, 3 subscribers (per round)", &|s| {
        format!("{:.1} ({})", rate_of(&s.push_three), rounds_of(&s.push_three))
    });
    row("ratio 3 subscribers / 0", &|s| format!("{:.3}", rate_of(&s.push_three) / rate_of(&s.push_none)));
    row("ratio per round (adjacent pairs), median (all)", &|s| {
        let r: Vec<f64> = s.push_none.iter().zip(&s.push_three).map(|(n, t)| n / t).collect();
        let all = r.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ");
        format!("{:.3} ({all})", pct(r, 0.5))
    });
    row("3 subscribers: last delivery after the last push, max ms (per round)", &|s| {
        s.tail_ms.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ")
    });
}
