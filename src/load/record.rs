//! One request's timings and outcome: the unit every other part of the tool consumes.
//!
//! All instants are offsets from the iteration's start (`t0`, a monotonic [`std::time::Instant`]),
//! so latencies never depend on the wall clock; the wall clock only stamps files
//! (`IterationMeta::started_at` + offset).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Why a request failed. A failed request is a row with one of these, never dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// TCP connect / TLS / DNS failure, or the connection reset before a response.
    Connect,
    /// The server answered with a non-2xx status other than 429 (see `http_status`).
    HttpStatus,
    /// The server answered 429 Too Many Requests.
    RateLimited,
    /// No first token within `TTFT_TIMEOUT`.
    TimeoutTtft,
    /// No next token within `TPOT_TIMEOUT`.
    TimeoutItl,
    /// The whole request took longer than `REQUEST_TIMEOUT`.
    TimeoutTotal,
    /// The stream ended before `[DONE]` / a finish reason.
    StreamCut,
    /// A chunk that was not valid SSE/JSON of the expected shape.
    BadChunk,
    /// Still in flight when the drain limit after `DURATION` ran out.
    DrainCutoff,
    /// Stopped because the iteration was interrupted (signal) or aborted early.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in a fixed order (for per-kind counters and columns).
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Connect,
        ErrorKind::HttpStatus,
        ErrorKind::RateLimited,
        ErrorKind::TimeoutTtft,
        ErrorKind::TimeoutItl,
        ErrorKind::TimeoutTotal,
        ErrorKind::StreamCut,
        ErrorKind::BadChunk,
        ErrorKind::DrainCutoff,
        ErrorKind::Cancelled,
    ];

    /// The name used in files and on the console (kebab-case, e.g. `timeout-ttft`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::HttpStatus => "http-status",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::TimeoutTtft => "timeout-ttft",
            ErrorKind::TimeoutItl => "timeout-itl",
            ErrorKind::TimeoutTotal => "timeout-total",
            ErrorKind::StreamCut => "stream-cut",
            ErrorKind::BadChunk => "bad-chunk",
            ErrorKind::DrainCutoff => "drain-cutoff",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request as the client saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Index of the request within its iteration, in order of intended send time (0-based).
    pub request_idx: u64,
    /// When the arrival schedule wanted it sent, from `t0`.
    pub intended_send: Duration,
    /// When the client actually started sending it, from `t0` (≥ `intended_send`).
    pub actual_send: Duration,
    /// Arrival of the first content token, from `t0` (None if none arrived).
    pub first_token: Option<Duration>,
    /// Arrival of every output token, in microseconds after `actual_send`. A chunk carrying
    /// k tokens contributes k equal entries.
    pub token_offsets_us: Vec<u32>,
    /// When the request ended (last byte, error, or cut-off), from `t0`.
    pub end: Duration,
    /// Prompt tokens requested by the workload.
    pub input_tokens: u32,
    /// Output tokens requested (`max_tokens`).
    pub requested_output_tokens: u32,
    /// Index of the `TOKENS_LIST` entry (class) this request was drawn from in an `ADDITIVE`
    /// mix; None in a search over one size.
    #[serde(default)]
    pub class: Option<u16>,
    /// Prompt tokens the server reported in its usage (None when it reported none).
    pub server_prompt_tokens: Option<u32>,
    /// Output tokens received (server usage when present, else counted from chunks).
    pub output_tokens: u32,
    /// HTTP status of the response (None when no response arrived).
    pub http_status: Option<u16>,
    /// Why it failed; None means success.
    pub error: Option<ErrorKind>,
    /// Human-readable detail of the failure (never contains credentials).
    pub error_detail: Option<String>,
    /// False when the server answered with one body although a stream was asked for: then
    /// every token time is the end time, and TTFT equals the end-to-end latency.
    #[serde(default = "streamed_default")]
    pub streamed: bool,
}

fn streamed_default() -> bool {
    true
}

impl RequestRecord {
    /// A request is successful when it ended without error.
    pub fn success(&self) -> bool {
        self.error.is_none()
    }

    /// Schedule lag: actual minus intended send time.
    pub fn schedule_lag(&self) -> Duration {
        self.actual_send.saturating_sub(self.intended_send)
    }

    /// Time of the last token, from `t0` (None if no token arrived).
    pub fn last_token(&self) -> Option<Duration> {
        self.token_offsets_us
            .last()
            .map(|us| self.actual_send + Duration::from_micros(u64::from(*us)))
    }
}
