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
    /// No connection could be made: refused, DNS, TLS or connect timeout. The only kind that
    /// says the server was not there (it counts towards `OUTAGE`).
    Connect,
    /// A connection was made but ended before any response arrived, also on the one retry a
    /// request gets when the connection was a pooled keep-alive one the server had closed.
    ConnectionClosed,
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
    /// The stream ended (cut or cleanly) before `[DONE]` without any chunk carrying a real
    /// finish reason (an empty string is none).
    StreamCut,
    /// A chunk that was not valid SSE/JSON of the expected shape.
    BadChunk,
    /// The server reported an error inside a 200 response: an `error` object in a chunk, an
    /// SSE `event: error` or `error:` field (llama.cpp), or a non-streamed body that is an
    /// error object (`"object": "error"` or a top-level `error`).
    ServerError,
    /// A finish reason that says the generation was aborted or failed (`abort`, `error`,
    /// `cancelled`, …).
    Aborted,
    /// The response finished without a single generated token although tokens were requested.
    EmptyOutput,
    /// Still in flight when the drain limit after `DURATION` ran out.
    DrainCutoff,
    /// Stopped because the iteration was interrupted (signal) or aborted early.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in a fixed order (for per-kind counters and columns).
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Connect,
        ErrorKind::ConnectionClosed,
        ErrorKind::HttpStatus,
        ErrorKind::RateLimited,
        ErrorKind::TimeoutTtft,
        ErrorKind::TimeoutItl,
        ErrorKind::TimeoutTotal,
        ErrorKind::StreamCut,
        ErrorKind::BadChunk,
        ErrorKind::ServerError,
        ErrorKind::Aborted,
        ErrorKind::EmptyOutput,
        ErrorKind::DrainCutoff,
        ErrorKind::Cancelled,
    ];

    /// The name used in files and on the console (kebab-case, e.g. `timeout-ttft`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::ConnectionClosed => "connection-closed",
            ErrorKind::HttpStatus => "http-status",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::TimeoutTtft => "timeout-ttft",
            ErrorKind::TimeoutItl => "timeout-itl",
            ErrorKind::TimeoutTotal => "timeout-total",
            ErrorKind::StreamCut => "stream-cut",
            ErrorKind::BadChunk => "bad-chunk",
            ErrorKind::ServerError => "server-error",
            ErrorKind::Aborted => "aborted",
            ErrorKind::EmptyOutput => "empty-output",
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
    /// Arrival of the first generated token of any kind — answer text, reasoning, tool-call
    /// arguments, refusal — from `t0` (None if none arrived). TTFT is measured to this.
    pub first_token: Option<Duration>,
    /// Arrival of the first *answer* (non-reasoning) token, from `t0`; TTFO is measured to this.
    /// Equal to `first_token` for a model that does not reason; None if no answer token came.
    #[serde(default)]
    pub first_answer_token: Option<Duration>,
    /// Arrival of the chunks that carried generated tokens, in microseconds after
    /// `actual_send`: one entry per token when the chunk's token count is known (the server's
    /// continuous usage, or one token per delta), so a chunk carrying k tokens contributes k
    /// equal entries. A usage total that arrives only at the end corrects `output_tokens` but
    /// adds no entries: tokens are timed at the chunks that carried them.
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
    /// Index into the iteration's `models` of the model this request asked for when `MODEL`
    /// names several; None when every request asks for the one model.
    #[serde(default)]
    pub model: Option<u16>,
    /// In a multi-turn session (`SESSION_TURNS` > 1), the session's index within the iteration
    /// (0-based, in order of start time); None otherwise.
    #[serde(default)]
    pub session: Option<u64>,
    /// In a multi-turn session, the turn's number within its session (1-based); None otherwise.
    #[serde(default)]
    pub turn: Option<u32>,
    /// Prompt tokens the server reported in its usage (None when it reported none).
    pub server_prompt_tokens: Option<u32>,
    /// Output tokens generated, reasoning included; how they were counted is in
    /// `output_tokens_from`.
    pub output_tokens: u32,
    /// Where `output_tokens` comes from.
    #[serde(default)]
    pub output_tokens_from: TokenCount,
    /// Reasoning ("thinking") tokens among `output_tokens`: the server's
    /// `usage.completion_tokens_details.reasoning_tokens` when reported, else the tokens of the
    /// reasoning deltas received. None when the server neither reported nor sent reasoning.
    #[serde(default)]
    pub reasoning_tokens: Option<u32>,
    /// Sends repeated because an attempt's pooled connection had been closed by the server
    /// before any response (0 to `MAX_CLOSED_RETRIES`, 3); `actual_send` is then the last
    /// retry's send time.
    #[serde(default)]
    pub transport_retries: u8,
    /// The generated text, kept only while its tokens could not be counted exactly (no usage),
    /// so the tokenizer can count it after the iteration; never written out.
    #[serde(skip)]
    pub generated_text: Option<String>,
    /// A session turn's answer as streamed (the chat `content` or completion `text` of every
    /// chunk, in order; no reasoning), which the next turn sends back as the assistant's
    /// message; None outside sessions. Never written out.
    #[serde(skip)]
    pub answer_text: Option<String>,
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

/// How a request's output tokens were counted, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenCount {
    /// The server's `usage.completion_tokens`.
    #[default]
    Usage,
    /// No usage, but `finish_reason: "length"`: by the API's definition the generation stopped
    /// at `max_tokens`, so it generated exactly that many.
    FinishLength,
    /// No usage: the generated text counted with the run's tokenizer (the server's tokenize
    /// endpoint or `TOKENIZER`). Exact unless re-tokenising the text differs from generation.
    Tokenizer,
    /// No usage and no tokenizer: one token per generated delta, a lower bound when a server
    /// sends several tokens per chunk.
    Chunks,
}

impl TokenCount {
    /// The name used in `output.csv` (`output_tokens_from`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenCount::Usage => "usage",
            TokenCount::FinishLength => "finish-length",
            TokenCount::Tokenizer => "tokenizer",
            TokenCount::Chunks => "chunks",
        }
    }
}

impl RequestRecord {
    /// A request sent at `actual_send` (intended at `intended_send`), before anything came
    /// back: no token, no status, no error, `end` zero. The one constructor, so a new field
    /// has one default.
    pub fn new(
        request_idx: u64,
        intended_send: Duration,
        actual_send: Duration,
        input_tokens: u32,
        requested_output_tokens: u32,
    ) -> RequestRecord {
        RequestRecord {
            request_idx,
            intended_send,
            actual_send,
            first_token: None,
            first_answer_token: None,
            token_offsets_us: Vec::new(),
            end: Duration::ZERO,
            input_tokens,
            requested_output_tokens,
            class: None,
            model: None,
            session: None,
            turn: None,
            server_prompt_tokens: None,
            output_tokens: 0,
            output_tokens_from: TokenCount::Usage,
            reasoning_tokens: None,
            transport_retries: 0,
            generated_text: None,
            answer_text: None,
            http_status: None,
            error: None,
            error_detail: None,
            streamed: true,
        }
    }

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
