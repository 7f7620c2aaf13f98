//! The classic search's steps, the old tool's rules made exact (see [`super`]'s "Rules"):
//! ×multiplier up after a pass, ÷multiplier down while the start fails, then midpoints between
//! the bounds until the stop threshold holds. The adaptive search falls back on these too.

use super::{Search, Stage, StopKind, Strategy, Threshold};

impl Search {
    /// Applies a counted verdict at the current rate.
    pub(super) fn count(&mut self, passed: bool) {
        if self.cfg.strategy == Strategy::Adaptive {
            self.count_adaptive(passed);
            return;
        }
        let rate = self.rate;
        match self.stage {
            Stage::Ramp if passed => {
                self.lower = Some(rate);
                if self.upper.is_some() {
                    // A pass after walking down: both bounds are known.
                    self.enter_bisect();
                } else {
                    self.rate = self
                        .round(rate * self.cfg.multiplier)
                        .max(self.round(rate + self.min_step()));
                }
            }
            Stage::Ramp => {
                self.upper = Some(rate);
                if self.lower.is_some() {
                    self.enter_bisect();
                } else {
                    self.walk_down(rate);
                }
            }
            Stage::Bisect => {
                if passed {
                    self.lower = Some(rate);
                } else {
                    self.upper = Some(rate);
                }
                self.next_bisection();
            }
        }
    }

    pub(super) fn walk_down(&mut self, rate: f64) {
        let next = self
            .round(rate / self.cfg.multiplier)
            .min(self.round(rate - self.min_step()));
        let floor = self.cfg.min_req_min;
        let u = self.cfg.unit.label();
        if next < floor || next <= 0.0 {
            self.finish(
                StopKind::FloorReached,
                format!(
                    "Every level down to {rate} {u} was unsustainable; the next, {next} {u}, \
                     is below the floor of {floor} {u}, so no sustainable level was found."
                ),
            );
        } else {
            self.rate = next;
        }
    }

    fn enter_bisect(&mut self) {
        self.stage = Stage::Bisect;
        self.next_bisection();
    }

    /// Stops if the bounds meet the threshold, else moves to the midpoint.
    pub(super) fn next_bisection(&mut self) {
        let (Some(lower), Some(upper)) = (self.lower, self.upper) else {
            // Unreachable by construction: stage 2 is entered only with both bounds.
            self.finish(
                StopKind::Unusable,
                "The search entered bisection without both bounds.".to_string(),
            );
            return;
        };
        let gap = upper - lower;
        let u = self.cfg.unit.label();
        let (met, rule) = match self.cfg.threshold {
            Threshold::Absolute(t) => (gap <= t, format!("the absolute threshold of {t} {u}")),
            Threshold::Relative(t) => (
                gap <= upper * t,
                format!("the relative threshold of {t} × {upper} {u}"),
            ),
        };
        if met {
            self.finish(
                StopKind::Converged,
                format!(
                    "Converged: sustainable at {lower}, unsustainable at {upper} {u}; \
                     the gap of {} {u} is within {rule}.",
                    super::round2(gap)
                ),
            );
            return;
        }
        let mid = self.round((lower + upper) / 2.0);
        if mid <= lower || mid >= upper {
            self.finish(
                StopKind::Converged,
                format!(
                    "Converged: sustainable at {lower}, unsustainable at {upper} {u}, \
                     as close as {} allow.",
                    if self.cfg.unit.is_whole() {
                        "whole numbers"
                    } else {
                        "levels of 2 decimals"
                    }
                ),
            );
            return;
        }
        self.rate = mid;
    }
}
