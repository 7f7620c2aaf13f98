//! The stop rule on the confidence interval's width (`CI_STOP_WIDTH`): it ends a search the gap
//! rule would not, never without a counted pass and fail, and a resumed search takes the same
//! steps.

use super::*;

fn with_interval_stop(threshold: Threshold, width: f64, strategy: Strategy) -> SearchConfig {
    SearchConfig {
        ci_stop_width: Some(width),
        unit: Default::default(),
        strategy,
        ..cfg(300.0, threshold, ConfirmPolicy::Fail)
    }
}

#[test]
fn the_interval_stop_ends_a_search_the_gap_rule_would_not() {
    // A gap rule of 0.1% against a capacity of 1179: the classic search bisects for long.
    let tight = Threshold::Relative(0.001);
    let mut plain = Search::new(cfg(300.0, tight, ConfirmPolicy::Fail));
    let plain_outcome = drive(&mut plain, capacity(1179.0));
    for strategy in [Strategy::Classic, Strategy::Adaptive] {
        let mut s = Search::new(with_interval_stop(tight, 0.6, strategy));
        let outcome = drive(&mut s, capacity(1179.0));
        assert_eq!(outcome.stop, StopKind::Converged, "{outcome:?}");
        assert!(
            outcome.reason.contains("confidence interval")
                && outcome.reason.contains("CI_STOP_WIDTH"),
            "{}",
            outcome.reason
        );
        assert!(
            outcome.iterations < plain_outcome.iterations,
            "{strategy:?}: {} vs {}",
            outcome.iterations,
            plain_outcome.iterations
        );
        // The MST is still the highest counted pass, and below the capacity.
        let (lower, _) = s.bounds();
        assert_eq!(outcome.mst_req_min, lower);
        assert!(lower.is_some_and(|l| l <= 1179.0), "{outcome:?}");
        // And the interval it stopped on is as narrow as asked.
        let points: Vec<(f64, bool)> = s
            .history()
            .iter()
            .filter_map(|h| h.observation.verdict().map(|v| (h.req_min, v)))
            .collect();
        let c = confidence::interval(&points, confidence::LEVEL).expect("an interval");
        assert!(
            (c.high_req_min - c.low_req_min) / c.estimate_req_min <= 0.6,
            "{c:?}"
        );
    }
}

#[test]
fn the_interval_stop_never_ends_a_search_without_a_counted_pass_and_fail() {
    // The widest width allowed: any interval would do, yet passes alone never stop it, and a
    // first fail waits for its confirmation.
    let mut s = Search::new(with_interval_stop(
        Threshold::Relative(0.001),
        0.999,
        Strategy::Classic,
    ));
    for _ in 0..4 {
        assert!(matches!(s.observe(P), Step::Run(_)), "{s:?}");
    }
    assert!(
        matches!(s.observe(F), Step::Run(_)),
        "a pending fail: {s:?}"
    );
    let Step::Done(outcome) = s.observe(F) else {
        panic!("the confirmed fail gives a pass and a fail: {s:?}")
    };
    assert_eq!(outcome.stop, StopKind::Converged);
    assert_eq!(outcome.mst_req_min, Some(2400.0));
    assert_eq!(outcome.upper_req_min, Some(4800.0));
    // Walking down: fails only, no stop.
    let mut s = Search::new(with_interval_stop(
        Threshold::Relative(0.001),
        0.999,
        Strategy::Classic,
    ));
    for _ in 0..6 {
        assert!(matches!(s.observe(F), Step::Run(_)), "{s:?}");
    }
}

#[test]
fn a_search_with_the_interval_stop_resumes_mid_search_with_the_same_steps() {
    let config = with_interval_stop(Threshold::Relative(0.001), 0.6, Strategy::Classic);
    let mut whole = Search::new(config.clone());
    let whole_outcome = drive(&mut whole, capacity(1179.0));
    for cut in 1..whole_outcome.iterations as usize {
        let mut first = Search::new(config.clone());
        let mut oracle = capacity(1179.0);
        for _ in 0..cut {
            let Step::Run(req) = first.current() else {
                panic!("ended before {cut}")
            };
            first.observe(oracle(&req, 0));
        }
        let saved = serde_json::to_string(&first).expect("serialise");
        let mut resumed: Search = serde_json::from_str(&saved).expect("deserialise");
        assert_eq!(resumed, first);
        let outcome = drive(&mut resumed, capacity(1179.0));
        assert_eq!(outcome, whole_outcome, "cut at {cut}");
        assert_eq!(resumed.history(), whole.history(), "cut at {cut}");
    }
}

#[test]
fn an_interval_stop_width_outside_zero_to_one_is_refused() {
    for width in [0.0, 1.0, -0.1, 2.0, f64::NAN] {
        let s = Search::new(with_interval_stop(
            Threshold::Relative(0.1),
            width,
            Strategy::Classic,
        ));
        let Step::Done(outcome) = s.current() else {
            panic!("{width}: {s:?}")
        };
        assert_eq!(outcome.stop, StopKind::Unusable);
        assert!(
            outcome.reason.contains("ci_stop_width"),
            "{}",
            outcome.reason
        );
    }
}
