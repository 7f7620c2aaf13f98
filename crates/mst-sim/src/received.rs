//! The simulator's log of the requests it received, kept only when a test asks for it: what a
//! load mode actually sent (when, how long a prompt, which messages) is checked against what
//! the server saw, not against what the client says it wrote.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One request the server accepted (it passed validation and reached the engine), as it
/// arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Arrival, from the moment [`crate::SimServer::record_requests`] was called.
    pub at: Duration,
    /// `completions` or `chat`.
    pub endpoint: &'static str,
    /// The model the request named (the served model when it named none).
    pub model: String,
    /// Prompt tokens as the simulator counted them.
    pub prompt_tokens: u32,
    /// `max_tokens` (the simulator's default when the request set none).
    pub max_tokens: u32,
    /// The raw JSON body.
    pub body: String,
}

/// The log: off (None) until asked for, then the start instant and the requests in order.
#[derive(Debug, Default)]
pub(crate) struct RequestLog(Mutex<Option<(Instant, Vec<Received>)>>);

impl RequestLog {
    /// Starts (or restarts, emptied) the log now.
    pub fn start(&self) {
        if let Ok(mut log) = self.0.lock() {
            *log = Some((Instant::now(), Vec::new()));
        }
    }

    /// Appends one request when the log is on; `make` is called only then.
    pub fn push(&self, make: impl FnOnce(Duration) -> Received) {
        if let Ok(mut log) = self.0.lock()
            && let Some((start, seen)) = log.as_mut()
        {
            seen.push(make(start.elapsed()));
        }
    }

    /// The requests logged so far, in arrival order (empty when the log is off).
    pub fn snapshot(&self) -> Vec<Received> {
        self.0
            .lock()
            .ok()
            .and_then(|log| log.as_ref().map(|(_, seen)| seen.clone()))
            .unwrap_or_default()
    }
}
