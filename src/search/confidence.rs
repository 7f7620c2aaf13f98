//! The MST with a confidence interval: from every judged iteration of a size — (offered rate,
//! sustainable or not) — the rate at which a "sustainable" verdict is as likely as not, and a
//! two-sided interval around it. The search's own answer (the highest rate counted
//! sustainable) depends on the few verdicts next to the bracket; this one weighs all of them
//! and says how sure it is, which is what the stop rule on the interval's width
//! (`CI_STOP_WIDTH`) needs.
//!
//! # Method (`logit-grid-posterior`, [`METHOD`])
//!
//! * **Model.** Verdicts are independent given the rate, and the probability of "sustainable"
//!   falls with the rate along one logistic curve in its logarithm:
//!   `P(sustainable | r) = 1 / (1 + exp((ln r − μ) / s))`. The midpoint `e^μ` is the capacity
//!   as the verdicts see it; the scale `s` (natural-log units) is how sharp the verdict is.
//! * **Prior** ([`PRIOR`]). `μ` uniform over the judged rates' span widened by 0.1 on either
//!   side in log rate (without it, an adaptive search whose iterations all lie on one side
//!   of the capacity but one noisy verdict covered 58% instead of 94%); `s` log-uniform over
//!   [0.002, 0.5]: the `queue` verdict on 20-s iterations has `s ≈ 0.044`, 30-min ones
//!   (if the noise shrinks as one over the square root of the duration) about 0.005, and 0.5
//!   is a verdict that passes 27% of the time at 1.65 × capacity, vaguer than any useful
//!   one. A lower `scale_min` trusts separated verdicts more: 1e-6 covered only 77–89%.
//! * **Posterior.** The exact likelihood (a product over the iterations) on a grid: [`SCALES`]
//!   log-spaced scales times a midpoint grid of [`SPAN_STEPS`] equal steps over the prior's
//!   range plus, around every judged rate, points at `scale_min / 4 × 2^k` up to 0.1 (where a
//!   sharp curve changes), integrated over `μ` by the trapezoid rule. The estimate is the
//!   median of the marginal posterior of `μ`, the interval its equal-tailed `level` credible
//!   interval
//!   (the `(1 − level)/2` and `(1 + level)/2` quantiles, the density linear between grid
//!   points). The curve `mst.json` carries is the one at the median `μ` and the posterior
//!   median of `s` (on the scale grid).
//! * **Why not a fit and a bootstrap.** Verdicts are usually perfectly separated (every pass
//!   below every fail), where a maximum-likelihood fit has no finite answer; Firth's penalty
//!   (the previous method, [`Method::FirthCaseBootstrap`]) keeps it finite, but its interval
//!   stayed about half the capacity wide and on adaptive searches covered 58–83%. The
//!   posterior handles separation without
//!   a penalty, needs no resampling and no seed, and is half as wide at the same coverage
//!   (measured: `docs/design/confidence.md`).
//! * **Limit.** Verdicts alone cannot tell a sharp verdict from a lucky one: on a noiseless
//!   search whose last fifteen iterations fail just above a single pass at the crossing,
//!   the default prior reads that pass as luck and the interval (486–987 for a crossing at
//!   1,000) misses it; a prior for noiseless verdicts (`s` ≤ 0.001) gives 996.8–1,000.009.
//! * **Contradicting data.** When a curve that *rises* with the rate (same priors) explains
//!   the verdicts better than a falling one — the passes lie above the fails overall — the
//!   data contradict the model and there is no interval.
//!
//! [`Method`] keeps Firth's fit with two bootstraps and its profile likelihood for the
//! benchmark's comparison (`examples/search_confidence.rs`).

use mst_results::Confidence;

mod firth;

/// The confidence level `mst.json` reports (a 90% interval).
pub const LEVEL: f64 = 0.9;

/// The prior on the verdict's scale `s` (natural-log units of the rate): log-uniform between
/// these bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// The sharpest verdict allowed.
    pub scale_min: f64,
    /// The vaguest verdict allowed.
    pub scale_max: f64,
    /// How far the flat prior on the midpoint reaches beyond the judged rates' span on either
    /// side, natural-log units (0.1: 10.5% above the highest rate, 9.5% below the lowest).
    pub widen: f64,
}

/// The prior [`METHOD`] uses (see the module's header).
pub const PRIOR: Prior = Prior {
    scale_min: 0.002,
    scale_max: 0.5,
    widen: 0.1,
};
/// Scales on the grid, log-spaced over the prior's range.
pub const SCALES: usize = 40;
/// Equal steps of the midpoint grid over the judged span (more points are added near each
/// judged rate).
pub const SPAN_STEPS: usize = 256;
/// The added midpoints on either side of a judged rate lie at `scale_min / 4` times powers of
/// 2, up to this distance (log rate).
const NEAR_UP_TO: f64 = 0.1;

/// How the interval is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The grid posterior of the logistic model (the module's header): the default.
    GridPosterior,
    /// Firth's penalised logistic fit, percentile bootstrap over cases (the previous default).
    FirthCaseBootstrap,
    /// Firth's fit, percentile bootstrap over verdicts redrawn from the fitted curve.
    FirthParametricBootstrap,
    /// Firth's fit, profile penalised likelihood (within `χ²₁(level) / 2` of its maximum).
    FirthProfile,
}

impl Method {
    /// The id `mst.json` writes as `confidence.method`.
    pub fn id(self) -> &'static str {
        match self {
            Method::GridPosterior => "logit-grid-posterior",
            Method::FirthCaseBootstrap => "firth-logit-case-bootstrap",
            Method::FirthParametricBootstrap => "firth-logit-parametric-bootstrap",
            Method::FirthProfile => "firth-logit-profile",
        }
    }
}

/// The method [`interval`] uses, chosen by measured coverage (`docs/design/confidence.md`).
pub const METHOD: Method = Method::GridPosterior;

/// The crossing and its interval from judged iterations, with [`METHOD`].
///
/// `points` are (offered rate in requests/minute, sustainable?) pairs, one per judged
/// iteration, in any order; a rate that is not a positive finite number is ignored. `level` is
/// the two-sided level in (0, 1), e.g. 0.9. A pure function of its arguments.
///
/// Returns `None` when nothing bounds the crossing: fewer than one pass and one fail (all
/// passes say only that the crossing lies above them, all fails that it lies below), all
/// iterations at one rate (no span), data that a rising curve explains better than a falling
/// one (the passes lie above the fails), or a `level` outside (0, 1).
pub fn interval(points: &[(f64, bool)], level: f64) -> Option<Confidence> {
    interval_with(points, level, 0, METHOD)
}

/// [`interval`] with the given method (the benchmark compares them). `seed` fixes a Firth
/// bootstrap's draws (splitmix64, [`crate::seed`]); the grid posterior ignores it.
pub fn interval_with(
    points: &[(f64, bool)],
    level: f64,
    seed: u64,
    method: Method,
) -> Option<Confidence> {
    if !(level > 0.0 && level < 1.0) {
        return None;
    }
    match method {
        Method::GridPosterior => posterior(points, level, PRIOR),
        _ => firth::interval(points, level, seed, method),
    }
}

/// One distinct (log rate, verdict) and how many iterations share it.
#[derive(Debug, Clone, Copy)]
struct Cell {
    x: f64,
    pass: bool,
    count: f64,
}

/// The grid posterior's interval with the given prior on the scale (the benchmark compares
/// priors); `None` as [`interval`] says, or for a prior that is not `0 < scale_min <
/// scale_max`.
pub fn posterior(points: &[(f64, bool)], level: f64, prior: Prior) -> Option<Confidence> {
    let Prior {
        scale_min,
        scale_max,
        widen,
    } = prior;
    if !(level > 0.0 && level < 1.0 && scale_min > 0.0 && scale_max > scale_min && widen >= 0.0) {
        return None;
    }
    let rates: Vec<(f64, bool)> = points
        .iter()
        .copied()
        .filter(|(r, _)| r.is_finite() && *r > 0.0)
        .collect();
    if !(rates.iter().any(|p| p.1) && rates.iter().any(|p| !p.1)) {
        return None;
    }
    let (r_lo, r_hi) = rates.iter().fold((f64::INFINITY, 0.0f64), |(l, h), p| {
        (l.min(p.0), h.max(p.0))
    });
    if r_hi <= r_lo {
        return None;
    }
    let (lo, hi) = (r_lo.ln() - widen, r_hi.ln() + widen);
    let mut cells: Vec<Cell> = Vec::new();
    for &(r, pass) in &rates {
        let x = r.ln();
        match cells.iter_mut().find(|c| c.x == x && c.pass == pass) {
            Some(c) => c.count += 1.0,
            None => cells.push(Cell {
                x,
                pass,
                count: 1.0,
            }),
        }
    }
    let grid = midpoints(&cells, lo, hi, scale_min);
    let scales: Vec<f64> = (0..SCALES)
        .map(|j| scale_min * (scale_max / scale_min).powf(j as f64 / (SCALES - 1) as f64))
        .collect();
    // Log-likelihoods of the falling and of the rising curve, [scale][midpoint].
    let n = grid.len();
    let mut fall = vec![0.0; SCALES * n];
    let mut rise = vec![0.0; SCALES * n];
    for (j, &s) in scales.iter().enumerate() {
        for (i, &m) in grid.iter().enumerate() {
            let (mut f, mut r) = (0.0, 0.0);
            for c in &cells {
                let z = (c.x - m) / s;
                // ln σ(−z), the falling curve's ln P(pass), without overflow; ln σ(z) is it
                // plus z.
                let mut ln_pass = -z.max(0.0);
                if z.abs() < 40.0 {
                    ln_pass -= (-z.abs()).exp().ln_1p();
                }
                if c.pass {
                    f += c.count * ln_pass;
                    r += c.count * (ln_pass + z);
                } else {
                    f += c.count * (ln_pass + z);
                    r += c.count * ln_pass;
                }
            }
            fall[j * n + i] = f;
            rise[j * n + i] = r;
        }
    }
    let top = fall.iter().chain(&rise).copied().fold(f64::MIN, f64::max);
    let trapezoid = |w: &[f64], i: usize| (w[i] + w[i + 1]) / 2.0 * (grid[i + 1] - grid[i]);
    // The posterior (unnormalised) over the midpoints, summed over the scales, and the mass of
    // each scale.
    let mut density = vec![0.0; n];
    let mut per_scale = vec![0.0; SCALES];
    let (mut evidence_fall, mut evidence_rise) = (0.0, 0.0);
    for j in 0..SCALES {
        let wf: Vec<f64> = fall[j * n..(j + 1) * n]
            .iter()
            .map(|l| (l - top).exp())
            .collect();
        let wr: Vec<f64> = rise[j * n..(j + 1) * n]
            .iter()
            .map(|l| (l - top).exp())
            .collect();
        for i in 0..n {
            density[i] += wf[i];
        }
        per_scale[j] = (0..n - 1).map(|i| trapezoid(&wf, i)).sum();
        evidence_fall += per_scale[j];
        evidence_rise += (0..n - 1).map(|i| trapezoid(&wr, i)).sum::<f64>();
    }
    if evidence_fall.is_nan() || evidence_fall <= 0.0 || evidence_rise > evidence_fall {
        return None;
    }
    let cumulative: Vec<f64> = std::iter::once(0.0)
        .chain((0..n - 1).scan(0.0, |acc, i| {
            *acc += trapezoid(&density, i);
            Some(*acc)
        }))
        .collect();
    let at = |q: f64| quantile(&grid, &density, &cumulative, q);
    let median = at(0.5);
    let (low, high) = (at((1.0 - level) / 2.0), at((1.0 + level) / 2.0));
    let mut seen = 0.0;
    let scale = scales
        .iter()
        .zip(&per_scale)
        .find(|(_, m)| {
            seen += *m;
            seen >= evidence_fall / 2.0
        })
        .map_or(scale_max, |(s, _)| *s);
    // Clamped as rates, so no end falls outside the prior's range by a rounding of exp.
    let clamp = |x: f64| x.exp().clamp(lo.exp(), hi.exp());
    Some(Confidence {
        level,
        low_req_min: clamp(low),
        high_req_min: clamp(high),
        estimate_req_min: clamp(median),
        method: Method::GridPosterior.id().to_string(),
        curve_midpoint_req_min: clamp(median),
        curve_log_scale: scale,
        iterations: rates.len() as u32,
        resamples: 0,
        redrawn: 0,
    })
}

/// The midpoint grid (log rates, ascending, within `[lo, hi]`): equal steps over the span, and
/// points near every judged rate where a sharp curve changes.
fn midpoints(cells: &[Cell], lo: f64, hi: f64, scale_min: f64) -> Vec<f64> {
    let mut grid: Vec<f64> = (0..=SPAN_STEPS)
        .map(|k| lo + (hi - lo) * k as f64 / SPAN_STEPS as f64)
        .collect();
    for c in cells {
        grid.push(c.x);
        let mut d = scale_min / 4.0;
        while d <= NEAR_UP_TO {
            for m in [c.x - d, c.x + d] {
                if m > lo && m < hi {
                    grid.push(m);
                }
            }
            d *= 2.0;
        }
    }
    grid.sort_by(f64::total_cmp);
    grid.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    grid
}

/// The `q` quantile of the density given at the grid points, linear between them;
/// `cumulative[i]` is its integral up to `grid[i]`.
fn quantile(grid: &[f64], density: &[f64], cumulative: &[f64], q: f64) -> f64 {
    let total = cumulative[cumulative.len() - 1];
    let target = q * total;
    let i = cumulative
        .partition_point(|&c| c < target)
        .clamp(1, grid.len() - 1)
        - 1;
    let (a, b, h) = (density[i], density[i + 1], grid[i + 1] - grid[i]);
    let need = target - cumulative[i];
    // Mass from grid[i] to grid[i] + t is a·t + (b − a)·t² / (2h): solve for t.
    let slope = (b - a) / h;
    let t = if slope.abs() * h < 1e-9 * (a + b) || slope == 0.0 {
        if a > 0.0 { need / a } else { h / 2.0 }
    } else {
        (-a + (a * a + 2.0 * slope * need).max(0.0).sqrt()) / slope
    };
    grid[i] + t.clamp(0.0, h)
}

#[cfg(test)]
mod tests;
