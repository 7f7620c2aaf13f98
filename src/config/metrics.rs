//! The keys of what is read beside the load: the server's Prometheus metrics
//! (`SERVER_METRICS_URL`, `SCRAPE_INTERVAL`) and the GPUs' telemetry (`GPU_METRICS_URL` or
//! `GPU_SMI`, with `GPU_HOURLY_COST`). Kept apart from [`super::load`] because they change
//! neither the load nor a verdict, and the GPU keys are checked against each other.

use super::load::{Layers, f64_where, positive_duration};
use super::parse::{parse_bool, parse_url};
use crate::error::{Error, Result};

/// `SERVER_METRICS_URL` (default `<URL>/metrics`, `off` to disable) and `SCRAPE_INTERVAL`.
pub(super) fn resolve_scrape(l: &Layers, url: &str) -> Result<crate::scrape::ScrapeConfig> {
    let metrics_url = match l.get("SERVER_METRICS_URL") {
        Some(r) if ["off", "none", "false"].contains(&r.value.to_ascii_lowercase().as_str()) => {
            None
        }
        Some(r) => Some(parse_url("SERVER_METRICS_URL", &r.value)?),
        None => Some(format!("{url}/metrics")),
    };
    Ok(crate::scrape::ScrapeConfig {
        url: metrics_url,
        interval: l.or_default("SCRAPE_INTERVAL", positive_duration)?,
    })
}

/// `GPU_METRICS_URL` or `GPU_SMI` (one source at most), and `GPU_HOURLY_COST` (only with a
/// source: the cost is per GPU and the telemetry counts them).
pub(super) fn resolve_telemetry(l: &Layers) -> Result<crate::telemetry::TelemetryConfig> {
    use crate::telemetry::GpuSource;
    let url = match l.get("GPU_METRICS_URL") {
        Some(r) if ["off", "none", "false"].contains(&r.value.to_ascii_lowercase().as_str()) => {
            None
        }
        Some(r) => Some(parse_url("GPU_METRICS_URL", &r.value)?),
        None => None,
    };
    let smi = l.or_default("GPU_SMI", parse_bool)?;
    let hourly_cost = l.opt(
        "GPU_HOURLY_COST",
        f64_where("a cost per GPU-hour > 0", |x| x > 0.0 && x.is_finite()),
    )?;
    let source = match (url, smi) {
        (Some(url), true) => {
            return Err(Error::config(
                "GPU_SMI",
                "true",
                format!(
                    "false or unset while GPU_METRICS_URL is set ({url}): GPU_METRICS_URL and \
                     GPU_SMI both read the GPUs; set one of them"
                ),
            ));
        }
        (Some(url), false) => Some(GpuSource::Dcgm { url }),
        (None, true) => Some(GpuSource::Smi {
            program: crate::telemetry::smi::PROGRAM.into(),
        }),
        (None, false) => None,
    };
    if let (Some(cost), None) = (hourly_cost, &source) {
        return Err(Error::config(
            "GPU_HOURLY_COST",
            cost.to_string(),
            "set together with GPU_METRICS_URL or GPU_SMI=true: the cost is per GPU, and the \
             GPU telemetry is what counts the GPUs",
        ));
    }
    Ok(crate::telemetry::TelemetryConfig {
        source,
        hourly_cost,
    })
}
