//! Benchmark (not a test): how often the MST's 90% interval
//! ([`mst_search::search::confidence`]) holds the true capacity, and how wide it is.
//!
//! No server: the project's real search state machine is driven by a synthetic verdict whose
//! pass probability is a known logistic curve in the log of the rate,
//! `P(pass | r) = 1 / (1 + exp(ln(r / C) / σ))`, crossing 1/2 at the capacity `C`. σ = 0.044
//! is calibrated to the `queue` verdict on 20-s iterations (docs/design/benchmarks.md: 98.8%
//! pass at 0.8 × C, 91.7% fail at 1.1 × C): it gives 99.4% and 89.7%; σ = 0.01 stands for the
//! sharper verdicts of long iterations. Every iteration draws its verdict independently, as
//! the interval assumes.
//!
//! Searches: classic (×2 ramp, bisection, `CONFIRM=fail`, relative threshold) and adaptive
//! (the same, aimed from a synthetic capacity measurement: a saturation probe and every
//! iteration report the completions of a work-conserving server of capacity `C` over a 20-s
//! window, `min(offered, C)` per minute with Poisson noise). For each (search, σ, stop
//! threshold) every (capacity, start rate) pair below runs with `N` seeds (default 120, so
//! 1,080 searches per row); the interval is computed from all judged iterations once the
//! search has stopped. Printed: the coverage (share of searches whose interval holds `C`), the
//! median width and estimate relative to `C`, for the grid posterior and Firth's case
//! bootstrap (the previous method); then the grid posterior under other priors on the scale,
//! the interval after the first k iterations, the stop rule `CI_STOP_WIDTH`, and the noiseless
//! clustered search of the unit tests.
//!
//! Run: `cargo run --release --example search_confidence [N]` (a few minutes in release).

use mst_results::Confidence;
use mst_search::search::confidence::{self, Method, Prior, interval_with, posterior};
use mst_search::search::{
    ConfirmPolicy, Observation, Search, SearchConfig, Step, Strategy, Threshold, Throughput,
};
use mst_search::seed;
use std::time::Instant;

/// Capacities, requests/minute, none a rate the searches run (an end clamped to a judged rate
/// would then hold it exactly, or not, by rounding).
const CAPACITIES: [f64; 3] = [180.0, 1179.0, 3900.0];
/// Start rates, requests/minute: far below, below and above some of the capacities.
const STARTS: [f64; 3] = [50.0, 300.0, 1000.0];
const LEVEL: f64 = confidence::LEVEL;
/// The synthetic server's measurement window, seconds.
const WINDOW_S: f64 = 20.0;

/// One finished search: its judged iterations, the MST and the capacity.
#[derive(Clone)]
struct Run {
    points: Vec<(f64, bool)>,
    mst: Option<f64>,
    capacity: f64,
    seed: u64,
}

/// A standard normal draw (Box-Muller) from two of the seed's uniforms.
fn normal(seed: u64, draw: u64) -> f64 {
    let u = seed::unit(seed, draw).max(1e-12);
    let v = seed::unit(seed, draw + 1);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// What a work-conserving server of capacity `c` completes at `offered` over the window.
fn throughput(c: f64, offered: f64, seed: u64, draw: u64) -> Throughput {
    let mean = offered.min(c) * WINDOW_S / 60.0;
    let completions = (mean + mean.sqrt() * normal(seed, draw)).round().max(0.0) as u64;
    let t = Throughput {
        completions,
        window_s: WINDOW_S,
        saturated: false,
    };
    Throughput {
        saturated: t.saturated_at(offered),
        ..t
    }
}

struct Setup {
    strategy: Strategy,
    sigma: f64,
    threshold: f64,
    stop_width: Option<f64>,
}

fn search(setup: &Setup, capacity: f64, start: f64, seed: u64) -> Run {
    let mut s = Search::new(SearchConfig {
        start_req_min: start,
        multiplier: 2.0,
        threshold: Threshold::Relative(setup.threshold),
        confirm: ConfirmPolicy::Fail,
        max_iterations: 30,
        min_req_min: 1.0,
        outage_retries: 0,
        strategy: setup.strategy,
        probe: setup.strategy == Strategy::Adaptive,
        ci_stop_width: setup.stop_width,
        unit: Default::default(),
    });
    let mut points = Vec::new();
    let mut draw = 0;
    let mst = loop {
        match s.current() {
            Step::Done(outcome) => break outcome.mst_req_min,
            Step::Probe => {
                // A burst far above capacity: the server completes C.
                let t = throughput(capacity, 10.0 * capacity, seed, 1 << 40);
                s.observe_probe(Some(t));
            }
            Step::Run(run) => {
                let p = 1.0 / (1.0 + ((run.req_min / capacity).ln() / setup.sigma).exp());
                let pass = seed::unit(seed, draw) < p;
                let mut t = throughput(capacity, run.req_min, seed, (1 << 41) + 2 * draw);
                t.saturated &= !pass;
                draw += 1;
                points.push((run.req_min, pass));
                s.observe_measured(
                    if pass {
                        Observation::Sustainable
                    } else {
                        Observation::Unsustainable
                    },
                    Some(t),
                );
            }
        }
    };
    Run {
        points,
        mst,
        capacity,
        seed,
    }
}

fn runs(setup: &Setup, n: u64) -> Vec<Run> {
    let mut out = Vec::new();
    for (ci, &capacity) in CAPACITIES.iter().enumerate() {
        for (si, &start) in STARTS.iter().enumerate() {
            for k in 0..n {
                let id = seed::mix(seed::mix(ci as u64, si as u64), k);
                let id = seed::mix(id, setup.threshold.to_bits() ^ setup.sigma.to_bits());
                out.push(search(setup, capacity, start, id));
            }
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Coverage of the intervals `how` gives, as a table cell set: "covered/with = pct%", median
/// width / C, median estimate / C, searches without an interval.
fn judge(
    runs: &[Run],
    first: Option<usize>,
    how: impl Fn(&[(f64, bool)], u64) -> Option<Confidence>,
) -> String {
    let (mut covered, mut with, mut none) = (0, 0, 0);
    let (mut widths, mut estimates) = (Vec::new(), Vec::new());
    for r in runs {
        let pts = &r.points[..first.unwrap_or(r.points.len()).min(r.points.len())];
        match how(pts, r.seed) {
            Some(c) => {
                with += 1;
                covered += usize::from(c.low_req_min <= r.capacity && r.capacity <= c.high_req_min);
                widths.push((c.high_req_min - c.low_req_min) / r.capacity);
                estimates.push(c.estimate_req_min / r.capacity);
            }
            None => none += 1,
        }
    }
    format!(
        "{covered}/{with} = {:.1}% | {:.3} | {:.3} | {none}",
        100.0 * covered as f64 / with.max(1) as f64,
        median(widths),
        median(estimates)
    )
}

fn grid(prior: Prior) -> impl Fn(&[(f64, bool)], u64) -> Option<Confidence> {
    move |pts, _| posterior(pts, LEVEL, prior)
}

fn firth(pts: &[(f64, bool)], seed: u64) -> Option<Confidence> {
    interval_with(pts, LEVEL, seed, Method::FirthCaseBootstrap)
}

fn name(s: Strategy) -> &'static str {
    match s {
        Strategy::Classic => "classic",
        Strategy::Adaptive => "adaptive",
    }
}

fn main() {
    if std::env::args().nth(2).as_deref() == Some("clustered") {
        clustered();
        return;
    }
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(120);
    println!(
        "{LEVEL} intervals; {n} seeds x {} capacities x {} start rates per row; prior on the scale [{}, {}]",
        CAPACITIES.len(),
        STARTS.len(),
        confidence::PRIOR.scale_min,
        confidence::PRIOR.scale_max,
    );
    println!();
    println!(
        "| search | σ | threshold | iterations (median) | MST / C (median) | method | interval holds C | median width / C | median estimate / C | no interval |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut kept = Vec::new();
    for strategy in [Strategy::Classic, Strategy::Adaptive] {
        for sigma in [0.044, 0.01] {
            for threshold in [0.1, 0.02] {
                let setup = Setup {
                    strategy,
                    sigma,
                    threshold,
                    stop_width: None,
                };
                let started = Instant::now();
                let rs = runs(&setup, n);
                let iters = median(rs.iter().map(|r| r.points.len() as f64).collect());
                let mst = median(
                    rs.iter()
                        .filter_map(|r| r.mst.map(|m| m / r.capacity))
                        .collect(),
                );
                let head = format!(
                    "| {} | {sigma} | {threshold} | {iters} | {mst:.3}",
                    name(strategy)
                );
                println!(
                    "{head} | **{}** | {} |",
                    Method::GridPosterior.id(),
                    judge(&rs, None, grid(confidence::PRIOR))
                );
                println!(
                    "{head} | {} | {} |",
                    Method::FirthCaseBootstrap.id(),
                    judge(&rs, None, firth)
                );
                eprintln!(
                    "{} σ {sigma} threshold {threshold}: {:.1} s",
                    name(strategy),
                    started.elapsed().as_secs_f64()
                );
                if threshold == 0.02 {
                    kept.push((format!("{} | {sigma}", name(strategy)), rs));
                }
            }
        }
    }

    println!();
    println!("The grid posterior under other priors (threshold 0.02):");
    println!();
    println!(
        "| search | σ | prior | interval holds C | median width / C | median estimate / C | no interval |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (sigma, rs) in &kept {
        for (lo, hi, widen) in [
            (0.002, 0.5, 0.0),
            (0.002, 0.5, 0.05),
            (0.002, 0.5, 0.1),
            (0.002, 0.5, 0.2),
            (1e-4, 0.5, 0.1),
            (1e-6, 0.5, 0.1),
            (0.01, 0.5, 0.1),
            (0.002, 0.2, 0.1),
        ] {
            let prior = Prior {
                scale_min: lo,
                scale_max: hi,
                widen,
            };
            println!(
                "| {sigma} | [{lo}, {hi}], span ± {widen} | {} |",
                judge(rs, None, grid(prior))
            );
        }
    }

    println!();
    println!("The grid posterior after the first k iterations (threshold 0.02):");
    println!();
    println!(
        "| search | σ | k | interval holds C | median width / C | median estimate / C | no interval |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (sigma, rs) in kept.iter().take(2) {
        for k in [6, 8, 10, 12, 14, 16] {
            println!(
                "| {sigma} | {k} | {} |",
                judge(rs, Some(k), grid(confidence::PRIOR))
            );
        }
    }

    println!();
    println!("The stop rule CI_STOP_WIDTH (threshold 0.02):");
    println!();
    println!(
        "| search | σ | CI_STOP_WIDTH | iterations (median) | MST / C (median) | MST in [0.9, 1.0] C | interval holds C | median width / C | median estimate / C | no interval |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for strategy in [Strategy::Classic, Strategy::Adaptive] {
        for sigma in [0.044, 0.01] {
            for width in [None, Some(0.2), Some(0.1), Some(0.05)] {
                let setup = Setup {
                    strategy,
                    sigma,
                    threshold: 0.02,
                    stop_width: width,
                };
                let rs = runs(&setup, n);
                let iters = median(rs.iter().map(|r| r.points.len() as f64).collect());
                let ratios: Vec<f64> = rs
                    .iter()
                    .filter_map(|r| r.mst.map(|m| m / r.capacity))
                    .collect();
                let good = ratios.iter().filter(|x| (0.9..=1.0).contains(*x)).count();
                println!(
                    "| {} | {sigma} | {} | {iters} | {:.3} | {good}/{} | {} |",
                    name(strategy),
                    width.map_or("off".into(), |w| w.to_string()),
                    median(ratios),
                    rs.len(),
                    judge(&rs, None, grid(confidence::PRIOR))
                );
            }
        }
    }

    clustered();

    // Timing: one call on the first 15 iterations of a search, as the stop rule makes it.
    let fifteen = kept[0]
        .1
        .iter()
        .find(|r| r.points.len() >= 15)
        .map(|r| r.points[..15].to_vec())
        .unwrap_or_else(|| kept[0].1[0].points.clone());
    let calls = 50;
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(confidence::interval(&fifteen, LEVEL));
    }
    println!(
        "one interval on {} iterations: {:.2} ms (mean of {calls} calls)",
        fifteen.len(),
        started.elapsed().as_secs_f64() * 1000.0 / calls as f64
    );
}

/// The unit tests' noiseless search, clustered at its crossing.
fn clustered() {
    // The unit tests' noiseless search: start 100, ×2, no confirmation, threshold 0, an oracle
    // passing exactly the rates ≤ 1000, 22 iterations.
    let mut s = Search::new(SearchConfig {
        start_req_min: 100.0,
        multiplier: 2.0,
        threshold: Threshold::Absolute(0.0),
        confirm: ConfirmPolicy::None,
        max_iterations: 22,
        min_req_min: 1.0,
        outage_retries: 0,
        strategy: Strategy::Classic,
        probe: false,
        ci_stop_width: None,
        unit: Default::default(),
    });
    let mut clustered = Vec::new();
    while let Step::Run(run) = s.current() {
        let pass = run.req_min <= 1000.0;
        clustered.push((run.req_min, pass));
        s.observe(if pass {
            Observation::Sustainable
        } else {
            Observation::Unsustainable
        });
    }
    println!();
    for lo in [0.002, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7] {
        for hi in [0.5, 0.1, 0.01, 0.001] {
            let c = posterior(
                &clustered,
                LEVEL,
                Prior {
                    scale_min: lo,
                    scale_max: hi,
                    widen: 0.1,
                },
            );
            println!(
                "prior [{lo}, {hi}]: {:?}",
                c.map(|c| (
                    c.low_req_min,
                    c.high_req_min,
                    c.estimate_req_min,
                    c.curve_log_scale
                ))
            );
        }
    }
    for (label, c) in [
        (
            "grid posterior",
            posterior(&clustered, LEVEL, confidence::PRIOR),
        ),
        ("firth case bootstrap", firth(&clustered, 1)),
    ] {
        if let Some(c) = c {
            println!(
                "noiseless clustered search (capacity 1000), {label}: ({:.2}, {:.2}), estimate {:.2}, width / estimate {:.4}",
                c.low_req_min,
                c.high_req_min,
                c.estimate_req_min,
                (c.high_req_min - c.low_req_min) / c.estimate_req_min
            );
        }
    }
}
