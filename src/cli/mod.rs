//! Command-line types (clap) only; no logic. `mst-search --env .env` runs a search (the `run`
//! subcommand is implied), `simulate` serves the simulator, `demo` runs a search against it,
//! `summary` rebuilds `summary.csv` from per-size results. A subcommand with flags of its own
//! keeps them beside its code (`mst_sim::SimulateArgs`, `bench::BenchArgs`, `demo::DemoArgs`),
//! so only `cli` names them and no module imports `cli`; `run`'s override flags are built
//! from the key registry.

pub mod run;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Find the maximum sustainable throughput of an OpenAI-compatible LLM server.
#[derive(Parser, Debug)]
#[command(
    name = "mst-search",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Arguments of a search when no subcommand is given.
    #[command(flatten)]
    pub run: run::RunArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the search (the default).
    Run(Box<run::RunArgs>),
    /// Serve the simulated LLM server until stopped, or print its capacity.
    Simulate(Box<mst_sim::SimulateArgs>),
    /// Run a complete two-size search against the in-process simulator.
    Demo(crate::demo::DemoArgs),
    /// Measure the load generator itself: send rate, schedule lag, TTFT accuracy, CPU, memory.
    BenchClient(crate::bench::BenchArgs),
    /// Rebuild OUTPUT_DIR/summary.csv from every size's mst.json (e.g. after array tasks).
    Summary(SummaryArgs),
    /// Write summary tables, plots and an HTML page for a results tree (runs `mst-report`).
    Report(ReportArgs),
}

/// Arguments of `mst-search summary`.
#[derive(clap::Args, Debug, Clone)]
pub struct SummaryArgs {
    /// The results folder (OUTPUT_DIR of the runs).
    #[arg(long, default_value = "requests", value_name = "DIR")]
    pub output_dir: PathBuf,
}

/// Arguments of `mst-search report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// The results tree (the runs' OUTPUT_DIR).
    #[arg(long, default_value = "requests", value_name = "DIR")]
    pub dir: PathBuf,
    /// Where the report goes (created when missing).
    #[arg(long, default_value = "report", value_name = "DIR")]
    pub out: PathBuf,
}
