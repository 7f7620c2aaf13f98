//! Settle before every iteration: the server must be idle before an iteration starts, so one
//! iteration never measures what the previous one left behind.
//!
//! A server behind a gateway that does not pass disconnects on keeps working on the requests of
//! an iteration the watchdog aborted; with a short `COOLDOWN` the next iteration then starts
//! behind that queue, gets no token, and reads as a dead server (issue 14). So before each
//! iteration — the first of a run included — the driver waits, up to `SETTLE_TIMEOUT`:
//!
//! - **with server metrics** (`SERVER_METRICS_URL` answers with one of the families in
//!   [`IN_FLIGHT_METRICS`]): until the server's running + waiting requests are 0, polling every
//!   [`POLL`];
//! - **without**: only after an iteration that abandoned requests (cancelled by the watchdog or
//!   a signal, cut off by the drain, or timed out — work the server may still be doing), until a
//!   probe request (the first size's prompt, one output token) has a TTFT near the idle TTFT —
//!   at most [`NEAR_FACTOR`] × idle + [`NEAR_SLACK_MS`] — with at most [`MAX_PROBES`] probes,
//!   [`PROBE_GAP`] apart. The idle TTFT is the fastest of the first [`IDLE_SAMPLE`] requests of
//!   the run's first iteration, which meet an idle server; so no traffic is sent that is not an
//!   iteration's unless an iteration left some behind. After an iteration whose every request
//!   ended at the client, the server holds none of ours: `idle` at once;
//! - when it cannot tell — no metrics before the run's first iteration, no idle TTFT known, or
//!   the signal failing [`GIVE_UP_AFTER`] times in a row — it stops waiting (`no-signal`).
//!
//! A server that does not settle in time is a warning; the iteration runs anyway and its files
//! say so (`SETTLE_RESULT=timeout`).

use crate::client::{Cancel, LlmClient, OpenAiClient, RequestSpec, Slot};
use crate::iteration::{SettleEnd, Settled};
use crate::record::{ErrorKind, RequestRecord};
use crate::size::SizeSpec;
use crate::workload::Workload;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The gauges whose sum is the number of requests a server holds (running + waiting), per
/// server, as each names them in its own sources:
/// vLLM (`vllm/v1/metrics/loggers.py`): `vllm:num_requests_running`, `vllm:num_requests_waiting`;
/// SGLang (`python/sglang/srt/metrics/collector.py`): `sglang:num_running_reqs`,
/// `sglang:num_queue_reqs`;
/// TGI (`backends/v3/src/queue.rs`, `router/src/infer`): `tgi_batch_current_size`,
/// `tgi_queue_size`;
/// llama.cpp (`tools/server/server.cpp`, `/metrics` with `--metrics`):
/// `llamacpp:requests_processing`, `llamacpp:requests_deferred`.
pub const IN_FLIGHT_METRICS: &[&str] = &[
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "sglang:num_running_reqs",
    "sglang:num_queue_reqs",
    "tgi_batch_current_size",
    "tgi_queue_size",
    "llamacpp:requests_processing",
    "llamacpp:requests_deferred",
];

/// Time between two polls of the metrics.
pub const POLL: Duration = Duration::from_millis(250);
/// A probe's TTFT is near idle when at most this many times the idle TTFT…
pub const NEAR_FACTOR: f64 = 2.0;
/// …plus this many milliseconds (timer and network noise on a fast server).
pub const NEAR_SLACK_MS: f64 = 50.0;
/// The first requests (by intended send time) of the run's first iteration whose fastest TTFT
/// is the idle TTFT.
pub const IDLE_SAMPLE: usize = 5;
/// Most probes sent before one iteration.
pub const MAX_PROBES: u32 = 40;
/// Time between the end of one probe and the next.
pub const PROBE_GAP: Duration = Duration::from_millis(250);
/// Polls or probes failing in a row after which the wait ends as `no-signal`: a server that
/// does not answer is not busy but missing, which the outage rules deal with.
pub const GIVE_UP_AFTER: u32 = 3;

/// Requests the server holds (sum of [`IN_FLIGHT_METRICS`] over every label set), from a
/// Prometheus text body; None when it exports none of them.
pub fn in_flight(metrics_text: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for (name, _, value) in crate::scrape::parse(metrics_text) {
        if IN_FLIGHT_METRICS.contains(&name.as_str()) && value.is_finite() {
            found = true;
            sum += value;
        }
    }
    found.then_some(sum)
}

/// Whether a probe's TTFT is back near the idle TTFT (both ms).
pub fn near_idle(ttft_ms: f64, idle_ms: f64) -> bool {
    ttft_ms <= NEAR_FACTOR * idle_ms + NEAR_SLACK_MS
}

/// How the settler tells an idle server.
#[derive(Debug, Clone)]
enum Signal {
    /// `SETTLE_TIMEOUT=0`.
    Off,
    /// Poll this metrics URL.
    Metrics(String),
    /// Probe after an iteration that abandoned requests (no metrics).
    Probe,
}

/// Waits for an idle server before each iteration (see the module header).
pub struct Settler {
    timeout: Duration,
    signal: Signal,
    http: reqwest::Client,
    client: Arc<OpenAiClient>,
    probe: ProbeSpec,
    /// What the driver told [`Settler::after`] about the iterations so far.
    seen: std::sync::Mutex<Seen>,
}

/// What the finished iterations of this run say, for the probe signal.
#[derive(Debug, Default)]
struct Seen {
    /// The idle TTFT (ms), from the run's first iteration.
    idle_ms: Option<f64>,
    /// Whether any iteration finished yet.
    any: bool,
    /// The last one left requests the client abandoned.
    abandoned: bool,
}

/// Whether the client gave up on a request the server may still be working on.
fn abandoned(r: &RequestRecord) -> bool {
    matches!(
        r.error,
        Some(
            ErrorKind::Cancelled
                | ErrorKind::DrainCutoff
                | ErrorKind::TimeoutTtft
                | ErrorKind::TimeoutItl
                | ErrorKind::TimeoutTotal
        )
    )
}

/// The fastest TTFT (ms) of the first [`IDLE_SAMPLE`] requests by intended send time.
fn idle_ttft_ms(records: &[RequestRecord]) -> Option<f64> {
    let mut first: Vec<&RequestRecord> = records.iter().collect();
    first.sort_by_key(|r| r.intended_send);
    first
        .iter()
        .take(IDLE_SAMPLE)
        .filter_map(|r| crate::metrics::request_metrics(r).ttft_ms)
        .reduce(f64::min)
}

/// Single probes that measure the idle TTFT before the saturation probe.
const IDLE_PROBES: usize = 3;

/// What a probe sends: the first searched size's prompt with one output token.
struct ProbeSpec {
    workload: Arc<Workload>,
    size: SizeSpec,
    next_idx: std::sync::atomic::AtomicU64,
}

/// Seed of probe prompts (any fixed value: probes need a prompt of the size's length).
const PROBE_SEED: u64 = 0x005e_771e;

impl ProbeSpec {
    fn next(&self) -> RequestSpec {
        let idx = self
            .next_idx
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut spec = self.workload.request(PROBE_SEED, idx, &self.size);
        spec.output_tokens = 1;
        spec
    }
}

impl Settler {
    /// Choose the signal at the start of a run: the metrics when `metrics_url` answers with
    /// in-flight gauges, else probes of `size` after iterations that abandoned requests.
    pub async fn start(
        timeout: Duration,
        metrics_url: Option<&str>,
        client: Arc<OpenAiClient>,
        workload: Arc<Workload>,
        size: SizeSpec,
    ) -> Settler {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let mut settler = Settler {
            timeout,
            signal: Signal::Off,
            http,
            client,
            probe: ProbeSpec {
                workload,
                size,
                next_idx: Default::default(),
            },
            seen: Default::default(),
        };
        if timeout.is_zero() {
            return settler;
        }
        if let Some(url) = metrics_url
            && settler.poll(url).await.is_ok()
        {
            settler.signal = Signal::Metrics(url.to_string());
            return settler;
        }
        tracing::info!(
            "settle: no in-flight gauges in the server's metrics; after an iteration that \
             abandoned requests, a probe's TTFT must be back within {NEAR_FACTOR} x the idle \
             TTFT + {NEAR_SLACK_MS} ms"
        );
        settler.signal = Signal::Probe;
        settler
    }

    /// Take note of a finished iteration's records (the idle TTFT from the run's first one,
    /// and whether it abandoned requests).
    pub fn after(&self, records: &[RequestRecord]) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.any {
            seen.idle_ms = idle_ttft_ms(records);
        }
        seen.any = true;
        seen.abandoned = records.iter().any(abandoned);
    }

    /// Before the saturation probe, while the server is still idle: without metrics and before
    /// any iteration, take the idle TTFT from a few single probes, so the wait after the probe
    /// has its reference (the first iteration, which would give it, comes after).
    pub async fn before_probe(&self) {
        let known = {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.any
        };
        if known || !matches!(self.signal, Signal::Probe) {
            return;
        }
        let mut idle: Option<f64> = None;
        for _ in 0..IDLE_PROBES {
            if let Some(t) = self.probe_ttft_ms(self.timeout.max(PROBE_GAP)).await {
                idle = Some(idle.map_or(t, |m| m.min(t)));
            }
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.idle_ms = idle;
        seen.any = true;
    }

    /// After the saturation probe: it cancelled the requests still in flight, so the next
    /// settle waits for the server to finish or drop them.
    pub fn after_probe(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.any = true;
        seen.abandoned = true;
    }

    /// Wait until the server is idle or `SETTLE_TIMEOUT` has passed; says how it ended. Logs a
    /// wait and warns on a timeout.
    pub async fn settle(&self) -> Settled {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let (end, detail) = match &self.signal {
            Signal::Off => (SettleEnd::Off, String::new()),
            Signal::Metrics(url) => self.wait_metrics(url, deadline).await,
            Signal::Probe => {
                let (any, abandoned, idle) = {
                    let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                    (seen.any, seen.abandoned, seen.idle_ms)
                };
                match (any, abandoned, idle) {
                    (false, _, _) => (
                        SettleEnd::NoSignal,
                        "no server metrics, and no iteration yet to know the idle TTFT".into(),
                    ),
                    (true, false, _) => (
                        SettleEnd::Idle,
                        "the previous iteration left no request unfinished".into(),
                    ),
                    (true, true, None) => (
                        SettleEnd::NoSignal,
                        "no server metrics, and the first iteration gave no idle TTFT".into(),
                    ),
                    (true, true, Some(idle)) => self.wait_probes(idle, deadline).await,
                }
            }
        };
        let settled = Settled {
            wait_s: started.elapsed().as_secs_f64(),
            end,
            detail,
        };
        match settled.end {
            SettleEnd::Timeout => tracing::warn!(
                "the server did not settle within SETTLE_TIMEOUT={} s ({}); running the \
                 iteration anyway",
                self.timeout.as_secs_f64(),
                settled.detail
            ),
            SettleEnd::Idle if settled.wait_s >= 1.0 => tracing::info!(
                "waited {:.1} s for the server to settle ({})",
                settled.wait_s,
                settled.detail
            ),
            _ => {}
        }
        settled
    }

    async fn poll(&self, url: &str) -> Result<f64, String> {
        let resp = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let text = resp.text().await.map_err(|e| e.to_string())?;
        in_flight(&text).ok_or_else(|| "no in-flight gauges".to_string())
    }

    async fn wait_metrics(&self, url: &str, deadline: Instant) -> (SettleEnd, String) {
        let mut failures = 0;
        loop {
            let last = match self.poll(url).await {
                Ok(n) if n <= 0.0 => {
                    return (SettleEnd::Idle, "0 requests running or waiting".into());
                }
                Ok(n) => {
                    failures = 0;
                    format!("{n} requests still running or waiting")
                }
                Err(e) => {
                    failures += 1;
                    if failures >= GIVE_UP_AFTER {
                        // Not a busy server but a missing one: the outage rules deal with it.
                        return (
                            SettleEnd::NoSignal,
                            format!("the metrics did not answer: {e}"),
                        );
                    }
                    format!("metrics: {e}")
                }
            };
            if Instant::now() + POLL > deadline {
                return (SettleEnd::Timeout, last);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_probes(&self, idle_ms: f64, deadline: Instant) -> (SettleEnd, String) {
        let mut last = String::from("no probe answered");
        let mut failures = 0;
        for n in 1..=MAX_PROBES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.probe_ttft_ms(left).await {
                Some(ttft) if near_idle(ttft, idle_ms) => {
                    return (
                        SettleEnd::Idle,
                        format!("probe {n}: TTFT {ttft:.1} ms, idle {idle_ms:.1} ms"),
                    );
                }
                Some(ttft) => {
                    failures = 0;
                    last = format!("last probe TTFT {ttft:.1} ms, idle {idle_ms:.1} ms");
                }
                None => {
                    failures += 1;
                    if failures >= GIVE_UP_AFTER {
                        return (SettleEnd::NoSignal, "no probe got a token".into());
                    }
                }
            }
            if Instant::now() + PROBE_GAP > deadline {
                break;
            }
            tokio::time::sleep(PROBE_GAP).await;
        }
        (SettleEnd::Timeout, last)
    }

    /// One probe's TTFT in ms, or None when it failed or got no token within `within`.
    async fn probe_ttft_ms(&self, within: Duration) -> Option<f64> {
        let spec = self.probe.next();
        let slot = Slot {
            request_idx: 0,
            t0: Instant::now(),
            intended: Duration::ZERO,
        };
        let cancel = Cancel::new();
        let sent = tokio::time::timeout(within, self.client.send(&spec, slot, &cancel)).await;
        crate::metrics::request_metrics(&sent.ok()?).ttft_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_sums_every_known_family_and_label_set() {
        let vllm = "# HELP x\nvllm:num_requests_running{model_name=\"a\"} 2\n\
                    vllm:num_requests_running{model_name=\"b\"} 1\n\
                    vllm:num_requests_waiting{model_name=\"a\"} 4\n\
                    vllm:kv_cache_usage_perc{model_name=\"a\"} 0.5\n";
        assert_eq!(in_flight(vllm), Some(7.0));
        let llama = "llamacpp:requests_processing 0\nllamacpp:requests_deferred 0\n";
        assert_eq!(in_flight(llama), Some(0.0));
        let sglang = "sglang:num_running_reqs{model_name=\"m\"} 3.0\nsglang:num_queue_reqs{model_name=\"m\"} 0.0\n";
        assert_eq!(in_flight(sglang), Some(3.0));
        assert_eq!(
            in_flight("tgi_queue_size 5\ntgi_batch_current_size 0\n"),
            Some(5.0)
        );
        assert_eq!(in_flight("process_cpu_seconds_total 12\n"), None);
        assert_eq!(in_flight(""), None);
    }

    #[test]
    fn the_idle_ttft_is_the_fastest_of_the_first_requests_sent() {
        use crate::metrics::tests::record;
        // Sent at 0, 1, …, 7 s; TTFT 40, 30, 35, 50, 45 ms for the first five, 5 ms later on.
        let ttft = [40, 30, 35, 50, 45, 5, 5, 5];
        let mut records: Vec<RequestRecord> = ttft
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let at = 1000 * i as u64;
                record(i as u64, at, at, &[t], at + 100, 1, None)
            })
            .collect();
        records.reverse();
        assert_eq!(idle_ttft_ms(&records), Some(30.0));
        assert!(!records.iter().any(abandoned));
        records[0].error = Some(ErrorKind::DrainCutoff);
        assert!(records.iter().any(abandoned));
        records[0].error = Some(ErrorKind::HttpStatus);
        assert!(
            !records.iter().any(abandoned),
            "an answered error left nothing behind"
        );
    }

    #[test]
    fn near_idle_allows_twice_the_idle_ttft_and_a_slack() {
        assert!(near_idle(250.0, 100.0));
        assert!(!near_idle(251.0, 100.0));
        // A fast server: 5 ms idle, 59 ms is noise, 61 ms is a queue.
        assert!(near_idle(59.0, 5.0));
        assert!(!near_idle(61.0, 5.0));
    }
}
