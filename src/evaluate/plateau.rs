//! `plateau` (the old tool's `EXPERIMENT_TYPE=MIT`): a rate is worth it while offering more
//! load still buys more throughput. Achieved throughput (successful completions per minute in
//! the steady window) is compared with that of the previous iteration at the highest offered
//! rate below this one. The iteration fails when the gain has flattened — it is below
//! `PLATEAU_MIN_GAIN_PCT` % of the extra load offered (relative tolerance) or below
//! `PLATEAU_MIN_GAIN_REQ_MIN` requests/minute (absolute tolerance) — or when throughput dropped.
//! The first iteration (or one below every earlier rate) has nothing to compare with and
//! passes as the baseline. `SUCCESS_RATE` is the shared [`super::gate`].

use super::{Criterion, EvalInput, Evaluator, PastIteration, Verdict, cmp_word, figures};
use crate::iteration::IterationMeta;
use crate::metrics::send_window;
use crate::record::RequestRecord;

/// Tolerances of the plateau test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlateauSettings {
    /// `PLATEAU_MIN_GAIN_PCT`: the achieved gain must reach this share of the offered gain.
    pub min_gain_pct: f64,
    /// `PLATEAU_MIN_GAIN_REQ_MIN`: … and at least this many requests/minute.
    pub min_gain_req_min: f64,
}

impl Default for PlateauSettings {
    fn default() -> Self {
        PlateauSettings {
            min_gain_pct: 50.0,
            min_gain_req_min: 0.0,
        }
    }
}

/// Successful completions per minute whose end falls in the steady window
/// (`[FILTER_BUFFER, sending stopped − FILTER_BUFFER)`); over the whole sending period when the
/// window is empty.
pub fn achieved_req_min(meta: &IterationMeta, records: &[RequestRecord]) -> f64 {
    let (mut w0, mut w1) = send_window(meta);
    if w1 <= w0 {
        (w0, w1) = (std::time::Duration::ZERO, meta.sending_stopped);
    }
    let span = (w1 - w0).as_secs_f64();
    if span <= 0.0 {
        return 0.0;
    }
    let done = records
        .iter()
        .filter(|r| r.success() && r.end >= w0 && r.end < w1)
        .count();
    done as f64 * 60.0 / span
}

/// The `plateau` evaluator.
#[derive(Debug, Clone)]
pub struct PlateauEvaluator {
    pub settings: PlateauSettings,
}

impl Evaluator for PlateauEvaluator {
    fn name(&self) -> &'static str {
        "plateau"
    }

    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        let achieved = achieved_req_min(input.meta, input.records);
        Verdict::from_criteria(vec![gain(
            input.meta.req_min,
            achieved,
            input.history,
            &self.settings,
        )])
    }
}

/// `throughput_gain` against the highest earlier rate below `req_min`.
fn gain(req_min: f64, achieved: f64, history: &[PastIteration], s: &PlateauSettings) -> Criterion {
    let reference = history
        .iter()
        .filter(|p| p.req_min < req_min)
        .max_by(|a, b| a.req_min.total_cmp(&b.req_min));
    let Some(r) = reference else {
        return Criterion {
            name: "throughput_gain".into(),
            passed: true,
            // The same columns as a comparison, empty (NaN), so results.csv keeps its shape.
            figures: figures(&[
                ("achieved_req_min", achieved),
                ("reference_req_min", f64::NAN),
                ("reference_achieved_req_min", f64::NAN),
                ("offered_gain_req_min", f64::NAN),
                ("achieved_gain_req_min", f64::NAN),
                ("min_gain_req_min", f64::NAN),
            ]),
            detail: format!(
                "achieved {achieved:.1} req/min; no earlier lower rate to compare with (baseline)"
            ),
        };
    };
    let offered_gain = req_min - r.req_min;
    let achieved_gain = achieved - r.achieved_req_min;
    let needed = (s.min_gain_pct / 100.0 * offered_gain).max(s.min_gain_req_min);
    let passed = achieved_gain >= needed && achieved_gain >= 0.0;
    Criterion {
        name: "throughput_gain".into(),
        passed,
        figures: figures(&[
            ("achieved_req_min", achieved),
            ("reference_req_min", r.req_min),
            ("reference_achieved_req_min", r.achieved_req_min),
            ("offered_gain_req_min", offered_gain),
            ("achieved_gain_req_min", achieved_gain),
            ("min_gain_req_min", needed),
        ]),
        detail: format!(
            "achieved {achieved:.1} req/min vs {:.1} at {:.1} req/min offered: gain {achieved_gain:+.1} for {offered_gain:+.1} offered {} the {needed:.1} needed{}",
            r.achieved_req_min,
            r.req_min,
            cmp_word(passed, ">=", "<"),
            if passed { "" } else { " (plateau)" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::testdata::{criterion, synth};

    fn ev() -> PlateauEvaluator {
        PlateauEvaluator {
            settings: PlateauSettings::default(),
        }
    }

    fn past(req_min: f64, achieved_req_min: f64) -> PastIteration {
        PastIteration {
            req_min,
            achieved_req_min,
        }
    }

    #[test]
    fn achieved_rate_counts_completions_in_the_window() {
        // 600 requests over 60 s = 600 req/min, each done 280 ms after its send.
        let s = synth(60.0, 5.0, 600, |_, _| 100.0, |_, _| 20.0, None);
        let a = achieved_req_min(&s.meta, &s.records);
        assert!((a - 600.0).abs() < 2.0, "{a}");
    }

    #[test]
    fn growing_throughput_passes_and_a_flat_one_fails() {
        let s = synth(60.0, 5.0, 600, |_, _| 100.0, |_, _| 20.0, None);
        let a = achieved_req_min(&s.meta, &s.records);
        // The first iteration is the baseline.
        assert!(s.judge(&ev()).sustainable);
        // From 300 offered / 300 achieved to 600 / ~600: full gain.
        let v = s.judge_after(&ev(), &[past(300.0, 300.0), past(1200.0, 610.0)]);
        assert!(v.sustainable, "{}", v.reason);
        let g = criterion(&v, "throughput_gain");
        assert_eq!(g.figures["reference_req_min"], 300.0);
        // From 500 offered / 590 achieved: +100 offered but only ~+10 gained: plateau.
        let v = s.judge_after(&ev(), &[past(500.0, a - 10.0)]);
        assert!(!v.sustainable);
        assert!(v.reason.contains("(plateau)"), "{}", v.reason);
    }

    #[test]
    fn a_drop_fails_and_the_edge_passes() {
        let s = synth(60.0, 5.0, 600, |_, _| 100.0, |_, _| 20.0, None);
        let a = achieved_req_min(&s.meta, &s.records);
        let e = PlateauEvaluator {
            settings: PlateauSettings {
                min_gain_pct: 0.0,
                min_gain_req_min: 0.0,
            },
        };
        assert!(!s.judge_after(&e, &[past(599.0, a + 1.0)]).sustainable);
        // Gain exactly the needed 50% of the offered gain (100 req/min offered, 50 gained).
        let s50 = PlateauSettings::default();
        assert!(gain(600.0, 550.0, &[past(500.0, 500.0)], &s50).passed);
        assert!(!gain(600.0, 549.9, &[past(500.0, 500.0)], &s50).passed);
        // The absolute tolerance binds when the offered gain is small.
        let abs = PlateauSettings {
            min_gain_pct: 50.0,
            min_gain_req_min: 5.0,
        };
        let g = gain(504.0, 504.0, &[past(500.0, 500.0)], &abs);
        assert!(!g.passed && g.figures["min_gain_req_min"] == 5.0);
    }
}
