//! Webhooks (issue 21, docs/events.md): subscriptions to the log's entries (and access-audit
//! records), delivered at least once, in log order per subscription, signed per Standard Webhooks.
//!
//! The transparency log is the outbox: every change appends its entry in its own transaction, so a
//! subscription is a cursor into the log (and one into `access_audit`). Each change to a
//! subscription is itself a log entry naming the URL by its SHA-256 only.
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use registry_core::Digest;
use registry_core::api::{CreateWebhookRequest, WebhookCreated, WebhookInfo, WebhookList, codes};
use registry_core::auth::NamePattern;
use registry_core::tlog::entry;
use serde_json::json;

use crate::auth::Actor;
use crate::db::webhooks::{self as wdb, WebhookRow};
use crate::db::{DbError, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::log;
use crate::state::AppState;

pub mod deliver;
pub mod net;
pub mod seal;

/// Event formats.
pub const FORMATS: [&str; 2] = ["cloudevents", "openlineage"];
/// The subscription to access-audit records.
pub const ACCESS: &str = "access";
/// Most event types one subscription names.
const MAX_EVENT_TYPES: usize = 64;
/// Longest URL.
const MAX_URL: usize = 2048;

/// Delivery settings (flags; small values make tests quick).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `--webhooks-allow-private`: loopback and private targets are allowed (link-local never).
    pub allow_private: bool,
    /// One delivery's time bound.
    pub timeout: Duration,
    /// First retry delay; doubled per failure (with jitter), at most [`MAX_BACKOFF`].
    pub retry_base: Duration,
    /// How long an event is retried before it is dead-lettered.
    pub dead_after: Duration,
    /// How often the worker looks for work it was not woken for (other replicas' changes, due retries).
    pub poll: Duration,
    /// How long a subscription's cursor moves are held before they are committed: one commit per
    /// subscription per this long, not one per event (a crash resends what was delivered in it).
    /// Also how often a delivering task reads its lease back (a pause or a rotation served by
    /// another replica stops a batch within this long; one served by this replica, at once).
    pub cursor_flush: Duration,
    /// Deliveries are signed and sent on threads at the lowest scheduling priority (nice 19), below
    /// the requests (decisions §33); false: at the normal one (`--webhook-normal-priority`).
    pub low_priority: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            dead_after: Duration::from_secs(24 * 3600),
            poll: Duration::from_millis(200),
            cursor_flush: Duration::from_millis(100),
            low_priority: true,
        }
    }
}

/// Longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// The webhook machinery a server holds.
#[derive(Debug)]
pub struct Webhooks {
    /// Seals URLs and secrets.
    pub key: seal::SealKey,
    /// Settings.
    pub settings: WebhookSettings,
    /// Rung after each mutating request this replica served (it may have appended to the log) and
    /// each subscription change: every delivery task looks for what is new.
    pub bell: tokio::sync::watch::Sender<u64>,
    /// Who holds leases from this process.
    pub owner: String,
    /// The delivery client (used where `sender` runs its POSTs).
    pub(crate) client: reqwest::Client,
    /// Gaps in the access records' numbering a subscription waits at: (first missing id, first seen).
    gaps: std::sync::Mutex<std::collections::HashMap<i64, (i64, std::time::Instant)>>,
    /// Bumped when this replica pauses, removes a subscription or rotates its secret: its delivery
    /// tasks check their lease at once instead of at their next periodic check.
    pub changes: std::sync::atomic::AtomicU64,
    /// What the delivery tasks share, so that a change costs one read and one event build however
    /// many subscriptions want it (`deliver::Shared`).
    pub(crate) shared: deliver::Shared,
    /// Where deliveries are signed and sent.
    pub(crate) sender: Sender,
}

/// The name of the threads deliveries are sent on.
pub const SEND_THREAD: &str = "webhook-send";
/// At most this many (one per core below it): a POST costs ~150 µs of CPU, so two threads already
/// send over 10,000 events/s.
const MAX_SEND_THREADS: usize = 4;

/// Where deliveries are signed and sent: by default a runtime of its own whose threads run at the
/// lowest scheduling priority, so that the CPU an event's POST costs (HMAC, the HTTP client, the
/// socket) is spent after the requests' (decisions §33). It holds no database connection: the
/// delivery tasks read and commit on the server's runtime and hand only the POST over, so a request
/// never waits for these threads to run (but for tokio's wake-up of the task awaiting a POST).
#[derive(Debug)]
pub(crate) struct Sender {
    /// `None`: POSTs run on the caller's runtime, at the requests' priority.
    low: Option<LowPriority>,
    /// POSTs started and not yet done (or dropped where they ran).
    flights: Arc<Flights>,
}

#[derive(Debug)]
struct LowPriority {
    handle: tokio::runtime::Handle,
    /// Dropped with the server's `Webhooks`: the runtime shuts down, and the POSTs still on it.
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Debug, Default)]
struct Flights {
    n: std::sync::atomic::AtomicUsize,
    done: tokio::sync::Notify,
}

/// One POST in flight; leaves the count when dropped, wherever that happens.
struct Flight(Arc<Flights>);

impl Drop for Flight {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

impl Sender {
    fn start(low_priority: bool) -> anyhow::Result<Self> {
        let flights = Arc::default();
        if !low_priority {
            return Ok(Self { low: None, flights });
        }
        // Built, run and dropped on a thread of its own (a runtime may not be dropped in an async
        // context); its worker and blocking threads (the resolver's) lower their own priority as
        // they start. Raising one's own nice value needs no privilege; where it fails anyway,
        // deliveries still go, at the normal priority.
        let (ready, built) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let warned = Arc::new(std::sync::atomic::AtomicBool::new(false));
        std::thread::Builder::new().name(SEND_THREAD.into()).spawn(move || {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores.min(MAX_SEND_THREADS))
                .thread_name(SEND_THREAD)
                .on_thread_start(move || {
                    if let Err(e) = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
                        && !warned.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        tracing::warn!(error = %e, "webhook deliveries run at the normal priority: lowering it failed");
                    }
                })
                .enable_all()
                .build();
            match rt {
                Ok(rt) => {
                    let _ = ready.send(Ok(rt.handle().clone()));
                    rt.block_on(async move {
                        let _ = stopped.await;
                    });
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        })?;
        let handle = built.recv()??;
        Ok(Self { low: Some(LowPriority { handle, _stop: stop }), flights })
    }

    /// Runs `f` where POSTs run. Dropping the returned future cancels it there too.
    pub(crate) async fn run<F, T>(&self, f: F) -> Result<T, String>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.flights.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let flight = Flight(self.flights.clone());
        let f = async move {
            let _flight = flight;
            f.await
        };
        struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
        impl<T> Drop for AbortOnDrop<T> {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let mut task = AbortOnDrop(match &self.low {
            Some(low) => low.handle.spawn(f),
            None => tokio::spawn(f),
        });
        (&mut task.0).await.map_err(|e| match e.is_panic() {
            // The panic's text stays out of `last_error`, which users read.
            true => {
                tracing::error!("a webhook delivery panicked");
                "the delivery failed inside the server".to_owned()
            }
            false => "the delivery was cancelled".to_owned(),
        })
    }

    /// Waits until no POST is left where they run: a cancelled one is dropped there only when its
    /// thread next runs, and a stopping worker gives its leases back only after that (else the next
    /// holder's events could arrive before the cancelled one).
    pub(crate) async fn settled(&self) {
        loop {
            let done = self.flights.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.flights.n.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }
}

impl Webhooks {
    /// From the key and settings.
    pub fn new(key: seal::SealKey, settings: WebhookSettings) -> anyhow::Result<Self> {
        let client = net::client(settings.allow_private, settings.timeout)?;
        let sender = Sender::start(settings.low_priority)?;
        Ok(Self {
            key,
            settings,
            bell: tokio::sync::watch::Sender::new(0),
            owner: format!("replica-{}", uuid::Uuid::new_v4()),
            client,
            gaps: std::sync::Mutex::default(),
            changes: std::sync::atomic::AtomicU64::new(0),
            shared: deliver::Shared::default(),
            sender,
        })
    }

    /// Tells the delivery tasks something may be new.
    pub fn ring(&self) {
        self.bell.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A subscription changed here: the worker starts or stops its task now.
    fn changed(&self) {
        self.changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.ring();
    }

    /// Whether subscription `id` has waited `grace` at the gap before access record `missing`,
    /// counted from when this replica first saw it there (not from the records' own times, which the
    /// writers set before their inserts waited). Starts the wait when it is new.
    pub fn gap_waited(&self, id: i64, missing: i64, grace: Duration) -> bool {
        let mut gaps = self.gaps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        let seen = gaps.entry(id).or_insert((missing, now));
        if seen.0 != missing {
            *seen = (missing, now);
        }
        now.duration_since(seen.1) >= grace
    }
}

/// `webhook-<n>`.
pub fn webhook_id(n: i64) -> String {
    format!("webhook-{n}")
}

fn parse_id(s: &str) -> Result<i64, ApiError> {
    s.strip_prefix("webhook-")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0 && webhook_id(*n) == s)
        .ok_or_else(|| ApiError::not_found(format!("no webhook {s:?} (ids are webhook-<n>)")))
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::bad_request(codes::INVALID_WEBHOOK, m)
}

fn url_hash(url: &str) -> String {
    Digest::of(url.as_bytes()).to_string()
}

/// A new `whsec_<base64 of 32 random bytes>`.
fn new_secret() -> Result<String, ApiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(ApiError::internal)?;
    Ok(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(b)))
}

/// Checks a target URL now: its scheme, and every address its host has (docs/events.md).
pub async fn check_target(state: &AppState, url: &str) -> Result<url::Url, ApiError> {
    if url.len() > MAX_URL {
        return Err(invalid(format!("the URL is over {MAX_URL} bytes")));
    }
    let u = url::Url::parse(url).map_err(|e| invalid(format!("not a URL: {e}")))?;
    let allow = state.webhooks.settings.allow_private;
    net::check_url(&u, allow).map_err(invalid)?;
    if let Some(url::Host::Domain(host)) = u.host() {
        let port = u.port_or_known_default().unwrap_or(443);
        net::resolve_checked(host, port, allow).await.map_err(invalid)?;
    }
    Ok(u)
}

fn check_events(events: &[String], format: &str) -> Result<(), ApiError> {
    if events.is_empty() || events.len() > MAX_EVENT_TYPES {
        return Err(invalid(format!("name 1 to {MAX_EVENT_TYPES} event types")));
    }
    for e in events {
        if e != "*" && e != ACCESS && !entry::ALL_TYPES.contains(&e.as_str()) {
            return Err(invalid(format!(
                "unknown event type {e:?}: a log entry type (version.created, alias.moved, ...), access, or *"
            )));
        }
    }
    if format == "openlineage" && events.iter().any(|e| e != entry::VERSION_CREATED) {
        return Err(invalid(
            "an openlineage subscription carries version.created only: --events version.created",
        ));
    }
    Ok(())
}

/// Adds a subscription (admin). The secret is in the answer only.
pub async fn add(
    state: &AppState,
    actor: &Actor,
    req: CreateWebhookRequest,
) -> Result<WebhookCreated, ApiError> {
    let format = req.format.clone().unwrap_or_else(|| "cloudevents".into());
    if !FORMATS.contains(&format.as_str()) {
        return Err(invalid(format!("format {format:?}: cloudevents or openlineage")));
    }
    let pattern = NamePattern::parse(&req.namespace).map_err(|e| invalid(e.to_string()))?;
    let mut events = req.events.clone();
    events.sort();
    events.dedup();
    check_events(&events, &format)?;
    let u = check_target(state, &req.url).await?;
    let secret = new_secret()?;
    let key = &state.webhooks.key;
    let access_cursor = state.db.access_last().await?;
    let mut tx = state.db.begin_logged().await?;
    let size: i64 = sqlx::query_scalar("SELECT size FROM log_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::from)?;
    let now = now_ms();
    let mut row = WebhookRow {
        id: 0,
        url_hash: url_hash(u.as_str()),
        url_sealed: key.seal("url", u.as_str().as_bytes()).map_err(ApiError::internal)?,
        secret_sealed: key.seal("secret", secret.as_bytes()).map_err(ApiError::internal)?,
        namespace: pattern.to_string(),
        events: serde_json::to_string(&events).map_err(ApiError::internal)?,
        format: format.clone(),
        paused: 0,
        created_by: actor.id.clone(),
        created_at: now,
        // From its own creation entry on (appended below, at index `size`).
        log_cursor: size,
        access_cursor,
        attempts: 0,
        failing_since: None,
        failing_seq: None,
        next_attempt_at: 0,
        last_error: None,
        delivered: 0,
        lease_owner: None,
        lease_until: 0,
    };
    row.id = wdb::insert(&mut tx, &row).await?;
    let e = log::entry(
        entry::WEBHOOK_ADDED,
        &webhook_id(row.id),
        &actor.id,
        &[
            ("url_hash", json!(row.url_hash)),
            ("namespace", json!(row.namespace)),
            ("events", json!(events)),
            ("format", json!(format)),
        ],
    );
    crate::db::log::append(&mut tx, &e).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.webhooks.changed();
    Ok(WebhookCreated { webhook: info(&row, 0)?, secret })
}

fn info(r: &WebhookRow, dead: i64) -> Result<WebhookInfo, ApiError> {
    Ok(WebhookInfo {
        id: webhook_id(r.id),
        url_hash: r.url_hash.clone(),
        namespace: r.namespace.clone(),
        events: serde_json::from_str(&r.events).map_err(ApiError::internal)?,
        format: r.format.clone(),
        state: if r.paused != 0 { "paused" } else { "active" }.into(),
        created_by: r.created_by.clone(),
        created_at: rfc3339(r.created_at),
        log_cursor: r.log_cursor,
        access_cursor: r.access_cursor,
        delivered: r.delivered,
        attempts: r.attempts,
        next_attempt_at: (r.attempts > 0).then(|| rfc3339(r.next_attempt_at)),
        last_error: r.last_error.clone(),
        dead_letters: dead,
    })
}

/// Every subscription.
pub async fn list(state: &AppState) -> Result<WebhookList, ApiError> {
    let dead: std::collections::HashMap<i64, i64> =
        state.db.webhook_dead_counts().await?.into_iter().collect();
    let rows = state.db.webhooks().await?;
    Ok(WebhookList {
        webhooks: rows
            .iter()
            .map(|r| info(r, dead.get(&r.id).copied().unwrap_or(0)))
            .collect::<Result<_, _>>()?,
    })
}

/// One subscription.
pub async fn get(state: &AppState, id: &str) -> Result<WebhookInfo, ApiError> {
    let n = parse_id(id)?;
    let row = state.db.webhook(n).await?.ok_or_else(|| ApiError::not_found(format!("no webhook {id}")))?;
    let dead = state.db.webhook_dead_counts().await?.into_iter().find(|(i, _)| *i == n).map_or(0, |(_, c)| c);
    info(&row, dead)
}

/// What an admin can do to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Stop delivering (the cursor stays; resuming continues from it).
    Pause,
    /// Deliver again.
    Resume,
    /// Delete it and its dead letters.
    Remove,
    /// Queue its dead letters for delivery again.
    Redeliver,
}

/// Applies `change` to subscription `id`, recorded in the log.
pub async fn change(state: &AppState, actor: &Actor, id: &str, change: Change) -> Result<(), ApiError> {
    let n = parse_id(id)?;
    let mut tx = state.db.begin_logged().await?;
    let (found, kind, details) = match change {
        Change::Pause => (wdb::set_paused(&mut tx, n, true).await?, entry::WEBHOOK_PAUSED, vec![]),
        Change::Resume => (wdb::set_paused(&mut tx, n, false).await?, entry::WEBHOOK_RESUMED, vec![]),
        Change::Remove => (wdb::delete(&mut tx, n).await?, entry::WEBHOOK_REMOVED, vec![]),
        Change::Redeliver => {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM webhooks WHERE id = $1")
                .bind(n)
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::from)?;
            let count = if exists.is_some() { wdb::redeliver(&mut tx, n).await? } else { 0 };
            (exists.is_some(), entry::WEBHOOK_REDELIVERED, vec![("events", json!(count))])
        }
    };
    if !found {
        return Err(ApiError::not_found(format!("no webhook {id}")));
    }
    crate::db::log::append(&mut tx, &log::entry(kind, id, &actor.id, &details)).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.webhooks.changed();
    Ok(())
}

/// Replaces subscription `id`'s signing secret; the new one is in the answer only.
pub async fn rotate_secret(state: &AppState, actor: &Actor, id: &str) -> Result<WebhookCreated, ApiError> {
    let n = parse_id(id)?;
    let secret = new_secret()?;
    let sealed = state.webhooks.key.seal("secret", secret.as_bytes()).map_err(ApiError::internal)?;
    let mut tx = state.db.begin_logged().await?;
    if !wdb::set_secret(&mut tx, n, &sealed).await? {
        return Err(ApiError::not_found(format!("no webhook {id}")));
    }
    crate::db::log::append(&mut tx, &log::entry(entry::WEBHOOK_SECRET_ROTATED, id, &actor.id, &[])).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.webhooks.changed();
    Ok(WebhookCreated { webhook: get(state, id).await?, secret })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The nice value of the thread that calls it (Linux: field 19 of `/proc/thread-self/stat`,
    /// counted after the command name's closing parenthesis).
    #[cfg(target_os = "linux")]
    fn own_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(16).unwrap().parse().unwrap()
    }

    /// Deliveries are signed and sent on threads of their own, at the lowest priority unless asked
    /// otherwise (then on the caller's runtime); the requests' threads keep theirs.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn deliveries_are_sent_below_the_requests_priority() {
        let (ours, me) = (own_nice(), std::thread::current().name().map(str::to_owned));
        assert!(ours < 19, "the test runs at the lowest priority already: it would show nothing");
        for (low, want) in [(true, (19, Some(SEND_THREAD.to_owned()))), (false, (ours, me.clone()))] {
            let settings = WebhookSettings { low_priority: low, ..WebhookSettings::default() };
            let w = Webhooks::new(seal::SealKey::from_bytes(&[7; 32]).unwrap(), settings).unwrap();
            let got = w
                .sender
                .run(async { (own_nice(), std::thread::current().name().map(str::to_owned)) })
                .await
                .unwrap();
            assert_eq!(got, want, "low priority: {low}");
            assert_eq!(own_nice(), ours, "the caller's priority is untouched");
            tokio::time::timeout(Duration::from_secs(10), w.sender.settled()).await.expect("no POST left");
        }
    }
}
