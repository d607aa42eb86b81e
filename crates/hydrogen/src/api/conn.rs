//! Connection hygiene of the API listener: the accept loop, a cap on open
//! connections, and a watchdog per connection that closes slow or idle
//! ones.
//!
//! `axum::serve` accepts every connection and keeps it as long as the
//! client likes: 300 clients sending a header byte now and then (slowloris)
//! hold 300 sockets and tasks forever, and a client that connects and says
//! nothing is never dropped. hyper's own HTTP/1 header timeout does not help
//! enough: it does not cover the HTTP/2 preface (the version sniffing of
//! hyper-util reads it with no deadline) and it also fires on a quiet
//! keep-alive connection, so it cannot be told apart from an idle timeout.
//!
//! So each connection has a watchdog fed by two signals: the socket reports
//! when bytes arrive ([`Watched`]), and the service reports when a request
//! starts and when its response (the whole body, so an SSE or a gRPC stream
//! counts as busy until it ends) is done ([`Busy`]). With no request in
//! flight, the watchdog closes the connection when
//! - bytes of a new HTTP/1 request (or of the first request, whatever the
//!   protocol) have been arriving for longer than the header timeout
//!   without making a request: a slow or stalled header;
//! - nothing at all has arrived since the connection opened, for longer
//!   than the header timeout;
//! - no request has run for the idle timeout.
//!
//! The cap: past `max_connections` open connections a new one is accepted
//! and closed at once (counted in `hydrogen_api_connections_refused_total`),
//! so a flood fails fast instead of filling the accept backlog, and the
//! process never runs out of descriptors because of API clients.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Limits of the connections the API keeps open.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest a request's head may take to arrive (and a new connection
    /// may stay silent).
    pub header_timeout: Duration,
    /// Longest a connection may stay open with no request running.
    pub idle_timeout: Duration,
    /// Most connections open at once; more are closed on accept.
    pub max_connections: usize,
}

/// Default header timeout: generous for a slow client, short for a hostile one.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default connection cap: below the usual 65,536 descriptors, well above
/// a thousand watchers.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// What the watchdog knows of one connection.
#[derive(Debug)]
struct State {
    opened: Instant,
    /// Requests started and not finished (response body included).
    in_flight: usize,
    /// Requests ever started.
    started: u64,
    /// Whether the connection speaks HTTP/2 (bytes between requests are
    /// then pings and window updates, not a new request's head).
    http2: bool,
    /// When the last request finished (or the connection opened).
    idle_since: Instant,
    /// When bytes first arrived with no request running, since then.
    head_since: Option<Instant>,
}

/// The state, and a wake-up for the watchdog when its deadline moves.
#[derive(Debug, Clone)]
struct Shared(Arc<(Mutex<State>, Notify)>);

impl Shared {
    fn new() -> Self {
        let now = Instant::now();
        let state = State {
            opened: now,
            in_flight: 0,
            started: 0,
            http2: false,
            idle_since: now,
            head_since: None,
        };
        Self(Arc::new((Mutex::new(state), Notify::new())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked.
        self.0.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        self.0.1.notify_one();
    }

    fn bytes_read(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_since.is_none() && !(s.http2 && s.started > 0) {
            s.head_since = Some(Instant::now());
            drop(s);
            self.wake();
        }
    }

    fn begin(&self, http2: bool) -> Busy {
        let mut s = self.lock();
        s.in_flight += 1;
        s.started += 1;
        s.http2 |= http2;
        s.head_since = None;
        Busy(self.clone())
    }

    /// When the connection must be closed (None: not while a request runs).
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        let s = self.lock();
        if s.in_flight > 0 {
            return None;
        }
        let mut deadline = s.idle_since + limits.idle_timeout;
        if s.started == 0 {
            deadline = deadline.min(s.opened + limits.header_timeout);
        }
        if let Some(head) = s.head_since {
            deadline = deadline.min(head + limits.header_timeout);
        }
        Some(deadline)
    }
}

/// A request in flight; dropped when its response body ends.
struct Busy(Shared);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            drop(s);
            self.0.wake();
        }
    }
}

/// A response body that keeps its request counted as in flight.
struct BusyBody {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that tells the watchdog when bytes arrive.
struct Watched {
    inner: TcpStream,
    state: Shared,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` is cancelled;
/// then stops accepting, runs `on_shutdown`, asks every connection to
/// finish gracefully and waits for them.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnLimits,
    shutdown: CancellationToken,
    on_shutdown: impl Future<Output = ()>,
) {
    // Both reasons exist from the start, at zero, like unlabelled families.
    for reason in ["header", "idle"] {
        metrics::counter!("hydrogen_api_connections_timed_out_total", "reason" => reason)
            .increment(0);
    }
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of descriptors (or a connection reset before accept):
                // pause instead of spinning on the error.
                tracing::warn!(error = %e, "api cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("hydrogen_api_connections_refused_total").increment(1);
            tracing::debug!(%peer, max = limits.max_connections, "api connection cap reached: closing");
            drop(tcp);
            continue;
        };
        // gRPC answers are small HTTP/2 frames: without TCP_NODELAY, Nagle's
        // algorithm meets the client's delayed ACK and every call waits ~40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            metrics::gauge!("hydrogen_api_connections").increment(1.0);
            connection(tcp, app, limits, shutdown).await;
            metrics::gauge!("hydrogen_api_connections").decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    on_shutdown.await;
    tracker.close();
    tracker.wait().await;
}

/// Serves one connection until it ends, the watchdog closes it, or the
/// server shuts down (then gracefully).
async fn connection(
    tcp: TcpStream,
    app: axum::Router,
    limits: ConnLimits,
    shutdown: CancellationToken,
) {
    let state = Shared::new();
    let io = TokioIo::new(Watched {
        inner: tcp,
        state: state.clone(),
    });
    let service_state = state.clone();
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let busy = service_state.begin(req.version() == http::Version::HTTP_2);
        let app = app.clone();
        async move {
            let response = app.oneshot(req.map(Body::new)).await?;
            Ok::<_, Infallible>(response.map(|inner| Body::new(BusyBody { inner, _busy: busy })))
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        // Re-read on every wake-up: a request may have started or ended.
        let deadline = state.deadline(&limits);
        let woken = state.0.1.notified();
        let watchdog = async {
            match deadline {
                Some(at) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = woken => {}
                },
                // Busy: the last request to end wakes us.
                None => woken.await,
            }
        };
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "api connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = watchdog => {
                if state.deadline(&limits).is_some_and(|at| at <= Instant::now()) {
                    let s = state.lock();
                    let reason = if s.head_since.is_some() || s.started == 0 { "header" } else { "idle" };
                    drop(s);
                    metrics::counter!("hydrogen_api_connections_timed_out_total", "reason" => reason).increment(1);
                    tracing::debug!(reason, "api connection timed out: closing");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10,
        }
    }

    #[test]
    fn a_silent_connection_gets_the_header_timeout_then_requests_the_idle_one() {
        let s = Shared::new();
        let opened = s.lock().opened;
        assert_eq!(
            s.deadline(&limits()),
            Some(opened + Duration::from_secs(10))
        );
        let busy = s.begin(false);
        assert_eq!(
            s.deadline(&limits()),
            None,
            "no deadline while a request runs"
        );
        s.bytes_read();
        assert_eq!(s.deadline(&limits()), None, "a request body is not a head");
        drop(busy);
        let idle = s.lock().idle_since;
        assert_eq!(s.deadline(&limits()), Some(idle + Duration::from_secs(60)));
        s.bytes_read();
        let head = s
            .lock()
            .head_since
            .expect("bytes with no request start a head");
        assert_eq!(
            s.deadline(&limits()),
            Some(head + Duration::from_secs(10)),
            "a new head must arrive within the header timeout"
        );
        drop(s.begin(false));
        assert_eq!(s.lock().head_since, None, "a request ends the head");
    }

    #[test]
    fn bytes_between_http2_requests_are_not_a_head() {
        let s = Shared::new();
        drop(s.begin(true));
        let idle = s.lock().idle_since;
        s.bytes_read();
        assert_eq!(s.deadline(&limits()), Some(idle + Duration::from_secs(60)));
    }
}
