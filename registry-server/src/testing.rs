//! Test harness (feature `test-util`): a real server on `127.0.0.1:0` over temporary storage.
//!
//! The database is SQLite in a temp dir, or a fresh PostgreSQL database when `REGISTRY_TEST_DB=postgres`
//! and `REGISTRY_TEST_POSTGRES_URL` are set (that is how CI runs the end-to-end suite on both).
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::blob::BlobStore;
use crate::db::Db;
use crate::state::{AppState, Settings};

pub mod faults;

/// Which database a test wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDb {
    /// SQLite in the temp dir.
    Sqlite,
    /// A fresh database on `REGISTRY_TEST_POSTGRES_URL`.
    Postgres,
}

impl TestDb {
    /// What `REGISTRY_TEST_DB` asks for (SQLite by default).
    pub fn from_env() -> Self {
        match std::env::var("REGISTRY_TEST_DB").as_deref() {
            Ok("postgres") => TestDb::Postgres,
            _ => TestDb::Sqlite,
        }
    }
}

/// `n` pseudo-random bytes from `seed` (xorshift; reproducible, incompressible enough), for tests.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The PostgreSQL server URL for tests, if configured. With `REGISTRY_REQUIRE_POSTGRES=1` (set by
/// `scripts/test.sh`) a missing URL is a failure, so CI can never skip the PostgreSQL half silently.
pub fn postgres_base_url() -> Option<String> {
    match std::env::var("REGISTRY_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("REGISTRY_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "REGISTRY_REQUIRE_POSTGRES=1 but REGISTRY_TEST_POSTGRES_URL is not set"
            );
            None
        }
    }
}

/// The S3 bucket URL for tests (`s3://bucket`), if configured by `REGISTRY_TEST_S3_URL` (endpoint and
/// keys come from the usual `AWS_*` variables). With `REGISTRY_REQUIRE_S3=1` (set by `scripts/test.sh`)
/// a missing URL is a failure, so CI never skips the S3 half silently.
pub fn s3_base_url() -> Option<String> {
    match std::env::var("REGISTRY_TEST_S3_URL") {
        Ok(u) if !u.is_empty() => Some(u.trim_end_matches('/').to_owned()),
        _ => {
            assert!(
                std::env::var("REGISTRY_REQUIRE_S3").as_deref() != Ok("1"),
                "REGISTRY_REQUIRE_S3=1 but REGISTRY_TEST_S3_URL is not set"
            );
            None
        }
    }
}

/// The SoftHSM2 PKCS#11 module for tests (`REGISTRY_TEST_PKCS11_MODULE`, else Debian's
/// `/usr/lib/softhsm/libsofthsm2.so`), if it and `softhsm2-util` are installed. With
/// `REGISTRY_REQUIRE_SOFTHSM=1` (set by `scripts/test.sh`) a missing one is a failure, so CI never
/// skips the HSM tests silently.
pub fn softhsm_module() -> Option<PathBuf> {
    let module = std::env::var_os("REGISTRY_TEST_PKCS11_MODULE")
        .filter(|m| !m.is_empty())
        .map_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"), PathBuf::from);
    let util = std::process::Command::new("softhsm2-util").arg("--version").output();
    if module.is_file() && util.is_ok_and(|o| o.status.success()) {
        return Some(module);
    }
    assert!(
        std::env::var("REGISTRY_REQUIRE_SOFTHSM").as_deref() != Ok("1"),
        "REGISTRY_REQUIRE_SOFTHSM=1 but SoftHSM2 is missing ({} or softhsm2-util): apt-get install softhsm2",
        module.display()
    );
    None
}

/// A fresh, empty prefix of the test bucket: `s3://bucket/t-<uuid>`.
pub fn fresh_s3_url(base: &str) -> String {
    format!("{base}/t-{}", uuid::Uuid::new_v4().simple())
}

/// Whether `REGISTRY_TEST_BLOBS=s3` asks test servers to keep blobs in the S3 test bucket.
pub fn blobs_on_s3() -> bool {
    std::env::var("REGISTRY_TEST_BLOBS").as_deref() == Ok("s3")
}

/// Creates an empty database named after a fresh uuid on the server at `base`; returns its URL.
pub async fn fresh_postgres_db(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::postgres::PgConnection::connect(base).await.expect("connect to the test PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let (prefix, _) = base.rsplit_once('/').expect("postgres URL has a database path");
    format!("{prefix}/{name}")
}

/// Opens a store of the given kind over `dir` (SQLite) or a fresh PostgreSQL database.
pub async fn open_db(kind: TestDb, dir: &std::path::Path) -> Db {
    open_db_url(kind, dir).await.1
}

/// [`open_db`], also returning the database URL.
pub async fn open_db_url(kind: TestDb, dir: &std::path::Path) -> (String, Db) {
    let url = match kind {
        TestDb::Sqlite => format!("sqlite:{}", dir.join("registry.db").display()),
        TestDb::Postgres => {
            let base = postgres_base_url()
                .expect("REGISTRY_TEST_POSTGRES_URL must be set for REGISTRY_TEST_DB=postgres");
            fresh_postgres_db(&base).await
        }
    };
    let db = Db::open(&url, true).await.expect("open test database");
    (url, db)
}

/// Options of [`TestServer::start_with`].
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Largest blob.
    pub max_blob_size: u64,
    /// Database kind.
    pub db: TestDb,
    /// Allow reads without credentials.
    pub anonymous_read: bool,
    /// Trusted OIDC issuers.
    pub oidc: Vec<crate::auth::oidc::OidcIssuer>,
    /// The blob store [default: a local directory in the temp dir, or a fresh S3 prefix when
    /// `REGISTRY_TEST_BLOBS=s3`].
    pub blobs_url: Option<String>,
    /// Answer blob downloads with redirects to presigned URLs (remote stores only).
    pub direct_downloads: bool,
    /// Part size of resumable upload sessions.
    pub upload_part_size: u64,
    /// `--upload-memory-budget`.
    pub upload_memory_budget: u64,
    /// How long a part waits for room in that budget before its 429.
    pub upload_budget_wait: std::time::Duration,
    /// Faults to inject into the blob store's calls.
    pub faults: Option<Arc<faults::Faults>>,
    /// Bound on each store call [default: the server's].
    pub store_timeout: Option<std::time::Duration>,
    /// Accept unportable manifest paths.
    pub allow_unportable_paths: bool,
    /// Web UI cookies carry `Secure` (as with an https `--public-url`).
    pub secure_cookies: bool,
    /// Time a client has to send request headers.
    pub header_read_timeout: std::time::Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Webhook delivery settings [default: the server's, but loopback targets allowed and the
    /// worker polling every 20 ms, retrying after 20 ms].
    pub webhooks: crate::service::webhooks::WebhookSettings,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            max_blob_size: Settings::default().max_blob_size,
            db: TestDb::from_env(),
            anonymous_read: false,
            oidc: vec![],
            blobs_url: None,
            direct_downloads: false,
            upload_part_size: Settings::default().upload_part_size,
            upload_memory_budget: Settings::default().upload_memory_budget,
            upload_budget_wait: crate::service::uploads::BUDGET_WAIT,
            faults: None,
            store_timeout: None,
            allow_unportable_paths: false,
            secure_cookies: false,
            header_read_timeout: crate::conn::DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: crate::conn::DEFAULT_MAX_CONNECTIONS,
            webhooks: crate::service::webhooks::WebhookSettings {
                allow_private: true,
                poll: std::time::Duration::from_millis(20),
                retry_base: std::time::Duration::from_millis(20),
                timeout: std::time::Duration::from_secs(5),
                ..Default::default()
            },
        }
    }
}

/// A running server; stops when dropped or with [`TestServer::stop`].
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's state (to look behind its back).
    pub state: AppState,
    /// Where its blobs live on disk.
    pub blob_dir: PathBuf,
    /// An admin token (the bootstrap token of its fresh database).
    pub admin_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    webhook_worker: Option<crate::service::webhooks::deliver::Worker>,
    /// Keeps the temp dir alive while the server runs.
    pub dir: tempfile::TempDir,
    /// The database URL.
    pub db_url: String,
    /// The blob store URL.
    pub blobs_url: String,
    opts: TestOptions,
}

/// Shows server logs when `TEST_LOG=1`.
pub fn init_test_logging() {
    if std::env::var("TEST_LOG").as_deref() == Ok("1") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=warn,hyper=info")
            .with_test_writer()
            .try_init();
    }
}

impl TestServer {
    /// A server with default options.
    pub async fn start() -> Self {
        Self::start_with(TestOptions::default()).await
    }

    /// A server with `opts`.
    pub async fn start_with(opts: TestOptions) -> Self {
        init_test_logging();
        let dir = tempfile::tempdir().expect("tempdir");
        let (db_url, db) = open_db_url(opts.db, dir.path()).await;
        let admin_token = crate::auth::token::generate().expect("random").text;
        crate::service::tokens::bootstrap(&db, dir.path(), Some(admin_token.clone()))
            .await
            .expect("bootstrap token");
        Self::launch(dir, db_url, db, admin_token, opts).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        db_url: String,
        db: Db,
        admin_token: String,
        opts: TestOptions,
    ) -> Self {
        let blob_dir = dir.path().join("blobs");
        let blobs_url = match (&opts.blobs_url, blobs_on_s3()) {
            (Some(u), _) => u.clone(),
            (None, true) => {
                fresh_s3_url(&s3_base_url().expect("REGISTRY_TEST_BLOBS=s3 needs REGISTRY_TEST_S3_URL"))
            }
            (None, false) => blob_dir.display().to_string(),
        };
        let mut blobs = BlobStore::from_url(&blobs_url).expect("blob store");
        if let Some(t) = opts.store_timeout {
            blobs = blobs.with_timeout(t);
        }
        if let Some(f) = &opts.faults {
            let f = f.clone();
            blobs = blobs.map_store(move |inner| Arc::new(faults::FaultyStore::new(inner, f)));
        }
        let oidc = crate::auth::oidc::Oidc::load(&opts.oidc).expect("OIDC issuers load");
        let settings = Settings {
            max_blob_size: opts.max_blob_size,
            anonymous_read: opts.anonymous_read,
            oidc: Arc::new(oidc),
            direct_downloads: opts.direct_downloads,
            upload_part_size: opts.upload_part_size,
            upload_memory_budget: opts.upload_memory_budget,
            allow_unportable_paths: opts.allow_unportable_paths,
            secure_cookies: opts.secure_cookies,
            ..Settings::default()
        };
        let log = crate::service::log::LogKey::load_or_create(
            &dir.path().join("log-signing.key"),
            Some("registry.test/log"),
        )
        .expect("log key");
        let attestation_key =
            crate::service::promote::load_or_create_key(&dir.path().join("attestation-signing.key"))
                .expect("key");
        let state = AppState {
            db,
            blobs,
            settings: Arc::new(settings),
            log: Arc::new(log),
            attestation_key: Arc::new(attestation_key),
            scrub: Arc::default(),
            metrics: Arc::default(),
            pauses: Arc::default(),
            trust_roots: Arc::default(),
            webhooks: Arc::new(
                crate::service::webhooks::Webhooks::new(
                    crate::service::webhooks::seal::SealKey::load(&dir.path().join("webhook.key"), true)
                        .expect("webhook key"),
                    opts.webhooks.clone(),
                )
                .expect("webhook client"),
            ),
            uploads: Arc::new(crate::service::uploads::Uploads::new(
                opts.upload_memory_budget,
                opts.upload_budget_wait,
            )),
            predicates: Arc::default(),
        };
        let webhook_worker = Some(crate::service::webhooks::deliver::spawn(state.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let router = crate::build_router(state.clone());
        let limits = crate::conn::ConnLimits {
            header_read_timeout: opts.header_read_timeout,
            max_connections: opts.max_connections,
            metrics: Some(state.metrics.clone()),
        };
        let handle = tokio::spawn(crate::conn::serve_with(
            listener,
            router,
            async move {
                let _ = rx.await;
            },
            limits,
        ));
        Self {
            url,
            state,
            blob_dir,
            admin_token,
            shutdown: Some(tx),
            handle: Some(handle),
            webhook_worker,
            dir,
            db_url,
            blobs_url,
            opts,
        }
    }

    /// Stops the server and starts a new one on the same database, blobs and log key.
    pub async fn restart(mut self) -> Self {
        self.stop_webhooks();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        self.state.db.close().await;
        let db = Db::open(&self.db_url, true).await.expect("reopen database");
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let (url, token) = (self.db_url.clone(), self.admin_token.clone());
        let opts = TestOptions { blobs_url: Some(self.blobs_url.clone()), ..self.opts.clone() };
        Self::launch(dir, url, db, token, opts).await
    }

    /// A second server on a copy of this one's data (SQLite only): same log key, same history so far,
    /// free to diverge — a forked registry.
    pub async fn fork(&self) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("registry.db");
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{}'", copy.display())))
            .execute(self.state.db.pool())
            .await
            .expect("VACUUM INTO (SQLite only)");
        std::fs::copy(self.dir.path().join("log-signing.key"), dir.path().join("log-signing.key"))
            .expect("copy key");
        let blobs = dir.path().join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).expect("mkdir");
        if let Ok(rd) = std::fs::read_dir(self.blob_dir.join("sha256")) {
            for e in rd.flatten() {
                std::fs::copy(e.path(), blobs.join(e.file_name())).expect("copy blob");
            }
        }
        let url = format!("sqlite:{}", copy.display());
        let db = Db::open(&url, true).await.expect("open copy");
        // A remote store is shared: content addressing makes the copy's blobs the same objects.
        let remote = (!self.blobs_url.starts_with('/')).then(|| self.blobs_url.clone());
        let opts = TestOptions { blobs_url: remote, ..self.opts.clone() };
        Self::launch(dir, url, db, self.admin_token.clone(), opts).await
    }

    /// Asks for a graceful shutdown and waits until in-flight requests are done.
    pub async fn stop(mut self) {
        self.stop_webhooks();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server stops cleanly");
        }
    }

    /// Sends the shutdown signal without waiting.
    pub fn begin_shutdown(&mut self) -> Option<JoinHandle<std::io::Result<()>>> {
        self.stop_webhooks();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take()
    }

    /// Stops this server's webhook delivery worker at once (as a killed process would: its leases
    /// stay until they expire).
    pub fn stop_webhooks(&mut self) {
        if let Some(w) = self.webhook_worker.take() {
            w.abort();
        }
    }

    /// Stops this server's webhook delivery worker as a clean shutdown does (leases given back).
    pub async fn stop_webhooks_cleanly(&mut self) {
        if let Some(w) = self.webhook_worker.take() {
            w.stop().await;
        }
    }

    /// Creates a token with these scopes over `pattern` (through the service, as an admin would).
    pub async fn token(&self, name: &str, scopes: &[registry_core::auth::Scope], pattern: &str) -> String {
        let req = registry_core::auth::CreateTokenRequest {
            name: name.into(),
            scopes: scopes.to_vec(),
            namespace: registry_core::auth::NamePattern::parse(pattern).expect("pattern"),
            expires_at: None,
        };
        crate::service::tokens::create(&self.state.db, &crate::auth::Actor::local_admin(), req)
            .await
            .expect("token")
            .token
    }

    /// Replaces a stored blob's bytes behind the server's back (tamper tests), on any store.
    pub async fn tamper_blob(&self, d: &registry_core::Digest, bytes: &[u8]) {
        tamper_blob(&self.state.blobs, d, bytes).await;
    }

    /// Digests of the blobs in the object store (listed behind the server's back).
    pub async fn stored_blobs(&self) -> Vec<String> {
        use futures::TryStreamExt;
        let prefix = object_store::path::Path::from("sha256");
        let mut keys: Vec<String> = self
            .state
            .blobs
            .object_store()
            .list(Some(&prefix))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("list blobs");
        keys.sort();
        keys
    }
}

/// Replaces a stored blob's bytes behind the store's back (tamper tests), on any store.
pub async fn tamper_blob(blobs: &BlobStore, d: &registry_core::Digest, bytes: &[u8]) {
    let key = crate::blob::key(d);
    object_store::ObjectStoreExt::put(
        blobs.object_store().as_ref(),
        &key,
        bytes::Bytes::copy_from_slice(bytes).into(),
    )
    .await
    .expect("overwrite blob");
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_webhooks();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
