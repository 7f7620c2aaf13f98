//! Early accept, the mirror of early abort: end an iteration as sustainable before `DURATION`
//! when the evidence is already clear, instead of paying the rest of a GPU-hour for an answer
//! that is known. The search decides *where* it is allowed (far below its capacity estimate,
//! never near the bracket); this module decides *when* an iteration that may be accepted is.
//!
//! The decision ([`decide`]) is a pure function of a live [`Snapshot`], so every rule is a unit
//! test on constructed numbers; the watchdog's loop ([`crate::load::watchdog::Watchdog`])
//! takes the snapshots and [`replay`] re-runs the rule on a finished iteration for benchmarks.
//! It is conservative on purpose: a false accept at 1.1 × capacity gives a wrong, too high MST;
//! a missed one only costs time. At elapsed time t it accepts only when **all** of:
//!
//! 1. **late enough**: t ≥ `EARLY_ACCEPT_AFTER_PCT` % of `DURATION`, and t ≥ 3 ×
//!    `FILTER_BUFFER`, so the shortened steady window `[FILTER_BUFFER, t − FILTER_BUFFER)` is at
//!    least one buffer long;
//! 2. **enough evidence**: at least [`MIN_FINISHED`] finished requests in the regression below,
//!    which reaches the end of the shortened steady window (t − `FILTER_BUFFER`): a request
//!    stuck in flight longer than that stops the regression before it, and the accept;
//! 3. **no server failure**: not one request failed (any error kind but the client's own
//!    `cancelled` and `drain-cutoff`);
//! 4. **no hidden backlog**: requests in flight ≤ [`BACKLOG_MARGIN`] × λ × W + [`BACKLOG_SLACK`],
//!    with λ the offered rate and W the median E2E latency (intended send → end) of the last
//!    [`RECENT_E2E`] successful requests — Little's law with room for Poisson bursts. The
//!    regression sees finished requests only, and a queue that grows hides its slowest ones in
//!    flight; this rule catches requests that stay in flight longer than the finished ones say;
//! 5. **no trend, with a tight interval**: the least-squares slope of queueing delay (first
//!    token − intended send, as the `queue` evaluator defines it) against intended send time,
//!    over requests sent from `FILTER_BUFFER` up to the oldest request still in flight (so the
//!    series has no censored tail), averaged into [`BINS`] equal time bins as the `queue`
//!    evaluator does (queueing is autocorrelated; a point per request would make every wobble
//!    count), with the margin `m = t(0.99, bins − 2) · se` of a one-sided [`CONFIDENCE`] bound
//!    (Student's t), satisfies `(max(slope, 0) + m) × DURATION ≤ QUEUE_GROWTH_MIN_MS`: the
//!    growth the iteration could still show by its end stays below what the `queue` evaluator
//!    never calls material. A falling slope does not buy a wide interval: measured, an
//!    overload whose delay fell by chance over a noisy stretch (slope −39 ± 42 ms/s) had an
//!    upper bound `slope + m` below the limit and was falsely accepted.
//!
//! An overloaded server falls behind its arrivals: at 1.1 × capacity the delay grows by about
//! 0.1 s per second, four orders of magnitude above the bound over a 30-minute `DURATION`.

use crate::load::watchdog::queueing_delay_ms;
use crate::record::{ErrorKind, RequestRecord};
use crate::stats::{binned_means, linear_fit, percentile};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// Fewest finished requests in the regression before an accept.
pub const MIN_FINISHED: usize = 50;
/// One-sided confidence level of the upper bound on the delay's slope.
pub const CONFIDENCE: f64 = 0.99;
/// Requests in flight may be this many times what Little's law explains…
pub const BACKLOG_MARGIN: f64 = 2.0;
/// …plus this many.
pub const BACKLOG_SLACK: f64 = 5.0;
/// Time bins of the delay series: the `queue` evaluator's 10 for [`MIN_FINISHED`] samples or
/// more (fewer, of at least 5 samples each, below).
pub const BINS: usize = 10;
/// Successful requests whose median E2E latency is W in the backlog rule.
pub const RECENT_E2E: usize = 100;

/// When early accept may fire (`EARLY_ACCEPT*`, and `QUEUE_GROWTH_MIN_MS` as its bound).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AcceptSettings {
    /// `EARLY_ACCEPT`: on by default; it acts only where the search allows it.
    pub enabled: bool,
    /// `EARLY_ACCEPT_AFTER_PCT`: never before this share of `DURATION`, percent.
    pub after_pct: f64,
    /// `QUEUE_GROWTH_MIN_MS`: the most queueing-delay growth the upper bound may project over
    /// `DURATION`, ms.
    pub growth_max_ms: f64,
}

impl Default for AcceptSettings {
    fn default() -> Self {
        AcceptSettings {
            enabled: true,
            after_pct: 50.0,
            growth_max_ms: 250.0,
        }
    }
}

/// The binned least-squares fit of queueing delay against intended send time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayTrend {
    /// Finished requests in the regression.
    pub samples: usize,
    /// Slope, ms of delay per second of send time.
    pub slope_ms_per_s: f64,
    /// Standard error of the slope, same unit.
    pub slope_se: f64,
    /// Degrees of freedom (bins − 2).
    pub df: f64,
    /// Intended send time of the latest request in the regression, from t0.
    pub covered_until: Duration,
}

/// What is known while an iteration runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Time since t0.
    pub elapsed: Duration,
    /// `DURATION`.
    pub duration: Duration,
    /// `FILTER_BUFFER`.
    pub filter_buffer: Duration,
    /// Offered rate, requests/minute.
    pub req_min: f64,
    /// Requests sent and not finished.
    pub in_flight: u64,
    /// Requests failed with a server-side error kind so far.
    pub failed: u64,
    /// Median E2E latency (intended send → end) of the last [`RECENT_E2E`] successful
    /// requests, ms.
    pub e2e_p50_ms: Option<f64>,
    /// The delay's trend; None while it cannot be fitted.
    pub trend: Option<DelayTrend>,
}

/// Whether to accept now, and why (a sentence with the numbers).
pub fn decide(s: &AcceptSettings, snap: &Snapshot) -> Option<String> {
    let elapsed = snap.elapsed.as_secs_f64();
    let duration = snap.duration.as_secs_f64();
    let too_early = snap.elapsed < earliest(s, snap.duration, snap.filter_buffer);
    if !s.enabled || too_early || elapsed <= 0.0 || snap.failed > 0 {
        return None;
    }
    let steady_end = snap.elapsed.saturating_sub(snap.filter_buffer);
    let trend = snap
        .trend
        .filter(|t| t.samples >= MIN_FINISHED && t.covered_until >= steady_end)?;
    let little = snap.req_min / 60.0 * snap.e2e_p50_ms? / 1e3;
    let allowed = BACKLOG_MARGIN * little + BACKLOG_SLACK;
    if snap.in_flight as f64 > allowed {
        return None;
    }
    let margin = slope_margin(&trend)?;
    let slope_hi = trend.slope_ms_per_s.max(0.0) + margin;
    let projected = slope_hi * duration;
    if projected > s.growth_max_ms {
        return None;
    }
    Some(format!(
        "queueing delay shows no trend: slope {:.3} ± {margin:.3} ms/s ({:.0}% one-sided), \
         bound {slope_hi:.3} ms/s projects {projected:.0} ms over DURATION (at most {:.0} ms) \
         from {} requests; {} in flight (at most {allowed:.0}); no failures; after \
         {elapsed:.1} s",
        trend.slope_ms_per_s,
        CONFIDENCE * 100.0,
        s.growth_max_ms,
        trend.samples,
        snap.in_flight,
    ))
}

/// The earliest elapsed time the rule may accept at: `EARLY_ACCEPT_AFTER_PCT` % of `DURATION`,
/// and 3 × `FILTER_BUFFER` so the shortened steady window keeps one buffer.
pub fn earliest(s: &AcceptSettings, duration: Duration, filter_buffer: Duration) -> Duration {
    duration
        .mul_f64((s.after_pct / 100.0).clamp(0.0, 1.0))
        .max(filter_buffer * 3)
}

/// `t(CONFIDENCE, df) × se`: how far the slope may lie above its estimate; None when it cannot
/// be had. Zero when the bins lie exactly on a line (the slope is known).
fn slope_margin(t: &DelayTrend) -> Option<f64> {
    if !t.slope_ms_per_s.is_finite() {
        return None;
    }
    if t.slope_se <= 0.0 {
        return Some(0.0);
    }
    let q = StudentsT::new(0.0, 1.0, t.df).ok()?.inverse_cdf(CONFIDENCE);
    Some(q * t.slope_se)
}

/// Finished requests as the accept rule needs them, fed by the runner as records come back.
#[derive(Debug, Default)]
pub struct Feed {
    state: Mutex<FeedState>,
}

#[derive(Debug, Default)]
struct FeedState {
    /// (request index, intended send s, queueing delay ms) of every finished request with one.
    delays: Vec<(u64, f64, f64)>,
    /// Finished or not, by request index.
    finished: Vec<bool>,
    /// Every request below this index has finished.
    prefix: u64,
    failed: u64,
    e2e_ms: VecDeque<f64>,
}

impl Feed {
    /// Take note of a finished request.
    pub fn observe(&self, r: &RequestRecord) {
        // A poisoned lock only means another observer panicked; the numbers are still usable.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let idx = r.request_idx as usize;
        if st.finished.len() <= idx {
            st.finished.resize(idx + 1, false);
        }
        st.finished[idx] = true;
        while st.finished.get(st.prefix as usize) == Some(&true) {
            st.prefix += 1;
        }
        if let Some(d) = queueing_delay_ms(r) {
            st.delays
                .push((r.request_idx, r.intended_send.as_secs_f64(), d));
        }
        match r.error {
            None => {
                st.e2e_ms
                    .push_back(r.end.saturating_sub(r.intended_send).as_secs_f64() * 1e3);
                if st.e2e_ms.len() > RECENT_E2E {
                    st.e2e_ms.pop_front();
                }
            }
            Some(ErrorKind::Cancelled | ErrorKind::DrainCutoff) => {}
            Some(_) => st.failed += 1,
        }
    }

    /// The snapshot's figures from finished requests: (failed, E2E median, delay trend over
    /// requests sent from `window_start` and older than the oldest one in flight).
    fn figures(&self, window_start: Duration) -> (u64, Option<f64>, Option<DelayTrend>) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let w0 = window_start.as_secs_f64();
        let samples: Vec<(f64, f64)> = st
            .delays
            .iter()
            .filter(|(idx, t, _)| *idx < st.prefix && *t >= w0)
            .map(|&(_, t, d)| (t, d))
            .collect();
        let e2e: Vec<f64> = st.e2e_ms.iter().copied().collect();
        (st.failed, percentile(&e2e, 50.0), fit(&samples, w0))
    }
}

/// The binned trend of `(send s, delay ms)` samples from `w0` on.
fn fit(samples: &[(f64, f64)], w0: f64) -> Option<DelayTrend> {
    let w1 = samples.iter().map(|(t, _)| *t).fold(f64::MIN, f64::max);
    if samples.len() < 3 || w1 <= w0 {
        return None;
    }
    let bins = (samples.len() / 5).clamp(3, BINS);
    let (xs, ys) = binned_means(samples, w0, w1, bins);
    let f = linear_fit(&xs, &ys)?;
    Some(DelayTrend {
        samples: samples.len(),
        slope_ms_per_s: f.slope,
        slope_se: f.slope_se,
        df: f.df,
        covered_until: Duration::from_secs_f64(w1),
    })
}

/// What the live loop knows besides the feed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub duration: Duration,
    pub filter_buffer: Duration,
    pub req_min: f64,
}

/// The snapshot at `elapsed` from a feed and the number in flight.
pub(crate) fn snapshot(feed: &Feed, plan: Plan, elapsed: Duration, in_flight: u64) -> Snapshot {
    let (failed, e2e_p50_ms, trend) = feed.figures(plan.filter_buffer);
    Snapshot {
        elapsed,
        duration: plan.duration,
        filter_buffer: plan.filter_buffer,
        req_min: plan.req_min,
        in_flight,
        failed,
        e2e_p50_ms,
        trend,
    }
}

/// When (elapsed time) and why the rule would have accepted a finished iteration, replaying its
/// records tick by tick as the live loop would have seen them (requests are known when they
/// end). For benchmarks that run with early accept off and still want its answer. Only the
/// ticks from the earliest allowed point on are looked at.
pub fn replay(
    s: &AcceptSettings,
    meta: &crate::iteration::IterationMeta,
    records: &[RequestRecord],
) -> Option<(Duration, String)> {
    let plan = Plan {
        duration: meta.duration,
        filter_buffer: meta.filter_buffer,
        req_min: meta.req_min,
    };
    let mut by_end: Vec<&RequestRecord> = records.iter().collect();
    by_end.sort_by_key(|r| r.end);
    let mut sends: Vec<Duration> = records.iter().map(|r| r.actual_send).collect();
    sends.sort();
    let feed = Feed::default();
    let step = crate::load::watchdog::tick(meta.duration);
    let earliest = earliest(s, meta.duration, meta.filter_buffer);
    let (mut t, mut done) = (step, 0usize);
    while t <= meta.duration {
        while done < by_end.len() && by_end[done].end <= t {
            feed.observe(by_end[done]);
            done += 1;
        }
        if t >= earliest {
            let sent = sends.partition_point(|&x| x <= t);
            let snap = snapshot(&feed, plan, t, sent.saturating_sub(done) as u64);
            if let Some(why) = decide(s, &snap) {
                return Some((t, why));
            }
        }
        t += step;
    }
    None
}

#[cfg(test)]
mod tests;
