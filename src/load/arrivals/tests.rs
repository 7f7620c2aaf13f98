//! Statistical and structural checks of the arrival processes, all with fixed seeds so they
//! are deterministic; tolerances are several standard errors wide.

use super::*;
use statrs::distribution::{ContinuousCDF, Exp as ExpDist, Gamma as GammaCdf};

const KINDS: [ArrivalKind; 4] = [
    ArrivalKind::Poisson,
    ArrivalKind::Constant,
    ArrivalKind::Jitter,
    ArrivalKind::Gamma { burstiness: 0.5 },
];

fn gaps_secs(kind: ArrivalKind, req_min: f64, seed: u64, n: usize) -> Vec<f64> {
    let mut p = process(kind, req_min, seed);
    (0..n).map(|_| p.next_gap().as_secs_f64()).collect()
}

fn mean_and_cv(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt() / mean)
}

/// Kolmogorov–Smirnov statistic of `xs` against the exponential with rate `lambda` per second.
fn ks_against_exp(xs: &[f64], lambda: f64) -> f64 {
    let exp = ExpDist::new(lambda).unwrap();
    ks(xs, |x| exp.cdf(x))
}

/// Kolmogorov–Smirnov statistic of `xs` against the distribution function `cdf`.
fn ks(xs: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn constant_offsets_are_exact_multiples_of_the_gap() {
    let offsets = schedule(ArrivalKind::Constant, 60.0, Duration::from_secs(10), 1);
    let expected: Vec<Duration> = (0..10).map(Duration::from_secs).collect();
    assert_eq!(offsets, expected);
    let offsets = schedule(
        ArrivalKind::Constant,
        60.0,
        Duration::from_millis(10_500),
        1,
    );
    assert_eq!(offsets.len(), 11);
}

#[test]
fn constant_schedule_gets_no_extra_arrival_from_nanosecond_truncation() {
    // 7 req/min for 5 minutes: 35 arrivals; the 36th is due at exactly 300 s. Truncating every
    // gap of 60/7 s to whole nanoseconds put it at 299.999999985 s, inside the iteration.
    let offsets = schedule(ArrivalKind::Constant, 7.0, Duration::from_secs(300), 1);
    assert_eq!(offsets.len(), 35);
    for (k, offset) in offsets.iter().enumerate() {
        let exact_ns = k as f64 * 60.0 / 7.0 * 1e9;
        assert!(
            (offset.as_nanos() as f64 - exact_ns).abs() <= 0.5 + 1e-3,
            "arrival {k}"
        );
    }
}

#[test]
fn random_gaps_add_up_to_their_exact_sum_to_the_nanosecond() {
    let mut clock = NanoCarry::default();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut exact_ns, mut total) = (0.0, Duration::ZERO);
    for _ in 0..10_000 {
        let secs: f64 = rng.random_range(0.0..0.01);
        exact_ns += secs * 1e9;
        total += clock.gap(secs);
        assert!((total.as_nanos() as f64 - exact_ns).abs() <= 0.5 + 1e-3);
    }
}

#[test]
fn counts_match_the_rate_over_many_arrivals() {
    // 600 req/min for 2000 s: 20000 arrivals expected after the one at 0.
    let duration = Duration::from_secs(2000);
    let expected = 20_001.0;
    for (kind, tolerance) in [
        (ArrivalKind::Poisson, 0.03),
        (ArrivalKind::Jitter, 0.005),
        (ArrivalKind::Constant, 0.0),
    ] {
        let n = schedule(kind, 600.0, duration, 42).len() as f64;
        assert!(
            (n - expected).abs() <= expected * tolerance + 1.0,
            "{kind:?}: {n} arrivals, expected {expected} ± {tolerance}"
        );
    }
}

#[test]
fn gap_means_and_coefficients_of_variation_fit_each_kind() {
    let mean_gap = 60.0 / 300.0;
    for (kind, cv_expected, cv_tol) in [
        (ArrivalKind::Poisson, 1.0, 0.03),
        (ArrivalKind::Jitter, 0.6 / 12f64.sqrt(), 0.005),
        (ArrivalKind::Constant, 0.0, 1e-9),
    ] {
        let gaps = gaps_secs(kind, 300.0, 7, 20_000);
        let (mean, cv) = mean_and_cv(&gaps);
        assert!(
            (mean / mean_gap - 1.0).abs() < 0.02,
            "{kind:?}: mean gap {mean}"
        );
        assert!(
            (cv - cv_expected).abs() < cv_tol,
            "{kind:?}: cv {cv}, expected {cv_expected}"
        );
    }
}

#[test]
fn jitter_gaps_stay_within_thirty_percent_of_the_mean() {
    let gaps = gaps_secs(ArrivalKind::Jitter, 120.0, 3, 5_000);
    let (lo, hi) = gaps
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &g| (lo.min(g), hi.max(g)));
    assert!(
        lo >= 0.7 * 0.5 - 1e-9 && hi <= 1.3 * 0.5 + 1e-9,
        "[{lo}, {hi}]"
    );
    // Both ends of the band are actually reached.
    assert!(lo < 0.71 * 0.5 && hi > 1.29 * 0.5, "[{lo}, {hi}]");
}

#[test]
fn poisson_gaps_pass_kolmogorov_smirnov_against_the_exponential() {
    let req_min = 90.0;
    let lambda = req_min / 60.0;
    let n = 2_000;
    // Critical value at alpha = 0.001 is about 1.95 / sqrt(n).
    let critical = 1.95 / (n as f64).sqrt();
    for seed in [1, 2, 3] {
        let d = ks_against_exp(&gaps_secs(ArrivalKind::Poisson, req_min, seed, n), lambda);
        assert!(d < critical, "seed {seed}: D = {d} >= {critical}");
    }
    // The same test does reject what is not exponential with that rate.
    let jitter = ks_against_exp(&gaps_secs(ArrivalKind::Jitter, req_min, 1, n), lambda);
    assert!(jitter > critical, "jitter D = {jitter}");
    let wrong_rate = ks_against_exp(
        &gaps_secs(ArrivalKind::Poisson, req_min, 1, n),
        2.0 * lambda,
    );
    assert!(wrong_rate > critical, "wrong-rate D = {wrong_rate}");
}

#[test]
fn same_seed_reproduces_and_different_seeds_differ() {
    let duration = Duration::from_secs(120);
    for kind in KINDS {
        assert_eq!(
            schedule(kind, 240.0, duration, 9),
            schedule(kind, 240.0, duration, 9)
        );
        assert_eq!(gaps_secs(kind, 240.0, 9, 50), gaps_secs(kind, 240.0, 9, 50));
    }
    for kind in [
        ArrivalKind::Poisson,
        ArrivalKind::Jitter,
        ArrivalKind::Gamma { burstiness: 0.5 },
    ] {
        assert_ne!(
            schedule(kind, 240.0, duration, 9),
            schedule(kind, 240.0, duration, 10)
        );
    }
}

#[test]
fn schedules_start_at_zero_are_sorted_bounded_and_complete() {
    for kind in KINDS {
        for (req_min, secs_) in [(1.0, 600), (37.5, 100), (5000.0, 30)] {
            for seed in 0..5 {
                let duration = Duration::from_secs(secs_);
                let offsets = schedule(kind, req_min, duration, seed);
                assert_eq!(offsets.first(), Some(&Duration::ZERO), "{kind:?}");
                assert!(offsets.iter().all(|&t| t < duration), "{kind:?}");
                assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{kind:?}");
                // Replaying the process gives every offset, and the next one would be too late.
                let mut replay = process(kind, req_min, seed);
                let mut t = Duration::ZERO;
                for &offset in &offsets {
                    assert_eq!(offset, t, "{kind:?} {req_min} {seed}");
                    t += replay.next_gap();
                }
                assert!(t >= duration, "{kind:?}: {t:?} should be past {duration:?}");
            }
        }
    }
}

#[test]
fn unusable_rates_give_empty_schedules_without_panicking() {
    let minute = Duration::from_secs(60);
    for req_min in [
        0.0,
        -1.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
    ] {
        for kind in KINDS {
            assert!(
                schedule(kind, req_min, minute, 1).is_empty(),
                "{kind:?} {req_min}"
            );
            assert_eq!(
                process(kind, req_min, 1).next_gap(),
                Duration::MAX,
                "{kind:?} {req_min}"
            );
        }
    }
    for kind in KINDS {
        assert!(schedule(kind, 60.0, Duration::ZERO, 1).is_empty());
        // A rate so low its gap overflows a Duration: one arrival at 0, then none.
        assert_eq!(schedule(kind, 1e-300, minute, 1), [Duration::ZERO]);
        // The highest accepted rate still ends: one request per microsecond.
        let n = schedule(kind, MAX_REQ_MIN, Duration::from_millis(10), 1).len();
        assert!((9_000..=11_000).contains(&n), "{kind:?}: {n}");
    }
}

#[test]
fn processes_can_move_between_threads() {
    let mut p = process(ArrivalKind::Poisson, 60.0, 5);
    let gap = std::thread::spawn(move || p.next_gap()).join().unwrap();
    assert_eq!(gap, process(ArrivalKind::Poisson, 60.0, 5).next_gap());
}

/// vLLM's parameterisation: whatever the shape, the mean gap is 60 / REQ_MIN, and the
/// coefficient of variation is 1/sqrt(shape). Tolerances are five standard errors for n gaps:
/// the sample mean's relative error has sd CV/sqrt(n); by the delta method the sample CV of
/// gamma(k) gaps has relative sd sqrt((1 + 1/k) / (2n)) (its kurtosis 3 + 6/k and skewness
/// 2/sqrt(k) enter through Var(s) and Cov(s, mean)).
#[test]
fn gamma_gaps_keep_the_mean_and_have_cv_one_over_root_burstiness() {
    let req_min = 300.0;
    let mean_gap = 60.0 / req_min;
    let n = 40_000;
    for (burstiness, cv_expected) in [(0.25, 2.0), (0.5, 2f64.sqrt()), (1.0, 1.0), (4.0, 0.5)] {
        let kind = ArrivalKind::Gamma { burstiness };
        let (mean, cv) = mean_and_cv(&gaps_secs(kind, req_min, 21, n));
        let mean_tol = 5.0 * cv_expected / (n as f64).sqrt();
        let cv_tol = 5.0 * ((1.0 + 1.0 / burstiness) / (2.0 * n as f64)).sqrt();
        assert!(
            (mean / mean_gap - 1.0).abs() < mean_tol,
            "shape {burstiness}: mean gap {mean} s, expected {mean_gap} ± {mean_tol:.3} relative"
        );
        assert!(
            (cv / cv_expected - 1.0).abs() < cv_tol,
            "shape {burstiness}: cv {cv}, expected {cv_expected} ± {cv_tol:.3} relative"
        );
    }
}

#[test]
fn gamma_gaps_pass_kolmogorov_smirnov_against_the_gamma_law() {
    let req_min = 120.0;
    let n = 2_000;
    // Critical value at alpha = 0.001, as for the Poisson test.
    let critical = 1.95 / (n as f64).sqrt();
    for burstiness in [0.25, 3.0] {
        // statrs takes the shape and the rate (1 / scale); scale = mean gap / shape.
        let law = GammaCdf::new(burstiness, burstiness * req_min / 60.0).unwrap();
        let kind = ArrivalKind::Gamma { burstiness };
        let d = ks(&gaps_secs(kind, req_min, 4, n), |x| law.cdf(x));
        assert!(d < critical, "shape {burstiness}: D = {d} >= {critical}");
        // Poisson gaps of the same mean are told apart from these.
        let poisson = ks(&gaps_secs(ArrivalKind::Poisson, req_min, 4, n), |x| {
            law.cdf(x)
        });
        assert!(
            poisson > critical,
            "shape {burstiness}: Poisson D = {poisson}"
        );
    }
}

/// BURSTINESS=1 is the Poisson process itself: rand_distr draws gamma(1) as the exponential,
/// so the same seed gives the same schedule.
#[test]
fn gamma_of_shape_one_is_the_poisson_schedule() {
    let duration = Duration::from_secs(600);
    assert_eq!(
        schedule(ArrivalKind::Gamma { burstiness: 1.0 }, 90.0, duration, 3),
        schedule(ArrivalKind::Poisson, 90.0, duration, 3)
    );
}

#[test]
fn gamma_with_an_unusable_shape_sends_only_the_first_request() {
    for burstiness in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let kind = ArrivalKind::Gamma { burstiness };
        assert_eq!(process(kind, 60.0, 1).next_gap(), Duration::MAX);
        assert_eq!(
            schedule(kind, 60.0, Duration::from_secs(60), 1),
            [Duration::ZERO]
        );
    }
}
