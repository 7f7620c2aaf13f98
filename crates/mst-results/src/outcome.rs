//! The answer for one size, as `<output_dir>/<in>_<out>/mst.json` holds it: the MST, its
//! bounds, why the search stopped and every iteration it ran.

use crate::{Confidence, LoadUnit, StopKind};
use serde::{Deserialize, Serialize};

/// One iteration of a size's search, as listed in `mst.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationBrief {
    /// 1-based iteration number within the size.
    pub iteration: u32,
    /// Search stage, 1 (ramp) or 2 (bisection).
    pub stage: u8,
    /// Offered rate, requests/minute; in a mode whose level is not a request rate (`load`
    /// is set), the requests sent per minute of sending.
    pub req_min: f64,
    /// The search's level in the size's `load_unit` when that is not requests/minute (users,
    /// sessions/minute, × trace); None for open-loop rate searches, whose level is `req_min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<f64>,
    /// 1 for the first run at this rate, 2 for its confirmation re-run, 3 for the tie-break
    /// when `CONFIRM=both` saw two runs disagree.
    pub attempt: u32,
    /// The verdict; None when the iteration was unusable (interrupted, no data).
    pub sustainable: Option<bool>,
    /// Why (the verdict's reason, or why it was unusable).
    pub reason: String,
    /// The iteration's folder, relative to the size folder.
    pub folder: String,
    /// Successful completions per second over the iteration (`summary.req_per_s`).
    pub achieved_req_s: f64,
    /// Successful completions per minute in the steady window (what `plateau` compares).
    #[serde(default)]
    pub steady_req_min: f64,
    /// Successful requests (tokens were generated and no error).
    #[serde(default)]
    pub succeeded: u64,
    /// Median output tokens actually generated per successful request (None without any).
    #[serde(default)]
    pub output_tokens_p50: Option<f64>,
    /// Successful requests that generated fewer tokens than requested.
    #[serde(default)]
    pub short_outputs: u64,
    /// Seconds this iteration held the server: the cooldown before it, its settle wait, its
    /// sending and drain, and judging and writing it (0 in files written before this field).
    #[serde(default)]
    pub time_s: f64,
    /// Which of the `REPEATS` searches of the size it belongs to, from 1 (1 in files written
    /// before this field).
    #[serde(default = "first_repeat")]
    pub repeat: u32,
    /// What the GPU telemetry measured over the steady window (`GPU_METRICS_URL`,
    /// `GPU_SMI`); absent without telemetry and in files written before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<crate::GpuBrief>,
}

fn first_repeat() -> u32 {
    1
}

impl IterationBrief {
    /// The level the search ran this iteration at, in the size's `load_unit`: `load` when set,
    /// else the offered `req_min`.
    pub fn level(&self) -> f64 {
        self.load.unwrap_or(self.req_min)
    }
}

/// How one size's search ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeOutcome {
    /// The size as given in `TOKENS_LIST` (`in:out`).
    pub size: String,
    /// Input side of the size (`a` or `a-b`).
    pub input_tokens: String,
    /// Output side of the size (`a` or `a-b`).
    pub output_tokens: String,
    /// Model name.
    pub model: String,
    /// The MST in requests/minute: the highest sustainable rate; None when none was found.
    /// When `load_unit` is not `req_min`, the requests per minute completed in the steady
    /// window at `mst_load` (the mean over the iterations judged sustainable there).
    pub mst_req_min: Option<f64>,
    /// The MST in requests/second: `mst_req_min / 60`, the offered rate (not the completions
    /// measured there; those are each iteration's `achieved_req_s`).
    pub mst_req_s: Option<f64>,
    /// Final lower bound of the bisection (requests/minute); null when `load_unit` is not
    /// `req_min` (the bounds are then `lower_load`, `upper_load`).
    pub lower_req_min: Option<f64>,
    /// Final upper bound: the lowest confirmed unsustainable rate (requests/minute); null when
    /// `load_unit` is not `req_min`.
    pub upper_req_min: Option<f64>,
    /// What the search varied: the unit of `mst_load`, `lower_load`, `upper_load`, the
    /// iterations' `load` and `confidence` (`req_min` in files written before it).
    #[serde(default)]
    pub load_unit: LoadUnit,
    /// The answer in `load_unit`: the highest level judged sustainable (with `req_min`, the
    /// same as `mst_req_min`); None when none was found.
    #[serde(default)]
    pub mst_load: Option<f64>,
    /// Final lower bound of the search in `load_unit`.
    #[serde(default)]
    pub lower_load: Option<f64>,
    /// Final upper bound in `load_unit`: the lowest level counted unsustainable.
    #[serde(default)]
    pub upper_load: Option<f64>,
    /// Why the search stopped, as a kind (`converged`, `iteration-cap`, `floor-reached`,
    /// `unusable`, `client-limited`).
    pub stop: StopKind,
    /// Why, in a sentence.
    pub reason: String,
    /// Every iteration run for this size, in order.
    pub iterations: Vec<IterationBrief>,
    /// Wall-clock start of the size's search (RFC 3339).
    pub started_at: String,
    /// Wall-clock end of the size's search (RFC 3339).
    pub finished_at: String,
    /// Seconds the size's runs took from opening the checkpoint to the end, cooldowns
    /// included, summed over resumed runs (the time between runs is not counted).
    pub wall_time_s: f64,
    /// What the answer cost: the sum of the iterations' `time_s` (cooldowns, settle waits,
    /// sending, drains, judging), seconds — the server time a search strategy should save.
    #[serde(default)]
    pub iteration_time_s: f64,
    /// `JOB_ID`, when given.
    pub job_id: Option<String>,
    /// The evaluators that judged every iteration.
    pub evaluators: Vec<String>,
    /// Median output tokens actually generated per successful request at the MST (over the
    /// iterations judged sustainable at that rate). It differs from `output_tokens` when the
    /// server ignored `ignore_eos`/`min_tokens`: the MST was then measured at this length.
    #[serde(default)]
    pub generated_output_tokens_p50: Option<f64>,
    /// Percentage of those successful requests that generated fewer tokens than requested.
    #[serde(default)]
    pub short_outputs_pct: Option<f64>,
    /// `SEARCH`: `classic` or `adaptive` (a file written before the key existed reads as
    /// `classic`, the only search there was).
    #[serde(default = "classic")]
    pub search: String,
    /// The capacity the adaptive search measured when it stopped; absent when it measured
    /// none (and always for a classic search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_estimate: Option<CapacityEstimate>,
    /// What the saturation probe measured, requests/minute; absent when no probe ran or it
    /// measured nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_req_min: Option<f64>,
    /// With `REPEATS` > 1: each search of the size in order (the headline `mst_req_min` is
    /// their mean); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<RepeatOutcome>,
    /// With `REPEATS` > 1 and an MST from every repeat: their spread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_stats: Option<RepeatStats>,
    /// The MST as the verdicts see it, with an interval (see [`Confidence`]); absent when the
    /// size has no judged pass and fail to bound it, and in files written before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Power, energy per token and cost at the MST (see [`crate::EnergyAtMst`]); absent
    /// without GPU telemetry, without an MST, and in files written before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<crate::EnergyAtMst>,
}

/// One of a size's `REPEATS` searches (`repeats` in `mst.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatOutcome {
    /// 1-based.
    pub repeat: u32,
    /// Its MST, requests/minute (None when it found none).
    pub mst_req_min: Option<f64>,
    /// Its lowest unsustainable rate, requests/minute.
    pub upper_req_min: Option<f64>,
    /// Why it stopped.
    pub stop: StopKind,
    /// Why it stopped, as a sentence.
    pub reason: String,
    /// Its iterations, re-runs included.
    pub iterations: u32,
    /// The sum of its iterations' `time_s`, seconds.
    pub iteration_time_s: f64,
}

/// The spread of the repeats' MSTs (`repeat_stats` in `mst.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatStats {
    /// Mean MST, requests/minute.
    pub mean_req_min: f64,
    /// Sample standard deviation (n − 1), requests/minute.
    pub sd_req_min: f64,
    /// Coefficient of variation: `sd / mean`.
    pub cv: f64,
}

impl RepeatStats {
    /// The spread of `msts` (requests/minute); None with fewer than two or a non-positive mean.
    pub fn of(msts: &[f64]) -> Option<RepeatStats> {
        let n = msts.len();
        if n < 2 {
            return None;
        }
        let mean = msts.iter().sum::<f64>() / n as f64;
        let var = msts.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        (mean > 0.0).then_some(RepeatStats {
            mean_req_min: mean,
            sd_req_min: sd,
            cv: sd / mean,
        })
    }
}

fn classic() -> String {
    "classic".into()
}

/// The adaptive search's capacity estimate (`capacity_estimate` in `mst.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityEstimate {
    /// Requests/minute.
    pub req_min: f64,
    /// `overloaded-iterations`: the median saturated completion rate of the unsustainable
    /// iterations that fell behind; `saturation-probe`: the probe's rate alone.
    pub source: String,
    /// How many measurements it is the median of.
    pub measurements: usize,
}

impl SizeOutcome {
    /// `iteration_time_s`: the sum of the iterations' `time_s`.
    pub fn iteration_time(iterations: &[IterationBrief]) -> f64 {
        iterations.iter().map(|b| b.time_s).sum()
    }

    /// The requests per minute completed in the steady window at the level `mst_load`: the
    /// mean `steady_req_min` of the iterations judged sustainable there (the `mst_req_min` of a
    /// search whose level is not a request rate). None without such an iteration.
    pub fn steady_req_min_at(iterations: &[IterationBrief], mst_load: Option<f64>) -> Option<f64> {
        let mst = mst_load?;
        let at: Vec<f64> = iterations
            .iter()
            .filter(|b| b.sustainable == Some(true) && b.level() == mst)
            .map(|b| b.steady_req_min)
            .collect();
        (!at.is_empty()).then(|| at.iter().sum::<f64>() / at.len() as f64)
    }

    /// `generated_output_tokens_p50` and `short_outputs_pct` from the iterations judged
    /// sustainable at the level `mst_load`: the request-weighted mean of their medians, and the
    /// share of short answers among their successes. None without such an iteration.
    pub fn generated_at_mst(
        iterations: &[IterationBrief],
        mst_load: Option<f64>,
    ) -> (Option<f64>, Option<f64>) {
        let Some(mst) = mst_load else {
            return (None, None);
        };
        let at: Vec<&IterationBrief> = iterations
            .iter()
            .filter(|b| b.sustainable == Some(true) && b.level() == mst && b.succeeded > 0)
            .collect();
        let ok: u64 = at.iter().map(|b| b.succeeded).sum();
        if ok == 0 {
            return (None, None);
        }
        let weighted: f64 = at
            .iter()
            .filter_map(|b| b.output_tokens_p50.map(|m| m * b.succeeded as f64))
            .sum();
        let short: u64 = at.iter().map(|b| b.short_outputs).sum();
        (
            Some(weighted / ok as f64),
            Some(100.0 * short as f64 / ok as f64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_stats_are_the_mean_sample_sd_and_their_ratio() {
        let s = RepeatStats::of(&[90.0, 100.0, 110.0]).unwrap();
        assert_eq!((s.mean_req_min, s.sd_req_min), (100.0, 10.0));
        assert!((s.cv - 0.1).abs() < 1e-12);
        assert_eq!(RepeatStats::of(&[100.0]), None);
        assert_eq!(RepeatStats::of(&[0.0, 0.0]), None);
    }

    fn brief(load: f64, sustainable: bool, steady_req_min: f64) -> IterationBrief {
        IterationBrief {
            iteration: 1,
            stage: 1,
            req_min: steady_req_min,
            load: Some(load),
            attempt: 1,
            sustainable: Some(sustainable),
            reason: String::new(),
            folder: String::new(),
            achieved_req_s: 0.0,
            steady_req_min,
            succeeded: 10,
            output_tokens_p50: Some(64.0),
            short_outputs: 0,
            time_s: 0.0,
            repeat: 1,
            gpu: None,
        }
    }

    #[test]
    fn outside_rate_searches_the_mst_rate_is_measured_at_the_answer_level() {
        let its = [
            brief(8.0, true, 100.0),
            brief(16.0, false, 150.0),
            brief(12.0, true, 120.0),
            brief(12.0, true, 130.0),
        ];
        assert_eq!(its[0].level(), 8.0);
        assert_eq!(
            SizeOutcome::steady_req_min_at(&its, Some(12.0)),
            Some(125.0)
        );
        assert_eq!(
            SizeOutcome::steady_req_min_at(&its, Some(16.0)),
            None,
            "a fail"
        );
        assert_eq!(SizeOutcome::steady_req_min_at(&its, None), None);
        let (p50, short) = SizeOutcome::generated_at_mst(&its, Some(12.0));
        assert_eq!((p50, short), (Some(64.0), Some(0.0)));
    }
}
