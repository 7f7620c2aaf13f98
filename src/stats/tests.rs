//! Hand-computed cases plus reference values from scipy/numpy (`tests/fixtures/gen_welch.py`).

use super::*;
use serde::Deserialize;

fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

#[test]
fn mean_of_empty_is_none_and_of_values_is_exact() {
    assert_eq!(mean(&[]), None);
    assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
}

#[test]
fn percentile_interpolates_between_order_statistics() {
    let xs = [4.0, 1.0, 3.0, 2.0];
    // rank = p/100 * 3: p50 → 1.5 → between 2 and 3.
    assert_eq!(percentile(&xs, 50.0), Some(2.5));
    assert_eq!(percentile(&xs, 0.0), Some(1.0));
    assert_eq!(percentile(&xs, 100.0), Some(4.0));
    // p90 → rank 2.7 → 3 + 0.7 * 1.
    assert!(close(percentile(&xs, 90.0).unwrap_or(f64::NAN), 3.7, 1e-12));
    assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
}

#[test]
fn percentile_rejects_empty_and_out_of_range() {
    assert_eq!(percentile(&[], 50.0), None);
    assert_eq!(percentile(&[1.0], -0.1), None);
    assert_eq!(percentile(&[1.0], 100.1), None);
    assert_eq!(percentile(&[1.0], f64::NAN), None);
}

#[test]
fn distribution_of_hand_sample() {
    let d = distribution(&[10.0, 0.0, 5.0, 20.0, 15.0]).expect("non-empty");
    assert_eq!(d.count, 5);
    assert_eq!(d.mean, 10.0);
    assert_eq!(d.min, 0.0);
    assert_eq!(d.max, 20.0);
    assert_eq!(d.p50, 10.0);
    // rank 3.6 → 15 + 0.6 * 5
    assert!(close(d.p90, 18.0, 1e-12));
    // rank 3.96 → 15 + 0.96 * 5
    assert!(close(d.p99, 19.8, 1e-12));
    assert_eq!(distribution(&[]), None);
}

#[test]
fn linear_fit_of_hand_points() {
    // y = 1 + 2x with residuals +1, -1, -1, +1 at x = 0..3.
    let xs = [0.0, 1.0, 2.0, 3.0];
    let ys = [2.0, 2.0, 4.0, 8.0];
    let f = linear_fit(&xs, &ys).expect("fit");
    // Sxx = 5, Sxy = (-1.5)(-2) + (-0.5)(-2) + 0.5*0 + 1.5*4 = 10 → slope 2, intercept 4 - 3 = 1.
    assert_eq!(f.n, 4);
    assert!(close(f.slope, 2.0, 1e-12));
    assert!(close(f.intercept, 1.0, 1e-12));
    // SSR = 4, df = 2, se = sqrt(4 / 2 / 5) = sqrt(0.4).
    assert!(close(f.slope_se, 0.4f64.sqrt(), 1e-12));
    assert!(close(f.t, 2.0 / 0.4f64.sqrt(), 1e-12));
    assert_eq!(f.df, 2.0);
    // With 2 df, P(T > t) = 1/2 - t / (2 sqrt(t² + 2)).
    let t = f.t;
    let expected_one_sided = 0.5 - t / (2.0 * (t * t + 2.0).sqrt());
    assert!(close(f.p_slope_positive, expected_one_sided, 1e-9));
    assert!(close(f.p_two_sided, 2.0 * expected_one_sided, 1e-9));
}

#[test]
fn linear_fit_rejects_too_few_points_constant_x_and_length_mismatch() {
    assert_eq!(linear_fit(&[1.0, 2.0], &[1.0, 2.0]), None);
    assert_eq!(linear_fit(&[3.0, 3.0, 3.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(linear_fit(&[1.0, 2.0, 3.0], &[1.0, 2.0]), None);
}

#[test]
fn linear_fit_exact_line_has_no_nan() {
    let flat = linear_fit(&[0.0, 1.0, 2.0, 3.0], &[5.0, 5.0, 5.0, 5.0]).expect("fit");
    assert_eq!(flat.slope, 0.0);
    assert_eq!(
        (flat.t, flat.p_slope_positive, flat.p_two_sided),
        (0.0, 1.0, 1.0)
    );

    let rising = linear_fit(&[0.0, 1.0, 2.0, 4.0], &[1.0, 3.0, 5.0, 9.0]).expect("fit");
    assert!(!rising.p_slope_positive.is_nan() && !rising.p_two_sided.is_nan());
    assert!(rising.p_slope_positive < 1e-6, "{rising:?}");
    assert!(rising.p_two_sided < 1e-6, "{rising:?}");

    let falling = linear_fit(&[0.0, 1.0, 2.0], &[6.0, 4.0, 2.0]).expect("fit");
    assert!(falling.slope < 0.0);
    assert!(falling.p_slope_positive > 1.0 - 1e-6, "{falling:?}");
}

#[test]
fn welch_of_hand_samples() {
    // x: mean 2, var 1; y: mean 5, var 4 (n = 3 each).
    let x = [1.0, 2.0, 3.0];
    let y = [3.0, 5.0, 7.0];
    let w = welch_t_test(&x, &y).expect("test");
    let se2: f64 = 1.0 / 3.0 + 4.0 / 3.0;
    assert!(close(w.t, -3.0 / se2.sqrt(), 1e-12));
    // df = se2² / ((1/3)²/2 + (4/3)²/2) = (25/9) / (17/18) = 50/17.
    assert!(close(w.df, 50.0 / 17.0, 1e-12));
    assert_eq!((w.mean_x, w.mean_y), (2.0, 5.0));
    assert!(w.p_two_sided > 0.0 && w.p_two_sided < 1.0);
}

#[test]
fn welch_needs_two_samples_each_and_handles_zero_variance() {
    assert_eq!(welch_t_test(&[1.0], &[1.0, 2.0]), None);
    assert_eq!(welch_t_test(&[1.0, 2.0], &[]), None);
    let same = welch_t_test(&[3.0, 3.0], &[3.0, 3.0, 3.0]).expect("test");
    assert_eq!((same.t, same.p_two_sided, same.df), (0.0, 1.0, 3.0));
    let apart = welch_t_test(&[3.0, 3.0], &[4.0, 4.0]).expect("test");
    assert_eq!((apart.t, apart.p_two_sided), (f64::NEG_INFINITY, 0.0));
}

#[derive(Deserialize)]
struct WelchCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    t: f64,
    df: f64,
    p: f64,
}

#[test]
fn welch_matches_scipy_ttest_ind_unequal_var() {
    let cases: Vec<WelchCase> =
        serde_json::from_str(include_str!("../../tests/fixtures/welch.json")).expect("fixture");
    assert!(cases.len() >= 8);
    for c in &cases {
        let w = welch_t_test(&c.x, &c.y).expect("enough samples");
        assert!(close(w.t, c.t, 1e-9), "{}: t {} vs {}", c.name, w.t, c.t);
        assert!(
            close(w.df, c.df, 1e-9),
            "{}: df {} vs {}",
            c.name,
            w.df,
            c.df
        );
        assert!(
            (w.p_two_sided - c.p).abs() <= 1e-6 && close(w.p_two_sided, c.p, 1e-6),
            "{}: p {} vs {}",
            c.name,
            w.p_two_sided,
            c.p
        );
    }
}

#[derive(Deserialize)]
struct LinregressCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    slope: f64,
    intercept: f64,
    stderr: f64,
    p: f64,
}

#[test]
fn linear_fit_matches_scipy_linregress() {
    let cases: Vec<LinregressCase> =
        serde_json::from_str(include_str!("../../tests/fixtures/linregress.json"))
            .expect("fixture");
    assert!(cases.len() >= 5);
    for c in &cases {
        let f = linear_fit(&c.x, &c.y).expect("fit");
        assert!(close(f.slope, c.slope, 1e-9), "{}: slope", c.name);
        assert!(
            close(f.intercept, c.intercept, 1e-9),
            "{}: intercept",
            c.name
        );
        assert!(close(f.slope_se, c.stderr, 1e-9), "{}: stderr", c.name);
        assert!(
            (f.p_two_sided - c.p).abs() <= 1e-6,
            "{}: p {} vs {}",
            c.name,
            f.p_two_sided,
            c.p
        );
        // The one-sided p is half the two-sided one on the side of the slope's sign.
        let expected_one_sided = if f.slope > 0.0 {
            c.p / 2.0
        } else {
            1.0 - c.p / 2.0
        };
        assert!(
            (f.p_slope_positive - expected_one_sided).abs() <= 1e-6,
            "{}: one-sided p",
            c.name
        );
    }
}

#[derive(Deserialize)]
struct PercentileCase {
    name: String,
    xs: Vec<f64>,
    ps: Vec<f64>,
    expected: Vec<f64>,
}

#[test]
fn percentile_matches_numpy() {
    let cases: Vec<PercentileCase> =
        serde_json::from_str(include_str!("../../tests/fixtures/percentile.json"))
            .expect("fixture");
    assert!(cases.len() >= 5);
    for c in &cases {
        for (p, want) in c.ps.iter().zip(&c.expected) {
            let got = percentile(&c.xs, *p).expect("valid p");
            assert!(close(got, *want, 1e-12), "{} p{p}: {got} vs {want}", c.name);
        }
        let d = distribution(&c.xs).expect("non-empty");
        assert_eq!(Some(d.p50), percentile(&c.xs, 50.0), "{}", c.name);
        assert_eq!(Some(d.p99), percentile(&c.xs, 99.0), "{}", c.name);
    }
}
