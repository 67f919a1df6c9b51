//! Prometheus metrics at `GET /metrics` (text exposition format 0.0.4): request counts and latency per
//! route template (never per model name), bytes in and out, and gauges read from the database at scrape
//! time (versions, quarantined, corrupted, log size) plus the scrubber's counters.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::db::Db;
use crate::db::stats::VersionCount;
use crate::state::AppState;

/// Latency histogram bounds, seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    bytes_in: BTreeMap<String, u64>,
    bytes_out: BTreeMap<String, u64>,
}

/// The methods that get their own label value; any other method string (HTTP allows any token, of any
/// length) is counted as `OTHER`, so a client cannot mint label values.
const METHODS: [&str; 9] = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];

/// `method` as a label value from the closed set `METHODS` + `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    METHODS.iter().find(|m| **m == method).copied().unwrap_or("OTHER")
}

/// `status` as a label value: the server chooses every status it sends (about 25 distinct codes), and
/// anything outside 100..=599 is counted as 0, so the set stays closed whatever a handler does.
fn status_label(status: u16) -> u16 {
    if (100..=599).contains(&status) { status } else { 0 }
}

/// Request metrics, updated by the request middleware.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    connections: Arc<AtomicI64>,
    max_connections: AtomicI64,
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct ConnectionGauge(Arc<AtomicI64>);

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a connection as open while the returned guard lives.
    pub fn connection_opened(&self) -> ConnectionGauge {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGauge(self.connections.clone())
    }

    /// Records the connection limit, for the gauge beside the open count.
    pub fn set_max_connections(&self, n: usize) {
        self.max_connections.store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Records one request to `route`. Every label comes from a closed set: `route` is a template such
    /// as `/v1/blobs/{digest}` (or `unmatched`), never a path; the method is one of `METHODS` or
    /// `OTHER`; the status is the code the server sent.
    pub fn observe(
        &self,
        method: &str,
        route: &str,
        status: u16,
        seconds: f64,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let Ok(mut m) = self.inner.lock() else { return };
        let key = (method_label(method), route.to_owned(), status_label(status));
        *m.requests.entry(key).or_default() += 1;
        let h = m.latency.entry(route.to_owned()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
        *m.bytes_in.entry(route.to_owned()).or_default() += bytes_in;
        *m.bytes_out.entry(route.to_owned()).or_default() += bytes_out;
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition text.
pub async fn render(state: &AppState) -> String {
    let mut out = String::new();
    write_http(&mut out, &state.metrics);
    write_store_gauges(&mut out, &state.db).await;
    write_webhooks(&mut out, &state.db).await;
    write_process(&mut out, state);
    out
}

/// Request counts, latency histograms and body bytes, by route template.
fn write_http(out: &mut String, metrics: &Metrics) {
    let m = metrics.inner.lock().map(|g| {
        // Copy out so the lock is not held while formatting.
        (
            g.requests.clone(),
            g.latency.iter().map(|(k, h)| (k.clone(), h.counts, h.count, h.sum)).collect::<Vec<_>>(),
            g.bytes_in.clone(),
            g.bytes_out.clone(),
        )
    });
    if let Ok((requests, latency, bytes_in, bytes_out)) = m {
        out.push_str(
            "# HELP registry_http_requests_total HTTP requests by method, route template and status.\n",
        );
        out.push_str("# TYPE registry_http_requests_total counter\n");
        for ((method, route, status), n) in &requests {
            let _ = writeln!(
                out,
                "registry_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(method),
                esc(route)
            );
        }
        out.push_str("# HELP registry_http_request_duration_seconds Request latency by route template.\n");
        out.push_str("# TYPE registry_http_request_duration_seconds histogram\n");
        for (route, counts, count, sum) in &latency {
            let r = esc(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "registry_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    counts[i]
                );
            }
            let _ = writeln!(
                out,
                "registry_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "registry_http_request_duration_seconds_sum{{route=\"{r}\"}} {sum}");
            let _ = writeln!(out, "registry_http_request_duration_seconds_count{{route=\"{r}\"}} {count}");
        }
        for (name, help, map) in [
            ("registry_http_request_bytes_total", "Request body bytes (Content-Length) by route.", &bytes_in),
            (
                "registry_http_response_bytes_total",
                "Response body bytes (Content-Length) by route.",
                &bytes_out,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (route, n) in map {
                let _ = writeln!(out, "{name}{{route=\"{}\"}} {n}", esc(route));
            }
        }
    }
}

/// Gauges read from the database now; a failed read leaves its gauge out (and is logged).
async fn write_store_gauges(out: &mut String, db: &Db) {
    let gauges = [
        ("registry_versions", "Versions stored.", db.versions_count(VersionCount::All).await),
        (
            "registry_versions_quarantined",
            "Versions quarantined now.",
            db.versions_count(VersionCount::Quarantined).await,
        ),
        (
            "registry_versions_corrupted",
            "Versions the scrubber found altered.",
            db.versions_count(VersionCount::Corrupted).await,
        ),
        ("registry_log_size", "Entries in the transparency log.", db.log_size().await),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        match v {
            Ok(v) => {
                let _ = writeln!(out, "{name} {v}");
            }
            Err(e) => tracing::warn!(metric = name, error = %e, "metric query failed"),
        }
    }
}

/// Per webhook subscription: deliveries, lag behind the log, failing state, dead letters.
async fn write_webhooks(out: &mut String, db: &Db) {
    let (rows, dead, size) = match (db.webhooks().await, db.webhook_dead_counts().await, db.log_size().await)
    {
        (Ok(r), Ok(d), Ok(s)) => (r, d, s as i64),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
            tracing::warn!(error = %e, "webhook metrics query failed");
            return;
        }
    };
    if rows.is_empty() {
        return;
    }
    let dead: std::collections::HashMap<i64, i64> = dead.into_iter().collect();
    type Value = fn(&crate::db::webhooks::WebhookRow, i64, i64) -> i64;
    let series: [(&str, &str, &str, Value); 5] = [
        (
            "registry_webhook_delivered_total",
            "counter",
            "Events delivered (2xx) per subscription.",
            |r, _, _| r.delivered,
        ),
        (
            "registry_webhook_lag_entries",
            "gauge",
            "Log entries after the subscription's cursor (not all of them are for it).",
            |r, size, _| (size - 1 - r.log_cursor).max(0),
        ),
        ("registry_webhook_failing", "gauge", "1 while the event at the cursor keeps failing.", |r, _, _| {
            i64::from(r.attempts > 0)
        }),
        ("registry_webhook_dead_letters", "gauge", "Events in the dead-letter state.", |_, _, d| d),
        ("registry_webhook_paused", "gauge", "1 when the subscription is paused.", |r, _, _| r.paused),
    ];
    for (name, kind, help, f) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for r in &rows {
            let d = dead.get(&r.id).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}{{webhook=\"webhook-{}\"}} {}", r.id, f(r, size, d));
        }
    }
}

/// Connections being served and the scrubber's counters.
fn write_process(out: &mut String, state: &AppState) {
    let conns = &state.metrics;
    for (name, help, v) in [
        (
            "registry_http_connections_open",
            "Client connections being served now.",
            conns.connections.load(Ordering::Relaxed),
        ),
        (
            "registry_http_connections_max",
            "Connections served at once (--max-connections); more wait in the accept queue.",
            conns.max_connections.load(Ordering::Relaxed),
        ),
        (
            "registry_upload_memory_held_bytes",
            "Memory held now by resumable upload parts taken whole (remote stores), within --upload-memory-budget.",
            i64::try_from(state.uploads.held()).unwrap_or(i64::MAX),
        ),
        (
            "registry_upload_memory_budget_bytes",
            "--upload-memory-budget.",
            i64::try_from(state.settings.upload_memory_budget).unwrap_or(i64::MAX),
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    let s = &state.scrub;
    for (name, help, kind, v) in [
        (
            "registry_scrub_passes_total",
            "Scrub passes completed.",
            "counter",
            s.passes.load(Ordering::Relaxed),
        ),
        (
            "registry_scrub_blobs_total",
            "Blobs re-hashed by the scrubber.",
            "counter",
            s.blobs.load(Ordering::Relaxed),
        ),
        (
            "registry_scrub_bytes_total",
            "Bytes re-hashed by the scrubber.",
            "counter",
            s.bytes.load(Ordering::Relaxed),
        ),
        (
            "registry_scrub_findings_total",
            "Mismatches the scrubber found.",
            "counter",
            s.findings.load(Ordering::Relaxed),
        ),
        (
            "registry_scrub_errors_total",
            "Blobs the scrubber could not check (the store failed or did not answer); not findings.",
            "counter",
            s.errors.load(Ordering::Relaxed),
        ),
        (
            "registry_db_group_commits_total",
            "Write transactions that committed a batch of version publishes and blob records (group commit).",
            "counter",
            state.db.group_commits().0,
        ),
        (
            "registry_db_grouped_writes_total",
            "Version publishes and blob records run in those batches (over registry_db_group_commits_total: the mean batch).",
            "counter",
            state.db.group_commits().1,
        ),
        (
            "registry_scrub_last_pass_timestamp_seconds",
            "When the last scrub pass ended (unix seconds; 0: none yet).",
            "gauge",
            s.last_pass_ms.load(Ordering::Relaxed) / 1000,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
    }
}
