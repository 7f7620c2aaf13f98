//! Flags of `mst-search bench-client`: the load generator's own capacity and timing accuracy.
//! They live with the benchmark (as the simulator's live in `mst-sim`), so `cli` names them and
//! the benchmark never imports `cli`.

use clap::Args;
use std::path::PathBuf;

/// Measure the client itself: send rate, schedule lag, TTFT accuracy, CPU and memory, against
/// a simulator started as a child process (or a server you name).
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Send rates to try, requests per second, comma-separated, in the order given;
    /// `--rates 0` skips the rate steps.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [100.0, 250.0, 500.0, 1000.0, 2000.0, 3000.0, 4000.0]
    )]
    pub rates: Vec<f64>,
    /// Seconds of sending at each rate.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub step_secs: f64,
    /// Output tokens per request in the rate steps (streamed one per chunk).
    #[arg(long, default_value_t = 32)]
    pub output_tokens: u32,
    /// Prompt tokens per request.
    #[arg(long, default_value_t = 16)]
    pub input_tokens: u32,
    /// Open-stream counts to hold at once (a slow server, long outputs), comma-separated;
    /// `--streams 0` skips the concurrency steps.
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 10000])]
    pub streams: Vec<u32>,
    /// Seconds over which a concurrency step opens its streams; each stream then lasts
    /// `2 × --ramp-secs` (one token per second), so all are open at once for a while.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub ramp_secs: f64,
    /// Arrival process of the rate steps: constant, poisson, jitter or gamma (as `ARRIVAL`).
    #[arg(long, default_value = "constant")]
    pub arrival: String,
    /// Gamma shape with `--arrival gamma` (as `BURSTINESS`: 1 Poisson-like, below 1 burstier).
    #[arg(long, default_value_t = 1.0, value_name = "B")]
    pub burstiness: f64,
    /// Where the CSV goes.
    #[arg(long, default_value = "bench-client.csv", value_name = "FILE")]
    pub csv: PathBuf,
    /// Run the simulator inside this process instead of as a child process (then CPU and
    /// memory figures include the simulator's).
    #[arg(long)]
    pub in_process: bool,
}
