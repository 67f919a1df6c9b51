//! Secrets stay secret: with every log on (trace), no token text appears in the server's logs, in
//! client errors, or in the client's debug output.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use registry_e2e::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_logs_errors_or_debug_output() {
    let logs = Capture::default();
    tracing_subscriber::fmt().with_env_filter("trace").with_writer(logs.clone()).with_ansi(false).init();
    let s = TestServer::start().await;
    let pusher = s
        .token("pusher", &[registry_core::auth::Scope::Push, registry_core::auth::Scope::Read], "fraud/*")
        .await;
    let c = registry_client::Client::new(&s.url).unwrap().with_token(Some(pusher.clone()));
    TestPush::new("fraud/x", "1").files(&[("w", b"secret-test")]).run(&c).await.unwrap();
    c.whoami().await.unwrap();

    // Failures too: a revoked token, a forged one, a wrong namespace.
    let forged = format!("{}X", &pusher[..pusher.len() - 1]);
    let bad = registry_client::Client::new(&s.url).unwrap().with_token(Some(forged.clone()));
    let err = bad.whoami().await.unwrap_err();
    let other = registry_core::ModelName::parse("nlp/y").unwrap();
    let err2 = c.get_model(&other).await.unwrap_err();
    registry_server::service::tokens::revoke(&s.state.db, "pusher").await.unwrap();
    let err3 = c.whoami().await.unwrap_err();

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/v1/whoami"), "the capture works: {} bytes", logs.len());
    for secret in [&pusher, &forged, &s.admin_token] {
        let tail = &secret[secret.len() - 20..];
        assert!(!logs.contains(tail), "a token reached the logs");
        for e in [&err, &err2, &err3] {
            assert!(
                !e.to_string().contains(tail) && !format!("{e:?}").contains(tail),
                "a token reached an error"
            );
        }
        assert!(
            !format!("{c:?}").contains(tail) && !format!("{bad:?}").contains(tail),
            "a token reached Debug"
        );
    }
}
