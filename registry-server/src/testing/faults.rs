//! Fault injection for tests: an [`ObjectStore`] wrapper that fails or pauses chosen calls, so a test
//! can put an I/O error on the third delete, an unreachable store under the scrubber, or a pause
//! between a garbage collector's decision and its delete.
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use tokio::sync::{Semaphore, watch};

/// A kind of store call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `get` (a read of the bytes).
    Get,
    /// `head` (size and existence).
    Head,
    /// `put`, or the start of a multipart upload.
    Put,
    /// `delete`, one object.
    Delete,
    /// `list`.
    List,
}

/// What to do to a matching call.
#[derive(Debug, Clone)]
pub enum Action {
    /// Fail with an I/O error of this kind (EIO is `ErrorKind::Other`).
    Io(std::io::ErrorKind),
    /// Fail as a store answers for a missing object.
    NotFound,
    /// Wait at the gate until it opens, then go on.
    Pause(Gate),
    /// Never answer (until the caller gives up).
    Hang,
}

/// A gate a paused call waits at; the test sees it was reached and opens it.
#[derive(Debug, Clone)]
pub struct Gate {
    reached: Arc<Semaphore>,
    open: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self { reached: Arc::new(Semaphore::new(0)), open: watch::channel(false).0 }
    }

    /// Waits until a call is waiting at the gate (one per call to this).
    pub async fn reached(&self) {
        self.reached.acquire().await.expect("gate semaphore is never closed").forget();
    }

    /// Lets every waiting and later call through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    async fn pass(&self) {
        self.reached.add_permits(1);
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

/// One fault: calls of `op` whose key contains `key` (any key if `None`), after skipping `skip` of
/// them, get `action`, `times` times (forever if `None`).
#[derive(Debug, Clone)]
pub struct Rule {
    /// Which calls.
    pub op: Op,
    /// Only keys containing this.
    pub key: Option<String>,
    /// Matching calls let through first.
    pub skip: u64,
    /// How many matching calls get the action after that (`None`: all).
    pub times: Option<u64>,
    /// Only every `every`-th matching call (0 or 1: each).
    pub every: u64,
    /// What they get.
    pub action: Action,
}

impl Rule {
    /// Every call of `op` gets `action`.
    pub fn always(op: Op, action: Action) -> Self {
        Self { op, key: None, skip: 0, times: None, every: 0, action }
    }

    /// Every `n`-th call of `op` gets `action`.
    pub fn every(op: Op, n: u64, action: Action) -> Self {
        Self { op, key: None, skip: 0, times: None, every: n, action }
    }

    /// The `n`-th call of `op` (from 1) gets `action`, once.
    pub fn nth(op: Op, n: u64, action: Action) -> Self {
        Self { op, key: None, skip: n.saturating_sub(1), times: Some(1), every: 0, action }
    }

    /// Only calls on keys containing `key`.
    pub fn on_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

/// The faults of a store, changeable while it runs, with a count of injected faults.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<(Rule, u64)>>,
    injected: AtomicU64,
    calls: Mutex<Vec<(Op, String)>>,
    kinds: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Faults {
    /// No faults yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Adds a rule.
    pub fn add(&self, rule: Rule) {
        self.rules.lock().expect("faults lock").push((rule, 0));
    }

    /// Removes every rule (and opens nothing: open gates yourself).
    pub fn clear(&self) {
        self.rules.lock().expect("faults lock").clear();
    }

    /// How many calls got a fault.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Injected faults by kind (`"Io(Other)"`, `"Hang"`, ...).
    pub fn injected_by_kind(&self) -> std::collections::BTreeMap<String, u64> {
        self.kinds.lock().expect("faults lock").clone()
    }

    /// How many calls of `op` were made (faulty or not).
    pub fn calls(&self, op: Op) -> usize {
        self.calls.lock().expect("faults lock").iter().filter(|(o, _)| *o == op).count()
    }

    fn action(&self, op: Op, key: &Path) -> Option<Action> {
        let key = key.as_ref();
        self.calls.lock().expect("faults lock").push((op, key.to_owned()));
        let mut rules = self.rules.lock().expect("faults lock");
        for (rule, seen) in rules.iter_mut() {
            if rule.op != op || rule.key.as_deref().is_some_and(|k| !key.contains(k)) {
                continue;
            }
            *seen += 1;
            let n = *seen;
            if n <= rule.skip || rule.times.is_some_and(|t| n > rule.skip + t) {
                continue;
            }
            if rule.every > 1 && (n - rule.skip) % rule.every != 0 {
                continue;
            }
            self.injected.fetch_add(1, Ordering::Relaxed);
            let kind = match &rule.action {
                Action::Pause(_) => "Pause".to_owned(),
                a => format!("{a:?}"),
            };
            *self.kinds.lock().expect("faults lock").entry(kind).or_default() += 1;
            return Some(rule.action.clone());
        }
        None
    }

    async fn before(&self, op: Op, key: &Path) -> Result<()> {
        match self.action(op, key) {
            None => Ok(()),
            Some(Action::Io(kind)) => Err(object_store::Error::Generic {
                store: "faulty",
                source: Box::new(std::io::Error::new(kind, format!("injected {kind:?} on {op:?} {key}"))),
            }),
            Some(Action::NotFound) => Err(object_store::Error::NotFound {
                path: key.to_string(),
                source: "injected not found".into(),
            }),
            Some(Action::Pause(gate)) => {
                gate.pass().await;
                Ok(())
            }
            Some(Action::Hang) => std::future::pending().await,
        }
    }
}

/// An object store that consults [`Faults`] before each call to the store it wraps.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.faults.before(Op::Put, location).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.faults.before(Op::Put, location).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let op = if options.head { Op::Head } else { Op::Get };
        self.faults.before(op, location).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.faults.before(Op::Get, location).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let (inner, faults) = (self.inner.clone(), self.faults.clone());
        locations
            .and_then(move |loc| {
                let (inner, faults) = (inner.clone(), faults.clone());
                async move {
                    faults.before(Op::Delete, &loc).await?;
                    inner.delete(&loc).await?;
                    Ok(loc)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let (inner, faults) = (self.inner.clone(), self.faults.clone());
        let prefix = prefix.cloned();
        futures::stream::once(async move {
            let at = prefix.clone().unwrap_or_default();
            faults.before(Op::List, &at).await.map(|()| inner.list(prefix.as_ref()))
        })
        .map(|r| match r {
            Ok(s) => s,
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.faults.before(Op::List, &prefix.cloned().unwrap_or_default()).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
