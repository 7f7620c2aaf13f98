//! Benchmark (not a test): what an answer costs, `SEARCH=classic` against `SEARCH=adaptive`.
//! For each engine shape and seed, both searches run against the simulator with the same
//! settings, and the benchmark prints each search's iteration time (the GPU time the answer
//! took: iterations, drains, settles and the probe) and its MST over the simulator's analytic
//! capacity; then per shape and overall the adaptive/classic time ratio and how many MSTs lie in
//! [0.90, 1.00] × capacity.
//!
//! Time is simulated (see `evaluator_pass_rates.rs`): an iteration of `DURATION` model seconds
//! takes `DURATION / TIME_SCALE` wall seconds and millisecond thresholds are scaled alike;
//! times are printed in model seconds. The start rate varies with the seed (0.15–0.45 ×
//! capacity), as users' guesses do.
//!
//! Run: `cargo run --release --example search_cost [SEEDS] [MODEL_DURATION_S] [TIME_SCALE]`
//! (defaults 10, 20, 4). `MST_BENCH_SHAPES=0,2` runs only those shapes.

use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// (name, batch limit, prompt tokens, output tokens).
const SHAPES: [(&str, u32, u32, u32); 3] = [
    ("chat 128:64, batch 32", 32, 128, 64),
    ("long prompt 2048:64, batch 32", 32, 2048, 64),
    ("decode 256:256, batch 64", 64, 256, 256),
];

struct Run {
    time_model_s: f64,
    ratio: Option<f64>,
    iterations: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let arg = |i: usize, d: f64| -> f64 {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let seeds = arg(1, 10.0) as u64;
    let model_duration_s = arg(2, 20.0);
    let time_scale = arg(3, 4.0);
    let only: Option<Vec<usize>> = std::env::var("MST_BENCH_SHAPES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let wall = model_duration_s / time_scale;
    let started = Instant::now();
    let mut all: Vec<(Run, Run)> = Vec::new();
    println!(
        "iterations of {model_duration_s} model s ({wall} wall s at time scale {time_scale}); times in model s"
    );
    for (k, &(name, batch, input, output)) in SHAPES.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&k)) {
            continue;
        }
        let engine = EngineConfig::small(batch, time_scale);
        let cap = capacity(&engine, input, output).req_per_min;
        println!(
            "\n{name}: capacity {cap:.0} req/min wall ({:.0} model)",
            cap / time_scale
        );
        println!(
            "seed  start×cap | classic: time   iters  MST/cap | adaptive: time   iters  MST/cap"
        );
        let mut shape: Vec<(Run, Run)> = Vec::new();
        for seed in 0..seeds {
            let start = cap * (0.15 + 0.3 * ((seed * 7 % 10) as f64) / 9.0);
            let mut pair = Vec::new();
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
                let o = &report.outcomes[0];
                pair.push(Run {
                    time_model_s: o.iteration_time_s * time_scale,
                    ratio: o.mst_req_min.map(|m| m / cap),
                    iterations: o.iterations.len(),
                });
                if std::env::var_os("MST_BENCH_KEEP").is_none() {
                    let _ = std::fs::remove_dir_all(&out);
                }
            }
            let (c, a) = (&pair[0], &pair[1]);
            println!(
                "{seed:>4}  {:>9.2} | {:>13.0} {:>6} {:>8} | {:>14.0} {:>6} {:>8}",
                start / cap,
                c.time_model_s,
                c.iterations,
                fmt(c.ratio),
                a.time_model_s,
                a.iterations,
                fmt(a.ratio)
            );
            let mut it = pair.into_iter();
            if let (Some(c), Some(a)) = (it.next(), it.next()) {
                shape.push((c, a));
            }
        }
        summary(name, &shape);
        all.extend(shape);
    }
    summary("all shapes", &all);
    println!(
        "\nbenchmark wall time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn fmt(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.3}"))
}

fn summary(name: &str, runs: &[(Run, Run)]) {
    if runs.is_empty() {
        return;
    }
    let total = |f: fn(&(Run, Run)) -> &Run| runs.iter().map(|r| f(r).time_model_s).sum::<f64>();
    let (tc, ta) = (total(|r| &r.0), total(|r| &r.1));
    let within = |f: fn(&(Run, Run)) -> &Run| {
        runs.iter()
            .filter(|r| f(r).ratio.is_some_and(|x| (0.90..=1.00).contains(&x)))
            .count()
    };
    println!(
        "{name}: adaptive took {:.0}% of classic's time ({ta:.0} vs {tc:.0} model s); MST in [0.90, 1.00] x capacity: classic {}/{n}, adaptive {}/{n}",
        100.0 * ta / tc,
        within(|r| &r.0),
        within(|r| &r.1),
        n = runs.len()
    );
}
