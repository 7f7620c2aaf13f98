//! The demo: a whole two-size search against the simulator started in-process, printed next to
//! the simulator's analytic capacity, so a newcomer without a GPU sees what the tool does and
//! can judge its answer against the truth.

use crate::config::Config;
use crate::experiment::{self, RunOptions, RunReport};
use crate::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use anyhow::Context;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// The demo's engine: a small, slow batch so that rates stay modest on a laptop.
pub fn demo_engine(time_scale: f64) -> EngineConfig {
    EngineConfig::small(32, time_scale)
}

/// The demo's sizes.
pub const DEMO_SIZES: [(u32, u32); 2] = [(128, 64), (512, 32)];

/// Arguments of `mst-search demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where the demo writes its results (default: a fresh folder under the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// How much faster than model time the simulator runs.
    #[arg(long, default_value_t = 10.0, value_name = "X")]
    pub time_scale: f64,
    /// Length of one iteration.
    #[arg(long, default_value = "4s", value_name = "DURATION")]
    pub duration: String,
    /// Only the final table.
    #[arg(long)]
    pub quiet: bool,
}

/// Start the simulator, search both sizes, print MST against the analytic capacity.
pub async fn run(args: DemoArgs, interrupt: CancellationToken) -> anyhow::Result<RunReport> {
    let engine = demo_engine(args.time_scale);
    engine
        .validate()
        .map_err(|e| anyhow::anyhow!("--time-scale: {e}"))?;
    let server = SimServer::start(engine.clone(), FaultConfig::default()).await?;
    let out = match args.output_dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!(
            "mst-demo-{}",
            chrono::Local::now().format("%Y%m%d-%H%M%S")
        )),
    };
    let caps: Vec<f64> = DEMO_SIZES
        .iter()
        .map(|&(i, o)| capacity(&engine, i, o).req_per_min)
        .collect();
    // Start at a quarter of capacity so the ramp has something to climb; the queueing-growth
    // floor is scaled with time like everything else.
    let starts: Vec<String> = caps.iter().map(|c| format!("{:.0}", c / 4.0)).collect();
    let sizes: Vec<String> = DEMO_SIZES.iter().map(|(i, o)| format!("{i}:{o}")).collect();
    let pairs: [(&str, String); 10] = [
        ("URL", server.url()),
        ("DURATION", args.duration.clone()),
        ("FILTER_BUFFER", "0.5s".into()),
        ("COOLDOWN", "0.2s".into()),
        ("DRAIN_TIMEOUT", "2s".into()),
        ("TOKENS_LIST", sizes.join(",")),
        ("REQ_MIN_START", starts.join(",")),
        (
            "QUEUE_GROWTH_MIN_MS",
            format!("{}", 250.0 / args.time_scale),
        ),
        ("MAX_ITERATIONS", "16".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ];
    let (cfg, _) = Config::from_pairs(&pairs).context("demo configuration")?;
    println!(
        "demo: simulator at {} (time scale {}x), results in {}",
        server.url(),
        args.time_scale,
        out.display()
    );
    let report = experiment::run(cfg, RunOptions { quiet: args.quiet }, interrupt).await?;
    println!("\nsize        MST req/min   analytic capacity req/min   MST / capacity");
    for (o, cap) in report.outcomes.iter().zip(&caps) {
        let ratio = o.mst_req_min.map(|m| m / cap);
        println!(
            "{:<11} {:>11}   {:>25.1}   {:>14}",
            o.size,
            crate::experiment::console::opt(o.mst_req_min, 1),
            cap,
            crate::experiment::console::opt(ratio, 2)
        );
    }
    println!(
        "\nNear capacity a short iteration cannot tell a slow queue from a growing one, so the \
         MST lands within about 10% of the analytic capacity, usually below it (docs/design/verdict.md: \"What \
         short iterations cannot do\")."
    );
    server.shutdown().await;
    Ok(report)
}
