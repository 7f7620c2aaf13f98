//! Early abort: stop an iteration as unsustainable before `DURATION` when the evidence is
//! already overwhelming, instead of running a doomed iteration (often 30 minutes) to its end.
//!
//! The decision ([`decide`]) is a pure function of a live [`Snapshot`], so every rule is a unit
//! test on constructed numbers; [`Watchdog`] is the thin loop that takes snapshots while the
//! runner sends and signals it to stop. It is conservative on purpose — a false abort costs a
//! wrong verdict, a missed one only time — and fires on either of:
//!
//! - **growing queueing delay**: the median queueing delay (first token − intended send) of the
//!   last [`RECENT`] finished requests exceeds `EARLY_ABORT_DELAY_FACTOR` × the baseline (the
//!   median of the first [`RECENT`]) **and** the baseline + `EARLY_ABORT_DELAY_MIN_MS` **and**
//!   [`GROWTH_SHARE`] of the time elapsed. A stable queue's delay has a level; only a queue that
//!   grows without bound keeps a delay proportional to the time elapsed.
//! - **backlog beyond an iteration**: at least [`MIN_BACKLOG`] requests in flight, more than the
//!   server completes in a whole `DURATION` at the rate it has completed so far — once
//!   [`MIN_BACKLOG`] requests have finished, or [`HUNG_SHARE`] of `DURATION` has passed. Before
//!   that the rate so far mostly measures the first requests' latency: with long prompts and a
//!   short `DURATION` the first requests may take a sizeable share of the elapsed time, and the
//!   rule fired at 0.8 × capacity in a 20-s iteration (benchmark `search_cost`, 2048:64).
//!
//! Neither rule is looked at before `EARLY_ABORT_AFTER_PCT` % of `DURATION` has elapsed.
//!
//! The same loop asks the early-accept rule ([`crate::load::accept`]) when the iteration's plan
//! allows it, after the abort rule: an iteration both would stop is aborted.

use crate::load::accept;
use crate::load::runner::{IterationPlan, Progress};
use crate::record::{ErrorKind, RequestRecord};
use crate::stats::percentile;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Finished requests in the baseline and in the recent window of queueing delays.
pub const RECENT: usize = 20;
/// The recent delay must also exceed this share of the time elapsed.
pub const GROWTH_SHARE: f64 = 0.1;
/// The backlog rule never fires with fewer requests in flight, nor before this many have
/// finished (unless [`HUNG_SHARE`] of `DURATION` has passed).
pub const MIN_BACKLOG: u64 = 20;
/// Share of `DURATION` after which the backlog rule fires with fewer than [`MIN_BACKLOG`]
/// requests finished: a server that finished almost nothing in half an iteration is hung.
pub const HUNG_SHARE: f64 = 0.5;

/// When the watchdog may fire (`EARLY_ABORT*`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AbortSettings {
    /// `EARLY_ABORT`: on by default; off reproduces the old tool (every iteration runs out).
    pub enabled: bool,
    /// `EARLY_ABORT_AFTER_PCT`: never before this share of `DURATION`, percent.
    pub after_pct: f64,
    /// `EARLY_ABORT_DELAY_FACTOR`: recent delay vs the baseline.
    pub delay_factor: f64,
    /// `EARLY_ABORT_DELAY_MIN_MS`: recent delay must exceed the baseline by at least this.
    pub delay_min_ms: f64,
}

impl Default for AbortSettings {
    fn default() -> Self {
        AbortSettings {
            enabled: true,
            after_pct: 25.0,
            delay_factor: 4.0,
            delay_min_ms: 1000.0,
        }
    }
}

/// What is known while an iteration runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Time since t0.
    pub elapsed: Duration,
    /// `DURATION`.
    pub duration: Duration,
    /// Requests finished (succeeded or failed).
    pub completed: u64,
    /// Requests sent and not finished.
    pub in_flight: u64,
    /// Median queueing delay of the first [`RECENT`] finished requests, ms.
    pub baseline_delay_ms: Option<f64>,
    /// Median queueing delay of the last [`RECENT`] finished requests, ms.
    pub recent_delay_ms: Option<f64>,
}

/// Whether to abort now, and why (a sentence with the numbers).
pub fn decide(s: &AbortSettings, snap: &Snapshot) -> Option<String> {
    let elapsed = snap.elapsed.as_secs_f64();
    let duration = snap.duration.as_secs_f64();
    if !s.enabled || elapsed < s.after_pct / 100.0 * duration || elapsed <= 0.0 {
        return None;
    }
    if let (Some(base), Some(recent)) = (snap.baseline_delay_ms, snap.recent_delay_ms) {
        let bound = (s.delay_factor * base)
            .max(base + s.delay_min_ms)
            .max(GROWTH_SHARE * elapsed * 1e3);
        if recent > bound {
            return Some(format!(
                "queueing delay grew to {recent:.0} ms (last {RECENT} requests) from {base:.0} ms \
                 at the start, above the bound {bound:.0} ms, after {elapsed:.1} s"
            ));
        }
    }
    let per_duration = snap.completed as f64 / elapsed * duration;
    // Until MIN_BACKLOG requests have finished, the rate so far is mostly the first requests'
    // latency, not the server's pace: wait for them, or (a hung server) for half of DURATION.
    let rate_known = snap.completed >= MIN_BACKLOG || elapsed >= HUNG_SHARE * duration;
    if rate_known && snap.in_flight >= MIN_BACKLOG && snap.in_flight as f64 > per_duration {
        return Some(format!(
            "{} requests in flight after {elapsed:.1} s: more than the {per_duration:.0} the \
             server completes in a whole DURATION at its rate so far",
            snap.in_flight
        ));
    }
    None
}

/// Queueing delays of finished requests, fed by the runner as records come back.
#[derive(Debug, Default)]
pub struct Feed {
    state: Mutex<FeedState>,
}

#[derive(Debug, Default)]
struct FeedState {
    first: Vec<f64>,
    recent: VecDeque<f64>,
}

/// Queueing delay of one request, ms: first token − intended send; for a request that waited
/// and never got a token (timed out, cut off, cancelled), its end — a lower bound. None for a
/// request that failed fast, which says nothing about the queue.
pub fn queueing_delay_ms(r: &RequestRecord) -> Option<f64> {
    let until = match (r.first_token, r.error) {
        (Some(ft), _) => ft,
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
    Some(until.saturating_sub(r.intended_send).as_secs_f64() * 1e3)
}

impl Feed {
    /// Take note of a finished request.
    pub fn observe(&self, r: &RequestRecord) {
        let Some(d) = queueing_delay_ms(r) else {
            return;
        };
        // A poisoned lock only means another observer panicked; the numbers are still usable.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.first.len() < RECENT {
            st.first.push(d);
        }
        st.recent.push_back(d);
        if st.recent.len() > RECENT {
            st.recent.pop_front();
        }
    }

    /// (baseline, recent) medians, each once [`RECENT`] delays are known.
    fn medians(&self) -> (Option<f64>, Option<f64>) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.first.len() < RECENT {
            return (None, None);
        }
        let recent: Vec<f64> = st.recent.iter().copied().collect();
        (percentile(&st.first, 50.0), percentile(&recent, 50.0))
    }
}

/// How often the watchdog looks, for an iteration of `duration`.
pub(crate) fn tick(duration: Duration) -> Duration {
    (duration / 200).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// When (elapsed time) and why the watchdog would have fired on a finished iteration, replaying
/// its records tick by tick as the live loop would have seen them (requests are known when they
/// end). For benchmarks that run with `EARLY_ABORT=false` and still want the watchdog's answer.
pub fn replay(
    s: &AbortSettings,
    duration: Duration,
    records: &[RequestRecord],
) -> Option<(Duration, String)> {
    let mut by_end: Vec<&RequestRecord> = records.iter().collect();
    by_end.sort_by_key(|r| r.end);
    let mut sends: Vec<Duration> = records.iter().map(|r| r.actual_send).collect();
    sends.sort();
    let feed = Feed::default();
    let step = tick(duration);
    let (mut t, mut done) = (step, 0usize);
    while t <= duration {
        while done < by_end.len() && by_end[done].end <= t {
            feed.observe(by_end[done]);
            done += 1;
        }
        let sent = sends.partition_point(|&x| x <= t);
        let (baseline_delay_ms, recent_delay_ms) = feed.medians();
        let snap = Snapshot {
            elapsed: t,
            duration,
            completed: done as u64,
            in_flight: sent.saturating_sub(done) as u64,
            baseline_delay_ms,
            recent_delay_ms,
        };
        if let Some(why) = decide(s, &snap) {
            return Some((t, why));
        }
        t += step;
    }
    None
}

/// What stopped an iteration before `DURATION`, with the rule's sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// Early abort: unsustainable.
    Abort(String),
    /// Early accept ([`crate::load::accept`]): sustainable.
    Accept(String),
}

/// The loop that watches one iteration for early abort and, when the plan allows it, early
/// accept; dropping it stops the loop.
pub struct Watchdog {
    fired: CancellationToken,
    outcome: Arc<Mutex<Option<Fired>>>,
    task: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Start watching `progress` of the iteration `plan` that began at `t0`. With early abort
    /// disabled and no early accept the watchdog never fires. Each tick looks at the abort rule
    /// first: an iteration both rules would stop is aborted.
    pub fn spawn(plan: &IterationPlan, t0: Instant, progress: Arc<Progress>) -> Watchdog {
        let fired = CancellationToken::new();
        let outcome = Arc::new(Mutex::new(None));
        let abort = plan.early_abort;
        let accept = plan.early_accept.filter(|a| a.enabled);
        let duration = plan.duration;
        let accept_plan = accept::Plan {
            duration,
            filter_buffer: plan.filter_buffer,
            req_min: plan.req_min,
        };
        let accept_from = accept.map_or(Duration::MAX, |a| {
            accept::earliest(&a, duration, plan.filter_buffer)
        });
        let task = (abort.enabled || accept.is_some()).then(|| {
            let (fired, outcome) = (fired.clone(), outcome.clone());
            let tick = tick(duration);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(tick).await;
                    let elapsed = t0.elapsed();
                    let found = abort_now(&abort, duration, elapsed, &progress)
                        .map(Fired::Abort)
                        .or_else(|| {
                            let a = accept.as_ref().filter(|_| elapsed >= accept_from)?;
                            let snap = accept::snapshot(
                                &progress.accept,
                                accept_plan,
                                elapsed,
                                progress.in_flight(),
                            );
                            accept::decide(a, &snap).map(Fired::Accept)
                        });
                    if let Some(f) = found {
                        *outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
                        fired.cancel();
                        return;
                    }
                }
            })
        });
        Watchdog {
            fired,
            outcome,
            task,
        }
    }

    /// Cancelled when the watchdog fires.
    pub fn fired(&self) -> &CancellationToken {
        &self.fired
    }

    /// What fired (None when nothing did).
    pub fn outcome(&self) -> Option<Fired> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The early-abort rule on the live counters.
fn abort_now(
    settings: &AbortSettings,
    duration: Duration,
    elapsed: Duration,
    progress: &Progress,
) -> Option<String> {
    if !settings.enabled {
        return None;
    }
    let (baseline_delay_ms, recent_delay_ms) = progress.watch.medians();
    let snap = Snapshot {
        elapsed,
        duration,
        completed: progress.succeeded.load(Ordering::Relaxed)
            + progress.failed.load(Ordering::Relaxed),
        in_flight: progress.in_flight(),
        baseline_delay_ms,
        recent_delay_ms,
    };
    decide(settings, &snap)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(elapsed_s: f64, completed: u64, in_flight: u64, base: f64, recent: f64) -> Snapshot {
        Snapshot {
            elapsed: Duration::from_secs_f64(elapsed_s),
            duration: Duration::from_secs(1800),
            completed,
            in_flight,
            baseline_delay_ms: Some(base),
            recent_delay_ms: Some(recent),
        }
    }

    #[test]
    fn an_unbounded_queue_fires_with_the_numbers() {
        // 1.5x capacity: delay grows ~0.5 s per second; at 600 s it is ~300 s.
        let why = decide(
            &AbortSettings::default(),
            &snap(600.0, 5000, 300, 80.0, 300_000.0),
        )
        .expect("fires");
        assert!(why.contains("300000 ms") && why.contains("80 ms"), "{why}");
    }

    #[test]
    fn a_stable_queue_never_fires_even_well_above_its_start() {
        // Batch fills up: 10x the empty-server delay, but a level, not a trend.
        let s = AbortSettings::default();
        assert_eq!(decide(&s, &snap(900.0, 20_000, 200, 50.0, 500.0)), None);
        // 3 s late after 900 s is still below 10% of the elapsed time.
        assert_eq!(decide(&s, &snap(900.0, 20_000, 200, 50.0, 3_000.0)), None);
    }

    #[test]
    fn nothing_fires_before_the_earliest_point_or_when_disabled() {
        let s = AbortSettings::default();
        let doomed = snap(449.0, 10, 5000, 80.0, 300_000.0);
        assert_eq!(decide(&s, &doomed), None);
        let at = Snapshot {
            elapsed: Duration::from_secs(450),
            ..doomed
        };
        assert!(decide(&s, &at).is_some());
        let off = AbortSettings {
            enabled: false,
            ..s
        };
        assert_eq!(decide(&off, &at), None);
    }

    #[test]
    fn a_backlog_the_server_cannot_drain_in_an_iteration_fires() {
        let s = AbortSettings::default();
        let no_delays = |completed, in_flight| Snapshot {
            baseline_delay_ms: None,
            recent_delay_ms: None,
            ..snap(600.0, completed, in_flight, 0.0, 0.0)
        };
        // 30 completed in 600 s = 90 per 1800 s; 100 in flight cannot drain.
        assert!(decide(&s, &no_delays(30, 100)).is_some());
        assert_eq!(decide(&s, &no_delays(30, 90)), None);
        // Nothing completed yet at a third of DURATION: the first requests may simply be
        // slow (long prompts), so the rule waits.
        assert_eq!(decide(&s, &no_delays(0, MIN_BACKLOG)), None);
        assert_eq!(decide(&s, &no_delays(MIN_BACKLOG - 1, 100)), None);
        assert!(decide(&s, &no_delays(MIN_BACKLOG, 400)).is_some());
        // A hung server: nothing completed by half of DURATION, a backlog of MIN_BACKLOG.
        let hung = |in_flight| Snapshot {
            baseline_delay_ms: None,
            recent_delay_ms: None,
            ..snap(900.0, 0, in_flight, 0.0, 0.0)
        };
        assert!(decide(&s, &hung(MIN_BACKLOG)).is_some());
        assert_eq!(decide(&s, &hung(MIN_BACKLOG - 1)), None);
    }

    #[test]
    fn replay_fires_on_a_growing_queue_and_not_on_a_flat_one() {
        use crate::evaluate::testdata::{synth, wobble};
        let s = AbortSettings::default();
        // Queueing delay grows by half a second per second (about 1.5x capacity).
        let grow = synth(
            600.0,
            30.0,
            6000,
            |_, t| 50.0 + 500.0 * t,
            |_, _| 20.0,
            None,
        );
        let (at, why) = replay(&s, grow.meta.duration, &grow.records).expect("fires");
        assert_eq!(at, Duration::from_secs(150), "{why}");
        let flat = synth(
            600.0,
            30.0,
            6000,
            |i, _| 50.0 + 10.0 * wobble(i),
            |_, _| 20.0,
            None,
        );
        assert_eq!(replay(&s, flat.meta.duration, &flat.records), None);
    }

    #[test]
    fn the_feed_keeps_the_first_and_the_last_delays() {
        let feed = Feed::default();
        let mut r = crate::metrics::tests::record(0, 0, 0, &[10], 20, 1, None);
        for i in 0..(RECENT as u64 * 3) {
            r.intended_send = Duration::from_millis(i * 100);
            r.actual_send = r.intended_send;
            r.first_token = Some(r.intended_send + Duration::from_millis(10 + i));
            feed.observe(&r);
            if i + 1 < RECENT as u64 {
                assert_eq!(feed.medians(), (None, None));
            }
        }
        let (base, recent) = feed.medians();
        assert_eq!(base, Some(19.5));
        assert_eq!(recent, Some(59.5));
        // Fast failures carry no delay.
        let mut fast = r.clone();
        fast.first_token = None;
        fast.error = Some(ErrorKind::HttpStatus);
        assert_eq!(queueing_delay_ms(&fast), None);
    }
}
