//! The delivery worker: each replica runs one. A subscription is delivered by whichever replica holds
//! its lease (a row lock with an expiry), one event at a time in log order; the cursor moves only
//! after the receiver answered 2xx, and only while the lease is still held. Cursor moves are
//! committed once per subscription per `cursor_flush` (100 ms), not once per event (also while a
//! delivery is in flight), and on a clean stop: a crash or a replica taking over resends what was delivered since the last commit and the
//! event in flight (same `webhook-id`: receivers dedup).
//! A failing event is retried with exponential backoff and jitter; after `dead_after` it becomes a
//! dead letter and the events after it go on.
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use registry_core::auth::NamePattern;
use registry_core::tlog::entry::{self, LogEntry};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{ACCESS, MAX_BACKOFF};
use crate::db::log::SubjectRow;
use crate::db::now_ms;
use crate::db::webhooks::WebhookRow;
use crate::error::ApiError;
use crate::service::events::{model_of, quarantine_visible, visible_to};
use crate::state::AppState;

/// How long this replica waits at a gap in the access records' numbering before it takes it for a
/// rolled-back insert rather than one still committing.
const ACCESS_GAP_GRACE: Duration = Duration::from_secs(5);

/// Events one subscription is sent per round before the others get their turn.
const BATCH: i64 = 500;

/// CloudEvents bodies kept for the subscriptions still to send them (entries never change once
/// committed, so a kept body is the body).
const KEPT_EVENTS: usize = 1024;

/// What this replica's delivery tasks share, so that a change costs one read of the log and one event
/// build however many subscriptions want it, instead of one of each per subscription.
#[derive(Debug, Default)]
pub struct Shared {
    /// The newest read of the log that reached its end. Its lock is held while a task woken by a ring
    /// reads a new one, so the tasks woken with it wait for that read instead of each making their own.
    window: tokio::sync::Mutex<Option<Window>>,
    /// CloudEvents of recent log entries, by index.
    events: Mutex<BTreeMap<i64, Arc<Event>>>,
}

/// One read of the log: the entries after `after`, from a read that began once the bell had reached
/// `rung` (so it holds every change this replica served before that ring).
#[derive(Debug)]
struct Window {
    rung: u64,
    after: i64,
    rows: Vec<Arc<SubjectRow>>,
    /// The read reached the end of the log (fewer than `BATCH` rows).
    end: bool,
}

impl Window {
    /// Reads the entries after `cursor`, at most `BATCH`.
    async fn read(state: &AppState, cursor: i64) -> Result<Self, ApiError> {
        // Looked at before the query starts: every change rung up to here is committed and in it.
        let rung = *state.webhooks.bell.borrow();
        let rows: Vec<Arc<SubjectRow>> = state
            .db
            .log_entries_window(cursor, cursor.saturating_add(BATCH), None, BATCH)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        let end = (rows.len() as i64) < BATCH;
        Ok(Self { rung, after: cursor, rows, end })
    }

    /// Whether it holds everything a task at `cursor` woken at bell value `rung` may need: it reached
    /// the end of the log, began after that ring, and starts at or before the cursor.
    fn serves(&self, cursor: i64, rung: u64) -> bool {
        self.end && self.rung >= rung && self.after <= cursor
    }

    /// Kept for the other tasks when it is shareable and newer than what is kept.
    fn offer(self, kept: &mut Option<Self>) {
        let newer = kept.as_ref().is_none_or(|k| (self.rung, -self.after) > (k.rung, -k.after));
        if self.end && newer {
            *kept = Some(self);
        }
    }

    fn answer(&self, cursor: i64) -> (Vec<Arc<SubjectRow>>, bool) {
        (self.rows.iter().filter(|r| r.idx > cursor).cloned().collect(), !self.end)
    }
}

impl Shared {
    /// The entries after `cursor` (at most `BATCH`) and whether more may follow. `rung`: the bell's
    /// value when the task woke (see [`Window::serves`]); such a task shares the kept read, or makes
    /// the one the tasks woken with it will share. `None` (a poll, looking for what other replicas
    /// appended) always reads; so does a task behind the kept read (catching up), without holding
    /// up the others.
    async fn window(
        &self,
        state: &AppState,
        cursor: i64,
        rung: Option<u64>,
    ) -> Result<(Vec<Arc<SubjectRow>>, bool), ApiError> {
        if let Some(rung) = rung {
            let mut kept = self.window.lock().await;
            match kept.as_ref() {
                Some(w) if w.serves(cursor, rung) => return Ok(w.answer(cursor)),
                Some(w) if w.after > cursor => {} // behind it: a read of its own, below
                _ => {
                    let read = Window::read(state, cursor).await?;
                    let answer = read.answer(cursor);
                    read.offer(&mut kept);
                    return Ok(answer);
                }
            }
        }
        let read = Window::read(state, cursor).await?;
        let answer = read.answer(cursor);
        // Kept if newer; not worth waiting for a shared read in progress.
        if let Ok(mut kept) = self.window.try_lock() {
            read.offer(&mut kept);
        }
        Ok(answer)
    }

    fn event(&self, idx: i64) -> Option<Arc<Event>> {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&idx).cloned()
    }

    fn keep(&self, idx: i64, ev: Arc<Event>) {
        let mut kept = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.insert(idx, ev);
        while kept.len() > KEPT_EVENTS {
            kept.pop_first();
        }
    }
}

/// A running delivery worker.
pub struct Worker {
    handle: tokio::task::JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
}

impl Worker {
    /// Stops it at once, as a killed process would: its leases stay until they expire, and the
    /// cursor moves it had not committed are lost (the next holder resends those events).
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Stops it cleanly: the deliveries in flight are cancelled, what was delivered is committed,
    /// then its leases are given back, so another replica (or this one restarted) goes on at once.
    /// The events in flight are sent again by the next holder (same `webhook-id`).
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.handle.await;
    }
}

/// Starts the worker. Each subscription whose lease this replica holds is delivered by a task of its
/// own that lives as long as the lease: a slow receiver holds back its own subscription only, and a
/// change costs each subscription one read of what is new, not a new round of state reads.
pub fn spawn(state: AppState) -> Worker {
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let handle = tokio::spawn(async move {
        let running: Running = Arc::default();
        let (halt, halted) = tokio::sync::watch::channel(false);
        // Owned here: aborting the worker aborts its tasks too.
        let mut tasks = tokio::task::JoinSet::new();
        let mut bell = state.webhooks.bell.subscribe();
        'work: loop {
            let seen = state.webhooks.changes.load(Ordering::SeqCst);
            if let Err(e) = start_due(&state, &running, &mut tasks, &halted).await {
                tracing::warn!(error = %e.cause().unwrap_or(e.message()), "webhook delivery round failed");
            }
            let sleep = tokio::time::sleep(state.webhooks.settings.poll);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = stopped.notified() => break 'work,
                    // A subscription changed here: start its task now. Other changes reach the
                    // running tasks directly.
                    Ok(()) = bell.changed() => if state.webhooks.changes.load(Ordering::SeqCst) != seen { break },
                    () = &mut sleep => break,
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {} // reaped; keep waiting
                }
            }
        }
        let _ = halt.send(true);
        while tasks.join_next().await.is_some() {}
        // The POSTs the tasks dropped are gone before the leases are (`Sender::settled`); if one
        // lingers, the leases are left to expire, as after a kill.
        let settled =
            tokio::time::timeout(state.webhooks.settings.timeout, state.webhooks.sender.settled()).await;
        if settled.is_err() {
            tracing::warn!("a cancelled webhook delivery outlived the stop; its leases are left to expire");
        } else if let Err(e) = state.db.webhook_release(&state.webhooks.owner).await {
            tracing::warn!(error = %e, "could not give back the webhook leases");
        }
    });
    Worker { handle, stop }
}

/// Subscriptions this process is delivering now.
type Running = Arc<Mutex<HashSet<i64>>>;

/// Leaves [`Running`] when its task ends, however it ends.
struct InFlight(Running, i64);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.1);
    }
}

/// Starts a task for each subscription that is due, has no task here, and whose lease is free,
/// expired or this replica's (and then is taken).
async fn start_due(
    state: &AppState,
    running: &Running,
    tasks: &mut tokio::task::JoinSet<()>,
    halted: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), ApiError> {
    let now = now_ms();
    for w in state.db.webhooks().await? {
        if w.paused != 0 || w.next_attempt_at > now {
            continue;
        }
        // Held by another replica: not even tried (that would be a write per poll).
        if w.lease_owner.as_deref().is_some_and(|o| o != state.webhooks.owner) && w.lease_until > now {
            continue;
        }
        let guard = {
            let mut r = running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !r.insert(w.id) {
                continue;
            }
            InFlight(running.clone(), w.id)
        };
        if !holds(state, &w, now)
            && !state.db.webhook_lease(w.id, &state.webhooks.owner, now, now + lease_ms(state)).await?
        {
            continue; // another replica took it meanwhile (the guard leaves the set)
        }
        let (st, halted) = (state.clone(), halted.clone());
        tasks.spawn(async move {
            let id = w.id;
            // Read again now that the lease is held: the list above may predate a task of this
            // process that has since moved the cursor (its events would be sent twice), or a pause or
            // a secret rotation that took the lease back.
            let fresh = match st.db.webhook(id).await {
                // Not due after all: a task of this replica recorded a failure after the list was read.
                Ok(Some(w)) if w.paused == 0 && w.next_attempt_at <= now_ms() => {
                    let now = now_ms();
                    match holds(&st, &w, now) {
                        true => Ok(Some(w)),
                        false => match st.db.webhook_lease(id, &st.webhooks.owner, now, now + lease_ms(&st)).await {
                            Ok(true) => Ok(Some(WebhookRow { lease_until: now + lease_ms(&st), ..w })),
                            Ok(false) => Ok(None),
                            Err(e) => Err(ApiError::from(e)),
                        },
                    }
                }
                Ok(_) => Ok(None), // removed or paused meanwhile
                Err(e) => Err(ApiError::from(e)),
            };
            let done = match fresh {
                Ok(Some(w)) => deliver_sub(&st, w, halted).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                tracing::warn!(webhook = id, error = %e.cause().unwrap_or(e.message()), "webhook delivery failed");
            }
            drop(guard);
        });
    }
    Ok(())
}

/// Delivers subscription `w` while this replica holds its lease: what is waiting, then each change
/// as it comes (or at the poll, for other replicas' changes). Ends when the lease is gone (a pause, a
/// removal, a rotation, a takeover), when a failure is to be retried later (the worker starts it again
/// then), or when the worker stops; what was delivered is committed in any case but a kill.
async fn deliver_sub(
    state: &AppState,
    w: WebhookRow,
    mut halted: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ApiError> {
    let owner = state.webhooks.owner.clone();
    let (id, attempts) = (w.id, w.attempts);
    let mut sub = match open(state, w) {
        Ok(sub) => sub,
        Err(e) => {
            // Nothing of it can be sent (its URL or secret does not open: a sealing key replaced by
            // `server-keys --accept`): shown in its state, retried with backoff, lease given back.
            let now = now_ms();
            let error = format!("opening the subscription: {}", e.cause().unwrap_or(e.message()));
            let next = now + backoff(state.webhooks.settings.retry_base, attempts).as_millis() as i64;
            state.db.webhook_failed(id, &owner, OPEN, now, next, &error).await?;
            state.db.webhook_release_one(id, &owner).await?;
            return Ok(());
        }
    };
    if sub.row.failing_seq.as_deref() == Some(OPEN) {
        state.db.webhook_clear_failure(id, &owner, OPEN).await?;
        sub.settled(OPEN);
    }
    let (every, poll) = (state.webhooks.settings.cursor_flush, state.webhooks.settings.poll);
    let mut bell = state.webhooks.bell.subscribe();
    let mut progress = Progress::default();
    // Redeliveries are queued by a subscription change: looked for at the start, after a change
    // served here, and at each poll.
    let mut retries_seen: Option<u64> = None;
    // The first round reads the log afresh, as a poll does (entries other replicas appended).
    let mut polled = true;
    // One poll clock for the task's life: changes ringing the bell do not put it off.
    let mut next_poll = tokio::time::Instant::now() + poll;
    let ended = loop {
        if *halted.borrow() {
            break Ok(());
        }
        let rung = *bell.borrow_and_update();
        if tokio::time::Instant::now() >= next_poll {
            // A busy subscription reaches its poll too (redeliveries queued through other replicas).
            next_poll = tokio::time::Instant::now() + poll;
            polled = true;
        }
        let changes = state.webhooks.changes.load(Ordering::SeqCst);
        let retries = polled || retries_seen != Some(changes);
        retries_seen = Some(changes);
        let rung = (!polled).then_some(rung);
        polled = false;
        let outcome = tokio::select! {
            // The delivery in flight is dropped: the next holder sends it again.
            _ = halted.changed() => break Ok(()),
            r = deliver_waiting(state, &mut sub, &mut progress, retries, rung) => r,
        };
        match outcome {
            Ok(Some(true)) => continue,
            Ok(Some(false)) => {}
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
        // Caught up: wait for a change, the poll, or the time to commit the moves made.
        let commit_at = progress.since.map(|s| tokio::time::Instant::from_std(s + every));
        tokio::select! {
            _ = halted.changed() => break Ok(()),
            Ok(()) = bell.changed() => {}
            () = tokio::time::sleep_until(next_poll) => {
                next_poll = tokio::time::Instant::now() + poll;
                polled = true;
                match sub.keep_lease(state).await {
                    Ok(true) => {}
                    Ok(false) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
            () = tokio::time::sleep_until(commit_at.unwrap_or_else(tokio::time::Instant::now)), if commit_at.is_some() => {
                match progress.flush(state, id).await {
                    Ok(true) => {}
                    Ok(false) => break Ok(()), // removed
                    Err(e) => break Err(e),
                }
            }
        }
    };
    if let Err(e) = progress.flush(state, id).await {
        tracing::warn!(webhook = id, error = %e.cause().unwrap_or(e.message()), "could not commit a webhook cursor");
    }
    ended
}

/// Cursor moves delivered and not committed yet (see `WebhookSettings::cursor_flush`): a commit per
/// subscription per few events instead of one per event, which took the database's one writer from
/// the pushes three times per push with three subscribers (docs/benchmarks.md).
#[derive(Debug, Default)]
struct Progress {
    log: Move,
    access: Move,
    /// When the oldest of them was made.
    since: Option<Instant>,
}

/// One sequence's held move.
#[derive(Debug, Default)]
struct Move {
    /// The cursor's new place.
    to: Option<i64>,
    /// Events delivered on the way.
    delivered: i64,
    /// A success on the way: the sequence's failure, if it was failing, is over.
    settled: bool,
}

impl Progress {
    /// Sequence `access` (else the log) got to `to`, `delivered` events sent on the way.
    fn note(&mut self, access: bool, to: i64, delivered: i64, settled: bool) {
        let m = if access { &mut self.access } else { &mut self.log };
        m.to = Some(m.to.map_or(to, |t| t.max(to)));
        m.delivered += delivered;
        m.settled |= settled;
        self.since.get_or_insert_with(Instant::now);
    }

    fn due(&self, every: Duration) -> bool {
        self.since.is_some_and(|s| s.elapsed() >= every)
    }

    /// Commits the moves (forward only, whoever holds the lease now): false when the subscription is
    /// gone. A move leaves `self` only once committed, so a flush cut short (a stop while it waits
    /// for the database) leaves it for the next one.
    async fn flush(&mut self, state: &AppState, id: i64) -> Result<bool, ApiError> {
        for access in [false, true] {
            let m = if access { &self.access } else { &self.log };
            if let Some(to) = m.to {
                if !state.db.webhook_advance(id, access, to, m.delivered, m.settled).await? {
                    *self = Progress::default();
                    return Ok(false);
                }
                *(if access { &mut self.access } else { &mut self.log }) = Move::default();
            }
        }
        self.since = None;
        Ok(true)
    }
}

/// Whether this replica holds `w`'s lease with more than a delivery's time left.
fn holds(state: &AppState, w: &WebhookRow, now: i64) -> bool {
    w.lease_owner.as_deref() == Some(state.webhooks.owner.as_str())
        && w.lease_until - now > renew_margin(state)
}

/// How long a lease lasts: room for two deliveries and a margin. It is renewed before each delivery
/// once less than [`renew_margin`] is left, so a holder never sends past its lease; a replica killed
/// without releasing its leases holds them up to this long.
fn lease_ms(state: &AppState) -> i64 {
    2 * timeout_ms(state) + 5_000
}

/// Renew when less than one delivery and a margin is left.
fn renew_margin(state: &AppState) -> i64 {
    timeout_ms(state) + 2_000
}

fn timeout_ms(state: &AppState) -> i64 {
    i64::try_from(state.webhooks.settings.timeout.as_millis()).unwrap_or(i64::MAX / 4)
}

/// What a subscription wants, decoded.
struct Sub {
    row: WebhookRow,
    /// The target, parsed once (`None`: the stored text does not parse, each delivery fails so).
    url: Option<url::Url>,
    /// The signing key, decoded once (`Err`: the stored secret is not `whsec_` base64).
    key: Result<Arc<[u8]>, String>,
    events: Vec<String>,
    pattern: NamePattern,
    lease_until: i64,
    /// When the lease was last read back, and this replica's subscription changes then.
    checked: Option<(Instant, u64)>,
}

impl Sub {
    fn wants(&self, kind: &str, subject: &str) -> bool {
        (self.events.iter().any(|e| e == "*" || e == kind)) && visible_to(&self.pattern, kind, subject)
    }

    fn wants_access(&self) -> bool {
        self.events.iter().any(|e| e == ACCESS)
    }

    /// An access record's target is a model's version (bundle downloads) or a blob digest (tied to
    /// no model: `*` subscriptions only, as entries tied to no model).
    fn covers_target(&self, target: &str) -> bool {
        self.pattern.is_any() || model_of(target).is_some_and(|m| self.pattern.matches(&m))
    }

    /// Keeps the lease for the next delivery: false when it is no longer this replica's (taken back
    /// by a pause or a secret rotation, or expired and taken over). Only renews, never takes: a lease
    /// taken back mid-batch stays taken back. While the lease has time left it is read back every
    /// `cursor_flush`, and at once after this replica changed a subscription (cursor commits are
    /// batched, so they no longer tell).
    async fn keep_lease(&mut self, state: &AppState) -> Result<bool, ApiError> {
        let now = now_ms();
        if self.lease_until - now > renew_margin(state) {
            let changes = state.webhooks.changes.load(std::sync::atomic::Ordering::SeqCst);
            let every = state.webhooks.settings.cursor_flush;
            if self.checked.is_some_and(|(at, c)| c == changes && at.elapsed() < every) {
                return Ok(true);
            }
            self.checked = Some((Instant::now(), changes));
            return Ok(state.db.webhook_held(self.row.id, &state.webhooks.owner).await?);
        }
        let until = now + lease_ms(state);
        let held = state.db.webhook_renew(self.row.id, &state.webhooks.owner, until).await?;
        self.lease_until = until;
        Ok(held)
    }

    /// A success (or nothing left to send) in sequence `seq`: its failure, if it was failing, is over.
    fn settled(&mut self, seq: &str) {
        if self.row.failing_seq.as_deref() == Some(seq) {
            self.row.failing_seq = None;
            self.row.failing_since = None;
            self.row.attempts = 0;
        }
    }
}

fn open(state: &AppState, w: WebhookRow) -> Result<Sub, ApiError> {
    let key = &state.webhooks.key;
    let text = |what: &str, sealed: &str| -> Result<String, ApiError> {
        let b = key.open(what, sealed).map_err(ApiError::internal)?;
        String::from_utf8(b).map_err(ApiError::internal)
    };
    Ok(Sub {
        url: url::Url::parse(&text("url", &w.url_sealed)?).ok(),
        key: signing_key(&text("secret", &w.secret_sealed)?).map(Arc::from),
        events: serde_json::from_str(&w.events).map_err(ApiError::internal)?,
        pattern: NamePattern::parse(&w.namespace).map_err(ApiError::internal)?,
        lease_until: w.lease_until,
        checked: None,
        row: w,
    })
}

/// Sends what `sub` has waiting: `Some(more)` when it went through (`more`: events remain beyond
/// this round), `None` when it stopped short because this replica no longer holds the lease. `rung`:
/// see [`Shared::window`].
async fn deliver_waiting(
    state: &AppState,
    sub: &mut Sub,
    progress: &mut Progress,
    retries: bool,
    rung: Option<u64>,
) -> Result<Option<bool>, ApiError> {
    let (id, owner) = (sub.row.id, state.webhooks.owner.clone());
    let every = state.webhooks.settings.cursor_flush;

    // Each redelivery is recorded only while the lease is still held (a pause, a removal or a secret
    // rotation stops them after the one in flight).
    let queued = if retries { state.db.webhook_retries(id, BATCH).await? } else { vec![] };
    for d in queued {
        if !sub.keep_lease(state).await? {
            return Ok(None);
        }
        let ok = match event(state, sub, &d.seq, d.idx, None).await {
            Ok(Some(ev)) => send(state, sub, &ev).await.is_ok(),
            Ok(None) => true, // nothing to send any more
            Err(e) => {
                tracing::warn!(webhook = id, seq = %d.seq, index = d.idx, error = %built(&e), "webhook event not built");
                false // stays dead
            }
        };
        if !state.db.webhook_retry_done(id, &owner, &d.seq, d.idx, ok).await? {
            return Ok(None);
        }
    }

    // What is new: the entries after the cursor (indexes are dense), a batch at a time.
    let (rows, mut more) = state.webhooks.shared.window(state, sub.row.log_cursor, rung).await?;
    for r in rows {
        if sub.wants(&r.kind, &r.subject) {
            if !sub.keep_lease(state).await? {
                return Ok(None); // the lease moved on: the new holder resends from its cursor
            }
            let sent = match event(state, sub, LOG, r.idx, Some(&r.body)).await {
                Ok(None) => None, // nothing to send for it
                Ok(Some(ev)) => match send_committing(state, sub, &ev, progress).await? {
                    Some(r) => Some(r),
                    None => return Ok(None), // removed
                },
                Err(e) => Some(Err(built(&e))),
            };
            match sent {
                None | Some(Ok(())) => {
                    progress.note(false, r.idx, i64::from(sent.is_some()), true);
                    sub.settled(LOG);
                }
                // What went before is committed, then the failure (or the dead letter) recorded.
                Some(Err(e)) => {
                    if !progress.flush(state, id).await? || !give_up(state, sub, LOG, r.idx, &e).await? {
                        return Ok(None);
                    }
                }
            }
        } else if r.idx > sub.row.log_cursor {
            progress.note(false, r.idx, 0, false); // not wanted: passed
        }
        sub.row.log_cursor = r.idx;
        if progress.due(every) && !progress.flush(state, id).await? {
            return Ok(None);
        }
    }

    if sub.wants_access() {
        let rows = state.db.access_after(sub.row.access_cursor, BATCH).await?;
        let full = rows.len() as i64 == BATCH;
        let mut expect = sub.row.access_cursor + 1;
        let mut gap = false;
        for (aid, _, _, _, target) in rows {
            // Access records are numbered when written, not when committed: on PostgreSQL a lower
            // number can still be committing while a higher one is visible. Moving past such a gap
            // would lose that record for good, so a gap is crossed only once this replica has seen
            // it for a while (then it is taken for a rolled-back insert).
            if aid != expect && !state.webhooks.gap_waited(id, expect, ACCESS_GAP_GRACE) {
                gap = true; // looked at again at the next poll, not at once
                break;
            }
            expect = aid + 1;
            if sub.covers_target(&target) {
                if !sub.keep_lease(state).await? {
                    return Ok(None);
                }
                let sent = match event(state, sub, ACCESS, aid, None).await {
                    Ok(None) => None,
                    Ok(Some(ev)) => match send_committing(state, sub, &ev, progress).await? {
                        Some(r) => Some(r),
                        None => return Ok(None),
                    },
                    Err(e) => Some(Err(built(&e))),
                };
                match sent {
                    None | Some(Ok(())) => {
                        progress.note(true, aid, i64::from(sent.is_some()), true);
                        sub.settled(ACCESS);
                    }
                    Some(Err(e)) => {
                        if !progress.flush(state, id).await? || !give_up(state, sub, ACCESS, aid, &e).await? {
                            return Ok(None);
                        }
                    }
                }
            } else {
                progress.note(true, aid, 0, false); // not this subscription's: passed
            }
            sub.row.access_cursor = aid;
            if progress.due(every) && !progress.flush(state, id).await? {
                return Ok(None);
            }
        }
        more |= full && !gap;
    }
    Ok(Some(more))
}

/// Sends `ev` while committing, when they come due, the moves made before it: a receiver that
/// holds a request (up to the timeout) does not hold back what was already delivered, which a crash
/// meanwhile would otherwise send again. `None` when the subscription was removed meanwhile.
async fn send_committing(
    state: &AppState,
    sub: &Sub,
    ev: &Arc<Event>,
    progress: &mut Progress,
) -> Result<Option<Result<(), String>>, ApiError> {
    let every = state.webhooks.settings.cursor_flush;
    let sending = send(state, sub, ev);
    tokio::pin!(sending);
    loop {
        let commit_at = progress.since.map(|s| tokio::time::Instant::from_std(s + every));
        tokio::select! {
            r = &mut sending => return Ok(Some(r)),
            () = tokio::time::sleep_until(commit_at.unwrap_or_else(tokio::time::Instant::now)), if commit_at.is_some() => {
                if !progress.flush(state, sub.row.id).await? {
                    return Ok(None);
                }
            }
        }
    }
}

/// The log's sequence name (dead letters, failure state).
const LOG: &str = "log";
/// The failure "sequence" of a subscription that does not open.
const OPEN: &str = "open";

/// Why an event could not be made (a stored record that no longer checks out): a delivery failure
/// like any other, so it is retried, shown, and in the end dead-lettered instead of blocking the rest.
fn built(e: &ApiError) -> String {
    format!("building the event: {}", e.cause().unwrap_or(e.message()))
}

/// After a failed delivery of `idx`: a dead letter when it has failed for `dead_after` (true: go
/// on with the next event), else a retry scheduled with backoff (false: stop for now).
async fn give_up(
    state: &AppState,
    sub: &mut Sub,
    seq: &str,
    idx: i64,
    error: &str,
) -> Result<bool, ApiError> {
    let now = now_ms();
    let s = &state.webhooks.settings;
    // Each sequence keeps its own clock: a failure in the other one says nothing of this event.
    let same = sub.row.failing_seq.as_deref() == Some(seq);
    let since = sub.row.failing_since.filter(|_| same).unwrap_or(now);
    if now - since >= i64::try_from(s.dead_after.as_millis()).unwrap_or(i64::MAX) {
        tracing::warn!(webhook = sub.row.id, seq, index = idx, error, "webhook event dead-lettered");
        // False when the lease is gone (paused, rotated, taken over): stop, send nothing more.
        let moved =
            state.db.webhook_dead_letter(sub.row.id, &state.webhooks.owner, seq, idx, now, error).await?;
        sub.row.failing_since = None;
        sub.row.failing_seq = None;
        sub.row.attempts = 0;
        return Ok(moved);
    }
    let delay = backoff(s.retry_base, if same { sub.row.attempts } else { 0 });
    state
        .db
        .webhook_failed(sub.row.id, &state.webhooks.owner, seq, now, now + delay.as_millis() as i64, error)
        .await?;
    Ok(false)
}

/// `base · 2^attempts`, at most [`MAX_BACKOFF`], then ±25% jitter.
fn backoff(base: Duration, attempts: i64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.clamp(0, 20) as u32).min(MAX_BACKOFF);
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let r = f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX); // 0..=1
    exp.mul_f64(0.75 + r / 2.0)
}

/// One event ready to send.
#[derive(Debug)]
struct Event {
    id: String,
    /// The log entry's type (`access` for access records).
    kind: String,
    body: bytes::Bytes,
    content_type: &'static str,
}

const CLOUDEVENTS_JSON: &str = "application/cloudevents+json; charset=utf-8";

/// The event for log entry (or access record) `idx` in the subscription's format; `None` when there
/// is nothing to send for it (the record is gone, or the format has no event for it). `known`: the
/// entry's body when the caller has just read it.
async fn event(
    state: &AppState,
    sub: &Sub,
    seq: &str,
    idx: i64,
    known: Option<&str>,
) -> Result<Option<Arc<Event>>, ApiError> {
    // Built already for another subscription: only whether this one may see it is its own.
    let cloudevents = seq == LOG && sub.row.format != "openlineage";
    if let (true, Some(body)) = (cloudevents, known)
        && let Some(ev) = state.webhooks.shared.event(idx)
    {
        return Ok(quarantine_visible(state, &sub.pattern, &ev.kind, body).await?.then_some(ev));
    }
    let source = format!("{}/v1/log", state.settings.public_origin.as_deref().unwrap_or(""));
    if seq == ACCESS {
        let Some((id, at, actor, action, target)) = state.db.access_one(idx).await? else { return Ok(None) };
        let body = json!({
            "specversion": "1.0",
            "id": format!("access-{id}"),
            "source": format!("{}/v1/audit", state.settings.public_origin.as_deref().unwrap_or("")),
            "type": format!("dev.registry.access.{action}"),
            "subject": target,
            "time": crate::db::rfc3339(at),
            "datacontenttype": "application/json",
            "data": {"id": id, "actor": actor, "action": action, "target": target},
        });
        return Ok(Some(Arc::new(Event {
            id: format!("access-{id}"),
            kind: ACCESS.to_owned(),
            body: serde_json::to_vec(&body).map_err(ApiError::internal)?.into(),
            content_type: CLOUDEVENTS_JSON,
        })));
    }
    let body = match known {
        Some(b) => b.to_owned(),
        None => match state.db.log_entries(idx as u64, idx as u64 + 1).await?.into_iter().next() {
            Some(row) => row.body,
            None => return Ok(None),
        },
    };
    let e = LogEntry::parse(body.as_bytes()).map_err(ApiError::internal)?;
    // Checked here, with the event: a failure to decide is a delivery failure like any other.
    if !quarantine_visible(state, &sub.pattern, &e.kind, &body).await? {
        return Ok(None);
    }
    let id = format!("log-{idx}");
    if sub.row.format == "openlineage" {
        return Ok(openlineage(state, &e, id).await?.map(Arc::new));
    }
    let raw: Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
    let (model, version) = match entry::MODEL_TYPES.contains(&e.kind.as_str()) {
        true => (
            model_of(&e.subject).map(|m| m.to_string()),
            e.subject.split_once('@').map(|(_, v)| v.to_owned()),
        ),
        false => (None, None),
    };
    let decision = match e.kind.as_str() {
        entry::ALIAS_MOVED => Some("allowed"),
        entry::ALIAS_DENIED => Some("denied"),
        _ => None,
    };
    let mut data = json!({
        "index": idx,
        "entry": raw,
        "actor": e.actor,
        "model": model,
        "version": version,
        "alias": e.details.get("alias"),
        "decision": decision,
        "reasons": e.details.get("reasons"),
        "quarantine": e.details.get("quarantine").or_else(|| e.details.get("seed")),
    });
    if let Some(m) = data.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    let mut ce = json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": format!("dev.registry.{}", e.kind),
        "time": e.time,
        "datacontenttype": "application/json",
        "data": data,
    });
    if model.is_some() {
        ce["subject"] = json!(e.subject);
    }
    let ev = Arc::new(Event {
        id,
        kind: e.kind,
        body: serde_json::to_vec(&ce).map_err(ApiError::internal)?.into(),
        content_type: CLOUDEVENTS_JSON,
    });
    state.webhooks.shared.keep(idx, ev.clone());
    Ok(Some(ev))
}

/// A version creation as an OpenLineage RunEvent (other entries: nothing), from the version's
/// stored lineage after its hash check (`registry_core::openlineage`, docs/events.md).
async fn openlineage(state: &AppState, e: &LogEntry, id: String) -> Result<Option<Event>, ApiError> {
    if e.kind != entry::VERSION_CREATED {
        return Ok(None);
    }
    let (Some(model), Some((_, label))) = (model_of(&e.subject), e.subject.split_once('@')) else {
        return Ok(None);
    };
    let row = match state.db.version_get(&model, label).await {
        Ok(r) => r,
        Err(crate::db::DbError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // What the event says must be what the log recorded: the stored manifest, and the stored
    // lineage the event is drawn from, hash to the digests in the entry (a row altered since is a
    // failure, in the end a dead letter; never a lineage the log does not back).
    let manifest = crate::service::read::checked_manifest(&row)?;
    let logged = |k: &str| e.details.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let lineage_digest = registry_core::Digest::of(row.lineage.as_bytes()).to_string();
    if logged("manifest_digest").is_some_and(|d| d != manifest.to_string())
        || logged("lineage_digest").is_some_and(|d| d != lineage_digest)
    {
        return Err(ApiError::internal(format!(
            "{model}@{label}: the stored manifest or lineage is not what log entry {} recorded",
            id.trim_start_matches("log-")
        )));
    }
    let lineage: registry_core::lineage::Lineage =
        serde_json::from_str(&row.lineage).map_err(ApiError::internal)?;
    let label = registry_core::VersionLabel::parse(label).map_err(ApiError::internal)?;
    let digest = |h: &str| registry_core::Digest::from_hex(h).map_err(ApiError::internal);
    let origin = state.settings.public_origin.as_deref().unwrap_or("http://localhost");
    let emitter = registry_core::openlineage::Emitter {
        producer: PRODUCER,
        namespace: &registry_core::openlineage::registry_namespace(origin),
    };
    let ev = registry_core::openlineage::run_event(
        &model,
        &label,
        &lineage,
        &digest(&row.manifest_digest)?,
        &digest(&row.oms_root_digest)?,
        &e.time,
        &emitter,
    );
    Ok(Some(Event {
        id,
        kind: e.kind.clone(),
        body: serde_json::to_vec(&ev).map_err(ApiError::internal)?.into(),
        content_type: "application/json",
    }))
}

/// The `producer` of OpenLineage events: this build.
const PRODUCER: &str = concat!("https://github.com/registry/registry/tree/v", env!("CARGO_PKG_VERSION"));

/// The Standard Webhooks signature: `v1,` and base64 HMAC-SHA256 over `id.timestamp.body`, keyed
/// by the secret's bytes (after `whsec_`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    sign_with(&signing_key(secret)?, id, timestamp, body)
}

/// The key bytes of a `whsec_<base64>` secret.
fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the signing secret is not base64".to_owned())
}

/// [`sign`] with the key already decoded.
fn sign_with(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// POSTs one event; `Err` carries what went wrong, never the URL. The signing and the HTTP work run
/// where `super::Sender` runs POSTs: by default on its threads, below the requests' priority.
async fn send(state: &AppState, sub: &Sub, ev: &Arc<Event>) -> Result<(), String> {
    let url = sub.url.clone().ok_or_else(|| "the stored URL does not parse".to_owned())?;
    // A literal address never reaches the resolver's check: check it here, at every delivery.
    super::net::check_url(&url, state.webhooks.settings.allow_private)?;
    let key = sub.key.clone()?;
    let (client, ev) = (state.webhooks.client.clone(), ev.clone());
    let timeout = state.webhooks.settings.timeout;
    // Bounded here as well as by the client: this clock, not the send threads', is the one the
    // lease is kept by (decisions §33).
    let post = state.webhooks.sender.run(async move {
        let ts = now_ms() / 1000;
        let sig = sign_with(&key, &ev.id, ts, &ev.body)?;
        let resp = client
            .post(url)
            .header("content-type", ev.content_type)
            .header("webhook-id", &ev.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(ev.body.clone())
            .send()
            .await
            .map_err(|e| chain(&e.without_url()))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(format!("HTTP {status}: redirects are not followed"))
        } else {
            Err(format!("HTTP {status}"))
        }
    });
    match tokio::time::timeout(timeout, post).await {
        Ok(sent) => sent?,
        Err(_) => Err(format!("timed out after {timeout:?}")),
    }
}

/// An error and its causes, one line (reqwest's own text without the URL).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Appends `n` `key.trusted` entries (tied to no model) in one transaction; rings the bell when
    /// `ring` (as a request served here does), not when another replica is taken to have written
    /// them. The last one's index.
    async fn append_n(state: &AppState, subject: &str, n: usize, ring: bool) -> i64 {
        let mut tx = state.db.begin_logged().await.unwrap();
        let mut idx = 0;
        for _ in 0..n {
            let e = crate::service::log::entry("key.trusted", subject, "t", &[]);
            idx = crate::db::log::append(&mut tx, &e).await.unwrap();
        }
        tx.commit().await.unwrap();
        if ring {
            state.webhooks.ring();
        }
        i64::try_from(idx).unwrap()
    }

    async fn append(state: &AppState, subject: &str, ring: bool) -> i64 {
        append_n(state, subject, 1, ring).await
    }

    fn idxs(rows: &[Arc<SubjectRow>]) -> Vec<i64> {
        rows.iter().map(|r| r.idx).collect()
    }

    /// The tasks woken by one change share one read of the log; a change rung after that read, a
    /// poll, or a cursor behind the read's start always reads the database again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_woken_by_one_change_share_one_read_and_never_miss_a_later_one() {
        let mut s = crate::testing::TestServer::start().await;
        s.stop_webhooks_cleanly().await; // only this test reads through the shared window
        let (st, shared) = (&s.state, &s.state.webhooks.shared);
        let a = append(st, "a", true).await;
        let woke = *st.webhooks.bell.borrow();
        let (rows, more) = shared.window(st, a - 1, Some(woke)).await.unwrap();
        assert_eq!((idxs(&rows), more), (vec![a], false));

        // Written by "another replica" (no ring here): a task woken by the same ring is served the
        // read above, so it does not see it — the proof that it did not read again.
        let b = append(st, "b", false).await;
        let (rows, _) = shared.window(st, a - 1, Some(woke)).await.unwrap();
        assert_eq!(idxs(&rows), [a], "served from the shared read");
        let (rows, _) = shared.window(st, a, Some(woke)).await.unwrap();
        assert!(rows.is_empty(), "a cursor ahead of the read's start gets only what follows it");
        // A poll reads: other replicas' entries are found there.
        let (rows, _) = shared.window(st, a - 1, None).await.unwrap();
        assert_eq!(idxs(&rows), [a, b], "a poll reads the database");

        // A change served here after the shared read rings the bell: it is never missed.
        let c = append(st, "c", true).await;
        let rung = *st.webhooks.bell.borrow();
        let (rows, _) = shared.window(st, a, Some(rung)).await.unwrap();
        assert_eq!(idxs(&rows), [b, c], "a ring after the read makes the next task read");
        // A cursor behind the last read's start reads too (the shared read does not cover it).
        let d = append(st, "d", false).await;
        let (rows, _) = shared.window(st, a - 1, Some(rung)).await.unwrap();
        assert_eq!(idxs(&rows), [a, b, c, d], "a cursor behind the read reads the database");

        // A read that did not reach the end of the log (a full batch) is never shared.
        let full = append_n(st, "e", BATCH as usize, true).await;
        let rung = *st.webhooks.bell.borrow();
        let (rows, more) = shared.window(st, d, Some(rung)).await.unwrap();
        assert_eq!((rows.len() as i64, rows.last().map(|r| r.idx), more), (BATCH, Some(full), true));
        let x = append(st, "x", false).await;
        let (rows, _) = shared.window(st, full - 1, Some(rung)).await.unwrap();
        assert_eq!(idxs(&rows), [full, x], "a full batch's read is not reused");
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_bounded() {
        let base = Duration::from_millis(100);
        for a in 0..6 {
            let d = backoff(base, a);
            let exp = base * (1 << a);
            assert!(d >= exp.mul_f64(0.75) && d <= exp.mul_f64(1.25), "{a}: {d:?}");
        }
        assert!(backoff(base, 60) <= MAX_BACKOFF.mul_f64(1.25));
    }
}
