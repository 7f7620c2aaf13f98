//! The grid posterior on hand-checkable data: sharp clustered verdicts, a lone pass and fail,
//! noisy data, contradicting data.

use super::*;
use crate::search::{ConfirmPolicy, Observation, Search, SearchConfig, Step, Strategy, Threshold};

pub(super) const P: bool = true;
pub(super) const F: bool = false;

/// A non-separated search: a fail (1012.5) below a pass (1050), and both verdicts at 1050.
pub(super) const MIXED: [(f64, bool); 10] = [
    (300.0, P),
    (600.0, P),
    (1200.0, F),
    (1200.0, F),
    (900.0, P),
    (1050.0, F),
    (1050.0, P),
    (975.0, P),
    (1012.5, F),
    (1012.5, F),
];

/// A classic search with perfect verdicts: every pass below every fail.
pub(super) const SEPARATED: [(f64, bool); 8] = [
    (300.0, P),
    (600.0, P),
    (1200.0, F),
    (1200.0, F),
    (900.0, P),
    (1050.0, P),
    (1125.0, F),
    (1125.0, F),
];

/// The judged iterations of a classic search (start 100, ×2, no confirmation, absolute
/// threshold 0) against a noiseless oracle that passes exactly the rates ≤ `capacity`, cut
/// after `n` iterations.
fn noiseless_classic(capacity: f64, n: u32) -> Vec<(f64, bool)> {
    let mut s = Search::new(SearchConfig {
        start_req_min: 100.0,
        multiplier: 2.0,
        threshold: Threshold::Absolute(0.0),
        confirm: ConfirmPolicy::None,
        max_iterations: n,
        min_req_min: 1.0,
        outage_retries: 0,
        strategy: Strategy::Classic,
        probe: false,
        ci_stop_width: None,
        unit: Default::default(),
    });
    let mut points = Vec::new();
    while let Step::Run(run) = s.current() {
        let pass = run.req_min <= capacity;
        points.push((run.req_min, pass));
        s.observe(if pass {
            Observation::Sustainable
        } else {
            Observation::Unsustainable
        });
    }
    points
}

fn width(c: &Confidence) -> f64 {
    (c.high_req_min - c.low_req_min) / c.estimate_req_min
}

#[test]
fn sharp_verdicts_clustered_at_the_crossing_give_a_narrow_interval_around_it_under_a_sharp_prior() {
    // Regression: Firth's case bootstrap gave (327.9, 899.0), estimate 591.8, on these 22
    // iterations: it excluded the crossing, which lies in the judged gap [1000, 1000.01].
    let points = noiseless_classic(1000.0, 22);
    assert_eq!(points.len(), 22);
    assert!(points.contains(&(1000.0, P)) && points.contains(&(1000.01, F)));
    // A prior that says the verdicts are (nearly) noiseless, as this oracle's are: measured
    // (996.77, 1000.009), width / estimate 0.0032.
    let sharp = Prior {
        scale_min: 1e-6,
        scale_max: 1e-3,
        widen: 0.1,
    };
    let c = posterior(&points, LEVEL, sharp).expect("an interval");
    assert_eq!(c.method, "logit-grid-posterior");
    assert!(c.low_req_min <= 1000.0 && c.high_req_min >= 1000.0, "{c:?}");
    assert!(width(&c) < 0.01, "{c:?}: width {}", width(&c));
    assert_eq!((c.iterations, c.resamples, c.redrawn), (22, 0, 0));
    // The default prior admits verdicts as noisy as 20-s iterations' and reads the one pass
    // at 1000 against fifteen fails within 10% above it as luck: measured (486.0, 987.0).
    // This is the documented limit of a prior that must also cover noisy verdicts.
    let c = interval(&points, LEVEL).expect("an interval");
    assert!(c.high_req_min < 1000.0 && c.low_req_min > 400.0, "{c:?}");
}

#[test]
fn one_pass_and_one_fail_give_about_their_span() {
    let c = interval(&[(100.0, P), (200.0, F)], LEVEL).expect("an interval");
    // Nothing tells where between them the crossing lies: the posterior is nearly flat over
    // the span, the median near the geometric middle, the 90% interval most of the span.
    assert!(
        close(c.estimate_req_min, (100.0f64 * 200.0).sqrt(), 0.02),
        "{c:?}"
    );
    assert!(c.low_req_min >= 100.0 && c.low_req_min < 105.0, "{c:?}");
    assert!(c.high_req_min <= 200.0 && c.high_req_min > 190.0, "{c:?}");
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

#[test]
fn nothing_bounds_the_crossing_without_a_pass_and_a_fail() {
    assert_eq!(interval(&[], LEVEL), None);
    assert_eq!(interval(&[(100.0, P), (200.0, P), (400.0, P)], LEVEL), None);
    assert_eq!(interval(&[(100.0, F), (50.0, F)], LEVEL), None);
    // A pass and a fail at one rate: no span.
    assert_eq!(interval(&[(100.0, P), (100.0, F), (100.0, F)], LEVEL), None);
    // Rates that are not positive finite numbers are ignored.
    assert_eq!(
        interval(&[(0.0, P), (f64::NAN, P), (-5.0, P), (100.0, F)], LEVEL),
        None
    );
}

#[test]
fn a_level_outside_zero_to_one_gives_none() {
    for level in [0.0, 1.0, -0.5, 90.0, f64::NAN] {
        assert_eq!(interval(&SEPARATED, level), None, "{level}");
    }
}

#[test]
fn the_same_points_give_the_same_interval_in_any_order() {
    let a = interval(&MIXED, LEVEL).expect("an interval");
    assert_eq!(Some(&a), interval(&MIXED, LEVEL).as_ref());
    let mut reversed = MIXED.to_vec();
    reversed.reverse();
    let b = interval(&reversed, LEVEL).expect("an interval");
    assert!(close(a.low_req_min, b.low_req_min, 1e-9), "{a:?} {b:?}");
    assert!(close(a.high_req_min, b.high_req_min, 1e-9), "{a:?} {b:?}");
    assert!(close(a.estimate_req_min, b.estimate_req_min, 1e-9));
}

#[test]
fn separated_data_give_an_interval_around_the_gap() {
    let c = interval(&SEPARATED, LEVEL).expect("an interval");
    assert!(c.low_req_min <= c.estimate_req_min && c.estimate_req_min <= c.high_req_min);
    // The crossing most likely lies in the gap between the highest pass and the lowest fail.
    assert!(
        c.estimate_req_min > 1050.0 && c.estimate_req_min < 1125.0,
        "{c:?}"
    );
    assert!(
        c.low_req_min < 1050.0 && c.high_req_min > 1125.0 * 0.99,
        "{c:?}"
    );
    assert!(c.low_req_min >= 300.0 && c.high_req_min <= 1200.0, "{c:?}");
}

#[test]
fn noisy_data_give_a_wide_interval() {
    // Verdicts that change their mind over a factor of two: fails at 700 and 800, passes at
    // 1100 and 1400, the crossing somewhere around 1000 and the curve shallow.
    let noisy = [
        (250.0, P),
        (500.0, P),
        (700.0, F),
        (800.0, P),
        (800.0, F),
        (1000.0, P),
        (1000.0, F),
        (1100.0, P),
        (1400.0, P),
        (1600.0, F),
        (2000.0, F),
        (4000.0, F),
    ];
    let c = interval(&noisy, LEVEL).expect("an interval");
    assert!(width(&c) > 0.3, "{c:?}: width {}", width(&c));
    assert!(c.low_req_min < 1000.0 && c.high_req_min > 1000.0, "{c:?}");
    assert!(c.curve_log_scale > 0.1, "{c:?}");
    // And it is wider than on the separated data.
    let sharp = interval(&SEPARATED, LEVEL).expect("an interval");
    assert!(width(&c) > width(&sharp), "{c:?} vs {sharp:?}");
}

#[test]
fn passes_above_fails_contradict_the_model() {
    // A rising curve explains these better than any falling one: no interval.
    assert_eq!(interval(&[(100.0, F), (200.0, F), (400.0, P)], LEVEL), None);
    assert_eq!(
        interval(&[(100.0, F), (150.0, F), (200.0, P), (300.0, P)], LEVEL),
        None
    );
    // One pass among fails is noise, not a contradiction.
    let c = interval(
        &[
            (100.0, P),
            (150.0, P),
            (180.0, F),
            (200.0, P),
            (300.0, F),
            (400.0, F),
        ],
        LEVEL,
    )
    .expect("an interval");
    assert!(c.low_req_min < 200.0 && c.high_req_min > 150.0, "{c:?}");
}

#[test]
fn a_pass_above_the_crossing_moves_it_up_and_a_fail_below_moves_it_down() {
    let before = interval(&MIXED, LEVEL).expect("before");
    let mut more = MIXED.to_vec();
    more.push((1100.0, P));
    let after = interval(&more, LEVEL).expect("after");
    assert!(after.estimate_req_min > before.estimate_req_min);
    more.push((800.0, F));
    let lower = interval(&more, LEVEL).expect("lower");
    assert!(lower.estimate_req_min < after.estimate_req_min);
}

#[test]
fn a_higher_level_widens_the_interval() {
    let narrow = interval(&MIXED, 0.5).expect("50%");
    let wide = interval(&MIXED, 0.95).expect("95%");
    assert!(wide.low_req_min < narrow.low_req_min && wide.high_req_min > narrow.high_req_min);
}

#[test]
fn more_iterations_near_a_sharp_crossing_narrow_the_interval() {
    let sharp = Prior {
        scale_min: 1e-6,
        scale_max: 1e-3,
        widen: 0.1,
    };
    let w =
        |n| width(&posterior(&noiseless_classic(1000.0, n), LEVEL, sharp).expect("an interval"));
    let (w8, w12, w22) = (w(8), w(12), w(22));
    assert!(w8 > w12 && w12 > w22, "{w8} {w12} {w22}");
}
