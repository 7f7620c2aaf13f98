//! The MST with a confidence interval: from every judged iteration of a size — (offered rate,
//! sustainable or not) — the rate at which a "sustainable" verdict is as likely as not, and a
//! two-sided interval around it. The search's own answer (the highest rate counted
//! sustainable) depends on the few verdicts next to the bracket; this one weighs all of them
//! and says how sure it is, which is what a stop rule on the interval's width needs.
//!
//! # Method (`firth-logit-bootstrap`)
//!
//! * **Model.** Verdicts are independent given the rate, and the probability of "sustainable"
//!   falls with the rate along one logistic curve in its logarithm:
//!   `P(sustainable | r) = 1 / (1 + exp(−(a + b·x)))`, `x = (ln r − m) / s`, where `m` and `s`
//!   are the mean and standard deviation of the judged rates' logs (a change of units only: the
//!   crossing does not depend on them). The crossing is `x₀ = −a/b`, the rate `exp(m + s·x₀)`;
//!   the curve's scale in log units is `s / |b|`.
//! * **Fit.** A search's verdicts are usually perfectly separated (every pass below every
//!   fail), and then the maximum-likelihood fit has no finite solution (the slope runs to
//!   infinity). Firth's penalised likelihood — the log-likelihood plus ½·ln det I(a, b), the
//!   Jeffreys prior — stays finite under separation and removes the first-order bias of the
//!   estimates (D. Firth, "Bias reduction of maximum likelihood estimates", Biometrika 80(1),
//!   1993; G. Heinze and M. Schemper, "A solution to the problem of separation in logistic
//!   regression", Statistics in Medicine 21(16), 2002). It is solved as Heinze and Schemper do
//!   (and R's `logistf`): Newton steps `Δ = I⁻¹·U*` on the modified score
//!   `U*_j = Σ (yᵢ − pᵢ + hᵢ(½ − pᵢ))·x_ij` (`hᵢ` the diagonal of the weighted hat matrix),
//!   each component capped at 5, halved until the penalised log-likelihood does not fall;
//!   converged when the largest step is below 1e-9, at most 100 steps.
//! * **Interval.** A percentile bootstrap over the iterations (B. Efron and R. Tibshirani,
//!   *An Introduction to the Bootstrap*, 1993, ch. 13): [`RESAMPLES`] resamples of the judged
//!   iterations with replacement, each refitted; the interval is the `(1 − level)/2` and
//!   `(1 + level)/2` quantiles of their crossings' logs (linear interpolation between order
//!   statistics). A resample that cannot be fitted — no pass or no fail, a single rate, or a
//!   curve that does not fall with the rate — has no crossing and is **drawn again** (counted
//!   in `redrawn`), up to [`MAX_DRAWS_PER_RESAMPLE`] draws per kept resample on average. Draws
//!   are a pure function of the seed (splitmix64, [`crate::seed`]).
//! * **Range.** The estimate and both ends are clamped to the span of the judged rates: beyond
//!   it nothing was measured, and with a pass and a fail in the data the crossing lies inside
//!   it unless the verdicts contradict the model.
//!
//! Measured coverage of the 90% interval on the classic search: `examples/search_confidence.rs`
//! and `docs/design/confidence.md`.

use crate::seed;
use mst_results::Confidence;

/// Bootstrap resamples behind an interval.
pub const RESAMPLES: u32 = 1000;

/// Draws allowed per kept resample, on average, before the interval is given up (`None`).
pub const MAX_DRAWS_PER_RESAMPLE: u32 = 20;

/// The method's id, as `mst.json` writes it (`confidence.method`).
pub const METHOD: &str = "firth-logit-bootstrap";

/// Largest change of a parameter in one Newton step (`logistf`'s `maxstep`).
const MAX_STEP: f64 = 5.0;
/// Newton steps before a fit is given up.
const MAX_NEWTON: usize = 100;
/// A fit has converged when no parameter moves by more than this …
const TOLERANCE: f64 = 1e-9;
/// … or the modified score is this close to zero. Needed because the step `I⁻¹·U*` is not the
/// exact Newton step of the penalised likelihood: with as many distinct points as parameters
/// every hat value is 1 and the iteration circles the solution without closing in.
const SCORE_TOLERANCE: f64 = 1e-7;

/// The crossing and its interval from judged iterations.
///
/// `points` are (offered rate in requests/minute, sustainable?) pairs, one per judged
/// iteration, in any order; a rate that is not a positive finite number is ignored. `level` is
/// the two-sided confidence level in (0, 1), e.g. 0.9. `seed` fixes the bootstrap: the same
/// points, level and seed give the same answer.
///
/// Returns `None` when nothing bounds the crossing: fewer than one pass and one fail (all
/// passes say only that the crossing lies above them, all fails that it lies below), all
/// iterations at one rate (no slope), a fit that does not fall with the rate (the passes lie
/// above the fails: the data contradict the model), fewer than 2 resamples kept within
/// [`MAX_DRAWS_PER_RESAMPLE`], or a `level` outside (0, 1).
pub fn interval(points: &[(f64, bool)], level: f64, seed: u64) -> Option<Confidence> {
    if !(level > 0.0 && level < 1.0) {
        return None;
    }
    let data: Vec<(f64, bool)> = points
        .iter()
        .filter(|(r, _)| r.is_finite() && *r > 0.0)
        .map(|&(r, y)| (r.ln(), y))
        .collect();
    let n = data.len();
    let (lo, hi) = span(&data)?;
    let full = crossing(&data)?;
    let mut logs = Vec::with_capacity(RESAMPLES as usize);
    let mut redrawn = 0u32;
    let mut draw = 0u64;
    let budget = u64::from(RESAMPLES) * u64::from(MAX_DRAWS_PER_RESAMPLE);
    let mut sample = Vec::with_capacity(n);
    while logs.len() < RESAMPLES as usize && draw < budget {
        sample.clear();
        for _ in 0..n {
            let k = ((seed::unit(seed, draw) * n as f64) as usize).min(n - 1);
            draw += 1;
            sample.push(data[k]);
        }
        match crossing(&sample) {
            Some(c) => logs.push(c.log_rate),
            None => redrawn += 1,
        }
    }
    if logs.len() < 2 {
        return None;
    }
    logs.sort_by(f64::total_cmp);
    let clamp = |x: f64| x.clamp(lo, hi).exp();
    Some(Confidence {
        level,
        low_req_min: clamp(quantile(&logs, (1.0 - level) / 2.0)),
        high_req_min: clamp(quantile(&logs, (1.0 + level) / 2.0)),
        estimate_req_min: clamp(full.log_rate),
        method: METHOD.to_string(),
        curve_midpoint_req_min: full.log_rate.exp(),
        curve_log_scale: full.log_scale,
        iterations: n as u32,
        resamples: logs.len() as u32,
        redrawn,
    })
}

/// (lowest, highest) log rate, when the data hold a pass, a fail and two distinct rates.
fn span(data: &[(f64, bool)]) -> Option<(f64, f64)> {
    let has_pass = data.iter().any(|&(_, y)| y);
    let has_fail = data.iter().any(|&(_, y)| !y);
    let lo = data.iter().map(|d| d.0).fold(f64::INFINITY, f64::min);
    let hi = data.iter().map(|d| d.0).fold(f64::NEG_INFINITY, f64::max);
    (has_pass && has_fail && hi > lo).then_some((lo, hi))
}

/// A fitted curve: where it crosses 1/2 and its scale, both in natural-log units of the rate.
#[derive(Debug, Clone, Copy)]
struct Crossing {
    log_rate: f64,
    log_scale: f64,
}

/// One distinct (standardised log rate, verdict) and how many iterations share it: duplicates
/// weigh in as a count, which gives the same fit as listing them (a resample repeats many).
#[derive(Debug, Clone, Copy)]
struct Cell {
    x: f64,
    pass: bool,
    count: f64,
}

/// Firth's fit on (log rate, pass) pairs and its crossing; `None` when there is none (see
/// [`interval`]).
fn crossing(data: &[(f64, bool)]) -> Option<Crossing> {
    span(data)?;
    let n = data.len() as f64;
    let m = data.iter().map(|d| d.0).sum::<f64>() / n;
    let s = (data.iter().map(|d| (d.0 - m).powi(2)).sum::<f64>() / n).sqrt();
    if s.is_nan() || s <= 1e-12 {
        return None;
    }
    let mut cells: Vec<Cell> = Vec::with_capacity(data.len());
    for &(l, pass) in data {
        let x = (l - m) / s;
        match cells.iter_mut().find(|c| c.x == x && c.pass == pass) {
            Some(c) => c.count += 1.0,
            None => cells.push(Cell {
                x,
                pass,
                count: 1.0,
            }),
        }
    }
    let (a, b) = firth(&cells)?;
    if b.is_nan() || b >= 0.0 {
        return None;
    }
    let log_rate = m + s * (-a / b);
    let log_scale = s / -b;
    (log_rate.is_finite() && log_scale.is_finite()).then_some(Crossing {
        log_rate,
        log_scale,
    })
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// The penalised log-likelihood at (a, b), its modified score and the inverse information
/// (`[I⁻¹₀₀, I⁻¹₀₁, I⁻¹₁₁]`), or `None` when the information is singular.
fn evaluate(cells: &[Cell], a: f64, b: f64) -> Option<(f64, [f64; 2], [f64; 3])> {
    let (mut i00, mut i01, mut i11, mut loglik) = (0.0, 0.0, 0.0, 0.0);
    for c in cells {
        let eta = a + b * c.x;
        // ln p and ln(1 − p) for p = 1/(1 + e^−η), and w = p(1 − p) from them.
        let (lp, lq) = (-softplus(-eta), -softplus(eta));
        let w = c.count * (lp + lq).exp();
        i00 += w;
        i01 += w * c.x;
        i11 += w * c.x * c.x;
        loglik += c.count * if c.pass { lp } else { lq };
    }
    let det = i00 * i11 - i01 * i01;
    if !(det > 0.0 && det.is_finite()) {
        return None;
    }
    let inv = [i11 / det, -i01 / det, i00 / det];
    let mut score = [0.0; 2];
    for c in cells {
        let eta = a + b * c.x;
        let lp = -softplus(-eta);
        let p = lp.exp();
        let w = (lp - softplus(eta)).exp();
        // The hat value of one iteration in this cell.
        let h = w * (inv[0] + 2.0 * inv[1] * c.x + inv[2] * c.x * c.x);
        let r = c.count * (f64::from(u8::from(c.pass)) - p + h * (0.5 - p));
        score[0] += r;
        score[1] += r * c.x;
    }
    Some((loglik + 0.5 * det.ln(), score, inv))
}

/// Firth's penalised logistic regression of `pass` on `x`: (intercept, slope) at the highest
/// penalised likelihood. That likelihood can have two maxima on separated data (a steep curve
/// through the gap and a shallow one), so Newton starts from a flat curve and from steep ones
/// through the middle between the highest pass and the lowest fail, and the best end wins.
fn firth(cells: &[Cell]) -> Option<(f64, f64)> {
    let count = |pass: bool| {
        cells
            .iter()
            .filter(|c| c.pass == pass)
            .map(|c| c.count)
            .sum()
    };
    let (np, nf): (f64, f64) = (count(true), count(false));
    let highest_pass = cells
        .iter()
        .filter(|c| c.pass)
        .map(|c| c.x)
        .fold(f64::MIN, f64::max);
    let lowest_fail = cells
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.x)
        .fold(f64::MAX, f64::min);
    let middle = (highest_pass + lowest_fail) / 2.0;
    let share = (np + 0.5) / (np + nf + 1.0);
    let mut best: Option<(f64, f64, f64)> = None;
    for slope in STARTING_SLOPES {
        let start = if slope == 0.0 {
            ((share / (1.0 - share)).ln(), 0.0)
        } else {
            (-slope * middle, slope)
        };
        if let Some((a, b, pen)) = newton(cells, start)
            && best.is_none_or(|(_, _, top)| pen > top)
        {
            best = Some((a, b, pen));
        }
    }
    best.map(|(a, b, _)| (a, b))
}

/// Slopes (per standard deviation of the log rates) Newton starts from: a flat curve, and
/// curves whose probability falls from 73% to 27% over 1/2, 1/8 and 1/32 of a deviation.
const STARTING_SLOPES: [f64; 4] = [0.0, -2.0, -8.0, -32.0];

/// Newton's method on the modified score from `start`: (a, b, penalised log-likelihood).
fn newton(cells: &[Cell], start: (f64, f64)) -> Option<(f64, f64, f64)> {
    let (mut a, mut b) = start;
    let (mut pen, mut score, mut inv) = evaluate(cells, a, b)?;
    for _ in 0..MAX_NEWTON {
        let mut step = [
            inv[0] * score[0] + inv[1] * score[1],
            inv[1] * score[0] + inv[2] * score[1],
        ];
        let largest = step[0].abs().max(step[1].abs());
        if !largest.is_finite() {
            return None;
        }
        if largest < TOLERANCE || score[0].abs().max(score[1].abs()) < SCORE_TOLERANCE {
            return Some((a, b, pen));
        }
        if largest > MAX_STEP {
            step = step.map(|d| d * MAX_STEP / largest);
        }
        // Halve the step until the penalised likelihood does not fall.
        let mut moved = false;
        for _ in 0..40 {
            if let Some(next) = evaluate(cells, a + step[0], b + step[1])
                && next.0 >= pen - 1e-12
            {
                (a, b) = (a + step[0], b + step[1]);
                (pen, score, inv) = next;
                moved = true;
                break;
            }
            step = step.map(|d| d / 2.0);
        }
        if !moved {
            // No step raises the penalised likelihood: at its maximum to rounding.
            return Some((a, b, pen));
        }
    }
    None
}

/// The `q` quantile of sorted `v` (linear interpolation between order statistics, type 7).
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    match v.get(i + 1) {
        Some(next) => v[i] + frac * (next - v[i]),
        None => v[i],
    }
}

#[cfg(test)]
mod tests;
