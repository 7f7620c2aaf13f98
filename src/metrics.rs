//! Derived figures: per-request latencies (TTFT, TPOT, ITL, NTPOT, E2E) and per-iteration
//! summaries (rates, failure counts, percentiles, schedule lag), plus the steady window and its
//! halves. Pure functions of records; every writer and evaluator uses these definitions, so a
//! figure means the same thing on the console, in the files and in a verdict.
//!
//! Every latency is measured from the request's *actual* send time; the gap between intended and
//! actual send is reported separately as schedule lag, so a client that could not keep up shows.

use crate::iteration::IterationMeta;
use crate::record::{ErrorKind, RequestRecord, TokenCount};
use crate::stats::{Distribution, distribution};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Milliseconds from integer nanoseconds, so whole microseconds convert exactly.
fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// One request's latencies, all in milliseconds from its actual send time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestMetrics {
    /// Time to first token — the first generated delta of any kind, reasoning included; None
    /// when no token arrived.
    pub ttft_ms: Option<f64>,
    /// Time to first output token (TTFO, AIPerf's name): to the first *answer* (non-reasoning)
    /// token. Equals TTFT for a model that does not reason; None when no answer token came.
    pub ttfo_ms: Option<f64>,
    /// Time per output token after the first: (last token − first token) / (output_tokens − 1);
    /// None with fewer than 2 output tokens or when the server did not stream. Tokens that
    /// arrived in one chunk count here.
    pub tpot_ms: Option<f64>,
    /// Normalised time per output token: e2e / output_tokens; None with no output token.
    pub ntpot_ms: Option<f64>,
    /// End-to-end: to the last token for a successful request (to its end when it produced no
    /// token), to the end (error or cut-off) for a failed one.
    pub e2e_ms: f64,
    /// Mean of the positive gaps between consecutive tokens (see [`itl_ms`]); None without any.
    pub itl_mean_ms: Option<f64>,
    /// Largest gap between consecutive tokens; None without any.
    pub itl_max_ms: Option<f64>,
    /// Actual minus intended send time.
    pub schedule_lag_ms: f64,
}

/// Inter-token latencies of one request in milliseconds: the positive differences between
/// consecutive token arrival times. Tokens delivered in the same chunk share an arrival time and
/// produce no gap (they still count in TPOT).
pub fn itl_ms(r: &RequestRecord) -> impl Iterator<Item = f64> + '_ {
    r.token_offsets_us
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| f64::from(w[1] - w[0]) / 1000.0)
}

/// The latencies of one request (definitions on [`RequestMetrics`]).
pub fn request_metrics(r: &RequestRecord) -> RequestMetrics {
    let ttft_ms = r.first_token.map(|t| ms(t.saturating_sub(r.actual_send)));
    let ttfo_ms = r
        .first_answer_token
        .map(|t| ms(t.saturating_sub(r.actual_send)));
    let last = r.last_token();
    let e2e_end = match (r.success(), last) {
        (true, Some(last)) => last,
        _ => r.end,
    };
    let e2e_ms = ms(e2e_end.saturating_sub(r.actual_send));
    let out = r.output_tokens;
    // Measured between first and last token, so for a failed request the wait that ended in
    // the error does not inflate it.
    // A server that did not stream gave every token the end time: no TPOT or ITL was measured.
    let tpot_ms = match (r.first_token, last) {
        _ if !r.streamed => None,
        (Some(first), Some(last)) if out >= 2 => {
            Some(ms(last.saturating_sub(first)) / f64::from(out - 1))
        }
        _ => None,
    };
    let ntpot_ms = (out >= 1).then(|| e2e_ms / f64::from(out));
    let (mut n, mut sum, mut max) = (0usize, 0.0, f64::NEG_INFINITY);
    for gap in itl_ms(r).filter(|_| r.streamed) {
        n += 1;
        sum += gap;
        max = max.max(gap);
    }
    RequestMetrics {
        ttft_ms,
        ttfo_ms,
        tpot_ms,
        ntpot_ms,
        e2e_ms,
        itl_mean_ms: (n > 0).then(|| sum / n as f64),
        itl_max_ms: (n > 0).then_some(max),
        schedule_lag_ms: ms(r.schedule_lag()),
    }
}

/// What one iteration achieved. Rates are per second; latency distributions are in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IterationSummary {
    /// Requests sent (one record each, failed ones included).
    pub requests: u64,
    /// Requests that ended without error.
    pub succeeded: u64,
    /// Requests that ended with an error.
    pub failed: u64,
    /// 100 × succeeded / requests; 0 when nothing was sent.
    pub success_rate_pct: f64,
    /// Failed requests per error kind (every kind present, zeros included). HTTP 429 answers
    /// are counted under [`ErrorKind::RateLimited`]. Serialised as an object keyed by the
    /// kebab-case names in alphabetical order (see [`errors_by_name`]).
    #[serde(serialize_with = "errors_by_name")]
    pub errors_by_kind: BTreeMap<ErrorKind, u64>,
    /// Wall time of the iteration, t0 to the last record after the drain (s).
    pub duration_s: f64,
    /// Time spent sending, t0 to when sending stopped (s).
    pub sending_s: f64,
    /// Successful completions per second over the whole iteration (`succeeded / duration_s`,
    /// drain included, so completions after sending stopped are not over-counted).
    pub req_per_s: f64,
    /// Prompt tokens of successful requests per second over `duration_s`.
    pub input_tokens_per_s: f64,
    /// Output tokens of successful requests per second over `duration_s`.
    pub output_tokens_per_s: f64,
    /// Requests actually sent per second of sending (`requests / sending_s`).
    pub achieved_send_rate_req_s: f64,
    /// The offered rate, `REQ_MIN / 60`; when the level is not a request rate (users,
    /// sessions, a trace's scale), the schedule's requests per second of `DURATION`
    /// (`planned_requests / duration`, 0 when nothing was scheduled ahead).
    pub target_send_rate_req_s: f64,
    /// Time to first token of successful requests (ms).
    pub ttft_ms: Option<Distribution>,
    /// Time to first output (answer) token of successful requests (ms); see
    /// [`RequestMetrics::ttfo_ms`].
    #[serde(default)]
    pub ttfo_ms: Option<Distribution>,
    /// Reasoning tokens of successful requests that reasoned (tokens; see
    /// [`RequestRecord::reasoning_tokens`]); None when none did.
    #[serde(default)]
    pub reasoning_tokens: Option<Distribution>,
    /// Time per output token of successful requests with ≥ 2 tokens (ms).
    pub tpot_ms: Option<Distribution>,
    /// Every inter-token gap of successful requests (ms).
    pub itl_ms: Option<Distribution>,
    /// Normalised time per output token of successful requests (ms).
    pub ntpot_ms: Option<Distribution>,
    /// End-to-end latency of successful requests (ms).
    pub e2e_ms: Option<Distribution>,
    /// Schedule lag of all requests (ms).
    pub schedule_lag_ms: Option<Distribution>,
    /// Median output tokens of successful requests (old `MEDIAN_RESPONSE_TOKENS`).
    pub median_response_tokens: Option<f64>,
    /// Requests whose server-reported prompt tokens differ from the tokens the workload asked for.
    pub prompt_tokens_mismatch: u64,
    /// Successful requests the server answered without streaming (token times unknown).
    pub not_streamed: u64,
    /// Successful requests without server usage (their output tokens were counted otherwise:
    /// see `output_tokens_from`).
    pub usage_missing: u64,
    /// Of those, requests whose tokens could only be counted one per generated delta (no
    /// finish reason `length`, no tokenizer): a lower bound when chunks carry several tokens.
    #[serde(default)]
    pub output_tokens_approx: u64,
    /// Successful requests that generated fewer tokens than requested (`max_tokens`): a server
    /// that ignores `ignore_eos`/`min_tokens`, or a reasoning parser that hides tokens.
    #[serde(default)]
    pub short_outputs: u64,
    /// Requests sent a second time because their pooled connection had been closed by the
    /// server before any response (the transport's fault, not the server's).
    #[serde(default)]
    pub transport_retries: u64,
    /// The schedule's own rate: planned requests / `DURATION` (with Poisson arrivals it differs
    /// from the target by chance; the client is judged against this one).
    #[serde(default)]
    pub planned_send_rate_req_s: f64,
    /// CPU time of the client process during the iteration, seconds (see
    /// [`crate::iteration::ClientUsage::cpu_s`]).
    #[serde(default)]
    pub client_cpu_s: Option<f64>,
    /// That CPU time over the iteration's wall time, percent of one core.
    #[serde(default)]
    pub client_cpu_pct: Option<f64>,
    /// Most requests in flight at once.
    #[serde(default)]
    pub client_max_in_flight: u64,
    /// Why the client, not the server, limited this iteration (`CLIENT_LIMITED`); None when the
    /// client kept up. [`summarize`] leaves it None (the records alone do not say: the limit is
    /// `CLIENT_LAG_LIMIT_MS`); the judge builds the iteration's summary with
    /// [`crate::load::certify::client_limit`]'s finding in it.
    #[serde(default)]
    pub client_limited: Option<String>,
}

/// Per-kind counts keyed by the kinds' names in alphabetical order: the object `results.json`
/// has always held (`ErrorKind`'s own order is its declaration order).
fn errors_by_name<S: serde::Serializer>(
    counts: &BTreeMap<ErrorKind, u64>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    let by_name: BTreeMap<&str, u64> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    serde::Serialize::serialize(&by_name, serializer)
}

fn per_s(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { count / seconds } else { 0.0 }
}

/// Summarise one iteration's records (definitions on [`IterationSummary`]).
pub fn summarize(meta: &IterationMeta, records: &[RequestRecord]) -> IterationSummary {
    let mut errors_by_kind: BTreeMap<ErrorKind, u64> =
        ErrorKind::ALL.iter().map(|&k| (k, 0)).collect();
    let (mut ttft, mut tpot, mut itl, mut ntpot, mut e2e) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut lag = Vec::with_capacity(records.len());
    let mut out_tokens = Vec::new();
    let (mut input_sum, mut output_sum, mut mismatch) = (0u64, 0u64, 0u64);
    let (mut not_streamed, mut usage_missing) = (0u64, 0u64);
    let (mut approx, mut short, mut retries) = (0u64, 0u64, 0u64);
    let (mut ttfo, mut reasoning) = (Vec::new(), Vec::new());
    for r in records {
        let m = request_metrics(r);
        lag.push(m.schedule_lag_ms);
        retries += u64::from(r.transport_retries);
        // A later session turn's input_tokens is the tool's estimate of the conversation (the
        // chat template's tokens around its messages are not counted), so only first turns and
        // independent requests can disagree with the server.
        let estimated = r.turn.is_some_and(|t| t > 1);
        if !estimated && r.server_prompt_tokens.is_some_and(|s| s != r.input_tokens) {
            mismatch += 1;
        }
        if let Some(kind) = r.error {
            *errors_by_kind.entry(kind).or_insert(0) += 1;
            continue;
        }
        ttft.extend(m.ttft_ms);
        ttfo.extend(m.ttfo_ms);
        reasoning.extend(r.reasoning_tokens.map(f64::from));
        tpot.extend(m.tpot_ms);
        ntpot.extend(m.ntpot_ms);
        e2e.push(m.e2e_ms);
        itl.extend(itl_ms(r));
        out_tokens.push(f64::from(r.output_tokens));
        not_streamed += u64::from(!r.streamed);
        usage_missing += u64::from(r.output_tokens_from != TokenCount::Usage);
        approx += u64::from(r.output_tokens_from == TokenCount::Chunks);
        short += u64::from(r.output_tokens < r.requested_output_tokens);
        input_sum += u64::from(r.input_tokens);
        output_sum += u64::from(r.output_tokens);
    }
    let requests = records.len() as u64;
    let succeeded = e2e.len() as u64;
    let duration_s = meta.ended.as_secs_f64();
    let sending_s = meta.sending_stopped.as_secs_f64();
    IterationSummary {
        requests,
        succeeded,
        failed: requests - succeeded,
        success_rate_pct: if requests > 0 {
            100.0 * succeeded as f64 / requests as f64
        } else {
            0.0
        },
        errors_by_kind,
        duration_s,
        sending_s,
        req_per_s: per_s(succeeded as f64, duration_s),
        input_tokens_per_s: per_s(input_sum as f64, duration_s),
        output_tokens_per_s: per_s(output_sum as f64, duration_s),
        achieved_send_rate_req_s: per_s(requests as f64, sending_s),
        target_send_rate_req_s: if meta.load_unit == crate::search::LoadUnit::ReqMin {
            meta.req_min / 60.0
        } else {
            per_s(meta.planned_requests as f64, meta.duration.as_secs_f64())
        },
        ttft_ms: distribution(&ttft),
        ttfo_ms: distribution(&ttfo),
        reasoning_tokens: distribution(&reasoning),
        tpot_ms: distribution(&tpot),
        itl_ms: distribution(&itl),
        ntpot_ms: distribution(&ntpot),
        e2e_ms: distribution(&e2e),
        schedule_lag_ms: distribution(&lag),
        median_response_tokens: crate::stats::percentile(&out_tokens, 50.0),
        prompt_tokens_mismatch: mismatch,
        not_streamed,
        usage_missing,
        output_tokens_approx: approx,
        short_outputs: short,
        transport_retries: retries,
        planned_send_rate_req_s: per_s(meta.planned_requests as f64, meta.duration.as_secs_f64()),
        client_cpu_s: meta.client.cpu_s,
        client_cpu_pct: meta
            .client
            .cpu_s
            .filter(|_| duration_s > 0.0)
            .map(|c| 100.0 * c / duration_s),
        client_max_in_flight: meta.client.max_in_flight,
        client_limited: None,
    }
}

/// The old tool's halves: the window `[first end + buffer, last end − buffer]` of completion
/// times (`end`, every record), split at its midpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Halves {
    /// Start of the window, from t0.
    pub window_start: Duration,
    /// End of the window, from t0 (never before `window_start`).
    pub window_end: Duration,
    /// Middle of the window, from t0.
    pub midpoint: Duration,
    /// Indices (into the records slice, ascending) of records ending in `[start, midpoint)`.
    pub first: Vec<usize>,
    /// Indices of records ending in `[midpoint, end]`.
    pub second: Vec<usize>,
}

/// Split records into the old tool's halves by completion time (see [`Halves`]). Both halves
/// are empty when there are no records or the buffers leave no window.
pub fn halves(records: &[RequestRecord], filter_buffer: Duration) -> Halves {
    let (Some(first_end), Some(last_end)) = (
        records.iter().map(|r| r.end).min(),
        records.iter().map(|r| r.end).max(),
    ) else {
        return Halves::default();
    };
    let window_start = first_end + filter_buffer;
    let Some(window_end) = last_end
        .checked_sub(filter_buffer)
        .filter(|end| *end >= window_start)
    else {
        return Halves {
            window_start,
            window_end: window_start,
            midpoint: window_start,
            first: Vec::new(),
            second: Vec::new(),
        };
    };
    let midpoint = window_start + (window_end - window_start) / 2;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (i, r) in records.iter().enumerate() {
        if r.end < window_start || r.end > window_end {
            continue;
        }
        if r.end < midpoint {
            first.push(i);
        } else {
            second.push(i);
        }
    }
    Halves {
        window_start,
        window_end,
        midpoint,
        first,
        second,
    }
}

/// The steady part of the sending period by intended send time: `[FILTER_BUFFER,
/// sending_stopped − FILTER_BUFFER)`, half-open. Clamped to the sending period; when the buffers
/// overlap the window is empty (`start == end`).
pub fn send_window(meta: &IterationMeta) -> (Duration, Duration) {
    let start = meta.filter_buffer.min(meta.sending_stopped);
    let end = meta
        .sending_stopped
        .saturating_sub(meta.filter_buffer)
        .max(start);
    (start, end)
}

#[cfg(test)]
pub(crate) mod tests;
