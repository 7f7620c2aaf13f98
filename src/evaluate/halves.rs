//! `halves`: the old halves test made honest. Only successful requests are compared (a fast
//! error is not a fast response), and a drift must be both **significant** (Welch, two-sided,
//! p < 0.1, second half slower) **and material**: the second half's mean or median
//! `complete_response_time` higher than the first's by more than `DRIFT_MIN_PCT` percent. With
//! thousands of samples a 1% drift is significant but not material; with a handful, nothing is
//! significant. `SUCCESS_RATE` is the shared [`super::gate`].

use super::fmperf::{ALPHA, halves_e2e, too_few};
use super::{Criterion, EvalInput, Evaluator, Verdict, figures};
use crate::metrics::halves;
use crate::stats::{percentile, welch_t_test};

/// The `halves` evaluator.
#[derive(Debug, Clone)]
pub struct HalvesEvaluator {
    /// `DRIFT_MIN_PCT`: smallest drift of the mean or median that matters, percent.
    pub drift_min_pct: f64,
}

impl Evaluator for HalvesEvaluator {
    fn name(&self) -> &'static str {
        "halves"
    }

    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        Verdict::from_criteria(vec![drift(input, self.drift_min_pct)])
    }
}

fn pct_change(from: f64, to: f64) -> f64 {
    if from > 0.0 {
        100.0 * (to - from) / from
    } else {
        0.0
    }
}

/// `drift`: Welch on successful requests' `complete_response_time`, with an effect-size floor.
fn drift(input: &EvalInput<'_>, min_pct: f64) -> Criterion {
    let records = input.records;
    let h = halves(records, input.meta.filter_buffer);
    let (x, y) = halves_e2e(records, &h, false);
    let Some(w) = welch_t_test(&x, &y) else {
        return too_few(
            &x,
            &y,
            "successful requests: too few to test a drift",
            &[
                "p_value",
                "alpha",
                "mean_first_ms",
                "mean_second_ms",
                "median_first_ms",
                "median_second_ms",
                "mean_change_pct",
                "median_change_pct",
                "min_change_pct",
            ],
        );
    };
    let median_x = percentile(&x, 50.0).unwrap_or(0.0);
    let median_y = percentile(&y, 50.0).unwrap_or(0.0);
    let mean_pct = pct_change(w.mean_x, w.mean_y);
    let median_pct = pct_change(median_x, median_y);
    let significant = w.p_two_sided < ALPHA && w.mean_y > w.mean_x;
    let material = mean_pct > min_pct || median_pct > min_pct;
    let passed = !(significant && material);
    Criterion {
        name: "drift".into(),
        passed,
        figures: figures(&[
            ("p_value", w.p_two_sided),
            ("alpha", ALPHA),
            ("mean_first_ms", w.mean_x),
            ("mean_second_ms", w.mean_y),
            ("median_first_ms", median_x),
            ("median_second_ms", median_y),
            ("mean_change_pct", mean_pct),
            ("median_change_pct", median_pct),
            ("min_change_pct", min_pct),
            ("n_first", x.len() as f64),
            ("n_second", y.len() as f64),
        ]),
        detail: format!(
            "successful complete_response_time: mean {mean_pct:+.1}%, median {median_pct:+.1}% between halves (floor {min_pct}%), Welch p={:.4}{}",
            w.p_two_sided,
            match (significant, material) {
                (true, true) => ": significant and material",
                (true, false) => ": significant but small",
                (false, _) => ": not a significant increase",
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::gate::Gated;
    use crate::evaluate::testdata::{criterion, gated, one_percent_drift, synth, wobble};

    fn ev() -> Gated {
        gated(HalvesEvaluator { drift_min_pct: 5.0 })
    }

    #[test]
    fn a_significant_but_small_drift_passes() {
        // The case the old rule fails.
        let v = one_percent_drift().judge(&ev());
        let d = criterion(&v, "drift");
        assert!(v.sustainable, "{}", v.reason);
        assert!(d.figures["p_value"] < 1e-6 && d.figures["mean_change_pct"] < 5.0);
        assert!(d.detail.contains("significant but small"));
    }

    #[test]
    fn a_growing_queue_fails() {
        // Queueing delay grows 50 ms per second of the iteration: far beyond 5%.
        let s = synth(
            60.0,
            5.0,
            600,
            |i, t| 50.0 + 50.0 * t + wobble(i),
            |_, _| 20.0,
            None,
        );
        let v = s.judge(&ev());
        assert!(!v.sustainable);
        let d = criterion(&v, "drift");
        assert!(d.figures["mean_change_pct"] > 5.0 && d.figures["p_value"] < ALPHA);
    }

    #[test]
    fn failures_are_left_out_of_the_latencies() {
        // Second half: every other request fails at once (1 ms). Mixed in, those would drag the
        // second half's mean down; left out, latency is flat and the success rate fails instead.
        let s = synth(
            60.0,
            5.0,
            600,
            |i, _| 50.0 + 5.0 * wobble(i),
            |_, _| 20.0,
            Some(2),
        );
        let v = s.judge(&ev());
        let d = criterion(&v, "drift");
        assert!(d.passed, "{}", d.detail);
        assert!(d.figures["mean_change_pct"].abs() < 1.0);
        assert!(!criterion(&v, "success_rate").passed);
    }

    #[test]
    fn the_floor_is_exclusive_at_the_edge() {
        // Exactly +5% on every request (no spread, so the difference is certain, p = 0): at the
        // floor, not above it.
        let s = synth(
            60.0,
            5.0,
            600,
            |_, t| if t < 30.0 { 100.0 } else { 105.0 },
            |_, _| 0.0,
            None,
        );
        let d = criterion(&s.judge(&ev()), "drift").clone();
        assert!(d.figures["p_value"] < ALPHA, "{}", d.detail);
        assert_eq!(d.figures["mean_change_pct"], 5.0);
        assert!(d.passed, "{}", d.detail);
    }
}
