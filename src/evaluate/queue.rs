//! The default verdict, `queue`: sustainability is about queueing, so judge queueing.
//!
//! In a stable server the time a request waits for its first token and the number of requests in
//! flight fluctuate around a level; in an overloaded one they grow without bound. Over the steady
//! window (intended send times in `[FILTER_BUFFER, DURATION − FILTER_BUFFER]`) this evaluator
//! fits a line to
//! - the **queueing delay**: first token minus *intended* send (so client lag cannot hide a
//!   queue), with requests that timed out or were cut off counted at their end (a lower bound);
//! - the **backlog**: requests in flight, sampled evenly over the window.
//!
//! Both series are averaged into bins before the fit, because queueing is strongly
//! autocorrelated and a per-request regression would call every wobble significant. A trend fails
//! only when it is **significant** (one-sided t-test on the slope, p < 0.05) **and material**:
//! the growth projected over the window exceeds `max(QUEUE_GROWTH_MIN_MS, QUEUE_GROWTH_MAX_PCT %
//! of the baseline)` (for the backlog: `max(2 requests, the same % of the baseline backlog)`).
//! The iteration also fails when successful completions fall below `THROUGHPUT_MIN_PCT` % of
//! the requests sent in the window (completions counted in the window shifted by the median
//! latency), or the success rate is below `SUCCESS_RATE`.

use super::{Criterion, EvalInput, Evaluator, Verdict, figures};
use crate::load::record::{ErrorKind, RequestRecord};
use crate::metrics::send_window;
use crate::stats::{linear_fit, percentile};
use std::collections::BTreeMap;
use std::time::Duration;

/// Settings of the `queue` evaluator.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// Material growth, percent of the baseline (`QUEUE_GROWTH_MAX_PCT`).
    pub growth_max_pct: f64,
    /// Material queueing-delay growth is never below this, ms (`QUEUE_GROWTH_MIN_MS`).
    pub growth_min_ms: f64,
    /// Completions in the window vs requests sent in it, percent (`THROUGHPUT_MIN_PCT`).
    pub throughput_min_pct: f64,
    /// Minimum share of successful requests, percent (`SUCCESS_RATE`).
    pub success_rate_pct: f64,
}

/// One-sided significance level of the trend tests.
const ALPHA: f64 = 0.05;
/// Most bins a series is averaged into before the fit.
const MAX_BINS: usize = 10;
/// Fewer samples than this in the window: the trend tests abstain (pass, saying so).
const MIN_SAMPLES: usize = 15;
/// Backlog growth below this many requests is never material.
const MIN_BACKLOG_GROWTH: f64 = 2.0;

/// The `queue` evaluator.
#[derive(Debug, Clone)]
pub struct QueueEvaluator {
    pub settings: QueueSettings,
}

impl Evaluator for QueueEvaluator {
    fn name(&self) -> &'static str {
        "queue"
    }

    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        let (w0, w1) = send_window(input.meta);
        Verdict::from_criteria(vec![
            success_rate(input.records, self.settings.success_rate_pct),
            throughput(input.records, w0, w1, self.settings.throughput_min_pct),
            delay_trend(input.records, w0, w1, &self.settings),
            backlog_trend(input.records, w0, w1, &self.settings),
        ])
    }
}

/// `success_rate`: share of successful requests over the whole iteration.
pub fn success_rate(records: &[RequestRecord], min_pct: f64) -> Criterion {
    let ok = records.iter().filter(|r| r.success()).count();
    let pct = if records.is_empty() {
        100.0
    } else {
        100.0 * ok as f64 / records.len() as f64
    };
    let rate_limited = records
        .iter()
        .filter(|r| r.error == Some(ErrorKind::RateLimited))
        .count();
    let passed = pct >= min_pct;
    Criterion {
        name: "success_rate".into(),
        passed,
        figures: figures(&[
            ("success_pct", pct),
            ("min_pct", min_pct),
            ("failed", (records.len() - ok) as f64),
            ("rate_limited", rate_limited as f64),
        ]),
        detail: format!(
            "success {pct:.1}% {} SUCCESS_RATE {min_pct}% ({} failed, {rate_limited} of them HTTP 429)",
            if passed { ">=" } else { "<" },
            records.len() - ok
        ),
    }
}

/// `throughput`: successful completions against requests sent, over the window. Completions
/// are counted in the send window shifted by the median latency (intended send → end), so both
/// counts cover the same cohort of arrivals: comparing the same window would compare different
/// Poisson slices at its edges and fail healthy short iterations by chance. An overloaded server
/// still cannot complete more than its capacity in any window, so the shift hides nothing.
fn throughput(records: &[RequestRecord], w0: Duration, w1: Duration, min_pct: f64) -> Criterion {
    // Successful requests only, on both sides: failures are the success-rate criterion's
    // business, and counting them here would fail an iteration twice for one cause.
    let sent = records
        .iter()
        .filter(|r| r.success() && r.intended_send >= w0 && r.intended_send < w1)
        .count();
    let latencies: Vec<f64> = records
        .iter()
        .filter(|r| r.success())
        .map(|r| r.end.saturating_sub(r.intended_send).as_secs_f64())
        .collect();
    let shift = Duration::from_secs_f64(percentile(&latencies, 50.0).unwrap_or(0.0));
    let (c0, c1) = (w0 + shift, w1 + shift);
    let done = records
        .iter()
        .filter(|r| r.success() && r.end >= c0 && r.end < c1)
        .count();
    let pct = if sent == 0 {
        100.0
    } else {
        100.0 * done as f64 / sent as f64
    };
    let passed = pct >= min_pct;
    Criterion {
        name: "throughput".into(),
        passed,
        figures: figures(&[
            ("sent_in_window", sent as f64),
            ("completed_in_window", done as f64),
            ("window_shift_ms", shift.as_secs_f64() * 1e3),
            ("achieved_pct", pct),
            ("min_pct", min_pct),
        ]),
        detail: format!(
            "completed {done} for {sent} sent in the window ({pct:.1}% {} {min_pct}%)",
            if passed { ">=" } else { "<" }
        ),
    }
}

/// Average `(t, y)` samples into equal-width time bins over `[w0, w1)`; empty bins are skipped.
fn bin(samples: &[(f64, f64)], w0: f64, w1: f64, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let width = (w1 - w0) / bins as f64;
    let mut sum = vec![0.0; bins];
    let mut n = vec![0usize; bins];
    for &(t, y) in samples {
        let b = (((t - w0) / width) as usize).min(bins - 1);
        sum[b] += y;
        n[b] += 1;
    }
    (0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| (w0 + width * (b as f64 + 0.5), sum[b] / n[b] as f64))
        .unzip()
}

fn bins_for(n: usize) -> usize {
    (n / 5).clamp(3, MAX_BINS)
}

struct Trend {
    slope_per_s: f64,
    growth: f64,
    p: f64,
    baseline: f64,
    threshold: f64,
    bins: usize,
}

/// Fit a binned trend and its growth over the window; None when there are too few samples.
fn trend(
    samples: &[(f64, f64)],
    w0: f64,
    w1: f64,
    baseline_of: impl Fn(&[f64]) -> f64,
    threshold_of: impl Fn(f64) -> f64,
) -> Option<Trend> {
    if samples.len() < MIN_SAMPLES || w1 <= w0 {
        return None;
    }
    let bins = bins_for(samples.len());
    let (xs, ys) = bin(samples, w0, w1, bins);
    let fit = linear_fit(&xs, &ys)?;
    let first_bin_end = w0 + (w1 - w0) / bins as f64;
    let early: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t < first_bin_end)
        .map(|(_, y)| *y)
        .collect();
    let baseline = baseline_of(&early);
    Some(Trend {
        slope_per_s: fit.slope,
        growth: fit.slope * (w1 - w0),
        p: fit.p_slope_positive,
        baseline,
        threshold: threshold_of(baseline),
        bins,
    })
}

fn trend_criterion(name: &str, unit: &str, what: &str, t: Option<Trend>) -> Criterion {
    let Some(t) = t else {
        return Criterion {
            name: name.into(),
            passed: true,
            figures: BTreeMap::new(),
            detail: format!("{what}: too few requests in the window to fit a trend"),
        };
    };
    let significant = t.p < ALPHA;
    let material = t.growth > t.threshold;
    let passed = !(significant && material);
    Criterion {
        name: name.into(),
        passed,
        figures: figures(&[
            (&format!("slope_{unit}_per_s"), t.slope_per_s),
            (&format!("growth_{unit}"), t.growth),
            (&format!("baseline_{unit}"), t.baseline),
            (&format!("threshold_{unit}"), t.threshold),
            ("p_value", t.p),
            ("bins", t.bins as f64),
        ]),
        detail: format!(
            "{what} grew {:.1} {unit} over the window (threshold {:.1}, p={:.3}{})",
            t.growth,
            t.threshold,
            t.p,
            match (significant, material) {
                (true, true) => ": significant and material",
                (true, false) => ": significant but small",
                (false, _) => ": not significant",
            }
        ),
    }
}

/// Queueing delay per request in the window: (intended send time s, ms until first token).
fn delay_samples(records: &[RequestRecord], w0: Duration, w1: Duration) -> Vec<(f64, f64)> {
    records
        .iter()
        .filter(|r| r.intended_send >= w0 && r.intended_send < w1)
        .filter_map(|r| {
            let until = match (r.first_token, r.error) {
                (Some(ft), _) => ft,
                // Waited and never got a token: the wait so far is a lower bound of the delay.
                (
                    None,
                    Some(
                        ErrorKind::TimeoutTtft
                        | ErrorKind::TimeoutTotal
                        | ErrorKind::DrainCutoff
                        | ErrorKind::Cancelled,
                    ),
                ) => r.end,
                _ => return None,
            };
            let ms = until.saturating_sub(r.intended_send).as_secs_f64() * 1e3;
            Some((r.intended_send.as_secs_f64(), ms))
        })
        .collect()
}

fn delay_trend(
    records: &[RequestRecord],
    w0: Duration,
    w1: Duration,
    s: &QueueSettings,
) -> Criterion {
    let samples = delay_samples(records, w0, w1);
    let t = trend(
        &samples,
        w0.as_secs_f64(),
        w1.as_secs_f64(),
        |early| percentile(early, 50.0).unwrap_or(0.0),
        |base| s.growth_min_ms.max(s.growth_max_pct / 100.0 * base),
    );
    trend_criterion("queue_delay_trend", "ms", "queueing delay", t)
}

/// Requests in flight at evenly spaced instants of the window.
fn backlog_samples(records: &[RequestRecord], w0: Duration, w1: Duration) -> Vec<(f64, f64)> {
    let points = 200usize;
    let (a, b) = (w0.as_secs_f64(), w1.as_secs_f64());
    if b <= a {
        return Vec::new();
    }
    let mut starts: Vec<f64> = records
        .iter()
        .map(|r| r.actual_send.as_secs_f64())
        .collect();
    let mut ends: Vec<f64> = records.iter().map(|r| r.end.as_secs_f64()).collect();
    starts.sort_by(f64::total_cmp);
    ends.sort_by(f64::total_cmp);
    (0..points)
        .map(|j| {
            let t = a + (b - a) * (j as f64 + 0.5) / points as f64;
            let started = starts.partition_point(|&s| s <= t);
            let ended = ends.partition_point(|&e| e <= t);
            (t, started.saturating_sub(ended) as f64)
        })
        .collect()
}

fn backlog_trend(
    records: &[RequestRecord],
    w0: Duration,
    w1: Duration,
    s: &QueueSettings,
) -> Criterion {
    let sent_in_window = records
        .iter()
        .filter(|r| r.intended_send >= w0 && r.intended_send < w1)
        .count();
    let samples = if sent_in_window < MIN_SAMPLES {
        Vec::new()
    } else {
        backlog_samples(records, w0, w1)
    };
    let t = trend(
        &samples,
        w0.as_secs_f64(),
        w1.as_secs_f64(),
        |early| crate::stats::mean(early).unwrap_or(0.0),
        |base| MIN_BACKLOG_GROWTH.max(s.growth_max_pct / 100.0 * base),
    );
    trend_criterion("backlog_trend", "requests", "backlog", t)
}
