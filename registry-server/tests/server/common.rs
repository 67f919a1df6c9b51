//! Process-level test harness: the real `registry-server` binary on a free port, with a known admin
//! token, killed when dropped (or on purpose, with SIGKILL, by a crash test).
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The admin token the server installs on its fresh database.
pub const TOKEN: &str = "reg_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// An HTTP client sending [`TOKEN`].
pub fn http() -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::AUTHORIZATION, format!("Bearer {TOKEN}").parse().expect("header"));
    reqwest::Client::builder().default_headers(h).build().expect("client")
}

/// A running `registry-server` process.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServerProcess {
    /// Starts the server on `data` with `args` added, and waits until `/v1/health` answers 200.
    pub async fn start<I, S>(data: &Path, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = Command::new(env!("CARGO_BIN_EXE_registry-server"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data)
            .args(args.into_iter().map(Into::into))
            .env("REGISTRY_LOG", "warn")
            .env("REGISTRY_BOOTSTRAP_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn registry-server");
        let mut s = Self { child, url: format!("http://127.0.0.1:{port}") };
        for _ in 0..400 {
            if reqwest::get(format!("{}/v1/health", s.url)).await.is_ok_and(|r| r.status() == 200) {
                return s;
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("registry-server exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        s.kill();
        panic!("registry-server did not answer /v1/health within 20 s");
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub use registry_server::testing::noise;
