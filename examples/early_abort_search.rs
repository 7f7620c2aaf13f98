//! Benchmark (not a test): what early abort saves. Runs the whole search twice against the
//! simulator, `EARLY_ABORT=true` and `false`, same seed and settings, and prints the wall time,
//! the MST and the number of aborted iterations of each next to the analytic capacity.
//!
//! Time is simulated (see `evaluator_pass_rates.rs`): iterations of `DURATION` model seconds take
//! `DURATION / TIME_SCALE` wall seconds, and millisecond thresholds are scaled alike.
//!
//! Run: `cargo run --release --example early_abort_search [MODEL_DURATION_S]` (default 60).

use mst_search::config::Config;
use mst_search::demo::demo_engine;
use mst_search::experiment::{self, RunOptions};
use mst_search::sim::{FaultConfig, SimServer, capacity};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const TIME_SCALE: f64 = 4.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let model_duration_s: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60.0);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let engine = demo_engine(TIME_SCALE);
    let server = SimServer::start(engine.clone(), FaultConfig::default()).await?;
    let cap = capacity(&engine, 128, 64).req_per_min;
    let wall = model_duration_s / TIME_SCALE;
    println!(
        "simulator: 128:64, capacity {cap:.0} req/min wall, iterations of {model_duration_s} s model ({wall} s wall)"
    );
    for abort in ["true", "false"] {
        let out =
            std::env::temp_dir().join(format!("mst-bench-abort-{abort}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let pairs: Vec<(&str, String)> = vec![
            ("URL", server.url()),
            ("TOKENS_LIST", "128:64".into()),
            ("REQ_MIN_START", format!("{:.0}", 0.3 * cap)),
            ("DURATION", format!("{wall}s")),
            ("FILTER_BUFFER", format!("{}s", wall / 6.0)),
            ("DRAIN_TIMEOUT", format!("{wall}s")),
            ("COOLDOWN", "0s".into()),
            ("MAX_ITERATIONS", "16".into()),
            ("SEED", "5".into()),
            ("QUEUE_GROWTH_MIN_MS", format!("{}", 250.0 / TIME_SCALE)),
            ("EARLY_ABORT", abort.into()),
            (
                "EARLY_ABORT_DELAY_MIN_MS",
                format!("{}", 1000.0 / TIME_SCALE),
            ),
            ("OUTPUT_DIR", out.display().to_string()),
        ];
        let (cfg, _) = Config::from_pairs(&pairs)?;
        let started = Instant::now();
        let report =
            experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new()).await?;
        let secs = started.elapsed().as_secs_f64();
        let o = &report.outcomes[0];
        let aborted = o
            .iterations
            .iter()
            .filter(|it| it.reason.contains("aborted early"))
            .count();
        println!(
            "EARLY_ABORT={abort:<5}: wall {secs:6.1} s, {} iterations ({aborted} aborted), MST {} req/min = {:.2} x capacity",
            o.iterations.len(),
            o.mst_req_min.map_or("-".into(), |m| format!("{m:.0}")),
            o.mst_req_min.unwrap_or(0.0) / cap
        );
        for it in &o.iterations {
            eprintln!(
                "    #{:<2} {:>7.0} req/min {:<5} {}",
                it.iteration,
                it.req_min,
                match it.sustainable {
                    Some(true) => "pass",
                    Some(false) => "FAIL",
                    None => "-",
                },
                it.reason.chars().take(110).collect::<String>()
            );
        }
        // MST_BENCH_KEEP keeps each search's files for a look at its verdicts.
        if std::env::var_os("MST_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&out);
        } else {
            println!("kept {}", out.display());
        }
    }
    server.shutdown().await;
    Ok(())
}
