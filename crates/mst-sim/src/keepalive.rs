//! Keep-alive connections the server closes on its own, as uvicorn, aiohttp or a proxy with a
//! keep-alive limit does: right after a connection's N-th response (without a
//! `Connection: close` header) or after it has been idle for a while. A client that reuses a
//! pooled connection at that moment sends its request into a socket the server has closed: the
//! request never reaches the server, which is not the server refusing work (issue 14, kind 5).
//!
//! Every accepted connection gets a [`Conn`]: the listener makes its reads end when the
//! connection is to close, a middleware counts the requests on it and watches each response's
//! body for its end. The close takes effect when hyper next reads the socket, which it does
//! right after writing the response's last bytes; hyper then drops the connection.
//!
//! The idle close and the socket's reads decide under one lock ([`Conn::read_gate`]): a
//! request whose first bytes were read is never cut by the idle timer (that would end its
//! response after the headers, which no keep-alive limit of a real server does), and a request
//! sent after the close never reaches the server.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::body::BodyDataStream;
use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use bytes::Bytes;
use futures_util::Stream;
use tokio_util::sync::CancellationToken;

use super::faults::{FaultConfig, FaultCounters};
use super::listener::RefusableListener;

/// What every connection needs to know: the live fault settings and where to count.
#[derive(Clone)]
pub(crate) struct Watch {
    faults: Arc<Mutex<FaultConfig>>,
    counters: Arc<FaultCounters>,
}

impl Watch {
    pub fn new(faults: Arc<Mutex<FaultConfig>>, counters: Arc<FaultCounters>) -> Self {
        Watch { faults, counters }
    }

    /// `(keepalive_close_every, keepalive_idle_ms)` as set now.
    fn limits(&self) -> (u32, u64) {
        self.faults
            .lock()
            .map_or((0, 0), |f| (f.keepalive_close_every, f.keepalive_idle_ms))
    }

    /// A new connection whose close is `close` (a child of the refusal's token).
    pub fn accepted(&self, close: CancellationToken) -> Arc<Conn> {
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            close,
            requests: AtomicU64::new(0),
            busy: Mutex::new(Busy::default()),
            watch: self.clone(),
        });
        conn.idle_from_now();
        conn
    }
}

/// One accepted connection.
pub(crate) struct Conn {
    /// Cancelled when the connection is to close: its reads then end.
    pub close: CancellationToken,
    /// Requests started on it.
    requests: AtomicU64,
    /// Whether a request is being read or answered, and how many began: the idle timer's view
    /// of the socket, shared with its reads.
    busy: Mutex<Busy>,
    watch: Watch,
}

/// The socket's activity as the idle timer needs it.
#[derive(Default)]
pub(crate) struct Busy {
    /// Bytes of a request were read and its response is not done yet.
    pub answering: bool,
    /// Requests begun on the socket (counted at their first bytes).
    pub begun: u64,
}

impl Conn {
    fn close_now(&self) {
        if !self.close.is_cancelled() {
            self.watch
                .counters
                .keepalive_closes
                .fetch_add(1, Ordering::Relaxed);
            self.close.cancel();
        }
    }

    /// The lock the socket's reads hold while they check for the close and read, so the idle
    /// timer's decision and a request's first bytes cannot cross (see the module header).
    pub fn read_gate(&self) -> std::sync::MutexGuard<'_, Busy> {
        self.busy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection is idle from now: close it if no request begins within the idle limit.
    fn idle_from_now(self: &Arc<Self>) {
        let (_, idle_ms) = self.watch.limits();
        if idle_ms == 0 {
            return;
        }
        let begun = self.read_gate().begun;
        let conn = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = conn.close.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(idle_ms)) => {
                    let busy = conn.read_gate();
                    if !busy.answering && busy.begun == begun {
                        conn.close_now();
                    }
                }
            }
        });
    }

    /// The response to request `k` has been written.
    fn response_done(self: &Arc<Self>, k: u64) {
        self.read_gate().answering = false;
        let (every, _) = self.watch.limits();
        if every > 0 && k.is_multiple_of(u64::from(every)) {
            self.close_now();
        } else {
            self.idle_from_now();
        }
    }
}

/// The connection a request came on, for the middleware (axum's `ConnectInfo`).
#[derive(Clone)]
pub(crate) struct ConnInfo(Arc<Conn>);

impl Connected<IncomingStream<'_, RefusableListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, RefusableListener>) -> Self {
        ConnInfo(stream.io().conn.clone())
    }
}

/// The router with every request counted per connection and every response watched.
pub(crate) fn layer(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(track))
}

async fn track(req: Request, next: Next) -> Response {
    let Some(ConnectInfo(ConnInfo(conn))) =
        req.extensions().get::<ConnectInfo<ConnInfo>>().cloned()
    else {
        return next.run(req).await;
    };
    let k = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    conn.watch
        .counters
        .max_requests_per_connection
        .fetch_max(k, Ordering::Relaxed);
    let response = next.run(req).await;
    if conn.watch.limits() == (0, 0) {
        return response;
    }
    // Re-streamed, the body loses its length (a JSON answer goes out chunked) while a limit
    // is set; SSE bodies are chunked anyway.
    response.map(|body| {
        Body::from_stream(Watched {
            inner: body.into_data_stream(),
            done: Some(Done { conn, k }),
        })
    })
}

/// Tells the connection its response is over when dropped.
struct Done {
    conn: Arc<Conn>,
    k: u64,
}

impl Drop for Done {
    fn drop(&mut self) {
        self.conn.response_done(self.k);
    }
}

/// A response body that reports its end (or its drop) to its connection.
struct Watched {
    inner: BodyDataStream,
    done: Option<Done>,
}

impl Stream for Watched {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = polled {
            self.done.take();
        }
        polled
    }
}
