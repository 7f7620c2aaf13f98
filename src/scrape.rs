//! The server's own view of an iteration: its Prometheus `/metrics` scraped every
//! `SCRAPE_INTERVAL` while the iteration runs. The client sees latencies; only the server can
//! say how many requests it queued, how full its KV cache was and how many tokens it produced,
//! which is what tells a client-side limit from a server-side one.
//!
//! Scraping never fails an iteration: an unreachable or odd endpoint is a warning, and the
//! iteration simply has fewer (or no) samples.

use chrono::{DateTime, Local};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where and how often to scrape (`SERVER_METRICS_URL`, `SCRAPE_INTERVAL`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// The metrics URL; None when scraping is off (`SERVER_METRICS_URL=off`).
    pub url: Option<String>,
    /// Time between two scrapes.
    pub interval: Duration,
}

/// Metrics kept from each scrape; everything else the server exports is dropped.
pub const KEPT_METRICS: &[&str] = &[
    WAITING[0],
    WAITING[1],
    RUNNING[0],
    RUNNING[1],
    KV_USAGE[0],
    KV_USAGE[1],
    PROMPT_TOKENS,
    GENERATION_TOKENS,
    REQUESTS_DONE,
];

/// Requests queued on the server (vLLM; TGI).
const WAITING: [&str; 2] = ["vllm:num_requests_waiting", "tgi_queue_size"];
/// Requests in the running batch (vLLM; TGI).
const RUNNING: [&str; 2] = ["vllm:num_requests_running", "tgi_batch_current_size"];
/// KV-cache usage as a fraction of 1 (vLLM ≥ 0.10; older vLLM).
const KV_USAGE: [&str; 2] = ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"];
const PROMPT_TOKENS: &str = "vllm:prompt_tokens_total";
const GENERATION_TOKENS: &str = "vllm:generation_tokens_total";
const REQUESTS_DONE: &str = "vllm:request_success_total";

/// One sample of one scrape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSample {
    /// Seconds from the iteration's t0 (negative for the scrape taken just before it).
    pub time_s: f64,
    /// Metric name, e.g. `vllm:num_requests_waiting`.
    pub metric: String,
    /// The label set as exported, without braces, e.g. `model_name="m"`; empty when none.
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// Everything scraped during one iteration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerMetrics {
    /// The kept samples of every successful scrape, in time order.
    pub samples: Vec<MetricSample>,
    /// Scrapes that returned metrics.
    pub scrapes: u32,
    /// Scrapes that failed (connection, status, timeout).
    pub failures: u32,
}

/// Figures of one iteration from the server's metrics (None when it never exported them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerSummary {
    /// Successful scrapes.
    pub scrapes: u32,
    /// Largest waiting queue seen, requests.
    pub max_waiting: Option<f64>,
    /// Largest running batch seen, requests.
    pub max_running: Option<f64>,
    /// Mean KV-cache usage over the scrapes, percent.
    pub mean_kv_usage_pct: Option<f64>,
    /// Prompt tokens the server processed per second between the first and last scrape.
    pub prompt_tokens_s: Option<f64>,
    /// Output tokens the server generated per second between the first and last scrape.
    pub generation_tokens_s: Option<f64>,
    /// Requests the server finished (aborts excluded) per second between the first and last
    /// scrape.
    pub requests_s: Option<f64>,
}

/// Parse Prometheus text format into (metric, labels, value). Comments, blank lines and lines
/// that do not parse are skipped: a scrape is evidence, not input to validate.
pub fn parse(text: &str) -> Vec<(String, String, f64)> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<(String, String, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = "";
    if rest.starts_with('{') {
        // The closing brace is the first one outside a quoted label value.
        let (mut quoted, mut escaped, mut close) = (false, false, None);
        for (i, c) in rest.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '}' if !quoted => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let close = close?;
        labels = &rest[1..close];
        rest = &rest[close + 1..];
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some((
        name.to_string(),
        labels.trim_end_matches(',').to_string(),
        value,
    ))
}

/// One answered scrape: when (from the scraper's start) and its kept (metric, labels, value).
type Scrape = (Duration, Vec<(String, String, f64)>);

/// Samples as (metric, labels, value), what one poll of any source yields.
pub type Samples = Vec<(String, String, f64)>;

/// What one poll reads: a Prometheus endpoint, or a local command whose output is turned into
/// the same (metric, labels, value) samples (the GPU telemetry's `nvidia-smi`).
#[derive(Debug, Clone)]
pub enum Source {
    /// `GET url`; only samples whose metric name `keep` accepts are kept.
    Http {
        /// The endpoint.
        url: String,
        /// Which metric names to keep.
        keep: fn(&str) -> bool,
    },
    /// Run `program args`; `parse` turns its standard output into samples (an `Err` counts as
    /// a failed poll).
    Command {
        /// The program (a name looked up on `PATH`, or a path).
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its standard output → samples.
        parse: fn(&str) -> Result<Samples, String>,
    },
}

/// One kind of poll during an iteration: where from, how often, and how a failure is named.
#[derive(Debug, Clone)]
pub struct Poll {
    /// What to read.
    pub source: Source,
    /// Time between two polls.
    pub interval: Duration,
    /// What the samples are, for the warning (`server metrics`, `GPU telemetry`).
    pub what: &'static str,
    /// How to stop trying, for the warning (e.g. `set SERVER_METRICS_URL=off to stop trying`).
    pub hint: &'static str,
}

/// A scraper running for one iteration; [`Scraper::finish`] stops it and returns its samples.
pub struct Scraper {
    stop: CancellationToken,
    task: JoinHandle<(Vec<Scrape>, u32)>,
    anchor_wall: DateTime<Local>,
}

impl Scraper {
    /// Start scraping the server's metrics now (one scrape at once, then every interval). None
    /// when scraping is off.
    pub fn start(cfg: &ScrapeConfig) -> Option<Scraper> {
        let url = cfg.url.clone()?;
        Scraper::poll(Poll {
            source: Source::Http {
                url,
                keep: |m| KEPT_METRICS.contains(&m),
            },
            interval: cfg.interval,
            what: "server metrics",
            hint: "set SERVER_METRICS_URL=off to stop trying",
        })
    }

    /// Start polling `poll.source` now (once at once, then every interval, and once more at
    /// [`Scraper::finish`]). A poll that fails is counted and warned about once per iteration;
    /// it never stops the iteration. None only when no HTTP client can be built (warned).
    pub fn poll(poll: Poll) -> Option<Scraper> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = poll
            .interval
            .clamp(Duration::from_millis(200), Duration::from_secs(5));
        let client = match reqwest::Client::builder().timeout(timeout).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "{}: cannot build an HTTP client ({e}); not scraping",
                    poll.what
                );
                return None;
            }
        };
        let stop = CancellationToken::new();
        let anchor = Instant::now();
        let anchor_wall = Local::now();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut scrapes = Vec::new();
            let mut failures = 0u32;
            let mut ticker = tokio::time::interval(poll.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let last = tokio::select! {
                    _ = ticker.tick() => false,
                    _ = token.cancelled() => true,
                };
                match poll_once(&client, &poll.source, timeout).await {
                    Ok(samples) => scrapes.push((anchor.elapsed(), samples)),
                    Err(e) => {
                        if failures == 0 {
                            tracing::warn!(
                                "{}: {} did not answer ({e}); the iteration goes on without \
                                 them ({})",
                                poll.what,
                                poll.source.name(),
                                poll.hint
                            );
                        }
                        failures += 1;
                    }
                }
                if last {
                    return (scrapes, failures);
                }
            }
        });
        Some(Scraper {
            stop,
            task,
            anchor_wall,
        })
    }
    /// Take a last scrape, stop, and return the samples with times from the iteration's t0
    /// (`started_at`, the iteration's wall-clock start).
    pub async fn finish(self, started_at: DateTime<Local>) -> ServerMetrics {
        self.stop.cancel();
        let Ok((scrapes, failures)) = self.task.await else {
            return ServerMetrics::default();
        };
        // Offsets are measured on the monotonic clock; only the tiny gap between the scraper's
        // start and t0 comes from the wall clock.
        let t0_after_anchor = (started_at - self.anchor_wall)
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1e6;
        let mut out = ServerMetrics {
            scrapes: scrapes.len() as u32,
            failures,
            samples: Vec::new(),
        };
        for (at, samples) in scrapes {
            let time_s = at.as_secs_f64() - t0_after_anchor;
            out.samples.extend(
                samples
                    .into_iter()
                    .map(|(metric, labels, value)| MetricSample {
                        time_s,
                        metric,
                        labels,
                        value,
                    }),
            );
        }
        out
    }
}

impl Source {
    /// The URL or the program, for messages.
    fn name(&self) -> &str {
        match self {
            Source::Http { url, .. } => url,
            Source::Command { program, .. } => program,
        }
    }
}

async fn poll_once(
    client: &reqwest::Client,
    source: &Source,
    timeout: Duration,
) -> Result<Samples, String> {
    match source {
        Source::Http { url, keep } => {
            let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            let text = resp.text().await.map_err(|e| e.to_string())?;
            Ok(parse(&text)
                .into_iter()
                .filter(|(m, _, _)| keep(m))
                .collect())
        }
        Source::Command {
            program,
            args,
            parse,
        } => {
            let out = run(program, args, timeout).await?;
            parse(&out)
        }
    }
}

/// Runs `program args` to its end within `timeout` and returns its standard output; a spawn
/// failure, a timeout (the child is killed), a failed exit or output that is not UTF-8 is an
/// `Err` in words.
pub async fn run(program: &str, args: &[String], timeout: Duration) -> Result<String, String> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(timeout, child).await {
        Err(_) => return Err(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(format!("{} ({first})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| "its output is not UTF-8".to_string())
}

impl ServerMetrics {
    /// Per scrape time, the sum over label sets of the first of `names` the server exports.
    fn series(&self, names: &[&str]) -> Vec<(f64, f64)> {
        let Some(name) = names
            .iter()
            .find(|n| self.samples.iter().any(|s| s.metric == **n))
        else {
            return Vec::new();
        };
        let mut out: Vec<(f64, f64)> = Vec::new();
        for s in self.samples.iter().filter(|s| s.metric == *name) {
            if name == &REQUESTS_DONE && s.labels.contains("finished_reason=\"abort\"") {
                continue;
            }
            match out.last_mut() {
                Some((t, v)) if *t == s.time_s => *v += s.value,
                _ => out.push((s.time_s, s.value)),
            }
        }
        out
    }

    /// The iteration's summary figures.
    pub fn summary(&self) -> ServerSummary {
        let max = |names: &[&str]| {
            self.series(names)
                .iter()
                .map(|p| p.1)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        };
        let kv = self.series(&KV_USAGE);
        let rate = |name: &str| {
            let s = self.series(&[name]);
            let (first, last) = (s.first()?, s.last()?);
            let dt = last.0 - first.0;
            (dt > 0.0).then(|| (last.1 - first.1).max(0.0) / dt)
        };
        ServerSummary {
            scrapes: self.scrapes,
            max_waiting: max(&WAITING),
            max_running: max(&RUNNING),
            mean_kv_usage_pct: (!kv.is_empty())
                .then(|| 100.0 * kv.iter().map(|p| p.1).sum::<f64>() / kv.len() as f64),
            prompt_tokens_s: rate(PROMPT_TOKENS),
            generation_tokens_s: rate(GENERATION_TOKENS),
            requests_s: rate(REQUESTS_DONE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_braces_and_escapes_and_skips_comments() {
        let text = "# HELP x y\n# TYPE x gauge\n\
                    vllm:num_requests_waiting{model_name=\"a}b\\\"c\"} 7\n\
                    vllm:generation_tokens_total 1.5e3 1700000000\n\
                    broken{model_name=\"x\" 3\n\
                    up +Inf\n";
        let got = parse(text);
        assert_eq!(
            got,
            vec![
                (
                    "vllm:num_requests_waiting".to_string(),
                    "model_name=\"a}b\\\"c\"".to_string(),
                    7.0
                ),
                (
                    "vllm:generation_tokens_total".to_string(),
                    String::new(),
                    1500.0
                ),
                ("up".to_string(), String::new(), f64::INFINITY),
            ]
        );
    }

    fn sample(time_s: f64, metric: &str, labels: &str, value: f64) -> MetricSample {
        MetricSample {
            time_s,
            metric: metric.into(),
            labels: labels.into(),
            value,
        }
    }

    #[test]
    fn summary_sums_label_sets_per_scrape_and_rates_span_first_to_last_scrape() {
        let m = ServerMetrics {
            scrapes: 3,
            failures: 0,
            samples: vec![
                sample(0.0, WAITING[0], "model_name=\"a\"", 1.0),
                sample(0.0, WAITING[0], "model_name=\"b\"", 2.0),
                sample(0.0, KV_USAGE[0], "", 0.2),
                sample(0.0, GENERATION_TOKENS, "", 100.0),
                sample(0.0, REQUESTS_DONE, "finished_reason=\"length\"", 10.0),
                sample(0.0, REQUESTS_DONE, "finished_reason=\"abort\"", 50.0),
                sample(2.0, WAITING[0], "model_name=\"a\"", 5.0),
                sample(2.0, KV_USAGE[0], "", 0.6),
                sample(2.0, GENERATION_TOKENS, "", 500.0),
                sample(2.0, REQUESTS_DONE, "finished_reason=\"length\"", 14.0),
                sample(2.0, REQUESTS_DONE, "finished_reason=\"abort\"", 90.0),
            ],
        };
        let s = m.summary();
        assert_eq!(s.max_waiting, Some(5.0));
        assert_eq!(s.max_running, None);
        assert!((s.mean_kv_usage_pct.unwrap() - 40.0).abs() < 1e-9);
        assert_eq!(s.generation_tokens_s, Some(200.0));
        assert_eq!(s.requests_s, Some(2.0));
        assert_eq!(s.prompt_tokens_s, None);
    }
}
