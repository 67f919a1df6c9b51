//! Resumable uploads: a blob sent in parts over many requests (and processes, and restarts).
//!
//! The server hashes parts in order as they arrive, keeping the SHA-256 state after the last
//! confirmed part in the database, so completing needs no second read of the bytes and no copy in the
//! store. A part that arrives before its predecessor waits (briefly) for it; a part the server already
//! hashed may be sent again only with the same bytes. Parts go into a pending multipart upload (a
//! staging file on a local directory) that becomes visible under the digest only after the digest
//! checked out.
//!
//! Memory: on a local directory a part waits for its turn unread, then is hashed and written in
//! place as it arrives, a batch at a time, so no part is held. A remote store's part upload takes a
//! part whole, so there parts are held in memory, within one budget for the whole server
//! (`--upload-memory-budget`): a part beyond it waits up to [`BUDGET_WAIT`], then is refused with 429
//! and `Retry-After` (the client sends it again then), never an out-of-memory.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use registry_core::api::{BlobResponse, CreateUploadRequest, UploadList, UploadSession, codes};
use registry_core::{Digest, Hasher};

use crate::auth::Actor;
use crate::db::uploads::{PartRow, SessionRow};
use crate::db::{now_ms, rfc3339, to_i64};
use crate::error::ApiError;
use crate::state::AppState;

/// Most parts in a session (S3's limit); larger blobs get larger parts.
pub const MAX_PARTS: u64 = 10_000;
/// How long a part waits for the part before it to be hashed.
const WAIT_FOR_PREDECESSOR: Duration = Duration::from_secs(60);
/// How long a part waits for room in the memory budget before it is refused with 429 (the default
/// of `Settings::upload_budget_wait`).
pub const BUDGET_WAIT: Duration = Duration::from_secs(10);
/// What a refused part is told to wait before it is sent again (`Retry-After`, seconds).
pub const RETRY_AFTER_SECS: u64 = 1;
/// Most of a streamed part held at once: it is hashed and written a batch at a time.
const STREAM_BATCH: usize = 256 << 10;
/// The budget counts in KiB (a semaphore's permits).
const UNIT: u64 = 1024;

/// What resumable uploads share across requests: the memory budget for parts held whole, and each
/// session's turn (one part at a time is written in place into a local staging file).
#[derive(Debug)]
pub struct Uploads {
    budget: tokio::sync::Semaphore,
    units: u32,
    wait: Duration,
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Uploads {
    /// With a budget of `bytes` for parts held in memory; a part waits up to `wait` for room.
    pub fn new(bytes: u64, wait: Duration) -> Self {
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Self { budget: tokio::sync::Semaphore::new(units as usize), units, wait, turns: Mutex::default() }
    }

    /// Bytes of the budget held now (`/metrics`).
    pub fn held(&self) -> u64 {
        u64::from(self.units).saturating_sub(self.budget.available_permits() as u64) * UNIT
    }

    /// Room for `bytes` (at most the whole budget) for as long as the permit lives: waits up to
    /// its `wait`, then [`UploadError::Busy`].
    async fn hold(&self, bytes: u64) -> Result<tokio::sync::SemaphorePermit<'_>, UploadError> {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX).min(self.units);
        match tokio::time::timeout(self.wait, self.budget.acquire_many(units)).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(UploadError::Busy { retry_after: RETRY_AFTER_SECS }),
        }
    }

    /// Session `id`'s turn to write a part in place (or to complete it): one request at a time per
    /// session.
    async fn turn(&self, id: &str) -> Turn<'_> {
        let m = self
            .turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(id.to_owned())
            .or_default()
            .clone();
        Turn { uploads: self, id: id.to_owned(), guard: Some(Arc::new(m.lock_owned().await)) }
    }
}

/// A session's turn; its entry goes when nobody else waits for it. Each write into the staging file
/// holds a share of it ([`Turn::share`]) until the write is done: a request dropped mid-part (its
/// client gone) keeps the turn until its writes in flight on the blocking pool have finished, so they
/// can never land after the next request's bytes.
struct Turn<'a> {
    uploads: &'a Uploads,
    id: String,
    guard: Option<Arc<tokio::sync::OwnedMutexGuard<()>>>,
}

impl Turn<'_> {
    fn share(&self) -> Option<Arc<tokio::sync::OwnedMutexGuard<()>>> {
        self.guard.clone()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut m = self.uploads.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.get(&self.id).is_some_and(|a| Arc::strong_count(a) == 1) {
            m.remove(&self.id);
        }
    }
}

/// Why an upload step was refused, beyond bad input and storage faults (`Other`). `error.rs` picks
/// the status and code of each.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The session expired, or was completed or aborted.
    #[error("upload {0} expired, completed or aborted")]
    Gone(String),
    /// The announced size is over the server's blob size limit.
    #[error("blob of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Announced.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A part already hashed was sent again with other bytes.
    #[error("part {0} was confirmed with other bytes")]
    PartConflict(u64),
    /// A part waited for its predecessor until the wait ran out.
    #[error("part {part} waited for part {next} which has not arrived; send parts in order")]
    PartOutOfOrder {
        /// The part that waited.
        part: u64,
        /// The part the session waits for.
        next: i64,
    },
    /// The store is full: the session was discarded, its staged parts freed.
    #[error(
        "the registry's storage is full: upload {0} was discarded and its staged parts freed; \
         push again once space is freed"
    )]
    StorageFull(String),
    /// The server's memory budget for parts is taken: send the part again after `retry_after` s.
    #[error(
        "the server is holding as many upload parts as its memory budget allows; send this part again in {retry_after} s"
    )]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Completing before every part is confirmed; `missing` lists the first of them.
    #[error("{count} of {total} parts are not confirmed yet")]
    Incomplete {
        /// How many parts are missing.
        count: usize,
        /// Parts in the session.
        total: u64,
        /// The first missing parts.
        missing: Vec<u64>,
    },
    /// Bad input, storage faults and the rest.
    #[error("{0}")]
    Other(ApiError),
}

impl From<ApiError> for UploadError {
    fn from(e: ApiError) -> Self {
        UploadError::Other(e)
    }
}

impl From<crate::db::DbError> for UploadError {
    fn from(e: crate::db::DbError) -> Self {
        UploadError::Other(e.into())
    }
}

impl From<crate::blob::BlobError> for UploadError {
    fn from(e: crate::blob::BlobError) -> Self {
        UploadError::Other(e.into())
    }
}

fn gone(id: &str) -> UploadError {
    UploadError::Gone(id.to_owned())
}

fn expires(state: &AppState) -> i64 {
    now_ms().saturating_add(i64::try_from(state.settings.upload_expiry.as_millis()).unwrap_or(i64::MAX))
}

fn parts_of(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size)
}

async fn view(state: &AppState, s: &SessionRow) -> Result<UploadSession, UploadError> {
    let parts = state.db.upload_parts(&s.id).await?;
    let digest = Digest::from_hex(&s.digest).map_err(ApiError::internal)?;
    let (size, part_size) = (s.size.max(0) as u64, s.part_size.max(1) as u64);
    Ok(UploadSession {
        id: s.id.clone(),
        digest,
        size,
        part_size,
        parts: parts_of(size, part_size),
        confirmed: parts.iter().filter(|p| p.store_part_id.is_some()).map(|p| p.part.max(0) as u64).collect(),
        expires_at: rfc3339(s.expires_at),
    })
}

/// Opens a session for `req.digest`, or returns the caller's live session for it (a rerun after a
/// crash resumes where it stopped). The bool is true when a new session was made.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    req: CreateUploadRequest,
) -> Result<(UploadSession, bool), UploadError> {
    let limit = state.settings.max_blob_size;
    if i64::try_from(req.size).is_err() {
        return Err(ApiError::bad_request(codes::BAD_REQUEST, "size is beyond any storable blob").into());
    }
    if req.size > limit {
        return Err(UploadError::TooLarge { size: req.size, limit });
    }
    if req.size == 0 {
        return Err(
            ApiError::bad_request(codes::BAD_REQUEST, "an empty blob needs no session: PUT it").into()
        );
    }
    if let Some(s) = state.db.upload_find(&req.digest, req.size, &actor.id).await? {
        return Ok((view(state, &s).await?, false));
    }
    // Parts of at least the configured size, and few enough for S3 (whole MiBs, so every part but the
    // last is a multiple of SHA-256's 64-byte block).
    let min_for_count = req.size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
    let part_size = state.settings.upload_part_size.max(min_for_count);
    let id = uuid::Uuid::new_v4().to_string();
    let store_upload_id = state.blobs.session_begin(&req.digest, &id).await?;
    let now = now_ms();
    let row = SessionRow {
        id,
        digest: req.digest.hex(),
        size: to_i64(req.size),
        part_size: to_i64(part_size),
        actor: actor.id.clone(),
        store_upload_id,
        chained: 0,
        hash_state: hex::encode(Hasher::new().save()),
        created_at: now,
        expires_at: expires(state),
        touched_at: now,
    };
    state.db.upload_insert(&row).await?;
    Ok((view(state, &row).await?, true))
}

/// The caller's live session `id`.
async fn load(state: &AppState, actor: &Actor, id: &str) -> Result<SessionRow, UploadError> {
    let not_found = || ApiError::not_found(format!("no upload {id}"));
    let s = state.db.upload_get(id).await?.ok_or_else(not_found)?;
    if s.actor != actor.id {
        return Err(not_found().into());
    }
    if s.expires_at <= now_ms() {
        return Err(gone(id));
    }
    Ok(s)
}

/// A session's state.
pub async fn get(state: &AppState, actor: &Actor, id: &str) -> Result<UploadSession, UploadError> {
    let s = load(state, actor, id).await?;
    view(state, &s).await
}

/// Reads a part body of exactly `expected` bytes (kept as the transport's chunks: no copy).
async fn read_part<S, E>(body: S, expected: u64) -> Result<Vec<Bytes>, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let (mut chunks, mut got) = (Vec::new(), 0u64);
    while let Some(c) = body.next().await {
        let c =
            c.map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, format!("upload body failed: {e}")))?;
        got += c.len() as u64;
        if got > expected {
            break;
        }
        chunks.push(c);
    }
    if got != expected {
        return Err(ApiError::bad_request(
            codes::DIGEST_MISMATCH,
            format!(
                "this part must be exactly {expected} bytes, got {}",
                if got > expected { "more".into() } else { got.to_string() }
            ),
        )
        .into());
    }
    Ok(chunks)
}

/// Feeds a part to `h` on the blocking pool (a fresh hasher: the part's own digest; a session's
/// saved state: the state after the part).
async fn feed(chunks: &[Bytes], mut h: Hasher) -> Result<Hasher, UploadError> {
    let chunks = chunks.to_vec(); // reference counts, not bytes
    tokio::task::spawn_blocking(move || {
        for c in &chunks {
            h.update(c);
        }
        h
    })
    .await
    .map_err(|e| ApiError::internal(e).into())
}

fn restore(hex_state: &str) -> Result<Hasher, UploadError> {
    hex::decode(hex_state)
        .ok()
        .and_then(|b| Hasher::restore(&b))
        .ok_or_else(|| ApiError::internal("corrupt upload hash state").into())
}

/// Stores part `n` of session `id`. Returns the session's state after it.
pub async fn put_part<S, E>(
    state: &AppState,
    actor: &Actor,
    id: &str,
    n: u64,
    body: S,
) -> Result<UploadSession, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let s = load(state, actor, id).await?;
    let (size, part_size) = (s.size.max(0) as u64, s.part_size.max(1) as u64);
    let parts = parts_of(size, part_size);
    if n >= parts {
        return Err(ApiError::bad_request(
            codes::BAD_REQUEST,
            format!("part {n} is out of range: this upload has {parts} parts (0..{})", parts - 1),
        )
        .into());
    }
    let offset = n * part_size;
    let part = Part { n, idx: to_i64(n), offset, len: part_size.min(size - offset) };
    let digest = Digest::from_hex(&s.digest).map_err(ApiError::internal)?;
    let mut body = std::pin::pin!(body);
    let done = match state.blobs.streams_parts() {
        true => stream_part(state, &s, &digest, &part, body.as_mut()).await,
        false => chain_part(state, &s, &digest, &part, body.as_mut()).await,
    };
    if let Err(e) = done {
        // Refused before the whole part was read (a full store, no room in the budget, a part out of
        // order): the rest is read and dropped first (at most the part's length, for at most
        // DRAIN_WAIT), or a client still sending sees a reset connection instead of this answer.
        let _ = tokio::time::timeout(DRAIN_WAIT, drain(body.as_mut(), part.len)).await;
        return Err(e);
    }
    get(state, actor, id).await
}

/// Longest a refused part's remaining bytes are read and dropped for.
const DRAIN_WAIT: Duration = Duration::from_secs(30);

/// Reads and drops what is left of `body`, up to `most` bytes.
async fn drain<S, E>(mut body: std::pin::Pin<&mut S>, most: u64)
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let mut got = 0u64;
    while got <= most {
        match body.next().await {
            Some(Ok(c)) => got += c.len() as u64,
            _ => break,
        }
    }
}

/// Where a part goes.
struct Part {
    n: u64,
    idx: i64,
    offset: u64,
    len: u64,
}

/// Waits (up to [`WAIT_FOR_PREDECESSOR`]) for the parts before this one to be hashed; returns the
/// session as it is then, and with `turn` held by the caller when one was given.
async fn wait_turn(state: &AppState, id: &str, part: &Part) -> Result<SessionRow, UploadError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_PREDECESSOR;
    let mut pause = Duration::from_millis(2);
    loop {
        let now = state.db.upload_get(id).await?.ok_or_else(|| gone(id))?;
        if part.idx <= now.chained {
            return Ok(now);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(UploadError::PartOutOfOrder { part: part.n, next: now.chained });
        }
        state.pauses.point("upload.part.waits").await;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The row of part `idx`, which the session has hashed already.
async fn hashed_part(state: &AppState, id: &str, idx: i64) -> Result<PartRow, UploadError> {
    let known = state.db.upload_parts(id).await?.into_iter().find(|p| p.part == idx);
    known.ok_or_else(|| ApiError::internal("hashed part without a row").into())
}

/// A local directory: the part waits for its turn unread, then is hashed (its own digest, and the
/// session's chain) and written in place as it arrives, a batch at a time. A part hashed already is
/// only compared (and written if a crash came between its hashing and its storing).
async fn stream_part<S, E>(
    state: &AppState,
    s: &SessionRow,
    digest: &Digest,
    part: &Part,
    body: S,
) -> Result<(), UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let id = s.id.as_str();
    // Its turn: every part before it hashed, and no other request writing into the session.
    let (now, turn) = loop {
        wait_turn(state, id, part).await?;
        let turn = state.uploads.turn(id).await;
        let now = state.db.upload_get(id).await?.ok_or_else(|| gone(id))?;
        if part.idx <= now.chained {
            break (now, turn);
        }
    };
    let known = match part.idx < now.chained {
        true => Some(hashed_part(state, id, part.idx).await?),
        false => None,
    };
    let write = known.as_ref().is_none_or(|k| k.store_part_id.is_none());
    let file = match write {
        true => match state.blobs.session_part_file(id).await {
            Ok(f) => Some(f),
            Err(e) => return Err(store_failed(state, s, digest, part.n, e).await),
        },
        false => None,
    };
    let chain = if known.is_none() { Some(restore(&now.hash_state)?) } else { None };
    let (own, chain) = match pump(body, part, file.as_ref().map(|f| (f, turn.share())), chain).await {
        Ok(r) => r,
        Err(Pumped::Upload(e)) => return Err(e),
        Err(Pumped::Store(e)) => return Err(store_failed(state, s, digest, part.n, e).await),
    };
    if let Some(k) = &known
        && k.sha256 != own.hex()
    {
        return Err(UploadError::PartConflict(part.n));
    }
    if let Some(f) = &file
        && let Err(e) = f.sync().await
    {
        return Err(store_failed(state, s, digest, part.n, e).await);
    }
    if let Some(chain) = chain {
        let new_state = hex::encode(chain.save());
        let row = PartRow { part: part.idx, size: to_i64(part.len), sha256: own.hex(), store_part_id: None };
        if !state.db.upload_chain(id, part.idx, &new_state, &row, expires(state)).await? {
            // Aborted or expired meanwhile (nothing else chains during the turn).
            state.db.upload_get(id).await?.ok_or_else(|| gone(id))?;
            return Err(ApiError::internal(format!(
                "upload {id}: part {} hashed by another request during its turn",
                part.n
            ))
            .into());
        }
    }
    if write {
        state.db.upload_part_stored(id, part.idx, "").await?;
    }
    Ok(())
}

/// Why [`pump`] stopped: bad input, or the store.
enum Pumped {
    Upload(UploadError),
    Store(crate::blob::BlobError),
}

impl<T: Into<UploadError>> From<T> for Pumped {
    fn from(e: T) -> Self {
        Pumped::Upload(e.into())
    }
}

/// Reads a part body of exactly `part.len` bytes a batch at a time (at most [`STREAM_BATCH`] and a
/// chunk held), hashing each batch (its own digest, and `chain` when given) and writing it in place
/// into `file` when given. Returns the part's digest and the chain after it.
///
/// Each chunk is copied into one batch buffer, reused for the whole part, and dropped at once. Keeping
/// the transport's chunks until their batch was written pinned hyper's read buffers (up to ~400 KiB
/// each, however little a read filled), so hyper allocated a new one for nearly every read; they were
/// freed on the blocking threads that hashed and wrote them, and a 1 GiB part stream churned through
/// 7.6 GiB of buffers, up to ~50 MiB of them held at a time (docs/benchmarks.md, "Freed memory returned at
/// once"). A dropped chunk lets hyper reuse its buffer; the copy costs one `memcpy` per byte.
async fn pump<S, E>(
    body: S,
    part: &Part,
    file: Option<(&crate::blob::PartFile, Option<Arc<tokio::sync::OwnedMutexGuard<()>>>)>,
    chain: Option<Hasher>,
) -> Result<(Digest, Option<Hasher>), Pumped>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let (mut own, mut chain) = (Hasher::new(), chain);
    let mut buf = bytes::BytesMut::with_capacity(STREAM_BATCH);
    let (mut got, mut at) = (0u64, part.offset);
    let mut more = false;
    loop {
        let next = body.next().await;
        let end = next.is_none();
        if let Some(c) = next {
            let c =
                c.map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, format!("upload body failed: {e}")))?;
            got += c.len() as u64;
            if got > part.len {
                more = true;
                break;
            }
            buf.extend_from_slice(&c);
        }
        if buf.len() >= STREAM_BATCH || (end && !buf.is_empty()) {
            let batch = buf.split().freeze();
            let n = batch.len() as u64;
            let hashed = tokio::task::spawn_blocking({
                let batch = batch.clone(); // a reference count, not the bytes
                move || {
                    own.update(&batch);
                    if let Some(h) = chain.as_mut() {
                        h.update(&batch);
                    }
                    (own, chain)
                }
            });
            let written = async {
                match &file {
                    Some((f, turn)) => f.write_at(at, vec![batch], turn.clone()).await,
                    None => Ok(()),
                }
            };
            let (hashed, written) = tokio::join!(hashed, written);
            (own, chain) = hashed.map_err(ApiError::internal)?;
            written.map_err(Pumped::Store)?;
            at += n;
            // Both blocking calls are done and their copies of `batch` dropped: `buf` is the
            // allocation's only owner again and takes it back instead of allocating a new one.
            buf.reserve(STREAM_BATCH);
        }
        if end {
            break;
        }
    }
    if got != part.len {
        return Err(Pumped::Upload(
            ApiError::bad_request(
                codes::DIGEST_MISMATCH,
                format!(
                    "this part must be exactly {} bytes, got {}",
                    part.len,
                    if more { "more".into() } else { got.to_string() }
                ),
            )
            .into(),
        ));
    }
    Ok((own.finalize(), chain))
}

/// A remote store: the part waits for its turn unread (a part holding memory while it waits for its
/// predecessor could starve that predecessor of the budget), then is read whole within the budget,
/// chained, and stored; the next part's turn starts as soon as it is chained, so its transfer
/// overlaps this part's store upload. A part confirmed already is only compared, without being held.
async fn chain_part<S, E>(
    state: &AppState,
    s: &SessionRow,
    digest: &Digest,
    part: &Part,
    body: S,
) -> Result<(), UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let (id, idx, n) = (s.id.as_str(), part.idx, part.n);
    let hashed = |now: &SessionRow| idx < now.chained;
    let now = wait_turn(state, id, part).await?;
    if hashed(&now) {
        let known = hashed_part(state, id, idx).await?;
        if known.store_part_id.is_some() {
            let own = match pump(body, part, None, None).await {
                Ok((own, _)) => own,
                Err(Pumped::Upload(e)) => return Err(e),
                Err(Pumped::Store(e)) => return Err(ApiError::from(e).into()),
            };
            return match known.sha256 == own.hex() {
                true => Ok(()),
                false => Err(UploadError::PartConflict(n)),
            };
        }
    }
    let _room = state.uploads.hold(part.len).await?;
    let chunks = read_part(body, part.len).await?;
    let own = feed(&chunks, Hasher::new()).await?.finalize();
    loop {
        let now = state.db.upload_get(id).await?.ok_or_else(|| gone(id))?;
        if hashed(&now) {
            // Hashed already: only the very same bytes may be sent again (to store them if a crash
            // came between hashing and storing, or as a harmless retry).
            let known = hashed_part(state, id, idx).await?;
            if known.sha256 != own.hex() {
                return Err(UploadError::PartConflict(n));
            }
            if known.store_part_id.is_none() {
                store_part(state, s, digest, n, part.offset, chunks).await?;
            }
            return Ok(());
        }
        let new_state = hex::encode(feed(&chunks, restore(&now.hash_state)?).await?.save());
        let row = PartRow { part: idx, size: to_i64(part.len), sha256: own.hex(), store_part_id: None };
        if state.db.upload_chain(id, idx, &new_state, &row, expires(state)).await? {
            return store_part(state, s, digest, n, part.offset, chunks).await;
        }
        // someone else chained this part meanwhile: compare with theirs
    }
}

async fn store_part(
    state: &AppState,
    s: &SessionRow,
    digest: &Digest,
    n: u64,
    offset: u64,
    chunks: Vec<Bytes>,
) -> Result<(), UploadError> {
    let idx = usize::try_from(n).map_err(ApiError::internal)?;
    let pid = match state.blobs.session_put_part(digest, &s.id, &s.store_upload_id, idx, offset, chunks).await
    {
        Ok(pid) => pid,
        Err(e) => return Err(store_failed(state, s, digest, n, e).await),
    };
    state.db.upload_part_stored(&s.id, to_i64(n), &pid).await?;
    Ok(())
}

/// A store error while writing part `n`, as the caller is told it.
async fn store_failed(
    state: &AppState,
    s: &SessionRow,
    digest: &Digest,
    n: u64,
    e: crate::blob::BlobError,
) -> UploadError {
    match e.is_storage_full() {
        true => discard_full(state, s, digest).await,
        false => ApiError::unavailable(format!("storing part {n} failed; send it again: {e}")).into(),
    }
}

/// The store is full: keeping the staged parts would hold the space until the session expires, so
/// they are discarded now (the parts can be sent again in a new session once space is freed).
async fn discard_full(state: &AppState, s: &SessionRow, digest: &Digest) -> UploadError {
    let _ = state.blobs.session_abort(digest, &s.id, &s.store_upload_id).await;
    if let Err(e) = state.db.upload_delete(&s.id).await {
        return e.into();
    }
    UploadError::StorageFull(s.id.clone())
}

/// Completes session `id`: the parts hashed to the digest, so the blob becomes visible.
pub async fn complete(state: &AppState, actor: &Actor, id: &str) -> Result<BlobResponse, UploadError> {
    let s = load(state, actor, id).await?;
    state.pauses.point("upload.complete.loaded").await;
    let (size, part_size) = (s.size.max(0) as u64, s.part_size.max(1) as u64);
    let parts = state.db.upload_parts(id).await?;
    let total = parts_of(size, part_size);
    let missing: Vec<u64> = (0..total)
        .filter(|i| !parts.iter().any(|p| p.part == to_i64(*i) && p.store_part_id.is_some()))
        .collect();
    if !missing.is_empty() {
        let count = missing.len();
        return Err(UploadError::Incomplete {
            count,
            total,
            missing: missing.into_iter().take(1000).collect(),
        });
    }
    // The hash state is read after the parts: a part is chained before it is stored, so every part
    // seen stored above is in it (read before, a part landing in between made a good upload look
    // corrupt, and it was discarded).
    let s = load(state, actor, id).await?;
    if u64::try_from(s.chained).unwrap_or(0) != total {
        return Err(ApiError::internal(format!(
            "upload {id}: {total} parts stored but {} hashed",
            s.chained
        ))
        .into());
    }
    let digest = Digest::from_hex(&s.digest).map_err(ApiError::internal)?;
    let hasher = restore(&s.hash_state)?;
    let got = hasher.len();
    let actual = hasher.finalize();
    if actual != digest || got != size {
        let _ = state.blobs.session_abort(&digest, id, &s.store_upload_id).await;
        state.db.upload_delete(id).await?;
        return Err(crate::blob::BlobError::Mismatch { actual, size: got }.into());
    }
    let ids = parts.into_iter().filter_map(|p| p.store_part_id).collect();
    // No write into the staging file is in flight while it becomes the blob (a request dropped
    // mid-part keeps the turn until its writes are done).
    let _turn = match state.blobs.streams_parts() {
        true => Some(state.uploads.turn(id).await),
        false => None,
    };
    state.blobs.session_complete(&digest, size, id, &s.store_upload_id, ids).await?;
    crate::service::blobs::record_blob(state, actor, &digest, size).await?;
    state.db.upload_delete(id).await?;
    Ok(BlobResponse { digest, size, created: true })
}

/// The caller's live sessions (to resume or abort them).
pub async fn list(state: &AppState, actor: &Actor) -> Result<UploadList, UploadError> {
    let mut uploads = vec![];
    for s in state.db.uploads_of(&actor.id, now_ms()).await? {
        uploads.push(view(state, &s).await?);
    }
    Ok(UploadList { uploads })
}

/// Aborts session `id`: its parts are discarded.
pub async fn abort(state: &AppState, actor: &Actor, id: &str) -> Result<(), UploadError> {
    let s = load(state, actor, id).await?;
    let digest = Digest::from_hex(&s.digest).map_err(ApiError::internal)?;
    state.blobs.session_abort(&digest, id, &s.store_upload_id).await?;
    state.db.upload_delete(id).await?;
    Ok(())
}
