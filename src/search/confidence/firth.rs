//! The method `mst.json` wrote before the grid posterior ([`super::Method::FirthCaseBootstrap`]
//! and two variants), kept so `examples/search_confidence.rs` can compare against it: Firth's
//! penalised logistic regression of the verdict on the log of the rate, with a case or
//! parametric bootstrap, or the profile penalised likelihood. Measured and replaced in
//! `docs/design/confidence.md`: on a search whose iterations cluster at a sharp crossing
//! Firth's penalty prefers a shallow curve and the interval can miss the crossing, and on
//! every search the interval stays about half the capacity wide.
//!
//! * **Fit.** Verdicts are usually perfectly separated (every pass below every fail), and
//!   then the maximum-likelihood fit has no finite solution. Firth's penalised likelihood —
//!   the log-likelihood plus ½·ln det I(a, b), the Jeffreys prior — stays finite (D. Firth,
//!   Biometrika 80(1), 1993; G. Heinze and M. Schemper, Statistics in Medicine 21(16), 2002).
//!   Newton steps `Δ = I⁻¹·U*` on the modified score, capped at 5 and halved until the
//!   penalised likelihood does not fall; after two, true Newton steps where the Hessian is
//!   negative definite; from a flat and a steep start (the penalised likelihood can have two
//!   maxima on separated data), the higher end wins. The rates are standardised,
//!   `x = (ln r − m) / s`, `m` and `s` the mean and deviation of the judged rates' logs.
//! * **Interval.** Case bootstrap: [`RESAMPLES`] resamples with replacement, the
//!   `(1 ± level)/2` quantiles of their crossings; a resample of passes only counts as a
//!   crossing at the top of the judged rates, fails only at the bottom; one that cannot be
//!   fitted is drawn again (`redrawn`). Parametric: the verdicts redrawn from the fitted
//!   curve. Profile: the crossings whose profiled penalised log-likelihood lies within
//!   `χ²₁(level) / 2` of its maximum. All ends are clamped to the judged rates' span.

use super::Method;
use crate::seed;
use mst_results::Confidence;

/// Bootstrap resamples behind an interval.
pub(super) const RESAMPLES: u32 = 1000;

/// Draws allowed per kept resample, on average, before the interval is given up (`None`).
pub(super) const MAX_DRAWS_PER_RESAMPLE: u32 = 20;

/// Largest change of a parameter in one Newton step (`logistf`'s `maxstep`).
const MAX_STEP: f64 = 5.0;
/// Newton steps before a fit is given up.
const MAX_NEWTON: usize = 100;
/// When Newton stops: no parameter moves by more than `step`, or the modified score is within
/// `score` of zero. The second is needed because the step `I⁻¹·U*` is not the exact Newton
/// step of the penalised likelihood: with as many distinct points as parameters every hat
/// value is 1 and the iteration circles the solution without closing in.
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    step: f64,
    score: f64,
}

impl Tolerance {
    /// The fit reported (checked against an independent optimiser to 1e-7).
    const EXACT: Tolerance = Tolerance {
        step: 1e-9,
        score: 1e-7,
    };
    /// A bootstrap refit: 1e-4 in standardised units moves a crossing far less than the
    /// resamples' spread, and takes about a third fewer Newton steps.
    const RESAMPLE: Tolerance = Tolerance {
        step: 1e-4,
        score: 1e-4,
    };
}

/// The interval by one of Firth's methods (the caller checked `level` and the method is not
/// the grid posterior); `seed` fixes a bootstrap's draws. `None` as [`super::interval`] says,
/// and also when the fit does not fall with the rate, does not converge, or a bootstrap kept
/// fewer than 2 resamples within [`MAX_DRAWS_PER_RESAMPLE`].
pub(super) fn interval(
    points: &[(f64, bool)],
    level: f64,
    seed: u64,
    method: Method,
) -> Option<Confidence> {
    let rates: Vec<(f64, bool)> = points
        .iter()
        .copied()
        .filter(|(r, _)| r.is_finite() && *r > 0.0)
        .collect();
    let data: Vec<(f64, bool)> = rates.iter().map(|&(r, y)| (r.ln(), y)).collect();
    let (lo, hi) = span(&data)?;
    let fitted = fit(&data, Tolerance::EXACT)?;
    let full = fitted.crossing()?;
    let (low, high, resamples, redrawn) = match method {
        Method::GridPosterior => return None,
        Method::FirthProfile => {
            let (low, high) = profile_interval(&fitted, level, lo, hi)?;
            (low, high, 0, 0)
        }
        Method::FirthCaseBootstrap | Method::FirthParametricBootstrap => bootstrap(
            &data,
            full,
            (lo, hi),
            level,
            seed,
            method == Method::FirthCaseBootstrap,
        )?,
    };
    // Clamped as rates, so no end falls outside the judged rates by a rounding of exp(ln r).
    let (r_lo, r_hi) = rates
        .iter()
        .map(|d| d.0)
        .fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(x), h.max(x)));
    let clamp = |x: f64| x.exp().clamp(r_lo, r_hi);
    Some(Confidence {
        level,
        low_req_min: clamp(low),
        high_req_min: clamp(high),
        estimate_req_min: clamp(full.log_rate),
        method: method.id().to_string(),
        curve_midpoint_req_min: full.log_rate.exp(),
        curve_log_scale: full.log_scale,
        iterations: data.len() as u32,
        resamples,
        redrawn,
    })
}

/// The percentile bootstrap's ends (log rate), resamples kept and redrawn. `span` is the
/// lowest and highest observed log rate: a resample of passes only counts as a crossing at
/// the top of the span, one of fails only at the bottom.
fn bootstrap(
    data: &[(f64, bool)],
    full: Crossing,
    span: (f64, f64),
    level: f64,
    seed: u64,
    cases: bool,
) -> Option<(f64, f64, u32, u32)> {
    let n = data.len();
    // The fitted probability of a pass at each observed rate, for parametric draws.
    let fitted: Vec<f64> = data
        .iter()
        .map(|&(l, _)| 1.0 / (1.0 + ((l - full.log_rate) / full.log_scale).exp()))
        .collect();
    let mut logs = Vec::with_capacity(RESAMPLES as usize);
    let mut redrawn = 0u32;
    let mut draw = 0u64;
    let mut sample = Vec::with_capacity(n);
    for _ in 0..RESAMPLES * MAX_DRAWS_PER_RESAMPLE {
        if logs.len() == RESAMPLES as usize {
            break;
        }
        sample.clear();
        for (i, &(l, _)) in data.iter().enumerate() {
            let u = seed::unit(seed, draw);
            draw += 1;
            sample.push(if cases {
                data[((u * n as f64) as usize).min(n - 1)]
            } else {
                (l, u < fitted[i])
            });
        }
        if sample.iter().all(|d| d.1) {
            logs.push(span.1);
        } else if sample.iter().all(|d| !d.1) {
            logs.push(span.0);
        } else {
            match crossing(&sample, Tolerance::RESAMPLE) {
                Some(c) => logs.push(c.log_rate),
                None => redrawn += 1,
            }
        }
    }
    if logs.len() < 2 {
        return None;
    }
    logs.sort_by(f64::total_cmp);
    Some((
        quantile(&logs, (1.0 - level) / 2.0),
        quantile(&logs, (1.0 + level) / 2.0),
        logs.len() as u32,
        redrawn,
    ))
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

/// Firth's fit on (log rate, pass) pairs, with what the profile needs.
struct Fitted {
    /// Mean and standard deviation of the log rates: `x = (ln r − m) / s`.
    m: f64,
    s: f64,
    cells: Vec<Cell>,
    a: f64,
    b: f64,
    /// The penalised log-likelihood at (a, b).
    pen: f64,
}

impl Fitted {
    fn crossing(&self) -> Option<Crossing> {
        let log_rate = self.m + self.s * (-self.a / self.b);
        let log_scale = self.s / -self.b;
        (log_rate.is_finite() && log_scale.is_finite()).then_some(Crossing {
            log_rate,
            log_scale,
        })
    }
}

/// Firth's fit on (log rate, pass) pairs, Newton stopping at `tolerance` (see [`Tolerance`]);
/// `None` when it has no crossing (see [`interval`]).
fn fit(data: &[(f64, bool)], tolerance: Tolerance) -> Option<Fitted> {
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
    let (a, b, pen) = firth(&cells, tolerance)?;
    if b.is_nan() || b >= 0.0 {
        return None;
    }
    Some(Fitted {
        m,
        s,
        cells,
        a,
        b,
        pen,
    })
}

/// The crossing of Firth's fit on (log rate, pass) pairs.
fn crossing(data: &[(f64, bool)], tolerance: Tolerance) -> Option<Crossing> {
    fit(data, tolerance)?.crossing()
}

/// The penalised log-likelihood profiled at crossing `x0` (standardised units): the highest
/// over falling curves through `x0`, `η = b·(x − x0)` with `b = −e^t`, found on a grid of `t`
/// (the profile can have two maxima, as the fit can) and refined by golden-section search.
fn profile(cells: &[Cell], x0: f64) -> f64 {
    let at = |t: f64| {
        let b = -t.exp();
        evaluate(cells, -b * x0, b).map_or(f64::NEG_INFINITY, |e| e.0)
    };
    let (t_min, t_max, steps) = (-5.0, 7.0, 36);
    let h = (t_max - t_min) / steps as f64;
    let (mut best_t, mut best) = (t_min, f64::NEG_INFINITY);
    for i in 0..=steps {
        let t = t_min + h * i as f64;
        let v = at(t);
        if v > best {
            (best_t, best) = (t, v);
        }
    }
    let (mut lo, mut hi) = (best_t - h, best_t + h);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut fc, mut fd) = (at(c), at(d));
    for _ in 0..30 {
        if fc > fd {
            (hi, d, fd) = (d, c, fc);
            c = hi - g * (hi - lo);
            fc = at(c);
        } else {
            (lo, c, fc) = (c, d, fd);
            d = lo + g * (hi - lo);
            fd = at(d);
        }
    }
    best.max(fc).max(fd)
}

/// The profile-likelihood interval of the crossing, in log rate, within `[lo, hi]`: the
/// crossings whose profiled penalised log-likelihood lies within `χ²₁(level) / 2` of the
/// maximum; an end that the drop does not reach inside the span is the span's end.
fn profile_interval(f: &Fitted, level: f64, lo: f64, hi: f64) -> Option<(f64, f64)> {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let allowed = ChiSquared::new(1.0).ok()?.inverse_cdf(level) / 2.0;
    let to_x = |l: f64| (l - f.m) / f.s;
    let x_hat = (-f.a / f.b).clamp(to_x(lo), to_x(hi));
    let outside = |x: f64| f.pen - profile(&f.cells, x) > allowed;
    let end = |edge: f64| {
        if !outside(edge) {
            return edge;
        }
        // The drop is 0 at the estimate and beyond `allowed` at the edge: bisect.
        let (mut inside, mut out) = (x_hat, edge);
        for _ in 0..40 {
            let mid = (inside + out) / 2.0;
            if outside(mid) {
                out = mid;
            } else {
                inside = mid;
            }
        }
        (inside + out) / 2.0
    };
    let to_log = |x: f64| f.m + f.s * x;
    Some((to_log(end(to_x(lo))), to_log(end(to_x(hi)))))
}

/// The penalised log-likelihood at (a, b), its modified score and the inverse information
/// (`[I⁻¹₀₀, I⁻¹₀₁, I⁻¹₁₁]`), or `None` when the information is singular.
fn evaluate(cells: &[Cell], a: f64, b: f64) -> Option<(f64, [f64; 2], [f64; 3])> {
    // With e = exp(−|η|): p(1 − p) = e / (1 + e)², ln p = −(max(−η, 0) + ln(1 + e)) and
    // ln(1 − p) = −(max(η, 0) + ln(1 + e)): one exp and one log per cell, no overflow.
    let (mut i00, mut i01, mut i11, mut loglik) = (0.0, 0.0, 0.0, 0.0);
    for c in cells {
        let eta = a + b * c.x;
        let e = (-eta.abs()).exp();
        let w = c.count * e / ((1.0 + e) * (1.0 + e));
        i00 += w;
        i01 += w * c.x;
        i11 += w * c.x * c.x;
        let tail = if c.pass {
            (-eta).max(0.0)
        } else {
            eta.max(0.0)
        };
        loglik -= c.count * (tail + e.ln_1p());
    }
    let det = i00 * i11 - i01 * i01;
    if !(det > 0.0 && det.is_finite()) {
        return None;
    }
    let inv = [i11 / det, -i01 / det, i00 / det];
    let mut score = [0.0; 2];
    for c in cells {
        let eta = a + b * c.x;
        let e = (-eta.abs()).exp();
        let p = if eta >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        };
        let w = e / ((1.0 + e) * (1.0 + e));
        // The hat value of one iteration in this cell.
        let h = w * (inv[0] + 2.0 * inv[1] * c.x + inv[2] * c.x * c.x);
        let r = c.count * (f64::from(u8::from(c.pass)) - p + h * (0.5 - p));
        score[0] += r;
        score[1] += r * c.x;
    }
    Some((loglik + 0.5 * det.ln(), score, inv))
}

/// Firth's penalised logistic regression of `pass` on `x`: (intercept, slope, penalised
/// log-likelihood) at the highest penalised likelihood. That likelihood can have two maxima on
/// separated data (a steep curve through the gap and a shallow one), so Newton starts from a
/// flat curve and from steep ones through the middle between the highest pass and the lowest
/// fail, and the best end wins.
fn firth(cells: &[Cell], tolerance: Tolerance) -> Option<(f64, f64, f64)> {
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
    let flat = ((share / (1.0 - share)).ln(), 0.0);
    let mut best: Option<(f64, f64, f64)> = None;
    for (i, &slope) in STARTING_SLOPES.iter().enumerate() {
        // The last starts are a fallback, tried only when the first two both failed.
        if i >= 2 && best.is_some() {
            break;
        }
        let start = if slope == 0.0 {
            flat
        } else {
            (-slope * middle, slope)
        };
        if let Some((a, b, pen)) = newton(cells, start, tolerance)
            && best.is_none_or(|(_, _, top)| pen > top)
        {
            best = Some((a, b, pen));
        }
    }
    best
}

/// Slopes (per standard deviation of the log rates) Newton starts from: a flat curve, which
/// finds the shallow maximum, and one whose probability falls from 73% to 27% over 1/8 of a
/// deviation, which finds the steep one; when neither converges, 1/2 and 1/32 of a deviation.
/// (Running all four every time moved the benchmark's coverage by about one point, at twice
/// the cost.)
const STARTING_SLOPES: [f64; 4] = [0.0, -8.0, -2.0, -32.0];

/// Newton's method on the modified score from `start`: (a, b, penalised log-likelihood).
fn newton(cells: &[Cell], start: (f64, f64), tolerance: Tolerance) -> Option<(f64, f64, f64)> {
    let (mut a, mut b) = start;
    let (mut pen, mut score, mut inv) = evaluate(cells, a, b)?;
    for k in 0..MAX_NEWTON {
        let fisher = [
            inv[0] * score[0] + inv[1] * score[1],
            inv[1] * score[0] + inv[2] * score[1],
        ];
        let largest = fisher[0].abs().max(fisher[1].abs());
        if !largest.is_finite() {
            return None;
        }
        if largest < tolerance.step || score[0].abs().max(score[1].abs()) < tolerance.score {
            return Some((a, b, pen));
        }
        // `I⁻¹·U*` alone can converge slowly (by 6% a step on one benchmark search, which then
        // ran out of steps); after two of them, a true Newton step where the penalised
        // likelihood is concave.
        let mut step = if k >= 2 {
            exact_step(cells, (a, b), score).unwrap_or(fisher)
        } else {
            fisher
        };
        let largest = step[0].abs().max(step[1].abs());
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

/// Newton's step `−H⁻¹·U*` on the penalised log-likelihood, whose gradient is the modified
/// score `U*`: the Hessian `H` by forward differences of `U*`; `None` where `H` is not negative
/// definite (the likelihood is not concave there, and the step could lead downhill).
fn exact_step(cells: &[Cell], (a, b): (f64, f64), score: [f64; 2]) -> Option<[f64; 2]> {
    let h = 1e-6;
    let along_a = evaluate(cells, a + h, b)?.1;
    let along_b = evaluate(cells, a, b + h)?.1;
    let p = (along_a[0] - score[0]) / h;
    let q = ((along_b[0] - score[0]) + (along_a[1] - score[1])) / (2.0 * h);
    let r = (along_b[1] - score[1]) / h;
    let det = p * r - q * q;
    if !(p < 0.0 && det > 0.0 && det.is_finite()) {
        return None;
    }
    Some([
        -(r * score[0] - q * score[1]) / det,
        -(p * score[1] - q * score[0]) / det,
    ])
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
