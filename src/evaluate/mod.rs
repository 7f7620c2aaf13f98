//! Judging one iteration: the [`Evaluator`] trait and its implementations. An evaluator turns an
//! iteration's records and summary into a [`Verdict`] with the figures behind it; it never
//! sends traffic and never decides what to run next (that is the search's job).

pub mod fmperf;
pub mod gate;
pub mod halves;
pub mod judge;
pub mod plateau;
pub mod queue;
pub mod slo;
#[cfg(test)]
pub(crate) mod testdata;

use crate::iteration::IterationMeta;
use crate::metrics::IterationSummary;
use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One criterion's outcome, with the numbers it was decided on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Short name, e.g. `queue_delay_trend`, `throughput`, `success_rate`.
    pub name: String,
    /// Whether this criterion holds.
    pub passed: bool,
    /// Figures (slopes, p-values, thresholds, percentiles), keyed by name with unit suffixes.
    pub figures: BTreeMap<String, f64>,
    /// One sentence a user can read.
    pub detail: String,
}

/// The judgement of one iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Sustainable (all criteria passed).
    pub sustainable: bool,
    /// Every criterion evaluated, failed ones included.
    pub criteria: Vec<Criterion>,
    /// Why: the failed criteria's details joined, or "all criteria passed".
    pub reason: String,
}

impl Verdict {
    /// Combine criteria: sustainable only when all pass; the reason names every failure.
    pub fn from_criteria(criteria: Vec<Criterion>) -> Verdict {
        let failed: Vec<&str> = criteria
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.detail.as_str())
            .collect();
        let reason = if failed.is_empty() {
            "all criteria passed".to_string()
        } else {
            failed.join("; ")
        };
        Verdict {
            sustainable: failed.is_empty(),
            criteria,
            reason,
        }
    }
}

/// What the evaluators may know about an earlier iteration of the same size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PastIteration {
    /// Offered rate, requests/minute.
    pub req_min: f64,
    /// Achieved throughput as [`plateau::achieved_req_min`] measures it, requests/minute.
    pub achieved_req_min: f64,
}

/// Everything an evaluator may look at.
pub struct EvalInput<'a> {
    pub meta: &'a IterationMeta,
    pub records: &'a [RequestRecord],
    pub summary: &'a IterationSummary,
    /// Earlier iterations of the same size, oldest first (only `plateau` looks at them).
    pub history: &'a [PastIteration],
}

/// Judges one iteration.
pub trait Evaluator: Send + Sync {
    /// The name used in `EVALUATOR`.
    fn name(&self) -> &'static str;
    /// The verdict with its figures, without the success rate (the shared [`gate`] adds it).
    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict;
    /// Where [`gate::Gated`] inserts the `success_rate` criterion among this evaluator's
    /// criteria (first, unless the evaluator keeps an older order).
    fn gate_position(&self) -> usize {
        0
    }
}

/// Every evaluator name `EVALUATOR` accepts.
pub const NAMES: &[&str] = &["queue", "fmperf", "halves", "slo", "plateau"];

/// Figures from `(name, value)` pairs.
pub(crate) fn figures(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// "passed" or "failed" comparison words for details.
pub(crate) fn cmp_word(passed: bool, ok: &'static str, bad: &'static str) -> &'static str {
    if passed { ok } else { bad }
}

/// One evaluator `EVALUATOR` names, with every setting it judges by (`SUCCESS_RATE` is not
/// one of them: it is the shared [`gate`], given to [`build`] once). The configuration
/// resolves and checks these (unknown names, `slo` without a threshold) before any traffic, so
/// [`build`] cannot fail. Serialised (tag `evaluator`) into the resume fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "evaluator", rename_all = "lowercase")]
pub enum EvaluatorSpec {
    /// The default: queueing-delay trend and throughput shortfall ([`queue`]).
    Queue(queue::QueueSettings),
    /// The old tool's halves comparison ([`fmperf`]).
    Fmperf,
    /// Halves with an effect-size floor ([`halves`]).
    Halves {
        /// `DRIFT_MIN_PCT`, percent of the first half.
        drift_min_pct: f64,
    },
    /// Latency SLOs and goodput ([`slo`]); at least one threshold or a goodput floor.
    Slo {
        /// `SLO_*` thresholds and `SLO_GOODPUT_PCT`.
        slo: slo::SloSettings,
    },
    /// Throughput plateau, the old MIT mode ([`plateau`]).
    Plateau {
        /// `PLATEAU_*` tolerances.
        settings: plateau::PlateauSettings,
    },
}

impl EvaluatorSpec {
    /// The name used in `EVALUATOR` (one of [`NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            EvaluatorSpec::Queue(_) => "queue",
            EvaluatorSpec::Fmperf => "fmperf",
            EvaluatorSpec::Halves { .. } => "halves",
            EvaluatorSpec::Slo { .. } => "slo",
            EvaluatorSpec::Plateau { .. } => "plateau",
        }
    }

    /// The evaluator itself, without the success-rate gate (see [`build`]).
    pub fn build(&self) -> Box<dyn Evaluator> {
        match self.clone() {
            EvaluatorSpec::Queue(settings) => Box::new(queue::QueueEvaluator { settings }),
            EvaluatorSpec::Fmperf => Box::new(fmperf::FmperfEvaluator),
            EvaluatorSpec::Halves { drift_min_pct } => {
                Box::new(halves::HalvesEvaluator { drift_min_pct })
            }
            EvaluatorSpec::Slo { slo } => Box::new(slo::SloEvaluator { slo }),
            EvaluatorSpec::Plateau { settings } => Box::new(plateau::PlateauEvaluator { settings }),
        }
    }
}

/// The evaluator the specs describe, behind the success-rate gate (`SUCCESS_RATE`,
/// `success_rate_pct` percent, judged once): one evaluator, or several that must all pass
/// ([`AllOf`]; none passes everything, which the configuration never produces).
pub fn build(success_rate_pct: f64, specs: &[EvaluatorSpec]) -> Box<dyn Evaluator> {
    let inner = match specs {
        [one] => one.build(),
        many => Box::new(AllOf(many.iter().map(EvaluatorSpec::build).collect())),
    };
    Box::new(gate::Gated {
        success_rate_pct,
        inner,
    })
}

/// Several evaluators that must all pass; criteria are prefixed with their evaluator's name
/// (the shared `success_rate` is not: the gate around them adds it once, first).
pub struct AllOf(pub Vec<Box<dyn Evaluator>>);

impl Evaluator for AllOf {
    fn name(&self) -> &'static str {
        "all-of"
    }

    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        let criteria = self
            .0
            .iter()
            .flat_map(|e| {
                let prefix = e.name();
                e.evaluate(input).criteria.into_iter().map(move |mut c| {
                    c.name = format!("{prefix}_{}", c.name);
                    c
                })
            })
            .collect();
        Verdict::from_criteria(criteria)
    }
}
