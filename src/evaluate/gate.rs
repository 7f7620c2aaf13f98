//! The success-rate gate: the one criterion every verdict shares. Applied once around the
//! configured evaluator (one, or several in [`super::AllOf`]), so a combined verdict judges
//! `SUCCESS_RATE` once and writes one set of `SUCCESS_RATE_*` columns instead of one per
//! evaluator.

use super::{Criterion, EvalInput, Evaluator, Verdict, figures};
use crate::record::{ErrorKind, RequestRecord};

/// An evaluator behind the success-rate gate: its criteria with [`success_rate`] inserted at
/// [`Evaluator::gate_position`], so each evaluator keeps the criterion order (and columns, and
/// reason) it had when it judged the success rate itself.
pub struct Gated {
    /// `SUCCESS_RATE`, percent.
    pub success_rate_pct: f64,
    /// The evaluator the gate wraps.
    pub inner: Box<dyn Evaluator>,
}

impl Evaluator for Gated {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        let mut criteria = self.inner.evaluate(input).criteria;
        let at = self.inner.gate_position().min(criteria.len());
        criteria.insert(at, success_rate(input.records, self.success_rate_pct));
        Verdict::from_criteria(criteria)
    }
}

/// `success_rate`: share of successful requests over the whole iteration.
pub fn success_rate(records: &[RequestRecord], min_pct: f64) -> Criterion {
    let ok = records.iter().filter(|r| r.success()).count();
    let pct = if records.is_empty() {
        100.0
    } else {
        100.0 * ok as f64 / records.len() as f64
    };
    let rate_limited = records
        .iter()
        .filter(|r| r.error == Some(ErrorKind::RateLimited))
        .count();
    let passed = pct >= min_pct;
    Criterion {
        name: "success_rate".into(),
        passed,
        figures: figures(&[
            ("success_pct", pct),
            ("min_pct", min_pct),
            ("failed", (records.len() - ok) as f64),
            ("rate_limited", rate_limited as f64),
        ]),
        detail: format!(
            "success {pct:.1}% {} SUCCESS_RATE {min_pct}% ({} failed, {rate_limited} of them HTTP 429)",
            if passed { ">=" } else { "<" },
            records.len() - ok
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::queue::QueueSettings;
    use crate::evaluate::testdata::synth;
    use crate::evaluate::{EvaluatorSpec, build};

    fn queue() -> EvaluatorSpec {
        EvaluatorSpec::Queue(QueueSettings {
            growth_window_pct: 2.0,
            growth_min_ms: 250.0,
            throughput_min_pct: 95.0,
        })
    }

    fn names(v: &Verdict) -> Vec<&str> {
        v.criteria.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn a_single_evaluator_keeps_its_criteria_in_their_old_order() {
        let s = synth(60.0, 5.0, 300, |_, _| 50.0, |_, _| 20.0, Some(5));
        let v = s.judge(build(95.0, &[queue()]).as_ref());
        assert_eq!(
            names(&v),
            [
                "success_rate",
                "throughput",
                "queue_delay_trend",
                "backlog_trend"
            ]
        );
        let v = s.judge(build(95.0, &[EvaluatorSpec::Fmperf]).as_ref());
        assert_eq!(names(&v), ["throughput_gate", "success_rate", "drift"]);
    }

    #[test]
    fn combined_evaluators_judge_the_success_rate_once() {
        // Every fifth request fails: 80% < 95%, so the one gate fails the verdict.
        let s = synth(60.0, 5.0, 300, |_, _| 50.0, |_, _| 20.0, Some(5));
        let specs = [
            queue(),
            EvaluatorSpec::Fmperf,
            EvaluatorSpec::Halves { drift_min_pct: 5.0 },
        ];
        let v = s.judge(build(95.0, &specs).as_ref());
        let gates: Vec<&str> = names(&v)
            .into_iter()
            .filter(|n| n.contains("success_rate"))
            .collect();
        assert_eq!(gates, ["success_rate"], "{:?}", names(&v));
        assert_eq!(names(&v)[0], "success_rate");
        assert!(!v.sustainable);
        assert_eq!(
            v.reason.matches("SUCCESS_RATE 95%").count(),
            1,
            "{}",
            v.reason
        );
        assert!(names(&v).contains(&"queue_queue_delay_trend"));
        assert!(names(&v).contains(&"fmperf_drift"));
    }
}
