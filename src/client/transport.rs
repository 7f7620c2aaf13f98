//! The transport is not the server. A pooled keep-alive connection the server closed just as we
//! reused it fails a request that never reached the server (aiohttp#9138 is the same race in
//! another client); every request this client sends is retried once when that happens, so such
//! a failure is never counted against the server, nor stops a run.

use std::future::Future;

/// Whether a send failed because the connection ended before any response byte: hyper's
/// "connection closed before message completed", or a reset, abort or broken pipe. On a pooled
/// connection that is the keep-alive race. Connect errors (refused, DNS, TLS) are not: those
/// say the server is not there.
pub(crate) fn closed_before_response(e: &reqwest::Error) -> bool {
    use std::error::Error as _;
    use std::io::ErrorKind as Io;
    if e.is_connect() || e.is_timeout() {
        return false;
    }
    let mut src = e.source();
    while let Some(inner) = src {
        if let Some(h) = inner.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled() || h.is_closed())
        {
            return true;
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                Io::ConnectionReset
                    | Io::ConnectionAborted
                    | Io::BrokenPipe
                    | Io::UnexpectedEof
                    | Io::NotConnected
            )
        {
            return true;
        }
        src = inner.source();
    }
    false
}

/// Run `send` (which builds and sends one request), and once more when the first attempt's
/// connection closed before any response ([`closed_before_response`]); `on_retry` is told the
/// first attempt's error just before the retry is sent (the generation path records it there).
pub(crate) async fn send_retrying<F, Fut>(
    send: F,
    mut on_retry: impl FnMut(&reqwest::Error),
) -> Result<reqwest::Response, reqwest::Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    match send().await {
        Err(e) if closed_before_response(&e) => {
            tracing::debug!("a pooled connection was closed before a response; retrying once");
            on_retry(&e);
            send().await
        }
        r => r,
    }
}
