//! Benchmark (not a test): what an answer costs, `SEARCH=classic` against `SEARCH=adaptive`.
//! For each engine shape and seed, both searches run against the simulator with the same
//! settings, and the benchmark prints each search's iteration time (the GPU time the answer
//! took: iterations, drains, settles and the probe) and its MST over the simulator's analytic
//! capacity; then per shape and overall the adaptive/classic time ratio and how many MSTs lie in
//! [0.90, 1.00] × capacity.
//!
//! Time is simulated (see `evaluator_pass_rates.rs`): an iteration of `DURATION` model seconds
//! takes `DURATION / TIME_SCALE` wall seconds and millisecond thresholds are scaled alike;
//! times are printed in model seconds. Each shape has its own time scale (the simulator's step
//! stays above 10 wall ms) and its own iteration length: at least `MIN_MODEL_DURATION_S` and
//! at least five E2E latencies at capacity, so an iteration holds several generations of
//! requests (a verdict on an iteration shorter than its requests says nothing). The start rate
//! varies with the seed (0.15–0.45 × capacity), as users' guesses do. Each search's 90%
//! interval (`mst.json` `confidence`) is checked against the capacity too.
//!
//! Run: `cargo run --release --example search_cost [SEEDS] [MIN_MODEL_DURATION_S]`
//! (defaults 10, 60). `MST_BENCH_SHAPES=0,2` runs only those shapes, `MST_BENCH_SEED_FROM=5`
//! starts at that seed (so one benchmark can run as several processes: it is mostly idle),
//! and `MST_BENCH_OUT=file.jsonl` appends every search's outcome to a file;
//! `search_cost --summarize file.jsonl...` prints the tables from such files, recomputing
//! each interval with the current method.

use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions};
use mst_search::search::confidence;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use mst_search::stats::percentile;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// (name, batch limit, prompt tokens, output tokens, time scale).
const SHAPES: [(&str, u32, u32, u32, f64); 3] = [
    ("chat 128:64, batch 32", 32, 128, 64, 4.0),
    ("long prompt 2048:64, batch 32", 32, 2048, 64, 4.0),
    ("decode 256:128, batch 64", 64, 256, 128, 4.0),
];

/// One search of the benchmark, as `MST_BENCH_OUT` keeps it.
#[derive(Serialize, Deserialize)]
struct Run {
    shape: String,
    seed: u64,
    search: String,
    /// Analytic capacity, requests/minute (wall).
    capacity_req_min: f64,
    time_scale: f64,
    start_req_min: f64,
    /// The size's whole answer.
    outcome: mst_results::SizeOutcome,
}

impl Run {
    fn time_model_s(&self) -> f64 {
        self.outcome.iteration_time_s * self.time_scale
    }
    fn ratio(&self) -> Option<f64> {
        self.outcome.mst_req_min.map(|m| m / self.capacity_req_min)
    }
    /// The judged iterations, as the answer's interval takes them.
    fn points(&self) -> Vec<(f64, bool)> {
        let it = self.outcome.iterations.iter();
        it.filter_map(|b| b.sustainable.map(|s| (b.req_min, s)))
            .collect()
    }
    /// The 90% interval over this search's verdicts with the current method (None: no
    /// interval), as (holds the capacity, width / capacity).
    fn interval(&self) -> Option<(bool, f64)> {
        let c = confidence::interval(&self.points(), confidence::LEVEL)?;
        let cap = self.capacity_req_min;
        Some((
            c.low_req_min <= cap && cap <= c.high_req_min,
            (c.high_req_min - c.low_req_min) / cap,
        ))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--summarize") {
        let mut runs = Vec::new();
        for f in &args[2..] {
            for line in std::fs::read_to_string(f)?.lines() {
                runs.push(serde_json::from_str::<Run>(line)?);
            }
        }
        summarize(&runs);
        return Ok(());
    }
    let arg = |i: usize, d: f64| -> f64 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d) };
    let seeds = arg(1, 10.0) as u64;
    let min_model_s = arg(2, 60.0);
    let env_list = |k: &str| -> Option<Vec<u64>> {
        std::env::var(k)
            .ok()
            .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
    };
    let only = env_list("MST_BENCH_SHAPES");
    let seed_from = env_list("MST_BENCH_SEED_FROM").map_or(0, |v| v.first().copied().unwrap_or(0));
    let mut keep = match std::env::var_os("MST_BENCH_OUT") {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let mut all: Vec<Run> = Vec::new();
    for (k, &(name, batch, input, output, time_scale)) in SHAPES.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&(k as u64))) {
            continue;
        }
        let engine = EngineConfig::small(batch, time_scale);
        let cap_at = capacity(&engine, input, output);
        let cap = cap_at.req_per_min;
        // E2E at capacity, model seconds: every output token takes one step at full batch.
        let e2e_model_s = f64::from(output) * cap_at.step_ms_at_capacity / 1000.0;
        let model_s = min_model_s.max(5.0 * e2e_model_s).ceil();
        let wall = model_s / time_scale;
        println!(
            "\n{name}: capacity {cap:.0} req/min wall ({:.0} model); E2E at capacity {e2e_model_s:.1} model s; iterations of {model_s} model s ({wall} wall s at time scale {time_scale})",
            cap / time_scale
        );
        println!("seed  start×cap | search     time  iters  MST/cap  interval/cap (holds)");
        for seed in seed_from..seed_from + seeds {
            let start = cap * (0.15 + 0.3 * ((seed * 7 % 10) as f64) / 9.0);
            for search in ["classic", "adaptive"] {
                let server = SimServer::start(
                    EngineConfig {
                        seed: 1000 + seed,
                        ..engine.clone()
                    },
                    FaultConfig::default(),
                )
                .await?;
                let out = std::env::temp_dir().join(format!(
                    "mst-bench-cost-{}-{k}-{seed}-{search}",
                    std::process::id()
                ));
                let pairs: Vec<(&str, String)> = vec![
                    ("URL", server.url()),
                    ("TOKENS_LIST", format!("{input}:{output}")),
                    ("REQ_MIN_START", format!("{start:.1}")),
                    ("DURATION", format!("{wall}s")),
                    ("FILTER_BUFFER", format!("{}s", wall / 6.0)),
                    ("DRAIN_TIMEOUT", format!("{wall}s")),
                    ("COOLDOWN", "0s".into()),
                    ("MAX_ITERATIONS", "20".into()),
                    ("SEED", format!("{}", 17 + seed)),
                    ("SEARCH", search.into()),
                    ("QUEUE_GROWTH_MIN_MS", format!("{}", 250.0 / time_scale)),
                    (
                        "EARLY_ABORT_DELAY_MIN_MS",
                        format!("{}", 1000.0 / time_scale),
                    ),
                    ("OUTPUT_DIR", out.display().to_string()),
                ];
                let (cfg, _) = Config::from_pairs(&pairs)?;
                let report =
                    experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new())
                        .await?;
                server.shutdown().await;
                let run = Run {
                    shape: name.into(),
                    seed,
                    search: search.into(),
                    capacity_req_min: cap,
                    time_scale,
                    start_req_min: start,
                    outcome: report.outcomes[0].clone(),
                };
                if std::env::var_os("MST_BENCH_KEEP").is_none() {
                    let _ = std::fs::remove_dir_all(&out);
                }
                println!("{}", line(&run));
                if let Some(f) = keep.as_mut() {
                    writeln!(f, "{}", serde_json::to_string(&run)?)?;
                }
                all.push(run);
            }
        }
    }
    summarize(&all);
    println!(
        "\nbenchmark wall time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn fmt(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.3}"))
}

fn line(r: &Run) -> String {
    let o = &r.outcome;
    let ci = o.confidence.as_ref().map_or("-".to_string(), |c| {
        format!(
            "[{:.3}, {:.3}]",
            c.low_req_min / r.capacity_req_min,
            c.high_req_min / r.capacity_req_min
        )
    });
    format!(
        "{:>4}  {:>9.2} | {:<8} {:>6.0} {:>6} {:>8}  {ci}",
        r.seed,
        r.start_req_min / r.capacity_req_min,
        r.search,
        r.time_model_s(),
        o.iterations.len(),
        fmt(r.ratio()),
    )
}

/// Per shape and overall: adaptive time over classic's (model seconds summed over the seeds
/// both searches ran), MSTs in [0.90, 1.00] × capacity and above it, and the intervals.
fn summarize(runs: &[Run]) {
    let mut shapes: Vec<&str> = runs.iter().map(|r| r.shape.as_str()).collect();
    shapes.dedup();
    shapes.sort();
    shapes.dedup();
    println!(
        "\n| shape | adaptive time / classic | MST in [0.90, 1.00] × cap, classic / adaptive | above cap, classic / adaptive | median MST/cap, classic / adaptive | interval holds cap, classic / adaptive | median interval width / cap |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut every: Vec<&str> = shapes.clone();
    every.push("all shapes");
    for shape in every {
        let of = |search: &str| -> Vec<&Run> {
            runs.iter()
                .filter(|r| (shape == "all shapes" || r.shape == shape) && r.search == search)
                .collect()
        };
        let (c, a) = (of("classic"), of("adaptive"));
        let time = |v: &[&Run]| v.iter().map(|r| r.time_model_s()).sum::<f64>();
        let count = |v: &[&Run], f: &dyn Fn(f64) -> bool| {
            let n = v.iter().filter(|r| r.ratio().is_some_and(f)).count();
            format!("{n}/{}", v.len())
        };
        let within = |x: f64| (0.90..=1.00).contains(&x);
        let above = |x: f64| x > 1.00;
        let median = |v: &[&Run]| {
            let x: Vec<f64> = v.iter().filter_map(|r| r.ratio()).collect();
            fmt(percentile(&x, 50.0))
        };
        let holds = |v: &[&Run]| {
            let n = v
                .iter()
                .filter(|r| r.interval().is_some_and(|i| i.0))
                .count();
            format!("{n}/{}", v.len())
        };
        let width = |v: &[&Run]| {
            let x: Vec<f64> = v.iter().filter_map(|r| r.interval().map(|i| i.1)).collect();
            fmt(percentile(&x, 50.0))
        };
        println!(
            "| {shape} | {:.0}% ({:.0} vs {:.0} model s) | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} |",
            100.0 * time(&a) / time(&c),
            time(&a),
            time(&c),
            count(&c, &within),
            count(&a, &within),
            count(&c, &above),
            count(&a, &above),
            median(&c),
            median(&a),
            holds(&c),
            holds(&a),
            width(&c),
            width(&a),
        );
    }
}
