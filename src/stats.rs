//! Statistics used by evaluators and summaries: percentiles, distributions, least-squares
//! regression with a t-test on the slope, and Welch's unequal-variance t-test.
//!
//! Pure functions over `f64` slices. Conventions follow the references users compare against:
//! percentiles interpolate like `numpy.percentile` (its default "linear" method), the regression
//! matches `scipy.stats.linregress` and the Welch test `scipy.stats.ttest_ind(equal_var=False)`.
//! Degenerate inputs give `None` or a documented finite answer, never NaN.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Arithmetic mean; `None` for an empty slice.
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The `p`-th percentile (`p` in 0..=100) with linear interpolation between order statistics,
/// as `numpy.percentile` does by default. The input need not be sorted.
/// `None` when `xs` is empty or `p` is outside 0..=100 (or NaN).
pub fn percentile(xs: &[f64], p: f64) -> Option<f64> {
    if xs.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(percentile_sorted(&sorted, p))
}

/// Percentile of an already sorted, non-empty slice; `p` already validated.
fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    if lo == hi { a } else { a + (b - a) * frac }
}

/// A summary of a sample: count, mean, extremes and the usual percentiles (same unit as the
/// input, e.g. milliseconds for latencies).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Median (50th percentile, interpolated).
    pub p50: f64,
    /// 90th percentile (interpolated).
    pub p90: f64,
    /// 99th percentile (interpolated).
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

/// Summarise a sample with one sort; `None` when empty.
pub fn distribution(xs: &[f64]) -> Option<Distribution> {
    let mean = mean(xs)?;
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Distribution {
        count: sorted.len(),
        mean,
        min: sorted[0],
        p50: percentile_sorted(&sorted, 50.0),
        p90: percentile_sorted(&sorted, 90.0),
        p99: percentile_sorted(&sorted, 99.0),
        max: sorted[sorted.len() - 1],
    })
}

/// Average `(t, y)` samples into equal-width time bins over `[w0, w1)`; empty bins are skipped.
pub fn binned_means(samples: &[(f64, f64)], w0: f64, w1: f64, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let width = (w1 - w0) / bins as f64;
    let mut sum = vec![0.0; bins];
    let mut n = vec![0usize; bins];
    for &(t, y) in samples {
        let b = (((t - w0) / width) as usize).min(bins - 1);
        sum[b] += y;
        n[b] += 1;
    }
    (0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| (w0 + width * (b as f64 + 0.5), sum[b] / n[b] as f64))
        .unzip()
}

/// Ordinary least squares `y = intercept + slope · x` with a t-test on the slope.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    /// Number of points.
    pub n: usize,
    /// Slope (unit of y per unit of x).
    pub slope: f64,
    /// Intercept (unit of y).
    pub intercept: f64,
    /// Standard error of the slope (0 when the points lie exactly on a line).
    pub slope_se: f64,
    /// `slope / slope_se`; ±infinity when the fit is exact and the slope non-zero, 0 when both
    /// are zero.
    pub t: f64,
    /// Degrees of freedom, `n - 2`.
    pub df: f64,
    /// One-sided p-value for H1: slope > 0.
    pub p_slope_positive: f64,
    /// Two-sided p-value for H1: slope ≠ 0 (what `scipy.stats.linregress` reports).
    pub p_two_sided: f64,
}

/// Least-squares fit of `ys` on `xs`. `None` when the lengths differ, there are fewer than 3
/// points, or all `xs` are equal (no slope to estimate).
///
/// With zero residual variance the slope is exact: `p_slope_positive` is 0 when the slope is
/// positive and 1 otherwise; `p_two_sided` is 0 for a non-zero slope and 1 for a zero slope.
pub fn linear_fit(xs: &[f64], ys: &[f64]) -> Option<LinearFit> {
    let n = xs.len();
    if n != ys.len() || n < 3 {
        return None;
    }
    let mx = mean(xs)?;
    let my = mean(ys)?;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    // Residuals summed directly (not Syy − slope·Sxy) so rounding can never make them negative.
    let ssr: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| {
            let r = y - (intercept + slope * x);
            r * r
        })
        .sum();
    let df = (n - 2) as f64;
    let slope_se = (ssr / df / sxx).sqrt();
    let (t, p_slope_positive, p_two_sided) = match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) if slope_se > 0.0 => {
            let t = slope / slope_se;
            (t, dist.sf(t), two_sided(&dist, t))
        }
        _ => exact_fit_answer(slope),
    };
    Some(LinearFit {
        n,
        slope,
        intercept,
        slope_se,
        t,
        df,
        p_slope_positive,
        p_two_sided,
    })
}

/// t and p-values when the standard error is zero: the sign of the slope is certain.
fn exact_fit_answer(slope: f64) -> (f64, f64, f64) {
    if slope > 0.0 {
        (f64::INFINITY, 0.0, 0.0)
    } else if slope < 0.0 {
        (f64::NEG_INFINITY, 1.0, 0.0)
    } else {
        (0.0, 1.0, 1.0)
    }
}

/// Two-sided tail probability of `|t|`, computed from the upper tail so small p keep precision.
fn two_sided(dist: &StudentsT, t: f64) -> f64 {
    (2.0 * dist.sf(t.abs())).min(1.0)
}

/// Welch's two-sample t-test (unequal variances).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WelchTest {
    /// `(mean_x − mean_y) / sqrt(var_x/n_x + var_y/n_y)` (sample variances, n − 1).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value for H1: the means differ.
    pub p_two_sided: f64,
    /// Mean of `x`.
    pub mean_x: f64,
    /// Mean of `y`.
    pub mean_y: f64,
}

/// Welch's t-test of `x` against `y`, like `scipy.stats.ttest_ind(x, y, equal_var=False)`.
/// `None` when either sample has fewer than 2 values.
///
/// When both samples have zero variance (where scipy answers NaN) the difference is certain:
/// equal means give t = 0, p = 1; different means give t = ±infinity, p = 0; `df` is then
/// `n_x + n_y − 2`.
pub fn welch_t_test(x: &[f64], y: &[f64]) -> Option<WelchTest> {
    if x.len() < 2 || y.len() < 2 {
        return None;
    }
    let (mean_x, var_x) = mean_var(x)?;
    let (mean_y, var_y) = mean_var(y)?;
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    let (ax, ay) = (var_x / nx, var_y / ny);
    let se2 = ax + ay;
    let diff = mean_x - mean_y;
    if se2 <= 0.0 {
        let (t, p) = if diff == 0.0 {
            (0.0, 1.0)
        } else {
            (f64::INFINITY.copysign(diff), 0.0)
        };
        return Some(WelchTest {
            t,
            df: nx + ny - 2.0,
            p_two_sided: p,
            mean_x,
            mean_y,
        });
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (ax * ax / (nx - 1.0) + ay * ay / (ny - 1.0));
    let p_two_sided = match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => two_sided(&dist, t),
        // Only reachable with non-finite input; report "no evidence" rather than NaN.
        Err(_) => 1.0,
    };
    Some(WelchTest {
        t,
        df,
        p_two_sided,
        mean_x,
        mean_y,
    })
}

/// Mean and sample variance (divisor n − 1) of a slice with at least 2 values.
fn mean_var(xs: &[f64]) -> Option<(f64, f64)> {
    let m = mean(xs)?;
    let ss: f64 = xs.iter().map(|v| (v - m) * (v - m)).sum();
    Some((m, ss / (xs.len() - 1) as f64))
}

#[cfg(test)]
mod tests;
