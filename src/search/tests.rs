//! Every path of the search, driven by scripted verdicts and by a "true capacity" oracle that
//! passes exactly the rates at or below a capacity C.

use super::*;
use Observation::{Sustainable as P, Unsustainable as F};

fn cfg(start: f64, threshold: Threshold, confirm: ConfirmPolicy) -> SearchConfig {
    SearchConfig {
        start_req_min: start,
        multiplier: 2.0,
        threshold,
        confirm,
        max_iterations: 1000,
        min_req_min: 0.5,
        outage_retries: 2,
        strategy: Strategy::Classic,
        probe: false,
        ci_stop_width: None,
        unit: Default::default(),
    }
}

/// Runs the search to the end; `oracle` sees the request and how many iterations came before.
fn drive(
    search: &mut Search,
    mut oracle: impl FnMut(&RunRequest, usize) -> Observation,
) -> SearchOutcome {
    for _ in 0..100_000 {
        match search.current() {
            Step::Done(outcome) => return outcome,
            Step::Run(req) => {
                let n = search.history().len();
                search.observe(oracle(&req, n));
            }
            Step::Probe => panic!("a search without a probe asked for one: {search:?}"),
        }
    }
    panic!("search did not finish within 100000 steps: {search:?}");
}

fn capacity(c: f64) -> impl FnMut(&RunRequest, usize) -> Observation {
    move |req, _| if req.req_min <= c { P } else { F }
}

/// Feeds the scripted observations in order and returns the step after the last.
fn script(search: &mut Search, obs: &[Observation]) -> Step {
    let mut step = search.current();
    for o in obs {
        step = search.observe(o.clone());
    }
    step
}

fn rates(search: &Search) -> Vec<f64> {
    search.history().iter().map(|h| h.req_min).collect()
}

fn run(req_min: f64, stage: Stage, attempt: u32) -> Step {
    Step::Run(RunRequest {
        req_min,
        stage,
        attempt,
        accept_early: false,
    })
}

fn done(step: Step) -> SearchOutcome {
    match step {
        Step::Done(outcome) => outcome,
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn first_step_runs_the_start_rate_and_current_is_idempotent() {
    let search = Search::new(cfg(2048.0, Threshold::Relative(0.1), ConfirmPolicy::Fail));
    assert_eq!(search.current(), run(2048.0, Stage::Ramp, 1));
    assert_eq!(search.current(), search.current());
    assert!(search.history().is_empty());
    assert_eq!(search.bounds(), (None, None));
    assert_eq!(search.config().start_req_min, 2048.0);
}

#[test]
fn ramps_up_then_bisects_to_the_exact_old_tool_sequence() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(10.0), ConfirmPolicy::None));
    let outcome = drive(&mut search, capacity(250.0));
    assert_eq!(
        rates(&search),
        [100.0, 200.0, 400.0, 300.0, 250.0, 275.0, 262.5, 256.25]
    );
    let stages: Vec<u8> = search.history().iter().map(|h| h.stage.number()).collect();
    assert_eq!(stages, [1, 1, 1, 2, 2, 2, 2, 2]);
    assert_eq!(outcome.stop, StopKind::Converged);
    assert_eq!(outcome.mst_req_min, Some(250.0));
    assert_eq!(outcome.lower_req_min, Some(250.0));
    assert_eq!(outcome.upper_req_min, Some(256.25));
    assert_eq!(outcome.iterations, 8);
    assert!(
        outcome.reason.contains("absolute threshold"),
        "{}",
        outcome.reason
    );
    assert_eq!(search.bounds(), (Some(250.0), Some(256.25)));
    let numbers: Vec<u32> = search.history().iter().map(|h| h.iteration).collect();
    assert_eq!(numbers, (1..=8).collect::<Vec<u32>>());
}

#[test]
fn relative_threshold_stops_when_the_gap_is_within_that_share_of_upper() {
    let mut search = Search::new(cfg(100.0, Threshold::Relative(0.1), ConfirmPolicy::None));
    let outcome = drive(&mut search, capacity(250.0));
    // (250, 300): 50 > 30 goes on; (250, 275): 25 <= 27.5 stops.
    assert_eq!(rates(&search), [100.0, 200.0, 400.0, 300.0, 250.0, 275.0]);
    assert_eq!(outcome.stop, StopKind::Converged);
    assert_eq!(
        (outcome.mst_req_min, outcome.upper_req_min),
        (Some(250.0), Some(275.0))
    );
    assert!(
        outcome.reason.contains("relative threshold"),
        "{}",
        outcome.reason
    );
}

#[test]
fn a_gap_exactly_at_the_threshold_stops() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(12.5), ConfirmPolicy::None));
    let outcome = drive(&mut search, capacity(250.0));
    assert_eq!(
        rates(&search),
        [100.0, 200.0, 400.0, 300.0, 250.0, 275.0, 262.5]
    );
    assert_eq!(
        (outcome.mst_req_min, outcome.upper_req_min),
        (Some(250.0), Some(262.5))
    );
}

#[test]
fn converges_within_the_threshold_of_capacity_for_both_threshold_kinds() {
    for threshold in [Threshold::Absolute(10.0), Threshold::Relative(0.05)] {
        for c in [3.7, 99.0, 100.0, 250.0, 777.7, 1999.99, 12345.6] {
            let mut search = Search::new(cfg(100.0, threshold, ConfirmPolicy::None));
            let outcome = drive(&mut search, capacity(c));
            assert_eq!(outcome.stop, StopKind::Converged, "C={c} {threshold:?}");
            let (lower, upper) = (outcome.mst_req_min.unwrap(), outcome.upper_req_min.unwrap());
            assert!(lower <= c && c < upper, "C={c}: [{lower}, {upper})");
            match threshold {
                Threshold::Absolute(t) => assert!(upper - lower <= t),
                Threshold::Relative(t) => assert!(upper - lower <= upper * t),
            }
        }
    }
}

#[test]
fn walks_down_from_a_failing_start_then_bisects() {
    let mut search = Search::new(cfg(1000.0, Threshold::Absolute(50.0), ConfirmPolicy::None));
    let outcome = drive(&mut search, capacity(300.0));
    assert_eq!(rates(&search), [1000.0, 500.0, 250.0, 375.0, 312.5, 281.25]);
    let stages: Vec<Stage> = search.history().iter().map(|h| h.stage).collect();
    use Stage::{Bisect as B, Ramp as R};
    assert_eq!(stages, [R, R, R, B, B, B]);
    assert_eq!(outcome.stop, StopKind::Converged);
    assert_eq!(outcome.mst_req_min, Some(281.25));
    assert_eq!(outcome.upper_req_min, Some(312.5));
}

#[test]
fn walking_down_below_the_floor_stops_without_an_mst() {
    let mut config = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None);
    config.min_req_min = 10.0;
    let mut search = Search::new(config);
    let outcome = drive(&mut search, capacity(5.0));
    assert_eq!(rates(&search), [100.0, 50.0, 25.0, 12.5]);
    assert_eq!(outcome.stop, StopKind::FloorReached);
    assert_eq!(outcome.mst_req_min, None);
    assert_eq!(outcome.upper_req_min, Some(12.5));
    assert_eq!(outcome.iterations, 4);
    assert!(outcome.reason.contains("floor of 10"), "{}", outcome.reason);
}

#[test]
fn iteration_cap_stops_with_the_last_pass_as_mst() {
    let mut config = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None);
    config.max_iterations = 5;
    let mut search = Search::new(config);
    let outcome = drive(&mut search, capacity(1e9));
    assert_eq!(rates(&search), [100.0, 200.0, 400.0, 800.0, 1600.0]);
    assert_eq!(outcome.stop, StopKind::IterationCap);
    assert_eq!(outcome.mst_req_min, Some(1600.0));
    assert_eq!(outcome.upper_req_min, None);
    assert_eq!(outcome.iterations, 5);
    assert!(outcome.reason.contains("cap of 5"), "{}", outcome.reason);
}

#[test]
fn iteration_cap_without_any_pass_has_no_mst() {
    let mut config = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None);
    config.max_iterations = 3;
    let mut search = Search::new(config);
    let outcome = drive(&mut search, capacity(0.0));
    assert_eq!(outcome.stop, StopKind::IterationCap);
    assert_eq!(outcome.mst_req_min, None);
    assert_eq!(outcome.upper_req_min, Some(25.0));
}

#[test]
fn iteration_cap_counts_confirmation_reruns() {
    let mut config = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Fail);
    config.max_iterations = 3;
    let mut search = Search::new(config);
    let outcome = drive(&mut search, capacity(0.0));
    assert_eq!(rates(&search), [100.0, 100.0, 50.0]);
    let attempts: Vec<u32> = search.history().iter().map(|h| h.attempt).collect();
    assert_eq!(attempts, [1, 2, 1]);
    assert_eq!(outcome.stop, StopKind::IterationCap);
    assert_eq!(outcome.iterations, 3);
}

#[test]
fn convergence_on_the_last_allowed_iteration_beats_the_cap() {
    for (cap, stop, upper) in [
        (8, StopKind::Converged, 256.25),
        (7, StopKind::IterationCap, 262.5),
    ] {
        let mut config = cfg(100.0, Threshold::Absolute(10.0), ConfirmPolicy::None);
        config.max_iterations = cap;
        let outcome = drive(&mut Search::new(config), capacity(250.0));
        assert_eq!(outcome.stop, stop, "cap {cap}");
        assert_eq!(outcome.mst_req_min, Some(250.0));
        assert_eq!(outcome.upper_req_min, Some(upper));
    }
}

#[test]
fn zero_iteration_cap_is_done_before_running() {
    let mut config = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None);
    config.max_iterations = 0;
    let outcome = done(Search::new(config).current());
    assert_eq!(outcome.stop, StopKind::IterationCap);
    assert_eq!(outcome.iterations, 0);
    assert_eq!(outcome.mst_req_min, None);
}

#[test]
fn unusable_stops_at_once_keeping_the_lower_bound_and_reason() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Both));
    let unusable = Observation::Unusable {
        reason: "all 40 requests failed".into(),
    };
    let outcome = done(script(&mut search, &[P, P, unusable.clone()]));
    assert_eq!(outcome.stop, StopKind::Unusable);
    assert_eq!(outcome.mst_req_min, Some(200.0));
    assert_eq!(outcome.upper_req_min, None);
    assert_eq!(outcome.iterations, 3);
    assert!(
        outcome.reason.contains("all 40 requests failed"),
        "{}",
        outcome.reason
    );
    assert!(outcome.reason.contains("400"), "{}", outcome.reason);
    assert_eq!(
        search.history().last().map(|h| &h.observation),
        Some(&unusable)
    );
}

#[test]
fn observe_after_done_returns_the_same_done_and_changes_nothing() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(10.0), ConfirmPolicy::None));
    let outcome = drive(&mut search, capacity(250.0));
    let before = search.clone();
    for obs in [
        P,
        F,
        Observation::Unusable {
            reason: "late".into(),
        },
    ] {
        assert_eq!(search.observe(obs), Step::Done(outcome.clone()));
    }
    assert_eq!(search, before);
}

#[test]
fn confirm_fail_counts_a_flaky_fail_that_passes_on_rerun_as_a_pass() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Fail));
    assert_eq!(script(&mut search, &[P, F]), run(200.0, Stage::Ramp, 2));
    assert_eq!(search.bounds(), (Some(100.0), None));
    assert_eq!(search.observe(P), run(400.0, Stage::Ramp, 1));
    assert_eq!(search.bounds(), (Some(200.0), None));
    let attempts: Vec<u32> = search.history().iter().map(|h| h.attempt).collect();
    assert_eq!(attempts, [1, 1, 2]);
}

#[test]
fn confirm_none_counts_the_same_flaky_fail_as_a_fail() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None));
    assert_eq!(script(&mut search, &[P, F]), run(150.0, Stage::Bisect, 1));
    assert_eq!(search.bounds(), (Some(100.0), Some(200.0)));
}

#[test]
fn confirm_fail_counts_a_repeated_fail_and_reruns_fails_in_bisection_too() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Fail));
    assert_eq!(
        script(&mut search, &[P, F, F]),
        run(150.0, Stage::Bisect, 1)
    );
    assert_eq!(search.bounds(), (Some(100.0), Some(200.0)));
    // A pass in bisection counts at once.
    assert_eq!(search.observe(P), run(175.0, Stage::Bisect, 1));
    assert_eq!(search.observe(F), run(175.0, Stage::Bisect, 2));
    assert_eq!(search.observe(F), run(162.5, Stage::Bisect, 1));
    assert_eq!(search.bounds(), (Some(150.0), Some(175.0)));
}

#[test]
fn confirm_both_is_fail_in_stage_one_and_needs_agreement_in_stage_two() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Both));
    // Stage 1: a pass counts at once, a fail is re-run.
    assert_eq!(search.observe(P), run(200.0, Stage::Ramp, 1));
    assert_eq!(search.observe(F), run(200.0, Stage::Ramp, 2));
    assert_eq!(search.observe(F), run(150.0, Stage::Bisect, 1));
    // Stage 2: a pass needs a second agreeing run.
    assert_eq!(search.observe(P), run(150.0, Stage::Bisect, 2));
    assert_eq!(search.bounds(), (Some(100.0), Some(200.0)));
    assert_eq!(search.observe(P), run(175.0, Stage::Bisect, 1));
    assert_eq!(search.bounds(), (Some(150.0), Some(200.0)));
    // Two agreeing fails decide without a third run.
    assert_eq!(script(&mut search, &[F, F]), run(162.5, Stage::Bisect, 1));
    assert_eq!(search.bounds(), (Some(150.0), Some(175.0)));
}

#[test]
fn confirm_both_breaks_a_tie_with_a_third_run() {
    // (first two verdicts, tie-break, expected bounds after, next rate)
    let cases = [
        ([P, F], P, (Some(175.0), Some(200.0)), 187.5),
        ([P, F], F, (Some(150.0), Some(175.0)), 162.5),
        ([F, P], P, (Some(175.0), Some(200.0)), 187.5),
        ([F, P], F, (Some(150.0), Some(175.0)), 162.5),
    ];
    for (first_two, third, bounds, next) in cases {
        let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Both));
        script(&mut search, &[P, F, F, P, P]);
        assert_eq!(search.current(), run(175.0, Stage::Bisect, 1));
        assert_eq!(
            script(&mut search, &first_two),
            run(175.0, Stage::Bisect, 3)
        );
        assert_eq!(search.observe(third), run(next, Stage::Bisect, 1));
        assert_eq!(search.bounds(), bounds);
    }
}

#[test]
fn serde_round_trip_mid_search_resumes_identically() {
    // A noisy oracle makes confirmations, disagreements and tie-breaks all happen.
    let noisy = |req: &RunRequest, n: usize| {
        let c = 333.0;
        let truth = req.req_min <= c;
        let flip = n % 4 == 3 && (req.req_min - c).abs() < 0.3 * c;
        if truth != flip { P } else { F }
    };
    let config = cfg(100.0, Threshold::Relative(0.02), ConfirmPolicy::Both);
    let mut whole = Search::new(config.clone());
    let outcome = drive(&mut whole, noisy);
    let attempts: Vec<u32> = whole.history().iter().map(|h| h.attempt).collect();
    assert!(
        attempts.contains(&3),
        "the noisy oracle should force a tie-break: {attempts:?}"
    );
    for k in 0..=whole.history().len() {
        let mut first = Search::new(config.clone());
        for _ in 0..k {
            let Step::Run(req) = first.current() else {
                unreachable!("ended before {k}")
            };
            let n = first.history().len();
            first.observe(noisy(&req, n));
        }
        let json = serde_json::to_string(&first).unwrap();
        let mut resumed: Search = serde_json::from_str(&json).unwrap();
        assert_eq!(resumed, first, "round trip after {k} observations");
        assert_eq!(drive(&mut resumed, noisy), outcome, "after {k}");
        assert_eq!(resumed, whole, "after {k}");
    }
}

#[test]
fn oracle_bounds_hold_for_many_capacities_starts_thresholds_and_policies() {
    let thresholds = [
        Threshold::Absolute(5.0),
        Threshold::Relative(0.05),
        Threshold::Absolute(0.0),
    ];
    let policies = [
        ConfirmPolicy::None,
        ConfirmPolicy::Fail,
        ConfirmPolicy::Both,
    ];
    for i in 0..300 {
        let c = 1.5 + f64::from(i) * 13.37;
        for start in [50.0, 1000.0] {
            for threshold in thresholds {
                let mut bounds_by_policy = Vec::new();
                for confirm in policies {
                    let outcome = drive(
                        &mut Search::new(cfg(start, threshold, confirm)),
                        capacity(c),
                    );
                    assert_eq!(outcome.stop, StopKind::Converged, "C={c} start={start}");
                    let lower = outcome.mst_req_min.unwrap();
                    let upper = outcome.upper_req_min.unwrap();
                    assert!(
                        lower <= c && c < upper,
                        "C={c} start={start}: [{lower}, {upper})"
                    );
                    let gap = upper - lower;
                    match threshold {
                        Threshold::Absolute(t) => assert!(gap <= t.max(0.01) + 1e-9, "gap {gap}"),
                        Threshold::Relative(t) => assert!(gap <= upper * t, "gap {gap}"),
                    }
                    bounds_by_policy.push((lower, upper));
                }
                // With a truthful server confirmation only costs runs; it never moves the answer.
                assert!(
                    bounds_by_policy.windows(2).all(|w| w[0] == w[1]),
                    "{bounds_by_policy:?}"
                );
            }
        }
    }
}

#[test]
fn rounding_never_stalls_the_ramp_at_tiny_rates() {
    let mut config = cfg(0.01, Threshold::Absolute(1.0), ConfirmPolicy::None);
    config.multiplier = 1.2;
    config.max_iterations = 4;
    let mut search = Search::new(config);
    drive(&mut search, capacity(1e9));
    assert_eq!(rates(&search), [0.01, 0.02, 0.03, 0.04]);
}

#[test]
fn unsearchable_config_is_done_unusable_naming_the_value() {
    let bad = [
        (f64::NAN, 2.0, "start_req_min"),
        (-5.0, 2.0, "start_req_min"),
        (100.0, 1.0, "multiplier"),
        (100.0, f64::INFINITY, "multiplier"),
    ];
    for (start, multiplier, key) in bad {
        let mut config = cfg(start, Threshold::Absolute(1.0), ConfirmPolicy::None);
        config.multiplier = multiplier;
        let mut search = Search::new(config);
        let outcome = done(search.observe(P));
        assert_eq!(outcome.stop, StopKind::Unusable);
        assert_eq!(outcome.iterations, 0);
        assert!(outcome.reason.contains(key), "{}", outcome.reason);
        assert!(search.history().is_empty());
    }
    let mut config = cfg(100.0, Threshold::Relative(-0.1), ConfirmPolicy::None);
    assert_eq!(
        done(Search::new(config.clone()).current()).stop,
        StopKind::Unusable
    );
    config.threshold = Threshold::Absolute(1.0);
    config.min_req_min = f64::NAN;
    assert_eq!(done(Search::new(config).current()).stop, StopKind::Unusable);
}

#[test]
fn serde_shapes_of_observation_and_stop_kind() {
    assert_eq!(json(&P), r#"{"kind":"sustainable"}"#);
    assert_eq!(json(&F), r#"{"kind":"unsustainable"}"#);
    let unusable = Observation::Unusable {
        reason: "down".into(),
    };
    assert_eq!(json(&unusable), r#"{"kind":"unusable","reason":"down"}"#);
    // One spelling for the stop kind in every file: mst.json's kebab-case.
    assert_eq!(json(&StopKind::IterationCap), r#""iteration-cap""#);
    assert_eq!(json(&StopKind::FloorReached), r#""floor-reached""#);
    assert_eq!(
        json(&Threshold::Relative(0.1)),
        r#"{"type":"relative","value":0.1}"#
    );
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

fn outage() -> Observation {
    Observation::Outage {
        reason: "connection refused".into(),
    }
}

#[test]
fn an_outage_reruns_the_same_step_and_is_no_verdict() {
    let mut s = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None));
    assert!(matches!(s.observe(Observation::Sustainable), Step::Run(r) if r.req_min == 200.0));
    // Two outages at 200: the same run is asked for again, bounds unchanged.
    for _ in 0..2 {
        match s.observe(outage()) {
            Step::Run(r) => assert_eq!((r.req_min, r.attempt), (200.0, 1)),
            done => panic!("{done:?}"),
        }
        assert_eq!(s.bounds(), (Some(100.0), None));
    }
    // A judged iteration resets the count: two more outages are allowed again.
    assert!(matches!(s.observe(Observation::Sustainable), Step::Run(r) if r.req_min == 400.0));
    assert!(matches!(s.observe(outage()), Step::Run(r) if r.req_min == 400.0));
    assert!(matches!(s.observe(outage()), Step::Run(r) if r.req_min == 400.0));
    // The third in a row ends the search, keeping what was learnt.
    match s.observe(outage()) {
        Step::Done(o) => {
            assert_eq!(o.stop, StopKind::Unusable);
            assert_eq!(o.mst_req_min, Some(200.0));
            assert!(o.reason.contains("3 iteration(s) in a row"), "{}", o.reason);
            assert!(o.reason.contains("connection refused"), "{}", o.reason);
            assert_eq!(o.iterations, 7);
        }
        run => panic!("{run:?}"),
    }
}

#[test]
fn an_outage_during_a_confirmation_keeps_the_pending_verdict() {
    let mut s = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Fail));
    assert!(matches!(s.observe(Observation::Unsustainable), Step::Run(r) if r.attempt == 2));
    assert!(matches!(s.observe(outage()), Step::Run(r) if r.attempt == 2 && r.req_min == 100.0));
    // The confirmation then fails: the fail counts and the walk down begins.
    assert!(matches!(s.observe(Observation::Unsustainable), Step::Run(r) if r.req_min == 50.0));
}

#[test]
fn outages_count_towards_the_iteration_cap_and_zero_retries_stop_at_once() {
    let mut c = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None);
    c.outage_retries = 0;
    let mut s = Search::new(c);
    assert!(matches!(s.observe(outage()), Step::Done(o) if o.stop == StopKind::Unusable));

    let mut c = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None);
    c.max_iterations = 2;
    let mut s = Search::new(c);
    s.observe(outage());
    assert!(matches!(s.observe(outage()), Step::Done(o) if o.stop == StopKind::IterationCap));
}

#[test]
fn a_state_saved_before_outage_retries_existed_still_loads() {
    let s = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None));
    let mut v = serde_json::to_value(&s).unwrap();
    v.as_object_mut().unwrap().remove("outages_in_a_row");
    v["cfg"].as_object_mut().unwrap().remove("outage_retries");
    let back: Search = serde_json::from_value(v).unwrap();
    assert_eq!(back.config().outage_retries, 0);
}

#[test]
fn client_limited_counts_neither_way_and_stops_with_advice() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Fail));
    let limited = Observation::ClientLimited {
        reason: "p99 schedule lag 40.0 ms is above CLIENT_LAG_LIMIT_MS=10 ms".into(),
    };
    // 100 passes, 200 fails once (waiting for its confirmation), then the confirmation is
    // client-limited twice in a row: the pending fail must not become the upper bound.
    assert_eq!(
        script(&mut search, &[P, F, limited.clone()]),
        run(200.0, Stage::Ramp, 2),
        "the first client-limited iteration is run again as it was"
    );
    let outcome = done(search.observe(limited.clone()));
    assert_eq!(outcome.stop, StopKind::ClientLimited);
    assert_eq!(
        (outcome.mst_req_min, outcome.upper_req_min),
        (Some(100.0), None)
    );
    assert_eq!(outcome.iterations, 4);
    for needle in [
        "client, not the server",
        "200",
        "2 iterations in a row",
        "CLIENT_LAG_LIMIT_MS",
        "srun",
    ] {
        assert!(
            outcome.reason.contains(needle),
            "{needle}: {}",
            outcome.reason
        );
    }
    assert_eq!(
        search.history().last().map(|h| &h.observation),
        Some(&limited)
    );
    assert_eq!(search.observe(P), Step::Done(outcome));
}

#[test]
fn client_limited_in_bisection_keeps_both_bounds() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None));
    assert_eq!(script(&mut search, &[P, F]), run(150.0, Stage::Bisect, 1));
    let limited = Observation::ClientLimited {
        reason: "sent 2.0 req/s".into(),
    };
    assert_eq!(
        search.observe(limited.clone()),
        run(150.0, Stage::Bisect, 1)
    );
    let outcome = done(search.observe(limited));
    assert_eq!(outcome.stop, StopKind::ClientLimited);
    assert_eq!(
        (outcome.lower_req_min, outcome.upper_req_min),
        (Some(100.0), Some(200.0))
    );
    assert_eq!(
        json(&Observation::ClientLimited { reason: "x".into() }),
        r#"{"kind":"client_limited","reason":"x"}"#
    );
    assert_eq!(json(&StopKind::ClientLimited), r#""client-limited""#);
}

#[test]
fn a_finished_search_saved_with_snake_case_stop_kinds_still_reads() {
    // state.json before the stop kind had one spelling wrote `iteration_cap`; a resumed run
    // must read it, and writes the kebab-case spelling from then on.
    let old = r#"{"mst_req_min":100.0,"lower_req_min":100.0,"upper_req_min":null,
        "iterations":3,"reason":"cap","stop":"iteration_cap"}"#;
    let outcome: SearchOutcome = serde_json::from_str(old).expect("old spelling reads");
    assert_eq!(outcome.stop, StopKind::IterationCap);
    assert!(json(&outcome).contains(r#""stop":"iteration-cap""#));
}

#[test]
fn a_client_limited_iteration_that_passes_on_its_rerun_lets_the_search_go_on() {
    let limited = || Observation::ClientLimited {
        reason: "12 of 100 requests were sent late".into(),
    };
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Fail));
    // A stall on the first iteration, then the re-run passes: the ramp goes on.
    assert_eq!(
        script(&mut search, &[limited(), P]),
        run(200.0, Stage::Ramp, 1)
    );
    // The count restarts after a judged iteration: another single stall is re-run too.
    assert_eq!(search.observe(limited()), run(200.0, Stage::Ramp, 1));
    assert_eq!(search.observe(F), run(200.0, Stage::Ramp, 2));
    // Re-runs count towards the iteration cap.
    let mut c = cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::None);
    c.max_iterations = 1;
    let mut capped = Search::new(c);
    assert!(matches!(
        capped.observe(limited()),
        Step::Done(o) if o.stop == StopKind::IterationCap
    ));
}

#[test]
fn a_client_limited_retry_survives_a_save_and_resume() {
    let mut search = Search::new(cfg(100.0, Threshold::Absolute(1.0), ConfirmPolicy::Fail));
    search.observe(Observation::ClientLimited { reason: "x".into() });
    let mut back: Search = serde_json::from_str(&json(&search)).unwrap();
    assert_eq!(back, search);
    // The retry was used before the save: a second one in a row ends the search.
    let outcome = done(back.observe(Observation::ClientLimited { reason: "y".into() }));
    assert_eq!(outcome.stop, StopKind::ClientLimited);
    // A state written before the count existed loads with none used.
    let mut v = serde_json::to_value(&search).unwrap();
    v.as_object_mut().unwrap().remove("client_limited_in_a_row");
    let mut old: Search = serde_json::from_value(v).unwrap();
    assert_eq!(
        old.observe(Observation::ClientLimited { reason: "z".into() }),
        run(100.0, Stage::Ramp, 1)
    );
}

mod interval_stop;
mod whole;
