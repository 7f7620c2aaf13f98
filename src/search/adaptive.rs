//! The adaptive search (`SEARCH=adaptive`): the classic search's bounds, confirmations, caps
//! and stops, with the next rate aimed from a measured capacity instead of a blind ×2 or
//! midpoint. An overloaded iteration already measured what the search is looking for — the
//! rate at which the server completes requests when it cannot keep up — and the classic search
//! throws that away.
//!
//! # Rules
//!
//! `t` is the stop threshold (`STOP_THRESHOLD`), read as a share for `relative` and in
//! requests/minute for `absolute`.
//!
//! * **Measurement.** The driver reports each iteration's successful completions
//!   ([`Throughput`]) and whether the server was *saturated* — it fell behind throughout, so
//!   their rate measures the capacity (`load::saturation` decides: the iteration was aborted
//!   early as overloaded and completed less than the offered rate, or its completions fell
//!   short of the offered count by more than 3 Poisson σ). The **estimate** is the median of the saturated rates of unsustainable
//!   iterations over at least [`MIN_COMPLETIONS`] completions (*verified*); without any, the
//!   saturation probe's rate (*unverified*); else none.
//! * **Saturated fails count at once.** `CONFIRM` re-runs a fail to catch a noisy verdict; a
//!   fail whose completions fell measurably short is not noise, so it counts without a re-run.
//! * **Aim.** When the estimate `E` lies strictly between the bounds, the next rate is
//!   `aim(E)` = `E·(1 − ¾t)` (relative) or `E − ¾t` (absolute), clamped into the bounds: under
//!   the capacity by [`AIM_SHARE`] of the threshold, because near capacity a short iteration's
//!   verdict fails a stable but long queue about half the time, and the estimate itself is off
//!   by a few percent. A pass there meets the stop rule below against a verified estimate.
//!   When `E` is at or above the lowest counted fail `U` and at most one unsaturated fail lies
//!   at or below `E`, the aim is `aim(U)` instead: the server failed just under its measured
//!   capacity, so its capacity is just under that fail.
//! * **Check above.** With only an unverified estimate (the probe's) and the aim already
//!   passed, nothing above has failed yet: the next rate is `E ×` [`CHECK_ABOVE`], where a short
//!   iteration's verdict reliably fails a real overload. Its failure verifies the estimate;
//!   its pass means the probe under-measured, and the ramp goes on from there.
//! * **Otherwise** the classic rules run: ×multiplier up without an upper bound, ÷multiplier
//!   down without a lower one (down to the floor), the midpoint between both.
//! * **Stop.** After every counted verdict, with `L` the highest counted pass and `H` the
//!   lower of the lowest counted fail and a verified estimate above `L`: the search converges
//!   when `H − L ≤ t·H` (relative) or `≤ t` (absolute). The MST is always `L`, a rate a
//!   verdict passed — the estimate only decides where to look and when the bracket is tight.
//! * **Early accept.** A run at or below [`EARLY_ACCEPT_BELOW`] × the estimate is marked
//!   [`RunRequest::accept_early`](super::RunRequest): the driver may end it once it is clearly
//!   sustainable. Runs nearer the estimate always run their full `DURATION`.
//! * **Probe.** With `probe` set, the first step is [`Step::Probe`](super::Step); its rate
//!   (when it measured one) aims the first iteration instead of `start_req_min`.

use super::estimate::{Estimate, Throughput};
use super::{MIN_STEP, Search, Stage, Step, StopKind, Strategy, Threshold, round2};

/// Where the check above an unverified estimate runs, as a multiple of it: 20% above, where
/// the `queue` verdict fails an overload in nearly every short iteration
/// (docs/design/benchmarks.md), so a pass there is real evidence the probe under-measured.
pub const CHECK_ABOVE: f64 = 1.2;

/// The share of the stop threshold the aim keeps under the estimate.
pub const AIM_SHARE: f64 = 0.75;

/// Runs at or below this share of the estimate may be accepted early (`EARLY_ACCEPT`).
pub const EARLY_ACCEPT_BELOW: f64 = 0.75;

/// Fewer completions than this in a window and its rate is too coarse to aim from (one more
/// or less moves it by 5%): it neither enters the estimate nor counts as the probe's result.
pub const MIN_COMPLETIONS: u64 = 20;

impl Search {
    /// Whether the next step is the saturation probe: asked once, before anything ran.
    pub(super) fn wants_probe(&self) -> bool {
        self.cfg.probe
            && self.cfg.strategy == Strategy::Adaptive
            && self.probed.is_none()
            && self.history.is_empty()
            && self.outcome.is_none()
    }

    /// Records the saturation probe's completions (None: it measured nothing, e.g. every
    /// request failed) and returns the next step. Outside [`Step::Probe`] it changes nothing.
    pub fn observe_probe(&mut self, throughput: Option<Throughput>) -> Step {
        if !self.wants_probe() {
            return self.current();
        }
        let usable = throughput.filter(|t| t.completions >= MIN_COMPLETIONS);
        self.probed = Some(usable);
        if let Some(e) = self.estimate() {
            let aim = self.aim(e.req_min);
            if aim >= self.cfg.min_req_min && aim > 0.0 {
                self.rate = aim;
                self.stage = Stage::Bisect;
            }
        }
        self.current()
    }

    /// The saturation probe's result once it ran: `Some(None)` when it measured nothing.
    pub fn probe_result(&self) -> Option<Option<Throughput>> {
        self.probed
    }

    /// The current capacity estimate (see the module's rules), or None.
    pub fn estimate(&self) -> Option<Estimate> {
        let saturated: Vec<f64> = self
            .history
            .iter()
            .filter(|h| h.observation.verdict() == Some(false))
            .filter_map(|h| {
                let t = h.throughput?;
                (t.saturated && t.completions >= MIN_COMPLETIONS)
                    .then(|| t.req_min())
                    .flatten()
            })
            .collect();
        let from = saturated.len();
        if let Some(req_min) = crate::stats::percentile(&saturated, 50.0) {
            return Some(Estimate {
                req_min,
                from,
                verified: true,
            });
        }
        let probe = self.probed.flatten()?.req_min()?;
        Some(Estimate {
            req_min: probe,
            from: 1,
            verified: false,
        })
    }

    /// Counted-or-not unsustainable iterations at or below `rate` that were not saturated.
    fn unsaturated_fails_up_to(&self, rate: f64) -> usize {
        let mut rates: Vec<f64> = self
            .history
            .iter()
            .filter(|h| h.req_min <= rate && h.observation.verdict() == Some(false))
            .filter(|h| !h.throughput.is_some_and(|t| t.saturated))
            .map(|h| h.req_min)
            .collect();
        // A fail and its confirmation are one fail of that rate.
        rates.dedup();
        rates.len()
    }

    /// Whether the latest observation measured saturation.
    pub(super) fn last_saturated(&self) -> bool {
        self.history.last().is_some_and(|h| {
            h.observation.verdict() == Some(false) && h.throughput.is_some_and(|t| t.saturated)
        })
    }

    /// Whether a run at `rate` is far enough below the estimate to be accepted early.
    pub(super) fn may_accept_early(&self, rate: f64) -> bool {
        self.cfg.strategy == Strategy::Adaptive
            && self
                .estimate()
                .is_some_and(|e| rate <= EARLY_ACCEPT_BELOW * e.req_min)
    }

    /// Just under an estimate: half the stop threshold below it.
    fn aim(&self, estimate: f64) -> f64 {
        round2(match self.cfg.threshold {
            Threshold::Relative(t) => estimate * (1.0 - AIM_SHARE * t),
            Threshold::Absolute(t) => estimate - AIM_SHARE * t,
        })
    }

    /// Applies a counted verdict at the current rate and chooses the next step.
    pub(super) fn count_adaptive(&mut self, passed: bool) {
        let rate = self.rate;
        if passed {
            self.lower = Some(self.lower.map_or(rate, |l| l.max(rate)));
        } else {
            self.upper = Some(self.upper.map_or(rate, |u| u.min(rate)));
        }
        // Adaptive rates are always chosen strictly between the bounds, so this only tightens.
        self.next_adaptive();
    }

    fn next_adaptive(&mut self) {
        let (lower, upper) = (self.lower, self.upper);
        let estimate = self.estimate();
        // The stop rule against the tightest upper bound known.
        if let Some(l) = lower {
            let verified = estimate.filter(|e| e.verified && e.req_min > l);
            let hi = match (upper, verified) {
                (Some(u), Some(e)) => Some(u.min(e.req_min)),
                (u, e) => u.or(e.map(|e| e.req_min)),
            };
            if let Some(h) = hi
                && self.within_threshold(l, h)
            {
                let by = match verified {
                    Some(e) if e.req_min <= upper.unwrap_or(f64::INFINITY) => format!(
                        "the server's saturated completion rate of {} req/min (median of {} \
                         overloaded iteration(s))",
                        round2(e.req_min),
                        e.from
                    ),
                    _ => format!("unsustainable at {h} req/min"),
                };
                self.finish(
                    StopKind::Converged,
                    format!(
                        "Converged: sustainable at {l} req/min, within the stop threshold of {by}."
                    ),
                );
                return;
            }
        }
        let inside = |x: f64| lower.is_none_or(|l| x > l) && upper.is_none_or(|u| x < u);
        if let Some(e) = estimate.filter(|e| inside(e.req_min)) {
            let aim = self.aim(e.req_min);
            if lower.is_none_or(|l| aim >= l + MIN_STEP) {
                let aim = match upper {
                    Some(u) => aim.min(round2(u - MIN_STEP)),
                    None => aim,
                };
                return self.go(aim, Stage::Bisect);
            }
            if upper.is_none() && !e.verified {
                return self.go(round2(e.req_min * CHECK_ABOVE), Stage::Ramp);
            }
        }
        if let (Some(e), Some(u)) = (estimate, upper)
            && e.req_min >= u
            && self.unsaturated_fails_up_to(e.req_min) <= 1
        {
            let aim = self.aim(u);
            if lower.is_none_or(|l| aim >= l + MIN_STEP) {
                return self.go(aim, Stage::Bisect);
            }
        }
        match (lower, upper) {
            (Some(l), None) => {
                let next = round2(l * self.cfg.multiplier).max(round2(l + MIN_STEP));
                self.go(next, Stage::Ramp);
            }
            (None, Some(u)) => {
                self.stage = Stage::Ramp;
                self.walk_down(u);
            }
            _ => {
                self.stage = Stage::Bisect;
                self.next_bisection();
            }
        }
    }

    /// The classic stop rule on a gap: `hi − lo ≤ t·hi` or `≤ t`.
    fn within_threshold(&self, lo: f64, hi: f64) -> bool {
        match self.cfg.threshold {
            Threshold::Absolute(t) => hi - lo <= t,
            Threshold::Relative(t) => hi - lo <= hi * t,
        }
    }

    /// Runs `rate` next, unless it is below the floor.
    fn go(&mut self, rate: f64, stage: Stage) {
        let floor = self.cfg.min_req_min;
        if rate < floor || rate <= 0.0 {
            self.finish(
                StopKind::FloorReached,
                format!(
                    "The next rate, {rate} req/min, is below the floor of {floor} req/min, so \
                     no sustainable rate was found."
                ),
            );
            return;
        }
        self.rate = rate;
        self.stage = stage;
    }
}

#[cfg(test)]
mod tests;
