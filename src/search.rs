//! The MST search as a pure state machine: stage 1 ramps the rate (up on a pass, down while the
//! start fails), stage 2 bisects between the highest sustainable and the lowest unsustainable
//! rate. No I/O: the driver feeds it observations and runs what it asks for, so every path is a
//! unit test and the whole state serialises to `state.json` for resume.
//!
//! # Rules (the old Python tool's, made exact)
//!
//! Rates are requests/minute. Every computed rate is rounded to 2 decimals (kept as `f64`).
//!
//! * **Stage 1 (ramp)** starts at `start_req_min`. A counted pass sets `lower` to the rate and
//!   the next rate is `rate × multiplier`. A counted fail after a pass sets `upper` and starts
//!   stage 2. If the very first rate fails, the search walks down instead: each counted fail sets
//!   `upper` and the next rate is `rate / multiplier`; the first counted pass sets `lower` and
//!   starts stage 2. A walk-down rate below `min_req_min` (or not above zero) is not run: the
//!   search ends with [`StopKind::FloorReached`] and no MST. Rounding never stalls the ramp: a
//!   step moves by at least 0.01.
//! * **Stage 2 (bisect)** runs `(lower + upper) / 2`; a counted pass sets `lower`, a counted fail
//!   sets `upper`. On entering stage 2 and before every bisection point the stop rule is checked
//!   — `Absolute(t)`: `upper - lower <= t`; `Relative(t)`: `upper - lower <= upper × t` — and when
//!   it holds the search ends with [`StopKind::Converged`] and the MST is `lower`. It also
//!   converges when the rounded midpoint would equal a bound (the bounds are 0.01 apart).
//! * **Confirmation** decides when a verdict *counts*:
//!   - [`ConfirmPolicy::None`]: every verdict counts at once.
//!   - [`ConfirmPolicy::Fail`]: a pass counts at once; a fail is re-run once at the same rate
//!     (attempt 2) and the re-run's verdict is the one that counts (fail then fail is a fail,
//!     fail then pass is a pass).
//!   - [`ConfirmPolicy::Both`]: in stage 1 exactly as `Fail`. In stage 2 every rate is run twice;
//!     two agreeing verdicts decide; if they disagree a third run (attempt 3) is the tie-break
//!     and the majority of the three decides.
//! * **Iteration cap**: every observation is an iteration, re-runs included. When
//!   `max_iterations` have been observed and the last one did not end the search, it ends with
//!   [`StopKind::IterationCap`] and the MST is `lower` (possibly none).
//! * **Outage** observations (the server was unreachable for part of the iteration, or every
//!   request failed) are no verdict on capacity: the same rate and attempt is run again, up to
//!   `outage_retries` times in a row; one more outage ends the search with
//!   [`StopKind::Unusable`]. Any judged iteration resets the count. Outages count towards the
//!   iteration cap.
//! * **Unusable** observations end the search at once with [`StopKind::Unusable`], the MST
//!   `lower`, and the given reason.
//! * **Client-limited** observations (the load generator fell behind its schedule) count neither
//!   way. The first is re-run once at the same rate and attempt (a busy machine can stall the
//!   client for a moment); [`CLIENT_LIMITED_RETRIES`] + 1 in a row end the search with
//!   [`StopKind::ClientLimited`], the MST `lower` (the highest rate the server was seen to
//!   sustain), `upper` unchanged, and a reason that says what to do. Any other observation
//!   resets the count; re-runs count towards the iteration cap.
//!
//! * **Interval stop** (`ci_stop_width`, `CI_STOP_WIDTH`; off unless set): after a counted
//!   verdict, once neither rule above nor the cap ended the search and there are a counted
//!   pass and a counted fail, the [`confidence::interval`] over every judged iteration so far
//!   is computed; when `(high − low) / estimate` is at most the width the search ends with
//!   [`StopKind::Converged`] (the reason names the interval) and the MST is `lower`. The
//!   interval is a pure function of the history, so a resumed search takes the same steps.
//!
//! * **Adaptive** (`SEARCH=adaptive`): the same bounds, confirmation, caps and stops, but the
//!   next rate is aimed from a capacity estimate — the saturated completion rate of overloaded
//!   iterations, or of the saturation probe — instead of a blind ×2 or midpoint, and an
//!   overloaded fail counts without its re-run. The rules are in [`adaptive`].
//!
//! A configuration that cannot be searched (start rate not a positive finite number, multiplier
//! not above 1, negative or non-finite threshold or floor) ends the search before the first run
//! with [`StopKind::Unusable`] naming the value; [`crate::config`] should have refused it first.

use serde::{Deserialize, Serialize};

pub mod adaptive;
mod classic;
pub mod estimate;

pub use estimate::{Estimate, Throughput};
/// The unit of the searched level: defined with the results schema, since `mst.json`,
/// `results.csv` and `summary.csv` write it.
pub use mst_results::LoadUnit;
pub mod confidence;

/// When the bisection stops (`THRESHOLD_TYPE` + `STOP_THRESHOLD`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Threshold {
    /// Stop when `upper - lower <= value` (requests/minute).
    Absolute(f64),
    /// Stop when `upper - lower <= upper * value`.
    Relative(f64),
}

/// Which verdicts are re-run before they count (`CONFIRM`, `CONFIRM_FAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfirmPolicy {
    /// Every verdict counts at once.
    None,
    /// A fail is re-run once at the same rate and counts only when it repeats (old behaviour).
    Fail,
    /// As `Fail`, and in stage 2 a pass is confirmed too: two agreeing verdicts decide.
    Both,
}

/// How the next rate is chosen (`SEARCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The old tool's sequence exactly: ×multiplier until the verdict flips, then midpoints.
    #[default]
    Classic,
    /// Aimed from the measured capacity (see [`adaptive`]).
    Adaptive,
}

/// The search stage an iteration belongs to (`STAGE` column: 1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Multiply (or divide) the rate until the verdict flips.
    Ramp,
    /// Bisect between the bounds.
    Bisect,
}

impl Stage {
    /// 1 for ramp, 2 for bisection (the old tool's `STAGE` values).
    pub fn number(self) -> u8 {
        match self {
            Stage::Ramp => 1,
            Stage::Bisect => 2,
        }
    }
}

/// Parameters of one size's search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// First rate to try, requests/minute (`REQ_MIN_START`).
    pub start_req_min: f64,
    /// Stage-1 factor (`REQ_MIN_INCREASE_MULTIPLIER`), > 1.
    pub multiplier: f64,
    /// Stage-2 stop rule.
    pub threshold: Threshold,
    /// Which verdicts are confirmed by a re-run.
    pub confirm: ConfirmPolicy,
    /// Hard cap on iterations for this size (`MAX_ITERATIONS`).
    pub max_iterations: u32,
    /// Walking down stops below this rate: no sustainable rate found (`REQ_MIN_FLOOR`).
    pub min_req_min: f64,
    /// Outages in a row that are run again before the search gives up (`RETRY_ON_OUTAGE`).
    #[serde(default)]
    pub outage_retries: u32,
    /// How the next rate is chosen (`SEARCH`; a state saved before it existed is classic).
    #[serde(default)]
    pub strategy: Strategy,
    /// Ask for a saturation probe before the first iteration (`SATURATION_PROBE`; adaptive
    /// only — a classic search never asks).
    #[serde(default)]
    pub probe: bool,
    /// Also converge once the confidence interval over the judged iterations is at most this
    /// wide relative to its estimate (`CI_STOP_WIDTH`, in (0, 1); None: off). See
    /// [the rule](self#rules).
    #[serde(default)]
    pub ci_stop_width: Option<f64>,
    /// What the level is (`req_min` by default; a state saved before it existed is a rate
    /// search): every `req_min` of this module — start, floor, the rates it asks for and
    /// records — is in this unit. With a whole unit (users) every computed level is a whole
    /// number and a step moves by at least 1; its reasons name the unit.
    #[serde(default)]
    pub unit: LoadUnit,
}

/// What one iteration showed, as judged by the evaluators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// The server kept up with the rate.
    Sustainable,
    /// The server fell behind the rate.
    Unsustainable,
    /// The server was not there (connections refused) or every request failed: no verdict on
    /// capacity. The same run is repeated, within `outage_retries`.
    Outage {
        /// What happened, as a sentence for the user.
        reason: String,
    },
    /// Nothing can be judged; ends the search at once.
    Unusable {
        /// Why, as a sentence for the user.
        reason: String,
    },
    /// The load generator fell behind its own schedule (`CLIENT_LIMITED`): the iteration
    /// measured the client, not the server, so it counts neither way; run once more, and a
    /// second in a row ends the search.
    ClientLimited {
        /// What the client missed (lag, send rate), as a sentence.
        reason: String,
    },
}

impl Observation {
    /// The verdict on the server this observation counts as: `Some(true)` sustainable,
    /// `Some(false)` unsustainable, `None` for anything that is no verdict (outage, client
    /// limit, unusable).
    pub fn verdict(&self) -> Option<bool> {
        match self {
            Observation::Sustainable => Some(true),
            Observation::Unsustainable => Some(false),
            _ => None,
        }
    }
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Run one iteration as described and report it with [`Search::observe_measured`].
    Run(RunRequest),
    /// Measure the server's saturated completion rate with a short closed-loop burst and report
    /// it with [`Search::observe_probe`]; asked once, before the first iteration.
    Probe,
    /// The search is over.
    Done(SearchOutcome),
}

/// One iteration the search asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Rate to send at, requests/minute.
    pub req_min: f64,
    /// Stage the iteration belongs to.
    pub stage: Stage,
    /// 1 = first run at this rate, 2 = confirmation re-run, 3 = tie-break.
    pub attempt: u32,
    /// The capacity estimate puts this rate far below capacity
    /// ([`adaptive::EARLY_ACCEPT_BELOW`]), so the iteration may end early when it is clearly
    /// sustainable (`EARLY_ACCEPT`). Always false in a classic search.
    #[serde(default)]
    pub accept_early: bool,
}

/// Why the search ended: defined with the results schema, since `mst.json`, `summary.csv` and
/// `state.json` write it (kebab-case; `state.json`'s old snake_case still reads).
pub use mst_results::StopKind;

/// The result of a finished search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// Highest rate counted sustainable (requests/minute); None if none was.
    pub mst_req_min: Option<f64>,
    /// Same as `mst_req_min`: the lower bound when the search stopped.
    pub lower_req_min: Option<f64>,
    /// Lowest rate counted unsustainable (requests/minute); None if none was.
    pub upper_req_min: Option<f64>,
    /// Number of iterations observed, re-runs included.
    pub iterations: u32,
    /// Why the search stopped, as a sentence.
    pub reason: String,
    /// Why the search stopped, as a kind.
    pub stop: StopKind,
}

/// One observed iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// 1-based iteration number within this search.
    pub iteration: u32,
    /// Rate that was run, requests/minute.
    pub req_min: f64,
    /// Stage it belonged to.
    pub stage: Stage,
    /// Attempt at this rate (1, 2 or 3).
    pub attempt: u32,
    /// What it showed.
    pub observation: Observation,
    /// Its completions over the steady window, when the driver measured them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
}

/// The search state for one size; serialise it after every observation to resume later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    cfg: SearchConfig,
    stage: Stage,
    /// Rate of the current (or next) run.
    rate: f64,
    /// Verdicts observed at `rate` that have not yet been counted (true = pass).
    pending: Vec<bool>,
    lower: Option<f64>,
    upper: Option<f64>,
    history: Vec<HistoryEntry>,
    outcome: Option<SearchOutcome>,
    /// Outages observed since the last judged iteration.
    #[serde(default)]
    outages_in_a_row: u32,
    /// Client-limited iterations observed in a row (a `state.json` written before this field
    /// existed reads as 0).
    #[serde(default)]
    client_limited_in_a_row: u32,
    /// The saturation probe's result once it ran (None inside: it measured nothing usable).
    #[serde(default)]
    probed: Option<Option<Throughput>>,
}

/// Client-limited iterations in a row that are run again before the search stops: one, so a
/// passing stall on a busy machine does not end a search, while a client that cannot keep the
/// rate is found on the second try.
pub const CLIENT_LIMITED_RETRIES: u32 = 1;

/// Rates are kept to 2 decimals, as the old tool's files show them.
fn round2(x: f64) -> f64 {
    let scaled = (x * 100.0).round();
    if scaled.is_finite() {
        scaled / 100.0
    } else {
        x
    }
}

/// The smallest step a computed rate moves by, so rounding never repeats a rate.
const MIN_STEP: f64 = 0.01;

impl Search {
    /// A computed level as the search keeps it: 2 decimals, or a whole number when the unit
    /// counts (users).
    fn round(&self, x: f64) -> f64 {
        if self.cfg.unit.is_whole() && x.round().is_finite() {
            x.round()
        } else {
            round2(x)
        }
    }

    /// The smallest step a computed level moves by: 0.01, or 1 in a whole unit.
    fn min_step(&self) -> f64 {
        if self.cfg.unit.is_whole() {
            1.0
        } else {
            MIN_STEP
        }
    }
}

fn config_problem(cfg: &SearchConfig) -> Option<String> {
    if !(cfg.start_req_min.is_finite() && cfg.start_req_min > 0.0) {
        return Some(format!(
            "start_req_min is {}; expected a positive finite rate in requests/minute",
            cfg.start_req_min
        ));
    }
    if !(cfg.multiplier.is_finite() && cfg.multiplier > 1.0) {
        return Some(format!(
            "multiplier is {}; expected a finite number above 1",
            cfg.multiplier
        ));
    }
    let (Threshold::Absolute(t) | Threshold::Relative(t)) = cfg.threshold;
    if !(t.is_finite() && t >= 0.0) {
        return Some(format!(
            "stop threshold is {t}; expected a finite number of at least 0"
        ));
    }
    if let Some(w) = cfg.ci_stop_width
        && !(w > 0.0 && w < 1.0)
    {
        return Some(format!(
            "ci_stop_width is {w}; expected a relative width in (0, 1)"
        ));
    }
    if !(cfg.min_req_min.is_finite() && cfg.min_req_min >= 0.0) {
        return Some(format!(
            "min_req_min is {}; expected a finite rate of at least 0",
            cfg.min_req_min
        ));
    }
    None
}

impl Search {
    /// A search that has run nothing yet; its first step runs `cfg.start_req_min`.
    pub fn new(cfg: SearchConfig) -> Search {
        let mut search = Search {
            stage: Stage::Ramp,
            rate: cfg.start_req_min,
            pending: Vec::new(),
            lower: None,
            upper: None,
            history: Vec::new(),
            outcome: None,
            outages_in_a_row: 0,
            client_limited_in_a_row: 0,
            probed: None,
            cfg,
        };
        if let Some(problem) = config_problem(&search.cfg) {
            search.finish(
                StopKind::Unusable,
                format!("The search cannot start: {problem}."),
            );
        } else if search.cfg.max_iterations == 0 {
            search.finish(
                StopKind::IterationCap,
                "The iteration cap is 0, so nothing was run.".to_string(),
            );
        }
        search
    }

    /// What to do now; calling it again without observing gives the same step.
    pub fn current(&self) -> Step {
        match &self.outcome {
            Some(outcome) => Step::Done(outcome.clone()),
            None if self.wants_probe() => Step::Probe,
            None => Step::Run(RunRequest {
                req_min: self.rate,
                stage: self.stage,
                attempt: self.pending.len() as u32 + 1,
                accept_early: self.may_accept_early(self.rate),
            }),
        }
    }

    /// [`Search::observe_measured`] without a measured throughput.
    pub fn observe(&mut self, obs: Observation) -> Step {
        self.observe_measured(obs, None)
    }

    /// Records the outcome of the run [`Search::current`] asked for, with the completions the
    /// driver measured over its steady window, and returns the next step. After the search is
    /// done it changes nothing and returns the same `Done`; while a probe is asked for it
    /// changes nothing and returns [`Step::Probe`].
    pub fn observe_measured(&mut self, obs: Observation, throughput: Option<Throughput>) -> Step {
        if self.outcome.is_some() || self.wants_probe() {
            return self.current();
        }
        self.history.push(HistoryEntry {
            iteration: self.history.len() as u32 + 1,
            req_min: self.rate,
            stage: self.stage,
            attempt: self.pending.len() as u32 + 1,
            observation: obs.clone(),
            throughput,
        });
        if !matches!(obs, Observation::Outage { .. }) {
            self.outages_in_a_row = 0;
        }
        if !matches!(obs, Observation::ClientLimited { .. }) {
            self.client_limited_in_a_row = 0;
        }
        match obs {
            Observation::Sustainable => self.pending.push(true),
            Observation::Unsustainable => self.pending.push(false),
            Observation::Outage { reason } => {
                self.outages_in_a_row += 1;
                if self.outages_in_a_row > self.cfg.outage_retries {
                    let (n, rate) = (self.outages_in_a_row, self.rate);
                    self.finish(
                        StopKind::Unusable,
                        format!(
                            "{n} iteration(s) in a row at {rate} {} were outages, more than RETRY_ON_OUTAGE allows; the last: {reason}",
                            self.cfg.unit.label()
                        ),
                    );
                    return self.current();
                }
            }
            Observation::Unusable { reason } => {
                let rate = self.rate;
                self.finish(
                    StopKind::Unusable,
                    format!(
                        "The iteration at {rate} {} could not be judged: {reason}",
                        self.cfg.unit.label()
                    ),
                );
                return self.current();
            }
            Observation::ClientLimited { reason } => {
                self.client_limited_in_a_row += 1;
                if self.client_limited_in_a_row <= CLIENT_LIMITED_RETRIES {
                    // Run the same iteration again: a passing stall does not end the search.
                    return self.capped_or_current();
                }
                let (rate, n) = (self.rate, self.client_limited_in_a_row);
                let u = self.cfg.unit.label();
                self.finish(
                    StopKind::ClientLimited,
                    format!(
                        "The client, not the server, was the limit at {rate} {u} \
                         ({n} iterations in a row): {reason}. \
                         This iteration is not counted as the server's failure, and rates from \
                         here up were not measured. Send fewer output tokens per request, spread \
                         the load over several client nodes (srun, one client per node), or run \
                         the client on a bigger node."
                    ),
                );
                return self.current();
            }
        }
        let counted = self.decision();
        if let Some(passed) = counted {
            self.pending.clear();
            self.count(passed);
        }
        let step = self.capped_or_current();
        if counted.is_some() && self.outcome.is_none() {
            self.interval_stop();
            return self.current();
        }
        step
    }

    /// The stop rule on the interval's width (`ci_stop_width`), checked after a counted
    /// verdict and the usual stops: converges when there is a counted pass and a counted fail
    /// and the [`confidence::interval`] over every judged iteration so far is at most that wide
    /// relative to its estimate. The MST stays the highest counted pass.
    fn interval_stop(&mut self) {
        let (Some(width), None, Some(lower), Some(_)) = (
            self.cfg.ci_stop_width,
            &self.outcome,
            self.lower,
            self.upper,
        ) else {
            return;
        };
        let points: Vec<(f64, bool)> = self
            .history
            .iter()
            .filter_map(|h| h.observation.verdict().map(|v| (h.req_min, v)))
            .collect();
        let Some(c) = confidence::interval(&points, confidence::LEVEL) else {
            return;
        };
        let relative = (c.high_req_min - c.low_req_min) / c.estimate_req_min;
        if relative <= width {
            let pct = |x: f64| (x * 1000.0).round() / 10.0;
            let u = self.cfg.unit.label();
            self.finish(
                StopKind::Converged,
                format!(
                    "Converged on the confidence interval: the {}% interval of the capacity, \
                     {}–{} {u} around {} {u}, is {}% of its estimate, within \
                     CI_STOP_WIDTH = {width}; sustainable at {lower} {u}.",
                    pct(c.level),
                    round2(c.low_req_min),
                    round2(c.high_req_min),
                    round2(c.estimate_req_min),
                    pct(relative),
                ),
            );
        }
    }

    /// The next step, after ending the search when the iteration cap is reached.
    fn capped_or_current(&mut self) -> Step {
        if self.outcome.is_none() && self.history.len() >= self.cfg.max_iterations as usize {
            let cap = self.cfg.max_iterations;
            self.finish(
                StopKind::IterationCap,
                format!("The search reached the cap of {cap} iterations without converging."),
            );
        }
        self.current()
    }

    /// Every observed iteration, in order.
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// The parameters this search runs with.
    pub fn config(&self) -> &SearchConfig {
        &self.cfg
    }

    /// (highest rate counted sustainable, lowest rate counted unsustainable), requests/minute.
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        (self.lower, self.upper)
    }

    /// Whether the verdicts pending at this rate decide it, under the confirmation policy.
    fn decision(&self) -> Option<bool> {
        let v = &self.pending;
        let last = *v.last()?;
        if !last && self.cfg.strategy == Strategy::Adaptive && self.last_saturated() {
            // Measured, not noise: the server completed clearly less than it was offered.
            return Some(false);
        }
        match self.cfg.confirm {
            ConfirmPolicy::None => Some(last),
            ConfirmPolicy::Both if self.stage == Stage::Bisect => match v.len() {
                1 => None,
                2 if v[0] != v[1] => None,
                n => Some(v.iter().filter(|&&p| p).count() * 2 > n),
            },
            ConfirmPolicy::Fail | ConfirmPolicy::Both => {
                // A first pass counts; a first fail waits for its re-run, which decides.
                if v.len() == 1 && !last {
                    None
                } else {
                    Some(last)
                }
            }
        }
    }

    fn finish(&mut self, stop: StopKind, reason: String) {
        self.outcome = Some(SearchOutcome {
            mst_req_min: self.lower,
            lower_req_min: self.lower,
            upper_req_min: self.upper,
            iterations: self.history.len() as u32,
            reason,
            stop,
        });
    }
}

#[cfg(test)]
mod tests;
