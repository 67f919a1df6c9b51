//! The accept loop: HTTP/1.1 and HTTP/2 over TCP with bounds a client cannot stretch. At most
//! `max_connections` are served at once (the rest wait in the kernel's accept queue, holding none of
//! our file descriptors), and a connection whose request headers have not all arrived within
//! `header_read_timeout` is closed (slowloris: the first request's headers on any protocol, and every
//! later HTTP/1.1 request's headers, through hyper's own timer).
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::metrics::Metrics;

/// Default of `--header-read-timeout`.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// Default of `--max-connections`: well under the usual 1024 open files, leaving room for the
/// database pool, blob files and the scrubber.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Bounds of [`serve_with`].
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// A connection whose request headers are not complete this long after it opened (or after the
    /// previous response on HTTP/1.1) is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Where the open-connection gauge lives.
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            metrics: None,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then lets in-flight
/// requests finish (connections are told to close after their current request) and returns.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnLimits,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Closed (dropped) when shutdown begins; each connection task holds a receiver of `done_rx`'s
    // sender count, so `done_tx.closed()` resolves when the last one ends.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(shutdown);
    if let Some(m) = &limits.metrics {
        m.set_max_connections(limits.max_connections);
    }
    loop {
        // Take a slot before accepting: a full server leaves new connections in the accept queue.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _gauge = limits.metrics.as_ref().map(|m| m.connection_opened());
            serve_one(tcp, router, &mut stop, limits.header_read_timeout).await;
            drop(done);
        });
    }
    drop(listener);
    drop(stop_rx);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

async fn serve_one(
    tcp: tokio::net::TcpStream,
    router: Router,
    stop: &mut watch::Receiver<()>,
    header_read_timeout: Duration,
) {
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(req.map(Body::new)).await.unwrap_or_else(|e| match e {})) }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new()).enable_connect_protocol();
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    // hyper times HTTP/1.1 headers once it knows the protocol; this also covers the bytes before
    // that (protocol detection) and an HTTP/2 connection that never opens a stream.
    let first_request = tokio::time::sleep(header_read_timeout);
    tokio::pin!(first_request);
    let (mut stopping, mut timed) = (false, false);
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut first_request, if !timed => {
                timed = true;
                if !started.load(Ordering::Relaxed) {
                    tracing::debug!("no complete request headers within the header read timeout: closing");
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
