//! The MST search as a pure state machine: stage 1 ramps the rate (up on a pass, down while the
//! start fails), stage 2 bisects between the highest sustainable and the lowest unsustainable
//! rate. No I/O: the driver feeds it observations and runs what it asks for, so every path is a
//! unit test and the whole state serialises to `state.json` for resume.

use serde::{Deserialize, Serialize};

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
}
