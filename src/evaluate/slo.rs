//! `slo`: the other definition of sustainable — "the highest rate that still meets my latency
//! SLO". Each configured threshold `SLO_<METRIC>_P<NN>_MS` is one criterion: the NN-th
//! percentile of the metric over the steady window's successful requests must not exceed it.
//! `SLO_GOODPUT_PCT` adds a goodput floor: the share of the window's requests (failed ones count
//! as misses) that meet every per-request threshold of TTFT, TPOT and E2E. `SUCCESS_RATE` is
//! the shared [`super::gate`].
//!
//! Metrics are those of [`crate::metrics::request_metrics`] (from the actual send time); ITL
//! percentiles pool every inter-token gap of the window's requests. ITL is left out of goodput,
//! as in vLLM's benchmark: one slow gap among hundreds does not make a request miss its SLO.

use super::{Criterion, EvalInput, Evaluator, Verdict, cmp_word, figures};
use crate::metrics::{RequestMetrics, itl_ms, request_metrics, send_window};
use crate::record::RequestRecord;
use crate::stats::percentile;

/// A latency the SLO bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SloMetric {
    /// Time to first token.
    Ttft,
    /// Time per output token after the first.
    Tpot,
    /// Inter-token latency (every gap).
    Itl,
    /// End-to-end latency.
    E2e,
}

impl SloMetric {
    /// Every metric, in key order.
    pub const ALL: [SloMetric; 4] = [
        SloMetric::Ttft,
        SloMetric::Tpot,
        SloMetric::Itl,
        SloMetric::E2e,
    ];

    /// The metric as written in keys (`TTFT`).
    pub fn key_part(self) -> &'static str {
        match self {
            SloMetric::Ttft => "TTFT",
            SloMetric::Tpot => "TPOT",
            SloMetric::Itl => "ITL",
            SloMetric::E2e => "E2E",
        }
    }

    fn per_request(self, m: &RequestMetrics) -> Option<f64> {
        match self {
            SloMetric::Ttft => m.ttft_ms,
            SloMetric::Tpot => m.tpot_ms,
            SloMetric::Itl => None,
            SloMetric::E2e => Some(m.e2e_ms),
        }
    }
}

/// Percentiles an SLO key may name.
pub const PERCENTILES: [u8; 3] = [50, 90, 99];

/// The key of one threshold, e.g. `SLO_TTFT_P90_MS`.
pub fn key(metric: SloMetric, percentile: u8) -> String {
    format!("SLO_{}_P{percentile}_MS", metric.key_part())
}

/// One threshold: the `percentile`-th percentile of `metric` at most `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SloThreshold {
    pub metric: SloMetric,
    pub percentile: u8,
    pub max_ms: f64,
}

/// The configured SLO.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SloSettings {
    /// Percentile thresholds, in key order.
    pub thresholds: Vec<SloThreshold>,
    /// `SLO_GOODPUT_PCT`: minimum share of requests meeting every per-request threshold.
    pub goodput_pct: Option<f64>,
}

impl SloSettings {
    /// No threshold and no goodput floor: nothing to judge.
    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty() && self.goodput_pct.is_none()
    }

    /// The tightest threshold on `metric` (what one request must meet for goodput).
    fn per_request_limit(&self, metric: SloMetric) -> Option<f64> {
        self.thresholds
            .iter()
            .filter(|t| t.metric == metric)
            .map(|t| t.max_ms)
            .min_by(f64::total_cmp)
    }
}

/// The `slo` evaluator.
#[derive(Debug, Clone)]
pub struct SloEvaluator {
    pub slo: SloSettings,
}

impl Evaluator for SloEvaluator {
    fn name(&self) -> &'static str {
        "slo"
    }

    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        let window = window_records(input);
        let mut criteria: Vec<Criterion> = self
            .slo
            .thresholds
            .iter()
            .map(|t| threshold(&window, t))
            .collect();
        if let Some(min) = self.slo.goodput_pct {
            criteria.push(goodput(&window, &self.slo, min));
        }
        Verdict::from_criteria(criteria)
    }
}

/// The steady window's requests (intended send in it); all requests when the window is empty.
fn window_records<'a>(input: &EvalInput<'a>) -> Vec<&'a RequestRecord> {
    let (w0, w1) = send_window(input.meta);
    let inside: Vec<&RequestRecord> = input
        .records
        .iter()
        .filter(|r| r.intended_send >= w0 && r.intended_send < w1)
        .collect();
    if inside.is_empty() {
        input.records.iter().collect()
    } else {
        inside
    }
}

fn threshold(window: &[&RequestRecord], t: &SloThreshold) -> Criterion {
    let ok = window.iter().filter(|r| r.success());
    let values: Vec<f64> = match t.metric {
        SloMetric::Itl => ok.flat_map(|r| itl_ms(r)).collect(),
        m => ok
            .filter_map(|r| m.per_request(&request_metrics(r)))
            .collect(),
    };
    let name = format!("{}_p{}", t.metric.key_part().to_lowercase(), t.percentile);
    let Some(value) = percentile(&values, f64::from(t.percentile)) else {
        return Criterion {
            name,
            passed: true,
            figures: figures(&[
                ("value_ms", f64::NAN),
                ("max_ms", t.max_ms),
                ("samples", 0.0),
            ]),
            detail: format!(
                "{} p{}: no successful sample in the window",
                t.metric.key_part(),
                t.percentile
            ),
        };
    };
    let passed = value <= t.max_ms;
    Criterion {
        name,
        passed,
        figures: figures(&[
            ("value_ms", value),
            ("max_ms", t.max_ms),
            ("samples", values.len() as f64),
        ]),
        detail: format!(
            "{} p{} {value:.1} ms {} {} {}",
            t.metric.key_part(),
            t.percentile,
            cmp_word(passed, "<=", ">"),
            key(t.metric, t.percentile),
            t.max_ms
        ),
    }
}

fn goodput(window: &[&RequestRecord], slo: &SloSettings, min_pct: f64) -> Criterion {
    let limits: Vec<(SloMetric, f64)> = [SloMetric::Ttft, SloMetric::Tpot, SloMetric::E2e]
        .into_iter()
        .filter_map(|m| slo.per_request_limit(m).map(|l| (m, l)))
        .collect();
    let met = window
        .iter()
        .filter(|r| r.success())
        .filter(|r| {
            let m = request_metrics(r);
            // A request lacking the metric (e.g. TPOT of a one-token answer) is not held to it.
            limits
                .iter()
                .all(|(metric, max)| metric.per_request(&m).is_none_or(|v| v <= *max))
        })
        .count();
    let pct = if window.is_empty() {
        100.0
    } else {
        100.0 * met as f64 / window.len() as f64
    };
    let passed = pct >= min_pct;
    Criterion {
        name: "goodput".into(),
        passed,
        figures: figures(&[
            ("goodput_pct", pct),
            ("min_pct", min_pct),
            ("met", met as f64),
            ("requests", window.len() as f64),
        ]),
        detail: format!(
            "goodput {pct:.1}% ({met} of {} requests met every per-request SLO) {} SLO_GOODPUT_PCT {min_pct}%",
            window.len(),
            cmp_word(passed, ">=", "<"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::testdata::{criterion, synth, wobble};

    fn ev(thresholds: &[(SloMetric, u8, f64)], goodput_pct: Option<f64>) -> SloEvaluator {
        SloEvaluator {
            slo: SloSettings {
                thresholds: thresholds
                    .iter()
                    .map(|&(metric, percentile, max_ms)| SloThreshold {
                        metric,
                        percentile,
                        max_ms,
                    })
                    .collect(),
                goodput_pct,
            },
        }
    }

    /// TTFT 100 ms ± 20, then 10 tokens 20 ms apart: E2E ≈ 280 ms, TPOT = ITL = 20 ms.
    fn load() -> crate::evaluate::testdata::Synth {
        synth(
            60.0,
            5.0,
            600,
            |i, _| 100.0 + 20.0 * wobble(i),
            |_, _| 20.0,
            None,
        )
    }

    #[test]
    fn loose_thresholds_pass_and_carry_their_figures() {
        let e = ev(
            &[
                (SloMetric::Ttft, 90, 150.0),
                (SloMetric::Tpot, 50, 25.0),
                (SloMetric::Itl, 99, 25.0),
                (SloMetric::E2e, 99, 400.0),
            ],
            Some(99.0),
        );
        let v = load().judge(&e);
        assert!(v.sustainable, "{}", v.reason);
        let ttft = criterion(&v, "ttft_p90");
        assert!((ttft.figures["value_ms"] - 116.0).abs() < 2.0, "{ttft:?}");
        assert!((criterion(&v, "itl_p99").figures["value_ms"] - 20.0).abs() < 0.01);
        assert_eq!(criterion(&v, "goodput").figures["goodput_pct"], 100.0);
    }

    #[test]
    fn a_tight_threshold_fails_naming_its_key() {
        let v = load().judge(&ev(&[(SloMetric::Ttft, 90, 100.0)], None));
        assert!(!v.sustainable);
        assert!(v.reason.contains("> SLO_TTFT_P90_MS 100"), "{}", v.reason);
    }

    #[test]
    fn goodput_counts_failures_as_misses_and_the_edge_is_inclusive() {
        // TTFT 100..120 ms: a 110-ms per-request limit is met by about half.
        let s = synth(
            60.0,
            5.0,
            600,
            |i, _| 110.0 + 10.0 * wobble(i),
            |_, _| 20.0,
            Some(10),
        );
        let v = s.judge(&ev(&[(SloMetric::Ttft, 50, 110.0)], Some(40.0)));
        let g = criterion(&v, "goodput");
        let pct = g.figures["goodput_pct"];
        assert!(pct > 40.0 && pct < 50.0, "{g:?}");
        // Exactly at the floor passes.
        let at = s.judge(&ev(&[(SloMetric::Ttft, 50, 110.0)], Some(pct)));
        assert!(criterion(&at, "goodput").passed);
        let above = s.judge(&ev(&[(SloMetric::Ttft, 50, 110.0)], Some(pct + 0.1)));
        assert!(!criterion(&above, "goodput").passed);
    }
}
