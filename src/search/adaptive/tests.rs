//! The adaptive search's paths, driven by a "true capacity" server: it passes exactly the rates
//! at or below a capacity C, completes the offered rate below it and C above it (a
//! work-conserving server), measured over 600-s windows.

use super::super::*;
use super::MIN_COMPLETIONS;
use Observation::{Sustainable as P, Unsustainable as F};

const WINDOW_S: f64 = 600.0;

fn cfg(start: f64, threshold: Threshold, confirm: ConfirmPolicy, probe: bool) -> SearchConfig {
    SearchConfig {
        start_req_min: start,
        multiplier: 2.0,
        threshold,
        confirm,
        max_iterations: 60,
        min_req_min: 0.5,
        outage_retries: 2,
        strategy: Strategy::Adaptive,
        probe,
        ci_stop_width: None,
        unit: Default::default(),
    }
}

fn relative(start: f64) -> SearchConfig {
    cfg(start, Threshold::Relative(0.1), ConfirmPolicy::Fail, false)
}

/// Completions a server of capacity `c` shows at `offered` over [`WINDOW_S`].
/// Saturated when the shortfall is beyond 3 σ of the offered count (the driver also reads an
/// early abort as saturation).
fn measured(c: f64, offered: f64) -> Throughput {
    let t = Throughput {
        completions: (offered.min(c) * WINDOW_S / 60.0).round() as u64,
        window_s: WINDOW_S,
        saturated: false,
    };
    Throughput {
        saturated: t.saturated_at(offered),
        ..t
    }
}

/// Runs the search to the end against capacity `c`; a probe measures `probe_c`.
fn drive(search: &mut Search, c: f64, probe_c: f64) -> SearchOutcome {
    for _ in 0..10_000 {
        match search.current() {
            Step::Done(outcome) => return outcome,
            Step::Probe => {
                let probe = Throughput {
                    saturated: true,
                    ..measured(probe_c, probe_c)
                };
                search.observe_probe(Some(probe));
            }
            Step::Run(req) => {
                let obs = if req.req_min <= c { P } else { F };
                search.observe_measured(obs, Some(measured(c, req.req_min)));
            }
        }
    }
    panic!("did not finish: {search:?}");
}

fn rates(search: &Search) -> Vec<f64> {
    search.history().iter().map(|h| h.req_min).collect()
}

#[test]
fn an_overloaded_fail_aims_the_next_rate_just_under_the_capacity_it_measured() {
    // Classic runs 300, 600, 1200, 1200 (confirmation), 900, 1050, 1125: seven iterations.
    let mut s = Search::new(relative(300.0));
    let outcome = drive(&mut s, 1179.0, 0.0);
    // 1200 fails having completed 11790 of 12000 in the 600-s window — 210 short, within
    // 3 sigma (~329) — so that fail is not read as saturation and is confirmed; then 0.925 x
    // 1200 is aimed under the fail (the capacity is just under it).
    assert_eq!(rates(&s)[..4], [300.0, 600.0, 1200.0, 1200.0]);
    assert_eq!(outcome.stop, StopKind::Converged);
    // A ramp that overshoots by 2x measures saturation: the fail counts at once and the
    // next rate is aimed at 0.925 x the measured capacity.
    let mut s = Search::new(relative(400.0));
    let outcome = drive(&mut s, 1179.0, 0.0);
    assert_eq!(rates(&s), [400.0, 800.0, 1600.0, 1090.58]);
    assert_eq!(outcome.mst_req_min, Some(1090.58));
    assert_eq!(outcome.upper_req_min, Some(1600.0));
    assert_eq!(outcome.stop, StopKind::Converged);
    assert!(
        outcome.reason.contains("saturated completion rate of 1179"),
        "{}",
        outcome.reason
    );
    let classic = {
        let mut c = Search::new(SearchConfig {
            strategy: Strategy::Classic,
            ..relative(400.0)
        });
        drive(&mut c, 1179.0, 0.0);
        c.history().len()
    };
    assert!(
        s.history().len() < classic,
        "adaptive {} vs classic {classic}",
        s.history().len()
    );
}

#[test]
fn a_saturated_fail_needs_no_confirmation_but_an_unmeasured_one_does() {
    let mut s = Search::new(relative(400.0));
    s.observe_measured(P, Some(measured(1000.0, 400.0)));
    // Offered 800, completed 800: a fail (say a verdict on latency) that measured no shortfall.
    let step = s.observe_measured(F, Some(measured(1000.0, 800.0)));
    assert!(
        matches!(step, Step::Run(ref r) if r.req_min == 800.0 && r.attempt == 2),
        "{step:?}"
    );
    // The re-run also fails, now at a measured shortfall: counted.
    let step = s.observe_measured(F, Some(measured(600.0, 800.0)));
    let Step::Run(r) = step else {
        panic!("{step:?}")
    };
    assert_eq!(r.attempt, 1);
    assert_eq!(r.req_min, 555.0, "aimed at 0.925 x 600");
    assert_eq!(s.bounds(), (Some(400.0), Some(800.0)));
    // Without a throughput at all a fail is confirmed as in the classic search.
    let mut s = Search::new(relative(400.0));
    let step = s.observe(F);
    assert!(
        matches!(step, Step::Run(ref r) if r.attempt == 2),
        "{step:?}"
    );
}

#[test]
fn the_probe_aims_the_first_iteration_and_a_check_above_verifies_it() {
    let mut s = Search::new(cfg(
        100.0,
        Threshold::Relative(0.1),
        ConfirmPolicy::Fail,
        true,
    ));
    assert_eq!(s.current(), Step::Probe);
    // Observing an iteration while the probe is due changes nothing.
    assert_eq!(s.observe(P), Step::Probe);
    assert!(s.history().is_empty());
    let outcome = drive(&mut s, 1000.0, 1000.0);
    // Aim 925 passes; nothing failed yet and the estimate is the probe's, so 1200 (1.2x) is
    // checked: it fails saturated, which verifies 1000 and ends the search.
    assert_eq!(rates(&s), [925.0, 1200.0]);
    assert_eq!(outcome.mst_req_min, Some(925.0));
    assert_eq!(outcome.stop, StopKind::Converged);
    let probe = s.probe_result().flatten().expect("probe kept");
    assert_eq!(probe.req_min(), Some(1000.0));
}

#[test]
fn a_probe_that_under_measures_costs_a_ramp_and_one_that_over_measures_a_fail() {
    for (probe_c, expect) in [
        // Half the capacity: 462.5 and the check at 600 pass, the ramp doubles to 1200 (fail,
        // saturated at 1000), then 925 passes.
        (500.0, vec![462.5, 600.0, 1200.0, 925.0]),
        // Twice the capacity: 1850 fails saturated at 1000; 925 passes.
        (2000.0, vec![1850.0, 925.0]),
    ] {
        let mut s = Search::new(cfg(
            100.0,
            Threshold::Relative(0.1),
            ConfirmPolicy::Fail,
            true,
        ));
        let outcome = drive(&mut s, 1000.0, probe_c);
        assert_eq!(rates(&s), expect, "probe {probe_c}");
        assert_eq!(outcome.mst_req_min, Some(925.0), "probe {probe_c}");
    }
}

#[test]
fn a_probe_that_measured_nothing_leaves_the_start_rate() {
    let mut s = Search::new(cfg(
        100.0,
        Threshold::Relative(0.1),
        ConfirmPolicy::Fail,
        true,
    ));
    let step = s.observe_probe(Some(Throughput {
        completions: MIN_COMPLETIONS - 1,
        window_s: 30.0,
        saturated: true,
    }));
    assert!(
        matches!(step, Step::Run(ref r) if r.req_min == 100.0),
        "{step:?}"
    );
    assert_eq!(s.probe_result(), Some(None));
    // A second probe result is ignored.
    s.observe_probe(Some(measured(1000.0, 1000.0)));
    assert_eq!(s.probe_result(), Some(None));
}

#[test]
fn a_classic_search_never_probes_and_never_accepts_early() {
    let mut s = Search::new(SearchConfig {
        strategy: Strategy::Classic,
        ..cfg(100.0, Threshold::Relative(0.1), ConfirmPolicy::Fail, true)
    });
    let Step::Run(r) = s.current() else { panic!() };
    assert!(!r.accept_early);
    s.observe_measured(F, Some(measured(10.0, 100.0)));
    let Step::Run(r) = s.observe_measured(F, Some(measured(10.0, 100.0))) else {
        panic!()
    };
    assert_eq!(r.req_min, 50.0, "classic walks down by the multiplier");
    assert!(!r.accept_early);
}

#[test]
fn a_saturated_fail_over_too_few_completions_counts_at_once_but_aims_nothing() {
    // An iteration the watchdog stopped before the server finished 20 requests: the fail is
    // measured (no re-run), but its rate is too coarse to aim from.
    let mut s = Search::new(relative(400.0));
    s.observe_measured(P, Some(measured(1000.0, 400.0)));
    let coarse = Throughput {
        completions: MIN_COMPLETIONS - 1,
        window_s: 1.0,
        saturated: true,
    };
    let Step::Run(r) = s.observe_measured(F, Some(coarse)) else {
        panic!()
    };
    assert_eq!(
        (r.req_min, r.attempt),
        (600.0, 1),
        "classic bisection, no re-run"
    );
    assert_eq!(s.estimate(), None);
}

#[test]
fn runs_far_below_the_estimate_may_be_accepted_early() {
    // A start far above capacity: 4000 fails saturated at 1000, the next aim (925) is near
    // the estimate and runs in full; a walk-down below 750 would be accepted early.
    let mut s = Search::new(relative(4000.0));
    let Step::Run(r) = s.observe_measured(F, Some(measured(1000.0, 4000.0))) else {
        panic!()
    };
    assert_eq!(r.req_min, 925.0);
    assert!(!r.accept_early);
    assert!(s.may_accept_early(750.0));
    assert!(!s.may_accept_early(751.0));
}

#[test]
fn an_estimate_below_the_floor_ends_the_search_without_an_mst() {
    let mut s = Search::new(SearchConfig {
        min_req_min: 50.0,
        ..relative(400.0)
    });
    let step = s.observe_measured(F, Some(measured(20.0, 400.0)));
    let outcome = match step {
        Step::Done(o) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(outcome.stop, StopKind::FloorReached);
    assert_eq!(outcome.mst_req_min, None);
}

#[test]
fn absolute_thresholds_aim_three_quarters_of_the_threshold_below() {
    let mut s = Search::new(cfg(
        400.0,
        Threshold::Absolute(20.0),
        ConfirmPolicy::None,
        false,
    ));
    let Step::Run(r) = s.observe_measured(F, Some(measured(300.0, 400.0))) else {
        panic!()
    };
    assert_eq!(r.req_min, 285.0);
    let Step::Done(o) = s.observe_measured(P, Some(measured(300.0, 285.0))) else {
        panic!()
    };
    assert_eq!(o.mst_req_min, Some(285.0));
}

#[test]
fn the_bounds_hold_for_many_capacities_starts_thresholds_and_probes() {
    for i in 0..200 {
        let c = 3.0 + f64::from(i) * 17.3;
        for start in [10.0, 1000.0] {
            for t in [0.05, 0.1, 0.2] {
                for probe in [None, Some(0.3), Some(1.0), Some(3.0)] {
                    let config = cfg(
                        start,
                        Threshold::Relative(t),
                        ConfirmPolicy::Fail,
                        probe.is_some(),
                    );
                    let mut s = Search::new(config);
                    let outcome = drive(&mut s, c, c * probe.unwrap_or(1.0));
                    let ctx = format!("C={c} start={start} t={t} probe={probe:?}: {outcome:?}");
                    assert_eq!(outcome.stop, StopKind::Converged, "{ctx}");
                    let mst = outcome.mst_req_min.unwrap();
                    assert!(mst <= c && mst >= (1.0 - t) * c - 0.01, "{ctx}");
                }
            }
        }
    }
}

#[test]
fn a_resumed_adaptive_search_continues_identically_at_every_step() {
    let config = cfg(100.0, Threshold::Relative(0.05), ConfirmPolicy::Both, true);
    let mut whole = Search::new(config.clone());
    let outcome = drive(&mut whole, 777.0, 400.0);
    assert!(whole.history().len() >= 3, "{:?}", rates(&whole));
    // Step k = 0 is before the probe; k = 1 right after it.
    for k in 0..=whole.history().len() + 1 {
        let mut first = Search::new(config.clone());
        for _ in 0..k {
            match first.current() {
                Step::Probe => {
                    first.observe_probe(Some(Throughput {
                        saturated: true,
                        ..measured(400.0, 400.0)
                    }));
                }
                Step::Run(req) => {
                    let obs = if req.req_min <= 777.0 { P } else { F };
                    first.observe_measured(obs, Some(measured(777.0, req.req_min)));
                }
                Step::Done(_) => break,
            }
        }
        let json = serde_json::to_string(&first).unwrap();
        let mut resumed: Search = serde_json::from_str(&json).unwrap();
        assert_eq!(resumed, first, "round trip after {k} steps");
        assert_eq!(drive(&mut resumed, 777.0, 400.0), outcome, "after {k}");
        assert_eq!(resumed, whole, "after {k}");
    }
}

#[test]
fn a_state_saved_before_the_adaptive_search_existed_reads_as_classic() {
    let mut config = serde_json::to_value(relative(100.0)).unwrap();
    let obj = config.as_object_mut().unwrap();
    obj.remove("strategy");
    obj.remove("probe");
    let old: SearchConfig = serde_json::from_value(config).unwrap();
    assert_eq!(old.strategy, Strategy::Classic);
    assert!(!old.probe);
}
