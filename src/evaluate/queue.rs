//! The default verdict, `queue`: sustainability is about queueing, so judge queueing.
//!
//! In a stable server the time a request waits for its first token and the number of requests in
//! flight fluctuate around a level; in an overloaded one they grow without bound. This evaluator
//! fits a line to
//! - the **queueing delay**: first token minus *intended* send (so client lag cannot hide a
//!   queue), with requests that timed out or were cut off counted at their end (a lower bound),
//!   for requests sent from `FILTER_BUFFER` to the end of sending. The trailing buffer keeps
//!   late requests out of latency statistics, but every one of them still gets its first token
//!   during the drain, and dropping them would drop the stretch where an overloaded queue is
//!   longest;
//! - the **backlog**: requests in flight, sampled evenly over the steady window (intended send
//!   times in `[FILTER_BUFFER, DURATION − FILTER_BUFFER]`).
//!
//! Both series are averaged into time bins before the fit (at most 10, at least 5 samples each),
//! because queueing is strongly autocorrelated and a per-request regression would call every
//! wobble significant. A backlog bin is also at least one median generation time (first token →
//! end) wide: a request stays in flight about that long, so narrower bins would count one burst
//! several times and make a passing wave look like a trend. The delay keeps its finer bins: a
//! stable server's delay returns to its level between bursts, and a short iteration left with 3
//! or 4 bins could not show even a 1.2 × overload (measured: its confirmation passed). A trend fails only when it is **significant** (one-sided t-test on the slope) **and
//! material**: the growth projected over the window exceeds `max(QUEUE_GROWTH_MIN_MS,
//! QUEUE_GROWTH_WINDOW_PCT % of the window's length)` for the delay — a server that falls behind
//! its arrivals by x% adds x% of the elapsed time to every later wait, so this reads "falls
//! behind by more than 2%" and, unlike a share of the starting delay, does not grow with a queue
//! already built during the warm-up — and for the backlog the share of the window's requests
//! that `THROUGHPUT_MIN_PCT` allows to fall behind (5% by default).
//!
//! The iteration also fails when successful completions fall materially (below
//! `THROUGHPUT_MIN_PCT` %) **and significantly** short of the requests sent in the window
//! (completions counted in the window shifted by the median latency), or the success rate is
//! below `SUCCESS_RATE` (the shared [`super::gate`]).
//!
//! The delay is tested at p < 0.05, the throughput shortfall at p < 0.01 and the backlog trend at
//! p < 0.001. The delay moves only when requests wait. The counts also follow the Poisson
//! arrivals: a stretch with more arrivals completes later, and on a continuous-batching server
//! it also runs a larger, slower batch, so the number in flight climbs with every burst without
//! any queue. The backlog trend is therefore a backstop for servers that show no first-token
//! queue, and needs the strongest evidence. These levels were measured, not assumed: see the
//! benchmark of how often the verdict cries wolf at 0.8 × capacity and misses an
//! overload at 1.1 × (`docs/design/benchmarks.md`).

use super::{Criterion, EvalInput, Evaluator, Verdict, figures};
use crate::load::watchdog::queueing_delay_ms;
use crate::metrics::send_window;
use crate::record::RequestRecord;
use crate::stats::{binned_means, linear_fit, mean, percentile};
use statrs::distribution::{ContinuousCDF, Normal};
use std::time::Duration;

/// Settings of the `queue` evaluator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueSettings {
    /// Material queueing-delay growth, percent of the window's length (`QUEUE_GROWTH_WINDOW_PCT`).
    pub growth_window_pct: f64,
    /// Material queueing-delay growth is never below this, ms (`QUEUE_GROWTH_MIN_MS`).
    pub growth_min_ms: f64,
    /// Completions in the window vs requests sent in it, percent (`THROUGHPUT_MIN_PCT`).
    pub throughput_min_pct: f64,
}

/// One-sided significance level of the queueing-delay trend.
const ALPHA_DELAY: f64 = 0.05;
/// One-sided significance level of the throughput shortfall.
const ALPHA_THROUGHPUT: f64 = 0.01;
/// One-sided significance level of the backlog trend.
const ALPHA_BACKLOG: f64 = 0.001;
/// Fewest bins a series is averaged into before the fit.
const MIN_BINS: usize = 3;
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
        let window = Window::of(input);
        Verdict::from_criteria(vec![
            throughput(input.records, &window, self.settings.throughput_min_pct),
            delay_trend(input.records, &window, &self.settings),
            backlog_trend(&window, &self.settings),
        ])
    }
}

/// What every criterion needs to know about the steady window, computed once.
struct Window {
    /// Start and end of the window (intended send times, from `t0`).
    w0: Duration,
    w1: Duration,
    /// End of the queueing-delay series: the end of sending.
    delay_end: Duration,
    /// Median latency (intended send → end) of the successful requests of the iteration.
    median_latency: Duration,
    /// Median generation time (first token → end) of the successful requests: how long a
    /// request occupies the server once it runs, without its wait.
    median_generation: Duration,
    /// Requests whose intended send lies in the window.
    sent: usize,
    /// Requests in flight at evenly spaced instants of the window (empty when too few requests
    /// were sent in it to judge).
    backlog: Vec<(f64, f64)>,
}

impl Window {
    fn of(input: &EvalInput<'_>) -> Window {
        let (w0, w1) = send_window(input.meta);
        let records = input.records;
        let latencies: Vec<f64> = records
            .iter()
            .filter(|r| r.success())
            .map(|r| r.end.saturating_sub(r.intended_send).as_secs_f64())
            .collect();
        let median_latency = Duration::from_secs_f64(percentile(&latencies, 50.0).unwrap_or(0.0));
        let generation: Vec<f64> = records
            .iter()
            .filter(|r| r.success())
            .filter_map(|r| {
                r.first_token
                    .map(|ft| r.end.saturating_sub(ft).as_secs_f64())
            })
            .collect();
        let median_generation =
            Duration::from_secs_f64(percentile(&generation, 50.0).unwrap_or(0.0));
        let sent = records
            .iter()
            .filter(|r| r.intended_send >= w0 && r.intended_send < w1)
            .count();
        let backlog = if sent < MIN_SAMPLES {
            Vec::new()
        } else {
            backlog_samples(records, w0, w1)
        };
        Window {
            w0,
            w1,
            delay_end: input.meta.sending_stopped.max(w1),
            median_latency,
            median_generation,
            sent,
            backlog,
        }
    }
}

/// `throughput`: successful completions against requests sent, over the window. Completions
/// are counted in the send window shifted by the median latency (intended send → end), so both
/// counts cover the same cohort of arrivals: comparing the same window would compare different
/// Poisson slices at its edges and fail healthy short iterations by chance. An overloaded server
/// still cannot complete more than its capacity in any window, so the shift hides nothing.
///
/// A shortfall fails only when it is material (below `min_pct`) **and** significant. By
/// conservation, sent − completed over a window is the change of the backlog between its ends
/// (up to the edges). In a stable server the backlog is about the arrival rate times the time a
/// request runs (median generation time), with a variance of about that level (requests in
/// flight under Poisson arrivals), so the difference of two readings has a variance of about
/// twice it. The shortfall's z-score against that is tested one-sided at `ALPHA_THROUGHPUT`.
/// The level is computed, not measured: the measured backlog of an overloaded server contains
/// its queue, and would make the stronger overload look the noisier.
fn throughput(records: &[RequestRecord], w: &Window, min_pct: f64) -> Criterion {
    // Successful requests only, on both sides: failures are the success-rate criterion's
    // business, and counting them here would fail an iteration twice for one cause.
    let sent = records
        .iter()
        .filter(|r| r.success() && r.intended_send >= w.w0 && r.intended_send < w.w1)
        .count();
    let (c0, c1) = (w.w0 + w.median_latency, w.w1 + w.median_latency);
    let done = records
        .iter()
        .filter(|r| r.success() && r.end >= c0 && r.end < c1)
        .count();
    let pct = if sent == 0 {
        100.0
    } else {
        100.0 * done as f64 / sent as f64
    };
    let window_s = w.w1.saturating_sub(w.w0).as_secs_f64();
    let stable_backlog = if window_s > 0.0 {
        w.sent as f64 / window_s * w.median_generation.as_secs_f64()
    } else {
        0.0
    };
    let shortfall = sent as f64 - done as f64;
    let z = shortfall / (2.0 * stable_backlog).max(1.0).sqrt();
    let p = Normal::new(0.0, 1.0).map_or(1.0, |n| n.sf(z));
    let material = pct < min_pct;
    let significant = p < ALPHA_THROUGHPUT;
    let passed = !(material && significant);
    Criterion {
        name: "throughput".into(),
        passed,
        figures: figures(&[
            ("sent_in_window", sent as f64),
            ("completed_in_window", done as f64),
            ("window_shift_ms", w.median_latency.as_secs_f64() * 1e3),
            ("achieved_pct", pct),
            ("min_pct", min_pct),
            ("stable_backlog", stable_backlog),
            ("z", z),
            ("p_value", p),
        ]),
        detail: format!(
            "completed {done} for {sent} sent in the window ({pct:.1}% {} {min_pct}%, z={z:.2}, p={p:.3}{})",
            if material { "<" } else { ">=" },
            verdict_words(significant, material)
        ),
    }
}

/// How a significance-and-materiality decision reads in a detail.
fn verdict_words(significant: bool, material: bool) -> &'static str {
    match (significant, material) {
        (true, true) => ": significant and material",
        (true, false) => ": significant but small",
        (false, _) => ": not significant",
    }
}

/// Bins for `n` samples over a window of `window_s` seconds: at most one per 5 samples and,
/// when `run_s` is given (the median time a request runs), one per run time; between
/// `MIN_BINS` and `MAX_BINS`.
fn bins_for(n: usize, window_s: f64, run_s: Option<f64>) -> usize {
    let by_run = match run_s {
        // Saturating float-to-int cast: a tiny run time gives a huge count, clamped below.
        Some(run) if run > 0.0 => (window_s / run).floor() as usize,
        _ => MAX_BINS,
    };
    (n / 5).min(by_run).clamp(MIN_BINS, MAX_BINS)
}

struct Trend {
    slope_per_s: f64,
    growth: f64,
    p: f64,
    baseline: f64,
    threshold: f64,
    bins: usize,
}

/// Fit a binned trend and its growth over `[w0, w1)`; None when there are too few samples.
/// Bins are at least `run` wide when given. The baseline is taken from the first tenth.
fn trend(
    samples: &[(f64, f64)],
    (w0, w1): (Duration, Duration),
    run: Option<Duration>,
    baseline_of: impl Fn(&[f64]) -> f64,
    threshold_of: impl Fn(f64) -> f64,
) -> Option<Trend> {
    let (w0, w1) = (w0.as_secs_f64(), w1.as_secs_f64());
    if samples.len() < MIN_SAMPLES || w1 <= w0 {
        return None;
    }
    let bins = bins_for(samples.len(), w1 - w0, run.map(|r| r.as_secs_f64()));
    let (xs, ys) = binned_means(samples, w0, w1, bins);
    let fit = linear_fit(&xs, &ys)?;
    let first_tenth_end = w0 + (w1 - w0) / 10.0;
    let early: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t < first_tenth_end)
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

fn trend_criterion(name: &str, unit: &str, what: &str, alpha: f64, t: Option<Trend>) -> Criterion {
    // Without a fit the same columns stay, empty (NaN), so results.csv keeps its shape.
    let of = |f: fn(&Trend) -> f64| t.as_ref().map_or(f64::NAN, f);
    let figures = figures(&[
        (&format!("slope_{unit}_per_s"), of(|t| t.slope_per_s)),
        (&format!("growth_{unit}"), of(|t| t.growth)),
        (&format!("baseline_{unit}"), of(|t| t.baseline)),
        (&format!("threshold_{unit}"), of(|t| t.threshold)),
        ("p_value", of(|t| t.p)),
        ("alpha", alpha),
        ("bins", of(|t| t.bins as f64)),
    ]);
    let Some(t) = t else {
        return Criterion {
            name: name.into(),
            passed: true,
            figures,
            detail: format!("{what}: too few requests in the window to fit a trend"),
        };
    };
    let significant = t.p < alpha;
    let material = t.growth > t.threshold;
    let passed = !(significant && material);
    Criterion {
        name: name.into(),
        passed,
        figures,
        detail: format!(
            "{what} grew {:.1} {unit} over the window (threshold {:.1}, p={:.3} in {} bins{})",
            t.growth,
            t.threshold,
            t.p,
            t.bins,
            verdict_words(significant, material)
        ),
    }
}

/// Queueing delay per request in the window: (intended send time s, ms until first token).
fn delay_samples(records: &[RequestRecord], w0: Duration, w1: Duration) -> Vec<(f64, f64)> {
    records
        .iter()
        .filter(|r| r.intended_send >= w0 && r.intended_send < w1)
        .filter_map(|r| Some((r.intended_send.as_secs_f64(), queueing_delay_ms(r)?)))
        .collect()
}

fn delay_trend(records: &[RequestRecord], w: &Window, s: &QueueSettings) -> Criterion {
    let samples = delay_samples(records, w.w0, w.delay_end);
    let window_ms = w.delay_end.saturating_sub(w.w0).as_secs_f64() * 1e3;
    let t = trend(
        &samples,
        (w.w0, w.delay_end),
        None,
        |early| percentile(early, 50.0).unwrap_or(0.0),
        |_| s.growth_min_ms.max(s.growth_window_pct / 100.0 * window_ms),
    );
    trend_criterion("queue_delay_trend", "ms", "queueing delay", ALPHA_DELAY, t)
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

/// `backlog_trend`: the number in flight grows. Material growth is the share of the window's
/// requests that `THROUGHPUT_MIN_PCT` lets fall behind (never below `MIN_BACKLOG_GROWTH`): by
/// conservation, backlog growth over the window is exactly the requests sent and not completed.
fn backlog_trend(w: &Window, s: &QueueSettings) -> Criterion {
    let allowed = MIN_BACKLOG_GROWTH.max((100.0 - s.throughput_min_pct) / 100.0 * w.sent as f64);
    let t = trend(
        &w.backlog,
        (w.w0, w.w1),
        Some(w.median_generation),
        |early| mean(early).unwrap_or(0.0),
        |_| allowed,
    );
    trend_criterion("backlog_trend", "requests", "backlog", ALPHA_BACKLOG, t)
}

#[cfg(test)]
mod tests;
