//! GPU telemetry during each iteration, for the energy and cost at the MST: a DCGM exporter's
//! Prometheus endpoint (`GPU_METRICS_URL`) or the local `nvidia-smi` (`GPU_SMI=true`), polled
//! every `SCRAPE_INTERVAL` by the same [`crate::scrape::Scraper`] as the server's metrics.
//!
//! Telemetry never decides anything: a source that stops answering is a warning and the
//! iteration has fewer (or no) GPU figures; only a `nvidia-smi` that cannot run at all is an
//! error, and only before any traffic ([`check`]).
//!
//! - `dcgm`: the exporter's field names and units, the one representation both sources share;
//! - `smi`: the `nvidia-smi` query and its CSV;
//! - `energy`: an iteration's figures over its steady window.

pub mod dcgm;
pub mod energy;
pub mod smi;

pub use energy::{EnergyFrom, GpuRow, GpuSummary};

use crate::error::{Error, Result};
use crate::iteration::IterationMeta;
use crate::record::RequestRecord;
use crate::scrape::{Poll, Scraper, ServerMetrics, Source};
use std::time::Duration;

/// Where GPU telemetry comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum GpuSource {
    /// `GPU_METRICS_URL`: a DCGM exporter's `/metrics`.
    Dcgm {
        /// The endpoint.
        url: String,
    },
    /// `GPU_SMI=true`: `program` (`nvidia-smi`, looked up on `PATH`) run at every poll.
    Smi {
        /// The program.
        program: String,
    },
}

/// `GPU_METRICS_URL` / `GPU_SMI` and `GPU_HOURLY_COST`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetryConfig {
    /// Where from; None: no GPU telemetry.
    pub source: Option<GpuSource>,
    /// `GPU_HOURLY_COST`: currency per GPU-hour (> 0), for the cost per million output tokens.
    pub hourly_cost: Option<f64>,
}

impl GpuSource {
    fn poll(&self, interval: Duration) -> Poll {
        match self {
            GpuSource::Dcgm { url } => Poll {
                source: Source::Http {
                    url: url.clone(),
                    keep: dcgm::keep,
                },
                interval,
                what: "GPU telemetry",
                hint: "unset GPU_METRICS_URL to stop trying",
            },
            GpuSource::Smi { program } => Poll {
                source: Source::Command {
                    program: program.clone(),
                    args: smi::args(),
                    parse: smi::parse,
                },
                interval,
                what: "GPU telemetry",
                hint: "unset GPU_SMI to stop trying",
            },
        }
    }
}

/// Start polling the GPUs every `interval` for one iteration; None without a source.
pub fn start(cfg: &TelemetryConfig, interval: Duration) -> Option<Scraper> {
    Scraper::poll(cfg.source.as_ref()?.poll(interval))
}

/// Before any traffic: with `GPU_SMI=true`, `nvidia-smi` must run and list a GPU.
///
/// # Errors
/// [`Error::Config`] naming `GPU_SMI`, with what went wrong (not found on `PATH`, a failed
/// exit, output that is not the query's CSV).
pub async fn check(cfg: &TelemetryConfig) -> Result<()> {
    let Some(GpuSource::Smi { program }) = &cfg.source else {
        return Ok(());
    };
    let out = crate::scrape::run(program, &smi::args(), Duration::from_secs(20))
        .await
        .map_err(|e| {
            let why = if e.contains("No such file") || e.contains("not found") {
                format!(
                    "{program} on PATH (it is not there: {e}); run on a GPU node or unset GPU_SMI"
                )
            } else {
                format!("{program} to answer its GPU query (it failed: {e})")
            };
            Error::config("GPU_SMI", "true", why)
        })?;
    smi::parse(&out).map_err(|e| {
        Error::config(
            "GPU_SMI",
            "true",
            format!("{program} to list the GPUs as CSV ({e})"),
        )
    })?;
    Ok(())
}

/// One iteration's GPU telemetry: the polls and their figures.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuIteration {
    /// What the polls returned, times from t0.
    pub polled: ServerMetrics,
    /// The figures over the steady window.
    pub summary: GpuSummary,
}

impl GpuIteration {
    /// The figures of `polled` for the iteration `meta` whose requests are `records`.
    pub fn new(polled: ServerMetrics, meta: &IterationMeta, records: &[RequestRecord]) -> Self {
        let window = energy::window(meta);
        let summary = energy::summarize(&polled, window, energy::work_in(records, window));
        GpuIteration { polled, summary }
    }

    /// The polls as `gpu_metrics.csv` rows.
    pub fn rows(&self) -> Vec<GpuRow> {
        energy::rows(&self.polled)
    }

    /// What `mst.json` keeps of the iteration (None when no GPU answered).
    pub fn brief(&self) -> Option<mst_results::GpuBrief> {
        let s = &self.summary;
        (s.gpus > 0).then_some(mst_results::GpuBrief {
            gpus: s.gpus,
            window_s: s.window_s,
            mean_power_w: s.mean_power_w,
            energy_j: s.energy_j,
            output_tokens: s.output_tokens,
        })
    }
}
