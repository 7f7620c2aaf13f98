//! The transport is not the server. A pooled keep-alive connection the server closed just as we
//! reused it fails a request that never reached the server (aiohttp#9138 is the same race in
//! another client); every request this client sends is retried when that happens (a few times:
//! the retry may meet another closed connection), so such a failure is never counted against
//! the server, nor stops a run.

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

/// Re-sends allowed per request when its connection closed before any response. One is not
/// always enough: the retry may draw another pooled connection the server has also just
/// closed (1 of 360 requests in a field case whose server closes every connection after three
/// responses met that twice).
pub(crate) const MAX_CLOSED_RETRIES: u8 = 3;

/// Run `send` (which builds and sends one request), and again, up to [`MAX_CLOSED_RETRIES`]
/// times, while an attempt's connection closed before any response
/// ([`closed_before_response`]); `on_retry` is told each failed attempt's error just before
/// the next is sent (the generation path records it there). Other errors end it at once.
pub(crate) async fn send_retrying<F, Fut>(
    send: F,
    mut on_retry: impl FnMut(&reqwest::Error),
) -> Result<reqwest::Response, reqwest::Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    let mut retries = 0;
    loop {
        match send().await {
            Err(e) if retries < MAX_CLOSED_RETRIES && closed_before_response(&e) => {
                tracing::debug!("a pooled connection was closed before a response; retrying");
                retries += 1;
                on_retry(&e);
            }
            r => return r,
        }
    }
}
