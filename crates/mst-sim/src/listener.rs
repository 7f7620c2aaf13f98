//! A TCP listener that can be switched off for a while, for the "connection refused" fault.
//!
//! While refusing, the socket is closed so connects fail with ECONNREFUSED, as when a server
//! restarts; connections already open are closed as well (their next read sees end of file), so
//! pooled keep-alive connections do not hide the outage. The same port is bound again after the
//! requested duration.
//!
//! Each accepted connection also carries its [`Conn`], through which the keep-alive limits
//! ([`super::keepalive`]) close it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::keepalive::{Conn, Watch};

pub(crate) struct RefusableListener {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    refuse_rx: mpsc::UnboundedReceiver<Duration>,
    refuse_open: bool,
    refuse_until: Option<Instant>,
    /// Cancelled when a refusal starts; every connection accepted before it watches it.
    generation: CancellationToken,
    /// Called when a refusal starts, before open connections are closed.
    on_refuse: Box<dyn Fn() + Send>,
    watch: Watch,
}

impl RefusableListener {
    pub fn new(
        tcp: TcpListener,
        addr: SocketAddr,
        refuse_rx: mpsc::UnboundedReceiver<Duration>,
        on_refuse: Box<dyn Fn() + Send>,
        watch: Watch,
    ) -> Self {
        RefusableListener {
            watch,
            on_refuse,
            inner: Some(tcp),
            addr,
            refuse_rx,
            refuse_open: true,
            refuse_until: None,
            generation: CancellationToken::new(),
        }
    }

    fn start_refusal(&mut self, d: Duration) {
        (self.on_refuse)();
        self.inner = None;
        self.generation.cancel();
        self.generation = CancellationToken::new();
        let until = Instant::now() + d;
        self.refuse_until = Some(self.refuse_until.map_or(until, |u| u.max(until)));
    }
}

impl axum::serve::Listener for RefusableListener {
    type Io = Closable;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let event = if let Some(until) = self.refuse_until {
                // Wait out the refusal (extended if another arrives meanwhile), then re-bind.
                tokio::select! {
                    d = self.refuse_rx.recv(), if self.refuse_open => Event::Refuse(d),
                    _ = tokio::time::sleep_until(until) => Event::RefusalOver,
                }
            } else if let Some(inner) = self.inner.as_ref() {
                tokio::select! {
                    d = self.refuse_rx.recv(), if self.refuse_open => Event::Refuse(d),
                    r = inner.accept() => Event::Accepted(r),
                }
            } else {
                Event::RefusalOver
            };
            match event {
                Event::Refuse(Some(d)) => self.start_refusal(d),
                Event::Refuse(None) => self.refuse_open = false,
                Event::RefusalOver => match TcpListener::bind(self.addr).await {
                    Ok(l) => {
                        self.inner = Some(l);
                        self.refuse_until = None;
                    }
                    Err(e) => {
                        tracing::warn!("simulator cannot listen on {} again yet: {e}", self.addr);
                        self.refuse_until = Some(Instant::now() + Duration::from_millis(50));
                    }
                },
                Event::Accepted(Ok((stream, peer))) => {
                    let _ = stream.set_nodelay(true);
                    let conn = self.watch.accepted(self.generation.child_token());
                    let closed = Box::pin(conn.close.clone().cancelled_owned());
                    return (
                        Closable {
                            stream,
                            closed,
                            conn,
                        },
                        peer,
                    );
                }
                // Typically too many open files: back off instead of spinning.
                Event::Accepted(Err(e)) => {
                    tracing::warn!("simulator accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

enum Event {
    Refuse(Option<Duration>),
    RefusalOver,
    Accepted(io::Result<(TcpStream, SocketAddr)>),
}

/// An accepted connection that reads end of file once a refusal starts or its keep-alive limit
/// closes it.
pub(crate) struct Closable {
    stream: TcpStream,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    pub conn: Arc<Conn>,
}

impl AsyncRead for Closable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Under the connection's read gate: the idle close and a request's first bytes are
        // decided one after the other, never across each other.
        let conn = Arc::clone(&self.conn);
        let mut busy = conn.read_gate();
        if self.closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before && !busy.answering {
            busy.answering = true;
            busy.begun += 1;
        }
        read
    }
}

impl AsyncWrite for Closable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
