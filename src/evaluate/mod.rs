//! Judging one iteration: the [`Evaluator`] trait and its implementations. An evaluator turns an
//! iteration's records and summary into a [`Verdict`] with the figures behind it; it never
//! sends traffic and never decides what to run next (that is the search's job).

pub mod fmperf;
pub mod halves;
pub mod plateau;
pub mod queue;
pub mod slo;
#[cfg(test)]
pub(crate) mod testdata;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::load::iteration::IterationMeta;
use crate::load::record::RequestRecord;
use crate::metrics::IterationSummary;
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
    /// The verdict with its figures.
    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict;
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

/// Build the evaluator `EVALUATOR` asks for: one name, or several that must all pass.
/// An unknown name is a configuration error, reported before any traffic.
pub fn build(cfg: &Config) -> Result<Box<dyn Evaluator>> {
    let mut parts: Vec<Box<dyn Evaluator>> = Vec::new();
    for name in &cfg.evaluators {
        let ev = &cfg.evaluator_settings;
        parts.push(match name.as_str() {
            "queue" => Box::new(queue::QueueEvaluator {
                settings: queue::QueueSettings {
                    growth_window_pct: cfg.queue_growth_window_pct,
                    growth_min_ms: cfg.queue_growth_min_ms,
                    throughput_min_pct: cfg.throughput_min_pct,
                    success_rate_pct: cfg.success_rate_pct,
                },
            }),
            "fmperf" => Box::new(fmperf::FmperfEvaluator {
                success_rate_pct: cfg.success_rate_pct,
            }),
            "halves" => Box::new(halves::HalvesEvaluator {
                drift_min_pct: ev.drift_min_pct,
                success_rate_pct: cfg.success_rate_pct,
            }),
            "slo" => {
                if ev.slo.is_empty() {
                    return Err(Error::config(
                        "EVALUATOR",
                        "slo",
                        "at least one SLO_<METRIC>_P<NN>_MS key (e.g. SLO_TTFT_P90_MS=500) or \
                         SLO_GOODPUT_PCT when the slo evaluator is chosen",
                    ));
                }
                Box::new(slo::SloEvaluator {
                    slo: ev.slo.clone(),
                    success_rate_pct: cfg.success_rate_pct,
                })
            }
            "plateau" => Box::new(plateau::PlateauEvaluator {
                settings: ev.plateau,
                success_rate_pct: cfg.success_rate_pct,
            }),
            other => {
                return Err(Error::config(
                    "EVALUATOR",
                    other,
                    format!("one of {} (or a comma list of them)", NAMES.join(", ")),
                ));
            }
        });
    }
    match parts.len() {
        0 => Err(Error::config(
            "EVALUATOR",
            "",
            format!("one of {}", NAMES.join(", ")),
        )),
        1 => Ok(parts.remove(0)),
        _ => Ok(Box::new(AllOf(parts))),
    }
}

/// Several evaluators that must all pass; criteria are prefixed with their evaluator's name.
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
