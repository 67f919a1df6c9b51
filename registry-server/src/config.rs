//! Server configuration: built-in defaults, then an optional TOML file, then `REGISTRY_*` environment
//! variables, then command-line flags (each layer overrides the one before).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::service::pkcs11::{Pin, Pkcs11Settings, Pkcs11Uri};

/// Settings of `registry-server` (all optional in the file; see `default-config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML config file (flags and env override it).
    #[arg(long, env = "REGISTRY_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "REGISTRY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded defaults (SQLite file, blob directory, keys) [default: ./registry-data].
    #[arg(long, env = "REGISTRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Metadata database: sqlite:PATH or postgres://USER@HOST/DB [default: sqlite:DATA_DIR/registry.db].
    #[arg(long, env = "REGISTRY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Blob store: file:///ABS/DIR, a directory path, or memory:// (tests) [default: DATA_DIR/blobs].
    #[arg(long, env = "REGISTRY_BLOBS_URL")]
    pub blobs_url: Option<String>,
    /// Largest blob accepted, in bytes or with a KiB/MiB/GiB/TiB suffix [default: 100GiB].
    #[arg(long, env = "REGISTRY_MAX_BLOB_SIZE")]
    pub max_blob_size: Option<String>,
    /// Do not apply database migrations at start (for managed databases migrated separately).
    #[arg(long, env = "REGISTRY_NO_MIGRATE")]
    #[serde(default)]
    pub no_migrate: bool,
    /// Log format: text or json [default: text].
    #[arg(long, env = "REGISTRY_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Seconds to let in-flight requests finish after SIGTERM/Ctrl-C [default: 30].
    #[arg(long, env = "REGISTRY_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<u64>,
    /// Let callers without credentials read models, versions and blobs (never write).
    #[arg(long, env = "REGISTRY_ANONYMOUS_READ")]
    #[serde(default)]
    pub anonymous_read: bool,
    /// The URL users reach this server at (`https://registry.example.com`). The web UI's session
    /// cookie is `Secure` when it is https.
    #[arg(long, env = "REGISTRY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds a web UI session lasts (never longer than its token) [default: 43200, 12 hours].
    #[arg(long, env = "REGISTRY_UI_SESSION_TTL")]
    pub ui_session_ttl: Option<u64>,
    /// File holding the admin token to install on a fresh database (instead of generating one).
    #[arg(long, env = "REGISTRY_BOOTSTRAP_TOKEN_FILE")]
    pub bootstrap_token_file: Option<PathBuf>,
    /// The transparency log's Ed25519 signing key (base64 secret; created 0600 on first start)
    /// [default: DATA_DIR/log-signing.key]. Replicas must share it.
    #[arg(long, env = "REGISTRY_LOG_KEY_FILE")]
    pub log_key_file: Option<PathBuf>,
    /// The log's origin line (and key name) [default: registry/<8 hex of the key>].
    #[arg(long, env = "REGISTRY_LOG_ORIGIN")]
    pub log_origin: Option<String>,
    /// The key (PEM PKCS#8) the server signs promotion decisions (SLSA VSAs) with; created 0600 on
    /// first start [default: DATA_DIR/attestation-signing.key]. Replicas must share it.
    #[arg(long, env = "REGISTRY_ATTESTATION_KEY_FILE")]
    pub attestation_key_file: Option<PathBuf>,
    /// The transparency log's signing key in a PKCS#11 token instead of a file: an RFC 7512 URI such
    /// as `pkcs11:token=registry;object=log` (Ed25519; needs --pkcs11-module and a PIN).
    #[arg(long, env = "REGISTRY_LOG_KEY_PKCS11")]
    pub log_key_pkcs11: Option<String>,
    /// The promotion decision (VSA) signing key in a PKCS#11 token instead of a file: an RFC 7512
    /// URI (Ed25519 or ECDSA P-256; needs --pkcs11-module and a PIN).
    #[arg(long, env = "REGISTRY_ATTESTATION_KEY_PKCS11")]
    pub attestation_key_pkcs11: Option<String>,
    /// The PKCS#11 module (shared library) of the token holding those keys, e.g.
    /// /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, env = "REGISTRY_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// File holding the token's user PIN (mode 0600: a file group or others can access is refused).
    /// Else the PIN is read from REGISTRY_PKCS11_PIN.
    #[arg(long, env = "REGISTRY_PKCS11_PIN_FILE")]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Scrubber: seconds between passes that re-hash every blob and re-check attestations and log
    /// entries (0: off) [default: 60].
    #[arg(long, env = "REGISTRY_SCRUB_INTERVAL")]
    pub scrub_interval: Option<u64>,
    /// Scrubber: read at most this many blob bytes per second [default: 64MiB].
    #[arg(long, env = "REGISTRY_SCRUB_RATE")]
    pub scrub_rate: Option<String>,
    /// Scrubber: re-check at most this many attestation and log rows per second [default: 4000].
    #[arg(long, env = "REGISTRY_SCRUB_ROW_RATE")]
    pub scrub_row_rate: Option<u64>,
    /// Answer blob downloads with a redirect to a short-lived presigned URL of the object store, so
    /// the bytes do not flow through the server (s3://, gs://, az:// only).
    #[arg(long, env = "REGISTRY_DIRECT_DOWNLOADS")]
    #[serde(default)]
    pub direct_downloads: bool,
    /// Seconds a presigned download URL stays valid [default: 300].
    #[arg(long, env = "REGISTRY_PRESIGN_TTL")]
    pub presign_ttl: Option<u64>,
    /// Part size of resumable upload sessions (5MiB..5GiB) [default: 32MiB].
    #[arg(long, env = "REGISTRY_UPLOAD_PART_SIZE")]
    pub upload_part_size: Option<String>,
    /// Memory that resumable upload parts held whole may take, all requests together (remote
    /// stores hold a part whole; a local directory holds none). A part beyond it waits up to 10 s,
    /// then gets 429 with Retry-After [default: 64MiB].
    #[arg(long, env = "REGISTRY_UPLOAD_MEMORY_BUDGET")]
    pub upload_memory_budget: Option<String>,
    /// Seconds an untouched upload session lives before it expires [default: 86400].
    #[arg(long, env = "REGISTRY_UPLOAD_EXPIRY")]
    pub upload_expiry: Option<u64>,
    /// Garbage collection: seconds between background passes (0: off; `registry-server gc` runs one)
    /// [default: 0].
    #[arg(long, env = "REGISTRY_GC_INTERVAL")]
    pub gc_interval: Option<u64>,
    /// Garbage collection: only blobs no version references and nobody touched for this many
    /// seconds are removed [default: 86400].
    #[arg(long, env = "REGISTRY_GC_GRACE")]
    pub gc_grace: Option<u64>,
    /// Garbage collection: upload sessions that received no part for this many seconds are
    /// discarded (their staged parts free their space), whatever their expiry [default: 3600].
    #[arg(long, env = "REGISTRY_GC_UPLOAD_IDLE")]
    pub gc_upload_idle: Option<u64>,
    /// Seconds one object store call may take (a request with its retries, one part, one chunk of a
    /// read) before it fails; a paused or unreachable store then turns into errors, never a wait
    /// without end [default: 60].
    #[arg(long, env = "REGISTRY_STORE_TIMEOUT")]
    pub store_timeout: Option<u64>,
    /// Accept manifest paths that break on other systems: `:` and other characters Windows refuses,
    /// reserved device names (CON, NUL, COM1, ...), trailing dots or spaces, bidirectional overrides and
    /// invisible characters, paths differing only in case. Refused by default (`invalid_manifest`).
    #[arg(long, env = "REGISTRY_ALLOW_UNPORTABLE_PATHS")]
    #[serde(default)]
    pub allow_unportable_paths: bool,
    /// Seconds a client has to send a request's headers (from connecting, or from the previous
    /// response); slower connections are closed [default: 15].
    #[arg(long, env = "REGISTRY_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<u64>,
    /// Connections served at once; more wait in the kernel's accept queue. Keep it well under the
    /// open-file limit (`ulimit -n`) [default: 512].
    #[arg(long, env = "REGISTRY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Webhooks: the key sealing subscription URLs and secrets (64 hex digits); every replica must
    /// be given the same file [default: DATA_DIR/webhook.key, made on first start].
    #[arg(long, env = "REGISTRY_WEBHOOK_KEY_FILE")]
    pub webhook_key_file: Option<PathBuf>,
    /// Webhooks: allow loopback and private-network targets (link-local ones stay refused).
    #[arg(long, env = "REGISTRY_WEBHOOKS_ALLOW_PRIVATE")]
    #[serde(default)]
    pub webhooks_allow_private: bool,
    /// Webhooks: seconds one delivery may take [default: 10].
    #[arg(long, env = "REGISTRY_WEBHOOK_TIMEOUT")]
    pub webhook_timeout: Option<u64>,
    /// Webhooks: milliseconds before the first retry of a failed delivery, doubled per failure
    /// (with jitter, at most 10 minutes) [default: 1000].
    #[arg(long, env = "REGISTRY_WEBHOOK_RETRY_MS")]
    pub webhook_retry_ms: Option<u64>,
    /// Webhooks: seconds an event is retried before it is dead-lettered [default: 86400].
    #[arg(long, env = "REGISTRY_WEBHOOK_DEAD_AFTER")]
    pub webhook_dead_after: Option<u64>,
    /// Webhooks: milliseconds between looks for events other replicas appended or retries that came
    /// due [default: 200].
    #[arg(long, env = "REGISTRY_WEBHOOK_POLL_MS")]
    pub webhook_poll_ms: Option<u64>,
    /// Webhooks: sign and send deliveries at the requests' scheduling priority. By default they run
    /// on threads of their own at the lowest (nice 19), so a server short of CPU serves its
    /// requests first and its deliveries fall behind (lag in /metrics) instead.
    #[arg(long, env = "REGISTRY_WEBHOOK_NORMAL_PRIORITY")]
    #[serde(default)]
    pub webhook_normal_priority: bool,
    /// Trusted OIDC issuers (config file only: `[[oidc]]` tables).
    #[arg(skip)]
    #[serde(default)]
    pub oidc: Vec<crate::auth::oidc::OidcIssuer>,
    /// Object store options (config file only: a `[blob_options]` table of object_store keys such as
    /// `aws_endpoint`, `aws_region`, `aws_allow_http`; the `AWS_*`/`GOOGLE_*`/`AZURE_*` variables
    /// are read first).
    #[arg(skip)]
    #[serde(default)]
    pub blob_options: std::collections::BTreeMap<String, String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    /// Blob store URL.
    pub blobs_url: String,
    /// Largest blob, bytes.
    pub max_blob_size: u64,
    /// Apply migrations at start.
    pub migrate: bool,
    /// `text` or `json`.
    pub log_format: String,
    /// Shutdown grace, seconds.
    pub shutdown_grace: u64,
    /// Anonymous reads allowed.
    pub anonymous_read: bool,
    /// Public URL (`Secure` cookies when https).
    pub public_url: Option<url::Url>,
    /// Web UI session lifetime, seconds.
    pub ui_session_ttl: u64,
    /// The bootstrap admin token to install on a fresh database, if given.
    pub bootstrap_token: Option<String>,
    /// Trusted OIDC issuers.
    pub oidc: Vec<crate::auth::oidc::OidcIssuer>,
    /// Log signing key file.
    pub log_key_file: PathBuf,
    /// Log origin, if set.
    pub log_origin: Option<String>,
    /// VSA signing key file.
    pub attestation_key_file: PathBuf,
    /// The log key in a PKCS#11 token (then `log_key_file` is not read).
    pub log_key_pkcs11: Option<Pkcs11Uri>,
    /// The VSA key in a PKCS#11 token (then `attestation_key_file` is not read).
    pub attestation_key_pkcs11: Option<Pkcs11Uri>,
    /// Module and PIN, when a key is in a token.
    pub pkcs11: Option<Pkcs11Settings>,
    /// Seconds between scrub passes (0: off).
    pub scrub_interval: u64,
    /// Scrub read rate, bytes per second.
    pub scrub_rate: u64,
    /// Scrub row rate, rows per second.
    pub scrub_row_rate: u64,
    /// Object store options.
    pub blob_options: Vec<(String, String)>,
    /// Redirect downloads to presigned URLs.
    pub direct_downloads: bool,
    /// Presigned URL lifetime, seconds.
    pub presign_ttl: u64,
    /// Upload session part size, bytes.
    pub upload_part_size: u64,
    /// Memory budget of upload parts held whole, bytes.
    pub upload_memory_budget: u64,
    /// Upload session expiry, seconds.
    pub upload_expiry: u64,
    /// Seconds between GC passes (0: off).
    pub gc_interval: u64,
    /// GC grace period, seconds.
    pub gc_grace: u64,
    /// Idle upload sessions GC discards, seconds.
    pub gc_upload_idle: u64,
    /// Bound on one object store call, seconds.
    pub store_timeout: u64,
    /// Accept unportable manifest paths.
    pub allow_unportable_paths: bool,
    /// Time a client has to send request headers.
    pub header_read_timeout: std::time::Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Webhook key file (None: DATA_DIR/webhook.key).
    pub webhook_key_file: Option<PathBuf>,
    /// Webhook delivery settings.
    pub webhooks: crate::service::webhooks::WebhookSettings,
}

/// Smallest part of a resumable upload (S3's minimum for every part but the last).
pub const MIN_PART: u64 = 5 << 20;
/// Largest part (S3's maximum).
pub const MAX_PART: u64 = 5 << 30;

/// Parses `123`, `64KiB`, `10MiB`, `2GiB`, `1TiB` (also KB/MB/GB/TB as powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        u => return Err(format!("unknown size unit {u:?} in {s:?}")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} overflows"))
}

/// The bootstrap token: `REGISTRY_BOOTSTRAP_TOKEN`, else the file named by the setting.
fn bootstrap_token(file: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
    if let Ok(t) = std::env::var("REGISTRY_BOOTSTRAP_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Some(t.trim().to_owned()));
    }
    match file {
        Some(p) => {
            let t =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
            Ok(Some(t.trim().to_owned()))
        }
        None => Ok(None),
    }
}

/// The PIN: `--pkcs11-pin-file` (flag or `REGISTRY_PKCS11_PIN_FILE`), else `REGISTRY_PKCS11_PIN`, else
/// the config file's `pkcs11_pin_file` (flags over env over file, as for every setting).
fn pkcs11_pin(flag: Option<&PathBuf>, file: Option<&PathBuf>) -> anyhow::Result<Pin> {
    if let Some(p) = flag {
        return Pin::from_file(p);
    }
    if let Ok(t) = std::env::var("REGISTRY_PKCS11_PIN")
        && !t.is_empty()
    {
        return Ok(Pin::new(&t));
    }
    match file {
        Some(p) => Pin::from_file(p),
        None => anyhow::bail!(
            "a PKCS#11 key needs the token's PIN: --pkcs11-pin-file FILE or REGISTRY_PKCS11_PIN"
        ),
    }
}

/// Token keys, resolved: (log key URI, attestation key URI, module and PIN if either is set). A key
/// named both by a file and by a URI is refused, not resolved by precedence: which key signs must
/// never be a surprise.
type TokenKeys = (Option<Pkcs11Uri>, Option<Pkcs11Uri>, Option<Pkcs11Settings>);

fn token_keys(args: &ServeArgs, file: &ServeArgs) -> anyhow::Result<TokenKeys> {
    let uri = |flag: &str, a: &Option<String>, f: &Option<String>, key_file: bool| -> anyhow::Result<_> {
        let Some(text) = a.clone().or_else(|| f.clone()) else { return Ok(None) };
        anyhow::ensure!(
            !key_file,
            "--{flag}-file and --{flag}-pkcs11 both name the {flag}: give one (the file, or the token)"
        );
        let uri = Pkcs11Uri::parse(&text).map_err(|e| anyhow::anyhow!("--{flag}-pkcs11: {e}"))?;
        Ok(Some(uri))
    };
    let log = uri(
        "log-key",
        &args.log_key_pkcs11,
        &file.log_key_pkcs11,
        args.log_key_file.is_some() || file.log_key_file.is_some(),
    )?;
    let att = uri(
        "attestation-key",
        &args.attestation_key_pkcs11,
        &file.attestation_key_pkcs11,
        args.attestation_key_file.is_some() || file.attestation_key_file.is_some(),
    )?;
    if log.is_none() && att.is_none() {
        return Ok((None, None, None));
    }
    let module = args.pkcs11_module.clone().or_else(|| file.pkcs11_module.clone()).ok_or_else(|| {
        anyhow::anyhow!("a PKCS#11 key needs --pkcs11-module PATH (e.g. /usr/lib/softhsm/libsofthsm2.so)")
    })?;
    let pin = pkcs11_pin(args.pkcs11_pin_file.as_ref(), file.pkcs11_pin_file.as_ref())?;
    Ok((log, att, Some(Pkcs11Settings { module, pin })))
}

impl Config {
    /// Merges `args` (flags and env, as clap read them) over the file they name, over the defaults.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let file: ServeArgs = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            }
            None => ServeArgs::default(),
        };
        let (log_key_pkcs11, attestation_key_pkcs11, pkcs11) = token_keys(args, &file)?;
        let data_dir =
            args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("registry-data"));
        let log_key_default = data_dir.join("log-signing.key");
        let att_key_default = data_dir.join("attestation-signing.key");
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("registry.db").display()));
        let blobs_url = args
            .blobs_url
            .clone()
            .or(file.blobs_url)
            .unwrap_or_else(|| data_dir.join("blobs").display().to_string());
        let max_blob_size = match args.max_blob_size.clone().or(file.max_blob_size) {
            Some(s) => parse_size(&s).map_err(anyhow::Error::msg)?,
            None => 100 << 30,
        };
        let config = Self {
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            blobs_url,
            max_blob_size,
            migrate: !(args.no_migrate || file.no_migrate),
            log_format: args.log_format.clone().or(file.log_format).unwrap_or_else(|| "text".into()),
            shutdown_grace: args.shutdown_grace.or(file.shutdown_grace).unwrap_or(30),
            anonymous_read: args.anonymous_read || file.anonymous_read,
            public_url: match args.public_url.clone().or(file.public_url) {
                None => None,
                Some(u) => Some(
                    url::Url::parse(&u)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                        .ok_or_else(|| anyhow::anyhow!("public_url {u:?} is not an http(s) URL"))?,
                ),
            },
            ui_session_ttl: match args.ui_session_ttl.or(file.ui_session_ttl) {
                Some(0) => anyhow::bail!("ui_session_ttl must be at least 1 second"),
                Some(n) => n,
                None => 12 * 3600,
            },
            bootstrap_token: bootstrap_token(
                args.bootstrap_token_file.as_ref().or(file.bootstrap_token_file.as_ref()),
            )?,
            oidc: if args.oidc.is_empty() { file.oidc } else { args.oidc.clone() },
            log_key_file: args
                .log_key_file
                .clone()
                .or(file.log_key_file)
                .unwrap_or_else(|| log_key_default.clone()),
            log_origin: args.log_origin.clone().or(file.log_origin),
            attestation_key_file: args
                .attestation_key_file
                .clone()
                .or(file.attestation_key_file)
                .unwrap_or_else(|| att_key_default.clone()),
            log_key_pkcs11,
            attestation_key_pkcs11,
            pkcs11,
            scrub_interval: args.scrub_interval.or(file.scrub_interval).unwrap_or(60),
            scrub_rate: match args.scrub_rate.clone().or(file.scrub_rate) {
                Some(s) => parse_size(&s).map_err(anyhow::Error::msg)?.max(1),
                None => 64 << 20,
            },
            scrub_row_rate: args.scrub_row_rate.or(file.scrub_row_rate).unwrap_or(4000).max(1),
            blob_options: if args.blob_options.is_empty() {
                file.blob_options
            } else {
                args.blob_options.clone()
            }
            .into_iter()
            .collect(),
            direct_downloads: args.direct_downloads || file.direct_downloads,
            presign_ttl: args.presign_ttl.or(file.presign_ttl).unwrap_or(300).clamp(1, 7 * 86_400),
            upload_part_size: match args.upload_part_size.clone().or(file.upload_part_size) {
                Some(s) => {
                    let n = parse_size(&s).map_err(anyhow::Error::msg)?;
                    anyhow::ensure!(
                        (MIN_PART..=MAX_PART).contains(&n),
                        "upload_part_size {s} is outside 5MiB..5GiB (the S3 multipart limits)"
                    );
                    n
                }
                None => 32 << 20,
            },
            upload_memory_budget: match args.upload_memory_budget.clone().or(file.upload_memory_budget) {
                Some(s) => {
                    let n = parse_size(&s).map_err(anyhow::Error::msg)?;
                    anyhow::ensure!(n >= MIN_PART, "upload_memory_budget {s} is below one 5MiB part");
                    n
                }
                None => 64 << 20,
            },
            upload_expiry: args.upload_expiry.or(file.upload_expiry).unwrap_or(86_400).max(60),
            gc_interval: args.gc_interval.or(file.gc_interval).unwrap_or(0),
            gc_grace: args.gc_grace.or(file.gc_grace).unwrap_or(86_400),
            gc_upload_idle: args.gc_upload_idle.or(file.gc_upload_idle).unwrap_or(3_600).max(60),
            store_timeout: args.store_timeout.or(file.store_timeout).unwrap_or(60).max(1),
            allow_unportable_paths: args.allow_unportable_paths || file.allow_unportable_paths,
            header_read_timeout: match args.header_read_timeout.or(file.header_read_timeout) {
                Some(0) => anyhow::bail!("header_read_timeout must be at least 1 second"),
                Some(s) => std::time::Duration::from_secs(s),
                None => crate::conn::DEFAULT_HEADER_READ_TIMEOUT,
            },
            max_connections: match args.max_connections.or(file.max_connections) {
                Some(0) => anyhow::bail!("max_connections must be at least 1"),
                Some(n) => n,
                None => crate::conn::DEFAULT_MAX_CONNECTIONS,
            },
            webhook_key_file: args.webhook_key_file.clone().or(file.webhook_key_file),
            webhooks: crate::service::webhooks::WebhookSettings {
                allow_private: args.webhooks_allow_private || file.webhooks_allow_private,
                timeout: std::time::Duration::from_secs(
                    args.webhook_timeout.or(file.webhook_timeout).unwrap_or(10).clamp(1, 300),
                ),
                retry_base: std::time::Duration::from_millis(
                    args.webhook_retry_ms.or(file.webhook_retry_ms).unwrap_or(1000).max(1),
                ),
                dead_after: std::time::Duration::from_secs(
                    args.webhook_dead_after.or(file.webhook_dead_after).unwrap_or(86_400),
                ),
                poll: std::time::Duration::from_millis(
                    args.webhook_poll_ms.or(file.webhook_poll_ms).unwrap_or(200).clamp(10, 60_000),
                ),
                low_priority: !(args.webhook_normal_priority || file.webhook_normal_priority),
                ..Default::default()
            },
        };
        // A remote store's part is held whole: the budget must take at least one.
        anyhow::ensure!(
            config.upload_memory_budget >= config.upload_part_size,
            "upload_memory_budget ({} bytes) is smaller than one upload part ({} bytes)",
            config.upload_memory_budget,
            config.upload_part_size
        );
        Ok(config)
    }

    /// The data directory, for files such as keys.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// An example config file with every setting and its default.
pub const EXAMPLE: &str = r#"# registry-server.toml: every setting is optional; flags and REGISTRY_* env vars override these.
listen = "127.0.0.1:8080"
data_dir = "registry-data"
# database_url = "sqlite:registry-data/registry.db"        # or "postgres://registry@db.internal/registry"
# blobs_url = "registry-data/blobs"                        # or "file:///var/lib/registry/blobs"
max_blob_size = "100GiB"
no_migrate = false
log_format = "text"                                         # or "json"
shutdown_grace = 30
anonymous_read = false                                      # true: reads need no credential
# public_url = "https://registry.example.com"              # https: the web UI's cookie is Secure
ui_session_ttl = 43200                                      # seconds a web UI sign-in lasts
# bootstrap_token_file = "/run/secrets/registry-admin"      # else a token is generated on first start
# log_key_file = "registry-data/log-signing.key"            # shared by every replica
# log_origin = "registry.example.com/log"                   # default: registry/<8 hex of the key>
# attestation_key_file = "registry-data/attestation-signing.key"
# Server keys in an HSM instead of files (docs/security.md); the PIN file must be mode 0600, or
# set REGISTRY_PKCS11_PIN. A key has a file or a URI, never both.
# log_key_pkcs11 = "pkcs11:token=registry;object=log"        # Ed25519
# attestation_key_pkcs11 = "pkcs11:token=registry;object=vsa" # Ed25519 or ECDSA P-256
# pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
# pkcs11_pin_file = "/run/secrets/registry-pkcs11-pin"
scrub_interval = 60                                         # seconds between scrub passes; 0 = off
scrub_rate = "64MiB"                                        # scrub read rate per second (blobs)
scrub_row_rate = 4000                                       # attestation and log rows re-checked per second
upload_part_size = "32MiB"                                  # resumable upload parts (5MiB..5GiB)
upload_memory_budget = "64MiB"                              # memory for parts held whole (remote stores)
upload_expiry = 86400                                       # seconds an abandoned upload session lives
gc_interval = 0                                             # seconds between GC passes; 0 = off
gc_grace = 86400                                            # GC keeps blobs touched this recently
gc_upload_idle = 3600                                       # GC discards upload sessions idle this long
store_timeout = 60                                          # seconds one object store call may take
direct_downloads = false                                    # true: redirect GETs to presigned URLs
presign_ttl = 300                                           # seconds a presigned URL is valid
allow_unportable_paths = false                              # true: accept C:x, CON, case-only twins
header_read_timeout = 15                                    # seconds to send request headers
max_connections = 512                                       # served at once; keep under ulimit -n
# webhook_key_file = "/run/secrets/registry-webhook.key"    # 64 hex digits; the same on every replica
webhooks_allow_private = false                              # true: loopback/private targets allowed
webhook_timeout = 10                                        # seconds one delivery may take
webhook_retry_ms = 1000                                     # first retry delay, doubled per failure
webhook_dead_after = 86400                                  # seconds of retries before a dead letter
webhook_poll_ms = 200                                       # how often other replicas' events are looked for
webhook_normal_priority = false                             # true: deliveries at the requests' priority

# S3-compatible store: blobs_url = "s3://models/registry"; endpoint, region and keys come from
# AWS_ENDPOINT, AWS_REGION, AWS_ALLOW_HTTP, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or from here
# (object_store configuration keys; keep secrets in the environment, not in this file).
# [blob_options]
# aws_endpoint = "http://127.0.0.1:8333"
# aws_region = "us-east-1"
# aws_allow_http = "true"

# OIDC workload identity: trust ID tokens of an issuer, map claims to scopes and a namespace.
# [[oidc]]
# issuer = "https://token.actions.githubusercontent.com"
# audience = "registry"
# jwks_file = "/etc/registry/github-jwks.json"
# [[oidc.rules]]
# claims = { repository = "acme/fraud", ref = "refs/heads/*" }
# scopes = ["push", "attest"]
# namespace = "fraud/*"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("10"), Ok(10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("5 MB"), Ok(5_000_000));
        assert!(parse_size("x").is_err());
        assert!(parse_size("1PiB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn example_config_parses_and_flags_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.toml");
        std::fs::write(&p, EXAMPLE.replace("8080", "9999")).expect("write");
        let args = ServeArgs { config: Some(p.clone()), ..Default::default() };
        let c = Config::load(&args).expect("loads");
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.max_blob_size, 100 << 30);
        let args = ServeArgs {
            config: Some(p),
            listen: Some("127.0.0.1:1".parse().expect("addr")),
            ..Default::default()
        };
        assert_eq!(Config::load(&args).expect("loads").listen.port(), 1);
    }

    /// Webhook deliveries run below the requests' priority unless the flag or the file asks.
    #[test]
    fn webhook_priority_is_low_unless_asked_by_flag_or_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.toml");
        let low = |args: &ServeArgs| Config::load(args).expect("loads").webhooks.low_priority;
        for (file, flag, want) in [(false, false, true), (true, false, false), (false, true, false)] {
            let text = EXAMPLE
                .replace("webhook_normal_priority = false", &format!("webhook_normal_priority = {file}"));
            std::fs::write(&p, text).expect("write");
            let args =
                ServeArgs { config: Some(p.clone()), webhook_normal_priority: flag, ..Default::default() };
            assert_eq!(low(&args), want, "file {file}, flag {flag}");
        }
    }
}
