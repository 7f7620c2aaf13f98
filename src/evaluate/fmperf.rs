//! `fmperf`: the old tool's verdict, reproduced exactly, so a user can compare an MST with the
//! numbers the old tool gave (and see where it cries wolf). Three criteria, all must hold:
//!
//! 1. `throughput_gate`: requests bucketed by the wall-clock minute of their `received_timestamp`
//!    (last token; the end for a request without one, as in `output.csv`); the median count per
//!    bucket must be ≥ 0.95 × `REQ_MIN`. Every row counts, failed ones too, as the old tool
//!    counted the rows of its `output.csv`. With iterations shorter than a couple of minutes the
//!    buckets are partial and the gate fails: so it did in the old tool.
//! 2. `success_rate` ≥ `SUCCESS_RATE` % (the shared [`super::gate`], inserted here).
//! 3. `drift`: Welch's t-test (two-sided) of `complete_response_time` of the first half against
//!    the second (halves of `FILTER_BUFFER`-trimmed completion times, every record included);
//!    fails when p < 0.1 and the second half's mean is higher. A half with fewer than 2 values
//!    gives no test (the old tool's NaN p-value), which passes.

use super::{Criterion, EvalInput, Evaluator, Verdict, cmp_word, figures};
use crate::iteration::IterationMeta;
use crate::metrics::{Halves, halves, request_metrics};
use crate::record::RequestRecord;
use crate::stats::{percentile, welch_t_test};
use std::collections::BTreeMap;

/// Significance level of the old drift test.
pub const ALPHA: f64 = 0.1;
/// The old throughput gate: median per-minute completions vs `REQ_MIN`.
pub const GATE_SHARE: f64 = 0.95;

/// The `fmperf` evaluator (the success rate is the shared [`super::gate`]).
#[derive(Debug, Clone)]
pub struct FmperfEvaluator;

impl Evaluator for FmperfEvaluator {
    fn name(&self) -> &'static str {
        "fmperf"
    }

    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        let h = halves(input.records, input.meta.filter_buffer);
        Verdict::from_criteria(vec![
            throughput_gate(input.meta, input.records),
            drift(input.records, &h),
        ])
    }

    /// The old tool's order: throughput gate, success rate, drift.
    fn gate_position(&self) -> usize {
        1
    }
}

/// Wall-clock minute (since the Unix epoch) of each record's `received_timestamp`.
fn minute_of(meta: &IterationMeta, r: &RequestRecord) -> i64 {
    let received = match (r.success(), r.last_token()) {
        (true, Some(last)) => last,
        _ => r.end,
    };
    let us = meta.started_at.timestamp_micros() + received.as_micros() as i64;
    us.div_euclid(60_000_000)
}

/// `throughput_gate`: the median of per-minute counts against 0.95 × `REQ_MIN`.
pub fn throughput_gate(meta: &IterationMeta, records: &[RequestRecord]) -> Criterion {
    let mut buckets: BTreeMap<i64, u64> = BTreeMap::new();
    for r in records {
        *buckets.entry(minute_of(meta, r)).or_insert(0) += 1;
    }
    let counts: Vec<f64> = buckets.values().map(|&n| n as f64).collect();
    let median = percentile(&counts, 50.0).unwrap_or(0.0);
    let min = GATE_SHARE * meta.req_min;
    let passed = median >= min;
    Criterion {
        name: "throughput_gate".into(),
        passed,
        figures: figures(&[
            ("median_req_per_min", median),
            ("min_req_per_min", min),
            ("minute_buckets", counts.len() as f64),
        ]),
        detail: format!(
            "median {median:.1} requests per wall-clock minute over {} buckets {} {min:.1} (0.95 x REQ_MIN)",
            counts.len(),
            cmp_word(passed, ">=", "<"),
        ),
    }
}

/// `complete_response_time` (ms) of the records of each half, failed ones only when
/// `with_failures`.
pub(super) fn halves_e2e(
    records: &[RequestRecord],
    h: &Halves,
    with_failures: bool,
) -> (Vec<f64>, Vec<f64>) {
    let e2e = |idx: &[usize]| -> Vec<f64> {
        idx.iter()
            .map(|&i| &records[i])
            .filter(|r| with_failures || r.success())
            .map(|r| request_metrics(r).e2e_ms)
            .collect()
    };
    (e2e(&h.first), e2e(&h.second))
}

/// The `drift` criterion when a half has fewer than 2 values: no test, which passes. `keys`
/// are the figures a test would have given; they are written empty (NaN), so results.csv keeps
/// its columns.
pub(super) fn too_few(x: &[f64], y: &[f64], why: &str, keys: &[&str]) -> Criterion {
    let mut f = figures(&[("n_first", x.len() as f64), ("n_second", y.len() as f64)]);
    for k in keys {
        f.entry((*k).to_string()).or_insert(f64::NAN);
    }
    Criterion {
        name: "drift".into(),
        passed: true,
        figures: f,
        detail: format!("halves of {} and {} {why}", x.len(), y.len()),
    }
}

/// `drift`: the old Welch test on `complete_response_time` of the halves, every record.
pub fn drift(records: &[RequestRecord], h: &Halves) -> Criterion {
    let (x, y) = halves_e2e(records, h, true);
    let Some(w) = welch_t_test(&x, &y) else {
        return too_few(
            &x,
            &y,
            "requests: too few for the t-test (passes, as the old tool's NaN did)",
            &[
                "p_value",
                "t",
                "df",
                "alpha",
                "mean_first_ms",
                "mean_second_ms",
            ],
        );
    };
    let up = w.mean_y > w.mean_x;
    let passed = !(w.p_two_sided < ALPHA && up);
    Criterion {
        name: "drift".into(),
        passed,
        figures: figures(&[
            ("p_value", w.p_two_sided),
            ("t", w.t),
            ("df", w.df),
            ("alpha", ALPHA),
            ("mean_first_ms", w.mean_x),
            ("mean_second_ms", w.mean_y),
            ("n_first", x.len() as f64),
            ("n_second", y.len() as f64),
        ]),
        detail: format!(
            "complete_response_time mean {:.1} ms -> {:.1} ms between halves, Welch p={:.4}{}",
            w.mean_x,
            w.mean_y,
            w.p_two_sided,
            match (w.p_two_sided < ALPHA, up) {
                (true, true) => ": significant increase (old rule: unsustainable)",
                (true, false) => ": significant decrease",
                (false, _) => ": not significant",
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::gate::Gated;
    use crate::evaluate::testdata::{criterion, gated, one_percent_drift, synth, wobble};
    use chrono::TimeZone;

    fn fm() -> Gated {
        gated(FmperfEvaluator)
    }

    #[test]
    fn steady_long_iteration_passes_all_three() {
        // 10 minutes at 120 req/min, flat latency.
        let mut s = synth(
            600.0,
            30.0,
            1200,
            |i, _| 50.0 + 5.0 * wobble(i),
            |_, _| 20.0,
            None,
        );
        s.meta.started_at = chrono::Local
            .with_ymd_and_hms(2024, 6, 11, 14, 0, 0)
            .single()
            .expect("valid time");
        let v = s.judge(&fm());
        assert!(v.sustainable, "{}", v.reason);
        let gate = criterion(&v, "throughput_gate");
        assert_eq!(gate.figures["median_req_per_min"], 120.0);
        assert_eq!(gate.figures["minute_buckets"], 10.0);
    }

    #[test]
    fn a_one_percent_drift_with_many_samples_fails_as_the_old_rule_did() {
        // No effect-size floor, so the old rule fails it.
        let d = criterion(&one_percent_drift().judge(&fm()), "drift").clone();
        assert!(!d.passed, "{}", d.detail);
        assert!(d.figures["p_value"] < 1e-6);
        assert!(d.figures["mean_second_ms"] > d.figures["mean_first_ms"]);
    }

    #[test]
    fn a_significant_decrease_passes_and_tiny_halves_abstain() {
        let s = synth(
            600.0,
            30.0,
            2000,
            |_, _| 50.0,
            |i, t| (if t < 300.0 { 25.0 } else { 20.0 }) + wobble(i),
            None,
        );
        let d = criterion(&s.judge(&fm()), "drift").clone();
        assert!(d.passed && d.figures["p_value"] < ALPHA, "{}", d.detail);
        // Three requests: one lands in each half at most, so no test.
        let tiny = synth(10.0, 1.0, 3, |_, _| 50.0, |_, _| 20.0, None);
        let tiny = criterion(&tiny.judge(&fm()), "drift").clone();
        assert!(
            tiny.passed && tiny.figures["p_value"].is_nan(),
            "{}",
            tiny.detail
        );
        // The abstaining criterion keeps the tested one's figures (results.csv keeps its
        // columns; an early-aborted iteration once lost FMPERF_DRIFT_P_VALUE).
        let keys = |c: &Criterion| c.figures.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&tiny), keys(&d));
    }

    #[test]
    fn short_iterations_fail_the_minute_gate_and_errors_fail_success_rate() {
        // 20 s is a third of a minute: the median bucket cannot reach 0.95 x REQ_MIN.
        let s = synth(20.0, 2.0, 100, |_, _| 50.0, |_, _| 20.0, Some(5));
        let v = s.judge(&fm());
        assert!(!criterion(&v, "throughput_gate").passed);
        let ok = criterion(&v, "success_rate");
        assert!(!ok.passed);
        assert_eq!(ok.figures["success_pct"], 80.0);
        assert!(v.reason.contains("0.95 x REQ_MIN") && v.reason.contains("success 80.0%"));
    }
}
