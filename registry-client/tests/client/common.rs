//! Shared by the client's adversarial tests: the real `registry` binary, and a relay that holds no keys
//! and no database access but sits between the client and a real server, where it can answer one path
//! with another's answer or edit any answer.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The CLI pointed at one registry with one token and one config directory.
#[derive(Clone)]
pub struct Cli {
    pub url: String,
    pub token: String,
    pub cfg: PathBuf,
}

impl Cli {
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("registry").unwrap();
        c.env("REGISTRY_URL", &self.url)
            .env("REGISTRY_TOKEN", &self.token)
            .env("REGISTRY_CONFIG_DIR", &self.cfg);
        c
    }

    /// The same CLI through another URL (a relay), sharing the config directory.
    pub fn at(&self, url: &str) -> Cli {
        Cli { url: url.to_owned(), ..self.clone() }
    }

    pub fn with_token(&self, token: &str) -> Cli {
        Cli { token: token.to_owned(), ..self.clone() }
    }
}

/// A config directory (pins, credentials) of its own for each server credential. A fixed path shared
/// by every test kept the pins of servers long gone, keyed by URL: a later server given the same port
/// was checked against the old server's log key and refused (and `/nonexistent/...` is creatable when
/// the tests run as root, as CI does).
pub fn config_dir_for(token: &str) -> PathBuf {
    let name: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
    std::env::temp_dir().join(format!("registry-cli-tests-{}", std::process::id())).join(name)
}

pub fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Runs one SQL statement on the server's database: tampering behind the server's back.
pub async fn sql(s: &registry_server::testing::TestServer, q: &str) {
    sqlx::query(sqlx::AssertSqlSafe(q.to_owned())).execute(s.state.db.pool()).await.unwrap();
}

/// Maps a request's path and query to the upstream path and query it is answered from.
pub type Route = Box<dyn Fn(&str) -> String + Send + Sync>;
/// Edits an answer: (path and query asked, body) -> new body.
pub type Edit = Box<dyn Fn(&str, Bytes) -> Bytes + Send + Sync>;

/// A request held by the relay: the test learns it arrived, and answers it when the test says so.
struct Hold {
    pattern: String,
    arrived: std::sync::mpsc::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

struct Rules {
    route: Route,
    edit: Edit,
    holds: Vec<Hold>,
}

#[derive(Clone)]
struct RelayState {
    upstream: String,
    http: reqwest::Client,
    rules: Arc<Mutex<Rules>>,
}

/// A lying relay in front of `upstream`. Stops when dropped.
pub struct Relay {
    pub url: String,
    rules: Arc<Mutex<Rules>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: &str) -> Self {
        let rules = Arc::new(Mutex::new(Rules {
            route: Box::new(|p| p.to_owned()),
            edit: Box::new(|_, b| b),
            holds: vec![],
        }));
        let state =
            RelayState { upstream: upstream.to_owned(), http: reqwest::Client::new(), rules: rules.clone() };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, rules, _task: task }
    }

    /// Answers each path from the path `route` gives.
    pub fn route(&self, route: impl Fn(&str) -> String + Send + Sync + 'static) {
        self.rules.lock().unwrap().route = Box::new(route);
    }

    /// Edits every answer with `edit`.
    pub fn edit(&self, edit: impl Fn(&str, Bytes) -> Bytes + Send + Sync + 'static) {
        self.rules.lock().unwrap().edit = Box::new(edit);
    }

    /// Holds the next request whose path contains `pattern`: `arrived` gets a message when it comes,
    /// and it is forwarded once `release` is sent (or dropped).
    pub fn hold(&self, pattern: &str) -> (std::sync::mpsc::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
        let (arrived, arrived_rx) = std::sync::mpsc::channel();
        let (release_tx, release) = tokio::sync::oneshot::channel();
        self.rules.lock().unwrap().holds.push(Hold { pattern: pattern.to_owned(), arrived, release });
        (arrived_rx, release_tx)
    }

    /// Back to an honest relay.
    pub fn honest(&self) {
        self.route(|p| p.to_owned());
        self.edit(|_, b| b);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self._task.abort();
    }
}

async fn forward(State(s): State<RelayState>, req: Request) -> Response {
    let asked = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let held = {
        let mut rules = s.rules.lock().unwrap();
        let i = rules.holds.iter().position(|h| asked.contains(&h.pattern));
        i.map(|i| rules.holds.remove(i))
    };
    if let Some(h) = held {
        let _ = h.arrived.send(());
        let _ = h.release.await;
    }
    let to = (s.rules.lock().unwrap().route)(&asked);
    let method = req.method().clone();
    let headers: HeaderMap = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
    let mut rb = s.http.request(method, format!("{}{to}", s.upstream));
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            rb = rb.header(k, v);
        }
    }
    let resp = rb.body(body).send().await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let ctype = resp.headers().get("content-type").cloned();
    let bytes = resp.bytes().await.unwrap();
    let bytes = (s.rules.lock().unwrap().edit)(&asked, bytes);
    let mut out = (status, bytes).into_response();
    if let Some(c) = ctype {
        out.headers_mut().insert("content-type", c);
    }
    out
}

/// Edits a JSON answer.
pub fn json_edit(b: Bytes, f: impl FnOnce(&mut serde_json::Value)) -> Bytes {
    let mut v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    f(&mut v);
    Bytes::from(serde_json::to_vec(&v).unwrap())
}
