//! Firth's fit against an independent reference, and its intervals on hand-checkable data
//! (the comparison methods the benchmark runs).

use super::*;
use crate::search::confidence::interval_with;

// The same hand-checkable searches as the grid posterior's tests.
use crate::search::confidence::tests::{F, MIXED, P, SEPARATED};

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

#[test]
fn firth_matches_an_independent_optimiser() {
    // Reference: Firth's penalised log-likelihood (log-likelihood + ½ ln det I) on
    // x = ln(rate) maximised directly by scipy.optimize.minimize (Nelder-Mead, xatol 1e-12;
    // BFGS from another start agrees to 1e-10), numpy 2.4.6, scipy 1.17.1 — no modified
    // score, no Newton steps. Script: crossing = exp(mean(x) − a/b), scale = −1/b.
    //   MIXED:     crossing 898.5887249813246, scale 0.30953179510941947
    //   SEPARATED: crossing 1036.6324150568923, scale 0.0709458384826268
    for (data, mid, scale) in [
        (&MIXED[..], 898.588_724_981_324_6, 0.309_531_795_109_419_47),
        (
            &SEPARATED[..],
            1_036.632_415_056_892_3,
            0.070_945_838_482_626_8,
        ),
    ] {
        let logs: Vec<(f64, bool)> = data.iter().map(|&(r, y)| (r.ln(), y)).collect();
        let c = crossing(&logs, Tolerance::EXACT).expect("a fit");
        assert!(
            close(c.log_rate.exp(), mid, 1e-7),
            "{} vs {mid}",
            c.log_rate.exp()
        );
        assert!(
            close(c.log_scale, scale, 1e-6),
            "{} vs {scale}",
            c.log_scale
        );
    }
}

#[test]
fn separated_data_give_a_finite_interval_around_the_gap() {
    let c = interval_with(&SEPARATED, 0.9, 7, Method::FirthCaseBootstrap).expect("an interval");
    assert_eq!(c.method, Method::FirthCaseBootstrap.id());
    assert_eq!((c.iterations, c.resamples), (8, RESAMPLES));
    assert!(c.low_req_min <= c.estimate_req_min && c.estimate_req_min <= c.high_req_min);
    assert!(c.low_req_min >= 300.0 && c.high_req_min <= 1200.0, "{c:?}");
    // The highest pass (1050) and lowest fail (1125) both lie inside a 90% interval.
    assert!(c.low_req_min < 1050.0 && c.high_req_min > 1125.0, "{c:?}");
    assert!(c.curve_log_scale > 0.0 && c.curve_log_scale.is_finite());
}

#[test]
fn symmetric_data_cross_at_the_centre() {
    // Rates symmetric in log around 1000 with mirrored verdicts: the fit crosses at 1000.
    let data = [
        (500.0, P),
        (800.0, P),
        (1000.0, P),
        (1000.0, F),
        (1250.0, F),
        (2000.0, F),
    ];
    let c = interval_with(&data, 0.9, 1, Method::FirthCaseBootstrap).expect("an interval");
    assert!(close(c.estimate_req_min, 1000.0, 1e-9), "{c:?}");
    assert!(close(c.curve_midpoint_req_min, 1000.0, 1e-9), "{c:?}");
    assert!(c.low_req_min < 1000.0 && c.high_req_min > 1000.0, "{c:?}");
    // The bootstrap's ends mirror each other in log up to resampling noise.
    let skew = (c.low_req_min.ln() + c.high_req_min.ln()) / 2.0 - 1000f64.ln();
    assert!(skew.abs() < 0.05, "{c:?}");
}

#[test]
fn a_pass_above_the_crossing_moves_it_up() {
    let before = interval_with(&MIXED, 0.9, 3, Method::FirthCaseBootstrap).expect("before");
    let mut more = MIXED.to_vec();
    more.push((1100.0, P));
    let after = interval_with(&more, 0.9, 3, Method::FirthCaseBootstrap).expect("after");
    assert!(
        after.estimate_req_min > before.estimate_req_min,
        "{} then {}",
        before.estimate_req_min,
        after.estimate_req_min
    );
    // And a fail below it moves it down.
    more.push((800.0, F));
    let lower = interval_with(&more, 0.9, 3, Method::FirthCaseBootstrap).expect("lower");
    assert!(lower.estimate_req_min < after.estimate_req_min);
}

#[test]
fn the_same_seed_gives_the_same_interval_and_another_seed_may_not() {
    let a = interval_with(&MIXED, 0.9, 42, Method::FirthCaseBootstrap).expect("a");
    assert_eq!(
        Some(&a),
        interval_with(&MIXED, 0.9, 42, Method::FirthCaseBootstrap).as_ref()
    );
    let b = interval_with(&MIXED, 0.9, 43, Method::FirthCaseBootstrap).expect("b");
    assert_eq!(
        a.estimate_req_min, b.estimate_req_min,
        "the fit has no randomness"
    );
    assert_ne!(
        (a.low_req_min, a.high_req_min),
        (b.low_req_min, b.high_req_min)
    );
}

#[test]
fn a_higher_level_widens_the_interval() {
    let narrow = interval_with(&MIXED, 0.5, 9, Method::FirthCaseBootstrap).expect("50%");
    let wide = interval_with(&MIXED, 0.95, 9, Method::FirthCaseBootstrap).expect("95%");
    assert!(wide.low_req_min <= narrow.low_req_min && wide.high_req_min >= narrow.high_req_min);
    assert!(wide.high_req_min - wide.low_req_min > narrow.high_req_min - narrow.low_req_min);
}

#[test]
fn nothing_bounds_the_crossing_without_a_pass_and_a_fail() {
    assert_eq!(interval_with(&[], 0.9, 1, Method::FirthCaseBootstrap), None);
    assert_eq!(
        interval_with(
            &[(100.0, P), (200.0, P), (400.0, P)],
            0.9,
            1,
            Method::FirthCaseBootstrap
        ),
        None
    );
    assert_eq!(
        interval_with(&[(100.0, F), (50.0, F)], 0.9, 1, Method::FirthCaseBootstrap),
        None
    );
    // A pass and a fail at one rate: no slope.
    assert_eq!(
        interval_with(
            &[(100.0, P), (100.0, F), (100.0, F)],
            0.9,
            1,
            Method::FirthCaseBootstrap
        ),
        None
    );
    // Rates that are not positive finite numbers are ignored.
    assert_eq!(
        interval_with(
            &[(0.0, P), (f64::NAN, P), (-5.0, P), (100.0, F)],
            0.9,
            1,
            Method::FirthCaseBootstrap
        ),
        None
    );
}

#[test]
fn passes_above_fails_contradict_the_model() {
    assert_eq!(
        interval_with(
            &[(100.0, F), (200.0, F), (400.0, P)],
            0.9,
            1,
            Method::FirthCaseBootstrap
        ),
        None
    );
}

#[test]
fn a_level_outside_zero_to_one_gives_none() {
    for level in [0.0, 1.0, -0.5, 90.0, f64::NAN] {
        assert_eq!(
            interval_with(&SEPARATED, level, 1, Method::FirthCaseBootstrap),
            None,
            "{level}"
        );
    }
}

#[test]
fn one_pass_and_one_fail_bound_the_crossing_by_their_rates_only() {
    // Regression: with the resamples lacking a pass or a fail drawn again, every kept resample
    // was the data itself and the interval had no width (4512.8–4512.8 req/min in a report).
    let c = interval_with(
        &[(100.0, P), (200.0, F)],
        0.9,
        5,
        Method::FirthCaseBootstrap,
    )
    .expect("an interval");
    assert!(
        close(c.estimate_req_min, (100.0f64 * 200.0).sqrt(), 1e-9),
        "{c:?}"
    );
    // A quarter of the resamples hold passes only (crossing above: the top of the span), a
    // quarter fails only (the bottom): the 90% interval is the whole span.
    assert!(
        close(c.low_req_min, 100.0, 1e-12) && close(c.high_req_min, 200.0, 1e-12),
        "{c:?}"
    );
    assert_eq!((c.resamples, c.redrawn), (RESAMPLES, 0));
}

#[test]
fn resamples_that_cannot_be_fitted_are_drawn_again_and_counted() {
    // A pass and a fail at one rate plus a fail above: a resample of only the two 100s has
    // both verdicts but a single rate, so no slope.
    let c = interval_with(
        &[(100.0, P), (100.0, F), (300.0, F)],
        0.9,
        5,
        Method::FirthCaseBootstrap,
    )
    .expect("an interval");
    assert!(c.redrawn > 0 && c.resamples == RESAMPLES, "{c:?}");
}

#[test]
fn a_fit_where_fisher_steps_crawl_still_converges() {
    // Regression: a classic search walking down from 1000 to a capacity of 180 (benchmark,
    // seed-level data). Steps I⁻¹·U* shrank by 6% each, the fit ran out of steps from every
    // start, and mst.json would have had no interval. Reference (the same scipy script as
    // above, four starts agreeing): crossing 160.02559783, scale 1/2.3695486 of the logs' sd.
    let pts: [(f64, bool); 12] = [
        (1000.0, F),
        (1000.0, F),
        (500.0, F),
        (500.0, F),
        (250.0, F),
        (250.0, F),
        (125.0, P),
        (187.5, F),
        (187.5, F),
        (156.25, F),
        (156.25, P),
        (171.88, P),
    ];
    let c = interval_with(&pts, 0.9, 1, Method::FirthCaseBootstrap).expect("an interval");
    assert!(
        close(c.curve_midpoint_req_min, 160.025_597_83, 1e-6),
        "{c:?}"
    );
    assert!(c.low_req_min < 160.0 && c.high_req_min > 160.0, "{c:?}");
}

#[test]
fn the_methods_compared_in_the_benchmark_all_bracket_the_estimate() {
    for method in [
        Method::FirthCaseBootstrap,
        Method::FirthParametricBootstrap,
        Method::FirthProfile,
    ] {
        let c = interval_with(&MIXED, 0.9, 11, method).expect("an interval");
        assert_eq!(c.method, method.id());
        assert!(
            c.low_req_min < c.estimate_req_min && c.estimate_req_min < c.high_req_min,
            "{c:?}"
        );
        assert!(c.low_req_min >= 300.0 && c.high_req_min <= 1200.0, "{c:?}");
        assert_eq!(interval_with(&MIXED, 0.9, 11, method).as_ref(), Some(&c));
    }
    // The profile has no resamples, and a wider level widens it.
    let p90 = interval_with(&MIXED, 0.9, 0, Method::FirthProfile).expect("90%");
    let p50 = interval_with(&MIXED, 0.5, 0, Method::FirthProfile).expect("50%");
    assert_eq!((p90.resamples, p90.redrawn), (0, 0));
    assert!(p90.high_req_min - p90.low_req_min > p50.high_req_min - p50.low_req_min);
}
