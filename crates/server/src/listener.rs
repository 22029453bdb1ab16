//! The HTTP listener: idsync's own accept loop over hyper, for what `axum::serve` does not do.
//! A connection must send a complete request head within `header_read_timeout` (on a kept-alive
//! connection, counted from the end of the previous response); a connection that moves no byte
//! either way for `idle_timeout` is closed (a stalled upload, a client that stopped reading); at
//! most `max_connections` are served at once, and the next is answered 503 and closed; shutdown
//! closes idle connections at once and lets requests in flight finish.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Service;

/// The `[http]` table of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Seconds a connection has to send a complete request head (also the most a kept-alive
    /// connection may wait between requests).
    pub header_read_timeout_seconds: u64,
    /// Seconds a client has to send a whole request body.
    pub body_read_timeout_seconds: u64,
    /// Seconds a connection may move no byte either way before it is closed.
    pub idle_timeout_seconds: u64,
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// The longest request target (path and query) accepted; longer ones get 414.
    pub max_uri_bytes: usize,
    /// The most header bytes a request may carry; more get 431.
    pub max_header_bytes: usize,
    /// Whether `/metrics` answers only requests with an admin token (of any scope).
    pub metrics_need_token: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 30,
            idle_timeout_seconds: 60,
            max_connections: 1024,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
            metrics_need_token: false,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then closes idle connections and
/// waits for the requests in flight.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    settings: &HttpSettings,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(settings.header_read_timeout_seconds.max(1)))
        // Above idsync's own URI and header limits, so those are answered first, with bodies.
        .max_buf_size((settings.max_uri_bytes + settings.max_header_bytes).max(64 * 1024) * 2);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let idle = Duration::from_secs(settings.idle_timeout_seconds.max(1));
    let started = Instant::now();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let activity = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone(), started });
        let router = app.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut router = router.clone();
            let mut req = req.map(axum::body::Body::new);
            // Who is asking, for what limits failed sign-ins per address.
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            async move { router.call(req).await }
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::pin!(connection);
            let mut check = tokio::time::interval(idle / 4);
            loop {
                tokio::select! {
                    _ = &mut connection => break,
                    _ = check.tick() => {
                        let quiet = started.elapsed().saturating_sub(Duration::from_millis(activity.load(Ordering::Relaxed)));
                        if quiet > idle {
                            tracing::debug!(quiet_seconds = quiet.as_secs(), "closing a connection that went quiet");
                            break;
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Over the cap: a short 503 and the connection closed, rather than a queue nobody sees.
async fn refuse(stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let mut stream = stream;
    let body = "{\"detail\":\"idsync serves as many connections as it may; retry shortly\",\"status\":\"503\"}";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    metrics::counter!("idsync_connections_refused_total").increment(1);
}

/// A connection that notes when it last moved a byte, for the idle check.
struct Watched {
    inner: TcpStream,
    activity: Arc<AtomicU64>,
    started: Instant,
}

impl Watched {
    fn touch(&self) {
        self.activity.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
