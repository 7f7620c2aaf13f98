//! What is known about one iteration besides its records: what was asked, when it ran, how it
//! ended. Produced by the iteration runner, consumed by metrics, evaluators and writers.

use crate::search::Stage;
use crate::size::SizeSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// How an iteration ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Completion {
    /// Sent for the whole `DURATION` and drained.
    Complete,
    /// Stopped before `DURATION` by the early-abort watchdog (reason given).
    AbortedEarly(String),
    /// Stopped before `DURATION` by early accept, sustainable so far (reason given); drained
    /// and judged like a complete iteration on what was sent.
    AcceptedEarly(String),
    /// Stopped by a signal; never evaluated as a capacity verdict.
    Interrupted(String),
}

impl IterationMeta {
    /// `REQ_MIN` as the files write it: the offered rate of an open-loop rate iteration; in
    /// another mode (users, sessions, trace) the `sent` requests per minute of sending (up to
    /// `sending_stopped`, so an iteration stopped early is not diluted by time it did not
    /// send), rounded to 2 decimals.
    pub fn sent_req_min(&self, sent: u64) -> f64 {
        let minutes = self.sending_stopped.as_secs_f64() / 60.0;
        if self.load_unit == crate::search::LoadUnit::ReqMin || minutes <= 0.0 {
            self.req_min
        } else {
            (sent as f64 / minutes * 100.0).round() / 100.0
        }
    }
}

/// One iteration's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationMeta {
    /// The size under test.
    pub size: SizeSpec,
    /// The search's level: the offered rate in requests/minute (`REQ_MIN`), or in another
    /// mode the level in `load_unit` (users, sessions/minute, × trace).
    pub req_min: f64,
    /// The unit of `req_min` (`LOAD_UNIT`; requests/minute in files written before it).
    #[serde(default)]
    pub load_unit: crate::search::LoadUnit,
    /// Search stage (1 ramp, 2 bisection).
    pub stage: Stage,
    /// 1-based iteration number within this size's search.
    pub iteration: u32,
    /// Model name sent in requests.
    pub model: String,
    /// Wall-clock time of `t0` (stamps folders and rows only).
    pub started_at: chrono::DateTime<chrono::Local>,
    /// Configured sending duration (`DURATION`).
    pub duration: Duration,
    /// Configured `FILTER_BUFFER`.
    pub filter_buffer: Duration,
    /// Requests in the arrival schedule.
    pub planned_requests: u64,
    /// From `t0`, when sending stopped (≈ `duration`, less when aborted).
    pub sending_stopped: Duration,
    /// From `t0`, when the last record arrived (after the drain).
    pub ended: Duration,
    /// How the iteration ended.
    pub completion: Completion,
    /// A sample prompt as text (results.csv `PROMPT_TEXT`, truncated by the writer).
    pub sample_prompt: String,
    /// Prompt token count of that sample (`PROMPT_TOKEN_COUNT`).
    pub prompt_token_count: u32,
    /// How prompt lengths were made: `exact (…)` or `approximate (…)` (results `PROMPT_LENGTHS`).
    #[serde(default)]
    pub prompt_lengths: String,
    /// In an `ADDITIVE` mix, the name (`in:out`) of each class, by the records' `class` index.
    #[serde(default)]
    pub classes: Vec<String>,
    /// With several models (`MODEL=a,b,c`), each name by the records' `model` index; empty
    /// when every request asks for `model`.
    #[serde(default)]
    pub models: Vec<String>,
    /// In multi-turn sessions, `SESSION_TURNS` (results.csv `TURN_<k>_…` for k = 1 … this);
    /// None with independent requests.
    #[serde(default)]
    pub session_turns: Option<u32>,
    /// With `OUTPUT_FROM_DATASET` and a server that reports its `max_model_len`, the requests
    /// whose dataset answer was clipped to fit the context (results `OUTPUT_TOKENS_CLIPPED`);
    /// None otherwise.
    #[serde(default)]
    pub output_clipped: Option<u64>,
    /// Free metadata copied into results (JOB_ID, GPUS, CPUS, NODE, …).
    pub labels: BTreeMap<String, String>,
    /// What the client process used during the iteration (CPU, memory, peak in-flight).
    #[serde(default)]
    pub client: ClientUsage,
    /// The wait for an idle server before t0 (`SETTLE_TIMEOUT`); None when not recorded.
    #[serde(default)]
    pub settle: Option<Settled>,
}

/// How the wait for an idle server before an iteration ended (results `SETTLE_RESULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettleEnd {
    /// The server held no request (metrics), or a probe's TTFT was back near idle.
    Idle,
    /// `SETTLE_TIMEOUT` passed first; the iteration ran anyway.
    Timeout,
    /// Nothing tells whether the server is idle (no metrics, no probe answered at the start).
    NoSignal,
    /// `SETTLE_TIMEOUT=0`: no wait.
    Off,
}

impl SettleEnd {
    /// The word in results.csv: `idle`, `timeout`, `no-signal`, `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            SettleEnd::Idle => "idle",
            SettleEnd::Timeout => "timeout",
            SettleEnd::NoSignal => "no-signal",
            SettleEnd::Off => "off",
        }
    }
}

/// The wait for an idle server before one iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settled {
    /// Seconds waited (results `SETTLE_WAIT_S`).
    pub wait_s: f64,
    /// How it ended (results `SETTLE_RESULT`).
    pub end: SettleEnd,
    /// What the last look saw, in words (e.g. `3 requests still running or waiting`).
    pub detail: String,
}

/// What the client process used during one iteration (its self-certification figures).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientUsage {
    /// CPU time (user + system, every thread) the process used from just before `t0` to the
    /// end of the drain, seconds; None where `/proc` is missing. The whole process is counted,
    /// so an in-process simulator (tests, `demo`) is included.
    pub cpu_s: Option<f64>,
    /// Peak resident set of the process at the end of the iteration (`VmHWM`), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Most requests in flight at once during the iteration.
    pub max_in_flight: u64,
}
