//! Fault injection and server quirks, so the client, the evaluator and the search can be tested
//! against what real servers produce: error statuses, cut streams, garbage chunks, stalls,
//! refused connections, failures reported inside a 200 stream, and the ways vLLM, SGLang,
//! llama.cpp, Ollama and proxies shape a healthy stream differently (issue 14).
//!
//! Every rate is a probability in `0..=1` drawn independently per request from a generator
//! seeded by the engine seed and the request's sequence number, so a run is reproducible. The
//! faults added for issue 14 draw from a second generator, so turning them on changes neither
//! the older faults' draws nor the output lengths and words.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderValue;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::framing::{ErrorEventStyle, LineEnding};
use super::wire::TokenizeShape;

/// Which faults and quirks to inject. `Default` injects none and answers as vLLM does.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Share of requests answered at once with HTTP 500 and a JSON error body.
    pub http_500_rate: f64,
    /// Share of requests answered at once with HTTP 429 and a JSON error body.
    pub http_429_rate: f64,
    /// Share of requests whose connection is cut after `cut_after_tokens` tokens, without
    /// `[DONE]` (the response body ends in an error, as when a server dies).
    pub cut_rate: f64,
    /// Tokens sent before a cut (at most the request's length).
    pub cut_after_tokens: u32,
    /// Share of streamed requests that get one chunk whose data is not valid JSON, halfway
    /// through the stream; the stream then continues normally.
    pub malformed_rate: f64,
    /// Share of streamed requests that stop sending for `stall_secs` halfway through.
    pub stall_rate: f64,
    /// Length of a stall, wall-clock seconds.
    pub stall_secs: f64,
    /// Refuse connections `at` seconds after start `for` seconds: `(at, for)` (CLI schedule;
    /// at run time use `SimServer::refuse_connections_for`).
    pub refuse: Option<(f64, f64)>,
    /// Answer every request with one JSON body even when it asked for a stream, like a server
    /// or proxy that ignores `stream: true`.
    pub ignore_stream: bool,
    /// Never put `usage` in a streamed response, like servers that ignore `stream_options`.
    pub omit_usage: bool,
    /// Answer `/tokenize` and `/detokenize` with HTTP 404, like a server without those routes
    /// (TGI, or vLLM behind a proxy that passes only `/v1`), so a client must count tokens itself.
    pub no_tokenize: bool,
    /// Chat only: the first N output tokens of each request stream as reasoning deltas before
    /// any `delta.content` (even request numbers in `delta.reasoning_content`, as SGLang and
    /// older vLLM; odd ones in `delta.reasoning`, as newer vLLM). Usage counts them in
    /// `completion_tokens` and adds `completion_tokens_details.reasoning_tokens`.
    pub reasoning_tokens: u32,
    /// Honour `include_usage` but ignore `continuous_usage_stats` (SGLang before it had them).
    pub usage_at_end_only: bool,
    /// Tokens per SSE chunk (at least 1): a chunk is sent when its last token is generated; the
    /// last one, and one before a fault point or the end of the reasoning, may carry fewer.
    pub tokens_per_chunk: u32,
    /// Share of streams that report a failure in the stream after `cut_after_tokens` tokens
    /// (at most length − 1): one error event in `error_event_style`, then `data: [DONE]`.
    pub fault_error_event_rate: f64,
    /// How the error event of `fault_error_event_rate` is written.
    pub error_event_style: ErrorEventStyle,
    /// Share of streams aborted by the server after `cut_after_tokens` tokens (at most
    /// length − 1): a chunk with `finish_reason: "abort"` and no text, usage, `[DONE]`.
    pub fault_abort_rate: f64,
    /// Every chunk but the one that ends the generation carries `"finish_reason": ""` instead
    /// of `null` (SGLang, Ollama).
    pub empty_finish_reason: bool,
    /// Share of streams whose body ends cleanly after `cut_after_tokens` tokens (at most
    /// length − 1): no finish chunk, no usage, no `[DONE]`, but a well-formed end of body.
    pub fault_clean_end_rate: f64,
    /// Share of requests that generate zero tokens: (chat: a role chunk, then) one chunk with
    /// empty text and `finish_reason: "stop"`, usage with `completion_tokens: 0`, `[DONE]`; a
    /// non-streamed body with empty text. The engine still runs the request's prefill step.
    pub fault_empty_rate: f64,
    /// Share of requests answered at once with HTTP 200 and vLLM's error object
    /// `{"object":"error","message":…,"type":"InternalServerError","param":null,"code":500}`
    /// as `application/json`, whether or not a stream was asked for.
    pub fault_error_body_rate: f64,
    /// Accept `ignore_eos` and `min_tokens` but stop at the seeded end-of-sequence draw anyway
    /// (llama-server): the output length is drawn as without them.
    pub ignore_eos_ignored: bool,
    /// The line ending of every SSE line.
    pub sse_line_ending: LineEnding,
    /// Write `data:{…}` without the space.
    pub sse_no_space: bool,
    /// A `: ping` comment event between events.
    pub sse_comments: bool,
    /// Each JSON payload as two `data:` lines split after a comma between members.
    pub sse_split_data: bool,
    /// The `Content-Type` of SSE responses (`None`: `text/event-stream`); the body stays SSE,
    /// as behind a proxy that labels everything `application/json`.
    pub content_type: Option<String>,
    /// Healthy streams with the nulls and extras some servers send: `"usage": null` on token
    /// chunks, `"choices": null` on the final usage chunk, `"system_fingerprint": null` and
    /// `"x_extra": {"a": 1}` on every chunk, and a first event `{"choices":null}`.
    pub null_fields: bool,
    /// Close each connection right after its N-th response, without `Connection: close`
    /// (0: never), as uvicorn or aiohttp behind a keep-alive limit.
    pub keepalive_close_every: u32,
    /// Close a connection idle (no request in progress) this many milliseconds (0: never).
    pub keepalive_idle_ms: u64,
    /// The shape `/tokenize` answers in: vLLM's (default), llama.cpp's (`/apply-template` is
    /// not served: the simulator's chat template has no text form) or TGI's (`/chat_tokenize`
    /// too, and TGI's completions route: a text prompt only, one BOS token added to its count).
    pub tokenize_api: TokenizeShape,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            http_500_rate: 0.0,
            http_429_rate: 0.0,
            cut_rate: 0.0,
            cut_after_tokens: 0,
            malformed_rate: 0.0,
            stall_rate: 0.0,
            stall_secs: 0.0,
            refuse: None,
            ignore_stream: false,
            omit_usage: false,
            no_tokenize: false,
            reasoning_tokens: 0,
            usage_at_end_only: false,
            tokens_per_chunk: 1,
            fault_error_event_rate: 0.0,
            error_event_style: ErrorEventStyle::Json,
            fault_abort_rate: 0.0,
            empty_finish_reason: false,
            fault_clean_end_rate: 0.0,
            fault_empty_rate: 0.0,
            fault_error_body_rate: 0.0,
            ignore_eos_ignored: false,
            sse_line_ending: LineEnding::Lf,
            sse_no_space: false,
            sse_comments: false,
            sse_split_data: false,
            content_type: None,
            null_fields: false,
            keepalive_close_every: 0,
            keepalive_idle_ms: 0,
            tokenize_api: TokenizeShape::default(),
        }
    }
}

impl FaultConfig {
    /// Checks every rate and duration; the message names the option, the value and what is
    /// expected.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_labelled(|field| format!("fault {field} ="))
    }

    /// [`FaultConfig::validate`] with each field (`http_500_rate`, …, `refuse_at`,
    /// `refuse_for`) named by `label`, so a command line can name its own flags.
    pub fn validate_labelled(&self, label: impl Fn(&str) -> String) -> Result<(), String> {
        let rates = [
            ("http_500_rate", self.http_500_rate),
            ("http_429_rate", self.http_429_rate),
            ("cut_rate", self.cut_rate),
            ("malformed_rate", self.malformed_rate),
            ("stall_rate", self.stall_rate),
            ("fault_error_event_rate", self.fault_error_event_rate),
            ("fault_abort_rate", self.fault_abort_rate),
            ("fault_clean_end_rate", self.fault_clean_end_rate),
            ("fault_empty_rate", self.fault_empty_rate),
            ("fault_error_body_rate", self.fault_error_body_rate),
        ];
        for (name, v) in rates {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!(
                    "{} {v}: expected a probability between 0 and 1",
                    label(name)
                ));
            }
        }
        let refuse = self
            .refuse
            .map_or([None, None], |(at, dur)| [Some(at), Some(dur)]);
        let secs = [
            ("stall_secs", Some(self.stall_secs)),
            ("refuse_at", refuse[0]),
            ("refuse_for", refuse[1]),
        ];
        for (name, v) in secs {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(format!(
                    "{} {v}: expected a non-negative number of seconds",
                    label(name)
                ));
            }
        }
        if self.tokens_per_chunk == 0 {
            return Err(format!(
                "{} 0: expected at least 1 token per chunk",
                label("tokens_per_chunk")
            ));
        }
        if let Some(ct) = &self.content_type
            && (ct.trim().is_empty() || HeaderValue::from_str(ct).is_err())
        {
            return Err(format!(
                "{} {ct:?}: expected a non-empty header value such as application/json",
                label("content_type")
            ));
        }
        Ok(())
    }

    /// Draws the faults of one request.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng) -> Drawn {
        // Always draw every variable, in a fixed order, so one rate does not shift the others.
        let u: [f64; 5] = [
            rng.random(),
            rng.random(),
            rng.random(),
            rng.random(),
            rng.random(),
        ];
        let status = if u[0] < self.http_500_rate {
            Some(500)
        } else if u[1] < self.http_429_rate {
            Some(429)
        } else {
            None
        };
        Drawn {
            status,
            cut_after: (u[2] < self.cut_rate).then_some(self.cut_after_tokens),
            malformed: u[3] < self.malformed_rate,
            stall: (u[4] < self.stall_rate && self.stall_secs > 0.0)
                .then(|| Duration::from_secs_f64(self.stall_secs)),
            ..Drawn::default()
        }
    }
}

/// The faults drawn for one request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Drawn {
    pub status: Option<u16>,
    pub cut_after: Option<u32>,
    pub malformed: bool,
    pub stall: Option<Duration>,
    /// Answer HTTP 200 with an error object (before the engine sees the request).
    pub error_body: bool,
    /// Generate zero tokens.
    pub empty: bool,
    /// How the stream ends early after `cut_after_tokens`, when it does without a cut.
    pub end: Option<StreamEnd>,
    /// Tokens before `end`.
    pub end_after: u32,
}

/// An early end of a stream that is not a cut connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    ErrorEvent,
    Abort,
    CleanEnd,
}

impl FaultConfig {
    /// Draws the faults added for issue 14 into `d`, from the request's second generator (see
    /// [`extra_rng`]). One fault per request: an error body before everything, then an empty
    /// generation, then the older faults, then error event, abort and clean end in that order.
    pub(crate) fn draw_more(&self, rng: &mut ChaCha8Rng, d: &mut Drawn) {
        let u: [f64; 5] = std::array::from_fn(|_| rng.random());
        if d.status.is_some() {
            return;
        }
        if u[0] < self.fault_error_body_rate {
            *d = Drawn {
                error_body: true,
                ..Drawn::default()
            };
        } else if u[1] < self.fault_empty_rate {
            *d = Drawn {
                empty: true,
                ..Drawn::default()
            };
        } else if d.cut_after.is_none() {
            d.end = if u[2] < self.fault_error_event_rate {
                Some(StreamEnd::ErrorEvent)
            } else if u[3] < self.fault_abort_rate {
                Some(StreamEnd::Abort)
            } else if u[4] < self.fault_clean_end_rate {
                Some(StreamEnd::CleanEnd)
            } else {
                None
            };
            d.end_after = self.cut_after_tokens;
        }
    }
}

/// Counters of the faults added for issue 14 and of connections, shared by the HTTP side and
/// `SimServer::stats`.
#[derive(Debug, Default)]
pub(crate) struct FaultCounters {
    pub error_event: AtomicU64,
    pub abort: AtomicU64,
    pub clean_end: AtomicU64,
    pub empty: AtomicU64,
    pub error_body: AtomicU64,
    /// Connections closed by `keepalive_close_every` or `keepalive_idle_ms`.
    pub keepalive_closes: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Most requests served on one connection.
    pub max_requests_per_connection: AtomicU64,
}

impl FaultCounters {
    /// Counts the faults of a request the engine accepted.
    pub fn count(&self, d: &Drawn) {
        let counter = match d.end {
            Some(StreamEnd::ErrorEvent) => Some(&self.error_event),
            Some(StreamEnd::Abort) => Some(&self.abort),
            Some(StreamEnd::CleanEnd) => Some(&self.clean_end),
            None if d.empty => Some(&self.empty),
            None => None,
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The second generator of request number `n`, for [`FaultConfig::draw_more`].
pub(crate) fn extra_rng(seed: u64, n: u64) -> ChaCha8Rng {
    request_rng(seed ^ 0x1551_e014, n)
}

/// The generator of request number `n`: independent streams per request, fixed by the seed.
pub(crate) fn request_rng(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_validated_by_name() {
        let bad = FaultConfig {
            cut_rate: 1.5,
            ..FaultConfig::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(e.contains("cut_rate") && e.contains("1.5"), "{e}");
        assert!(
            FaultConfig {
                stall_secs: -1.0,
                ..FaultConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(FaultConfig::default().validate().is_ok());
        let e = FaultConfig {
            tokens_per_chunk: 0,
            ..FaultConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("tokens_per_chunk") && e.contains('0'), "{e}");
        let e = FaultConfig {
            content_type: Some("text/plain\nX: y".into()),
            ..FaultConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("content_type"), "{e}");
        let e = FaultConfig {
            fault_empty_rate: -0.1,
            ..FaultConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("fault_empty_rate") && e.contains("-0.1"), "{e}");
    }

    #[test]
    fn new_faults_exclude_each_other_and_leave_the_old_draws_alone() {
        let f = FaultConfig {
            cut_rate: 0.3,
            fault_error_body_rate: 0.2,
            fault_empty_rate: 0.2,
            fault_error_event_rate: 0.3,
            fault_abort_rate: 0.3,
            fault_clean_end_rate: 1.0,
            ..FaultConfig::default()
        };
        let old = FaultConfig {
            cut_rate: 0.3,
            ..FaultConfig::default()
        };
        for n in 0..500 {
            let mut d = f.draw(&mut request_rng(5, n));
            let before = old.draw(&mut request_rng(5, n));
            assert_eq!(d.cut_after, before.cut_after);
            f.draw_more(&mut extra_rng(5, n), &mut d);
            let kinds = [
                d.error_body,
                d.empty,
                d.cut_after.is_some(),
                d.end.is_some(),
            ];
            // The clean-end rate is 1: every request has exactly one of them.
            assert_eq!(kinds.iter().filter(|&&k| k).count(), 1, "{d:?}");
        }
    }

    #[test]
    fn draws_follow_the_rates_and_the_seed() {
        let f = FaultConfig {
            http_500_rate: 0.2,
            malformed_rate: 1.0,
            ..FaultConfig::default()
        };
        let n500 = (0..5000)
            .filter(|&n| f.draw(&mut request_rng(7, n)).status == Some(500))
            .count();
        assert!((900..1100).contains(&n500), "{n500}");
        assert!(f.draw(&mut request_rng(7, 3)).malformed);
        let a = f.draw(&mut request_rng(7, 11)).status;
        assert_eq!(a, f.draw(&mut request_rng(7, 11)).status);
        assert!(
            FaultConfig::default()
                .draw(&mut request_rng(1, 1))
                .status
                .is_none()
        );
    }
}
