//! Metadata store: one `Db` over SQLite and PostgreSQL with ONE copy of every query.
//!
//! sqlx's `Any` driver runs the same `$N` SQL on both backends; the schema sticks to BIGINT/TEXT so
//! both agree on types. Write transactions start with `BEGIN IMMEDIATE` on SQLite, so two writers
//! never deadlock upgrading read locks.
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor};

pub mod aliases;
pub mod attestations;
pub mod audit;
pub mod blobs;
pub mod gc;
mod group;
pub mod incident;
pub mod keyless;
pub mod log;
pub mod mlflow;
pub mod models;
pub mod oci;
pub mod replay;
pub mod report;
pub mod scrub;
pub mod server_keys;
pub mod sessions;
pub mod stats;
pub mod tokens;
pub mod uploads;
pub mod versions;
pub mod webhooks;

#[cfg(test)]
mod tests;

/// A write transaction. On SQLite it holds the process's write gate until it ends: writers queue
/// in arrival order in the process instead of racing for SQLite's lock, whose busy handler sleeps
/// losers for 1, 2, 5, ... 100 ms and lets later arrivals overtake them (the tail of concurrent
/// writes), and a waiting writer holds no pooled connection that readers could use.
pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// In a group commit's transaction only: the trust marks read in it, by namespace (see
    /// [`attestations::TrustMark::holds`]).
    trust_memo: Option<std::collections::HashMap<String, attestations::TrustMark>>,
}

impl Tx {
    /// Commits, then opens the gate.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    /// Rolls back, then opens the gate (dropping a `Tx` rolls back too).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (the embedded default).
    Sqlite,
    /// PostgreSQL (scale-out).
    Postgres,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No such row.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken.
    #[error("conflict")]
    Conflict,
    /// The URL names no supported database.
    #[error("unsupported database url {0:?}: use sqlite:PATH or postgres://...")]
    Url(String),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Anything else from the driver.
    #[error("database error: {0}")]
    Other(sqlx::Error),
    /// A stored value does not decode (the row was tampered with or the schema drifted).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(ref d) if d.is_unique_violation() => DbError::Conflict,
            e => DbError::Other(e),
        }
    }
}

/// The metadata store. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite: one connection whose commits do not wait for the disk (`synchronous = NORMAL`), for
    /// bookkeeping that may be lost in a power cut but must not cost an fsync each (webhook cursors:
    /// a lost move only resends events). Still durable across a process crash, and made durable by
    /// the next fully synced commit. PostgreSQL: the same pool, with `synchronous_commit = off` per
    /// transaction.
    relaxed: AnyPool,
    /// SQLite: the write gate every write transaction takes first (see [`Tx`]).
    gate: Arc<tokio::sync::Mutex<()>>,
    /// Write jobs waiting to be committed together (see [`Db::grouped`]).
    group: Arc<group::Group>,
    /// Upper Merkle nodes already read (see [`log::NodeCache`]).
    nodes: Arc<log::NodeCache>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend).finish_non_exhaustive()
    }
}

static DRIVERS: Once = Once::new();

/// Prepares a `sqlite:` URL: creates the file's directory and asks for create-if-missing.
/// A SQLite pool of `max` connections with `PRAGMA synchronous = {sync}`: WAL lets readers run beside
/// the one writer, and the busy timeout makes writers wait for each other instead of failing.
async fn sqlite_pool(url: &str, max: u32, sync: &'static str) -> Result<AnyPool, DbError> {
    Ok(AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .max_connections(max)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA synchronous = {sync}"))).await?;
                conn.execute("PRAGMA busy_timeout = 30000").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

fn sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(DbError::Url(format!("{url} (an in-memory SQLite database would lose everything)")));
    }
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Url(format!("{url}: cannot create {}: {e}", dir.display())))?;
    }
    let mode = if query.split('&').any(|kv| kv.starts_with("mode=")) { "" } else { "mode=rwc" };
    let sep = if query.is_empty() || mode.is_empty() { "" } else { "&" };
    Ok(format!("sqlite://{path}?{query}{sep}{mode}"))
}

impl Db {
    /// Connects to `url` (`sqlite:PATH` or `postgres://...`) and, unless `migrate` is false, applies
    /// the embedded migrations of that backend.
    pub async fn open(url: &str, migrate: bool) -> Result<Self, DbError> {
        DRIVERS.call_once(install_default_drivers);
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(url)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(DbError::Url(url.split('@').next_back().unwrap_or_default().to_owned()));
        };
        let pool = match backend {
            // FULL sync keeps every acknowledged push across a power cut.
            Backend::Sqlite => sqlite_pool(&url, 8, "FULL").await?,
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(30))
                    .max_connections(16)
                    .connect(&url)
                    .await?
            }
        };
        if migrate {
            match backend {
                Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
                Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
            }
        }
        let relaxed = match backend {
            Backend::Sqlite => sqlite_pool(&url, 1, "NORMAL").await?,
            Backend::Postgres => pool.clone(),
        };
        Ok(Self {
            pool,
            backend,
            relaxed,
            gate: Arc::default(),
            group: Arc::default(),
            nodes: Arc::default(),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction whose commit need not reach the disk before it returns (see `Db::relaxed`):
    /// only for writes that a power cut may undo without harm.
    pub async fn begin_relaxed(&self) -> Result<Tx, DbError> {
        Ok(match self.backend {
            Backend::Sqlite => self.begin_gated(&self.relaxed).await?,
            Backend::Postgres => {
                let mut inner = self.relaxed.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *inner).await?;
                Tx { inner, _gate: None, trust_memo: None }
            }
        })
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite behind the write gate, so writers
    /// queue up front, in order).
    pub async fn begin_write(&self) -> Result<Tx, DbError> {
        Ok(match self.backend {
            Backend::Sqlite => self.begin_gated(&self.pool).await?,
            Backend::Postgres => Tx { inner: self.pool.begin().await?, _gate: None, trust_memo: None },
        })
    }

    async fn begin_gated(&self, pool: &AnyPool) -> Result<Tx, DbError> {
        // As long as SQLite's own busy timeout: a writer stuck inside its transaction (a hung HSM
        // signing a decision) makes the others fail with 503 after it, not wait for ever.
        let gate = tokio::time::timeout(Duration::from_secs(30), self.gate.clone().lock_owned())
            .await
            .map_err(|_| DbError::Other(sqlx::Error::PoolTimedOut))?;
        Ok(Tx { inner: pool.begin_with("BEGIN IMMEDIATE").await?, _gate: Some(gate), trust_memo: None })
    }

    /// Starts a write transaction holding the global write lock (see [`log::lock_global_writes`]).
    /// Every transaction that appends to the log starts so, before it locks or inserts anything
    /// else: all of them then take their locks in one order (the log head first), so none can
    /// deadlock with another, and rows they insert are numbered in commit order.
    pub async fn begin_logged(&self) -> Result<Tx, DbError> {
        let mut tx = self.begin_write().await?;
        log::lock_global_writes(&mut tx).await?;
        Ok(tx)
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
        self.relaxed.close().await;
    }
}

/// Now, as stored: unix milliseconds.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 text as unix milliseconds (`None` if it is not RFC 3339).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Unix milliseconds as RFC 3339 UTC text (what the API shows).
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Sizes are u64 in the API and BIGINT in the database.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Builds `$k, $k+1, ...` placeholders for an `IN (...)` list.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
