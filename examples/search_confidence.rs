//! Benchmark (not a test): how often the MST's 90% interval
//! ([`mst_search::search::confidence`]) holds the true capacity, and how wide it is.
//!
//! No server: the project's real search state machine (classic: ×2 ramp, bisection,
//! `CONFIRM=fail`) is driven by a synthetic verdict whose pass probability is a known logistic
//! curve in the log of the rate, `P(pass | r) = 1 / (1 + exp(ln(r / C) / σ))`, crossing 1/2 at
//! the capacity `C`. σ = 0.044 is calibrated to the `queue` verdict on 20-s iterations
//! (docs/design/benchmarks.md: 98.8% pass at 0.8 × C, 91.7% fail at 1.1 × C): it gives 99.4%
//! and 89.7%. Every iteration draws its verdict independently, as the interval assumes.
//!
//! For each stop threshold it runs every (capacity, start rate) pair below with `N` seeds
//! (default 120, so 1,080 searches per threshold), computes the interval from all judged
//! iterations once the search has stopped, and prints the coverage (share of searches whose
//! interval holds `C`), the median width relative to `C`, and the MST's median relative to `C`.
//! Three methods are compared ([`Method`]); for the chosen one a second table breaks the
//! coverage down by capacity and start rate, and a third shows the interval after the first k
//! iterations of the longer searches, which is what a stop rule on the width would see; a last
//! line times one call on 15 iterations.
//!
//! Run: `cargo run --release --example search_confidence [N]` (about a minute in release).

use mst_search::search::confidence::{self, Method, interval_with};
use mst_search::search::{ConfirmPolicy, Observation, Search, SearchConfig, Step, Threshold};
use mst_search::seed;
use std::time::Instant;

/// The synthetic verdict's scale in log units of the rate (see the header).
const SIGMA: f64 = 0.044;
/// Capacities, requests/minute. None is a rate the searches run (4,000 was: 1,000 × 2 × 2,
/// and an interval clamped to the highest judged rate then held it exactly, to the last digit
/// or not, which moved the coverage by 3.5 points).
const CAPACITIES: [f64; 3] = [180.0, 1179.0, 3900.0];
/// Start rates, requests/minute: far below, below and above some of the capacities.
const STARTS: [f64; 3] = [50.0, 300.0, 1000.0];
const LEVEL: f64 = confidence::LEVEL;

/// One finished search: its judged iterations, the MST and the capacity.
struct Run {
    points: Vec<(f64, bool)>,
    mst: Option<f64>,
    capacity: f64,
    start: f64,
    seed: u64,
}

fn search(capacity: f64, start: f64, threshold: f64, seed: u64) -> Run {
    let mut s = Search::new(SearchConfig {
        start_req_min: start,
        multiplier: 2.0,
        threshold: Threshold::Relative(threshold),
        confirm: ConfirmPolicy::Fail,
        max_iterations: 30,
        min_req_min: 1.0,
        outage_retries: 0,
        strategy: mst_search::search::Strategy::Classic,
        probe: false,
    });
    let mut points = Vec::new();
    let mut draw = 0;
    let mst = loop {
        match s.current() {
            Step::Done(outcome) => break outcome.mst_req_min,
            Step::Probe => unreachable!("a classic search never probes"),
            Step::Run(run) => {
                let p = 1.0 / (1.0 + ((run.req_min / capacity).ln() / SIGMA).exp());
                let pass = seed::unit(seed, draw) < p;
                draw += 1;
                points.push((run.req_min, pass));
                s.observe(if pass {
                    Observation::Sustainable
                } else {
                    Observation::Unsustainable
                });
            }
        }
    };
    Run {
        points,
        mst,
        capacity,
        start,
        seed,
    }
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

/// Coverage, median relative width and the count of searches without an interval.
fn judge(runs: &[Run], first: Option<usize>, how: Method) -> (usize, usize, usize, f64) {
    let (mut covered, mut with, mut none) = (0, 0, 0);
    let mut widths = Vec::new();
    for r in runs {
        let pts = &r.points[..first.unwrap_or(r.points.len()).min(r.points.len())];
        match interval_with(pts, LEVEL, r.seed, how) {
            Some(c) => {
                with += 1;
                covered += usize::from(c.low_req_min <= r.capacity && r.capacity <= c.high_req_min);
                widths.push((c.high_req_min - c.low_req_min) / r.capacity);
            }
            None => none += 1,
        }
    }
    (covered, with, none, median(widths))
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(120);
    println!(
        "synthetic verdict: P(pass) = 1/(1+exp(ln(r/C)/{SIGMA})): {:.1}% pass at 0.8 C, {:.1}% fail at 1.1 C; \
         classic search (x2 ramp, bisection, CONFIRM=fail); {LEVEL} interval, B = {}, {n} seeds x {} capacities x {} start rates",
        100.0 / (1.0 + (0.8f64.ln() / SIGMA).exp()),
        100.0 - 100.0 / (1.0 + (1.1f64.ln() / SIGMA).exp()),
        confidence::RESAMPLES,
        CAPACITIES.len(),
        STARTS.len(),
    );
    println!();
    println!(
        "| threshold | method | searches | iterations (median) | interval holds C | median width / C | median MST / C | no interval |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut long_runs = Vec::new();
    let mut by_design = Vec::new();
    for threshold in [0.1, 0.02] {
        let mut runs = Vec::new();
        for (ci, &capacity) in CAPACITIES.iter().enumerate() {
            for (si, &start) in STARTS.iter().enumerate() {
                for k in 0..n {
                    let id = seed::mix(seed::mix(ci as u64, si as u64), k);
                    runs.push(search(
                        capacity,
                        start,
                        threshold,
                        seed::mix(id, threshold.to_bits()),
                    ));
                }
            }
        }
        let iters = median(runs.iter().map(|r| r.points.len() as f64).collect());
        let mst = median(
            runs.iter()
                .filter_map(|r| r.mst.map(|m| m / r.capacity))
                .collect(),
        );
        for how in [
            Method::Profile,
            Method::ParametricBootstrap,
            Method::CaseBootstrap,
        ] {
            let started = Instant::now();
            let (covered, with, none, width) = judge(&runs, None, how);
            println!(
                "| {threshold} | {} | {} | {iters} | {covered}/{with} = {:.1}% | {width:.3} | {mst:.3} | {none} |",
                how.id(),
                runs.len(),
                100.0 * covered as f64 / with as f64
            );
            eprintln!(
                "threshold {threshold}, {}: {:.1} s",
                how.id(),
                started.elapsed().as_secs_f64()
            );
        }
        for &capacity in &CAPACITIES {
            for &start in &STARTS {
                let these: Vec<Run> = runs
                    .iter()
                    .filter(|r| r.capacity == capacity && r.start == start)
                    .map(|r| Run {
                        points: r.points.clone(),
                        ..*r
                    })
                    .collect();
                let (covered, with, _, width) = judge(&these, None, confidence::METHOD);
                by_design.push(format!(
                    "| {threshold} | {capacity} | {start} | {covered}/{with} | {width:.3} |"
                ));
            }
        }
        if threshold == 0.02 {
            long_runs = runs;
        }
    }
    println!();
    println!("By capacity and start rate ({}):", confidence::METHOD.id());
    println!();
    println!("| threshold | capacity | start | interval holds C | median width / C |");
    println!("|---|---|---|---|---|");
    for line in by_design {
        println!("{line}");
    }
    println!();
    println!(
        "The interval ({}) after the first k iterations of the threshold-0.02 searches:",
        confidence::METHOD.id()
    );
    println!();
    println!("| k | searches with an interval | interval holds C | median width / C |");
    println!("|---|---|---|---|");
    for k in [4, 6, 8, 10, 12, 14, 16] {
        let (covered, with, _, width) = judge(&long_runs, Some(k), confidence::METHOD);
        println!(
            "| {k} | {with} | {:.1}% | {width:.3} |",
            100.0 * covered as f64 / with as f64
        );
    }
    // Timing: one call on a 15-iteration search, as the driver makes it after an iteration.
    let fifteen = long_runs
        .iter()
        .find(|r| r.points.len() >= 15)
        .map(|r| r.points[..15].to_vec())
        .unwrap_or_else(|| long_runs[0].points.clone());
    let calls = 50;
    let started = Instant::now();
    for i in 0..calls {
        std::hint::black_box(confidence::interval(&fifteen, LEVEL, i));
    }
    println!();
    println!(
        "one interval on {} iterations: {:.2} ms (mean of {calls} calls)",
        fifteen.len(),
        started.elapsed().as_secs_f64() * 1000.0 / calls as f64
    );
}
