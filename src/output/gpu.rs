//! The GPU telemetry's part of an iteration's files: `gpu_metrics.csv` (one row per GPU and
//! poll) and the `GPU_*` columns of `results.csv`, which are always written — empty without
//! telemetry — so the header of `results.csv` does not depend on it.

use super::{csv_bytes, fmt_opt, write_atomic};
use crate::error::Result;
use crate::telemetry::{GpuIteration, GpuSummary};
use mst_results::results_csv as col;
use std::path::Path;

/// Columns of `gpu_metrics.csv`: seconds from t0, the GPU (its `Hostname:gpu` index, else its
/// UUID), power in W, the energy counter in mJ (DCGM only), utilisation in %, memory used in
/// MiB; a field the source did not give is empty.
pub const GPU_METRICS_COLUMNS: [&str; 6] = [
    "time_s",
    "gpu",
    "power_w",
    "energy_mj",
    "util_pct",
    "memory_used_mib",
];

/// Writes `gpu_metrics.csv` for `gpu`.
pub(super) fn write_gpu_metrics(path: &Path, gpu: &GpuIteration) -> Result<()> {
    let rows: Vec<Vec<String>> = gpu
        .rows()
        .into_iter()
        .map(|r| {
            vec![
                format!("{:.6}", r.time_s),
                r.gpu,
                fmt_opt(r.power_w),
                fmt_opt(r.energy_mj),
                fmt_opt(r.util_pct),
                fmt_opt(r.memory_used_mib),
            ]
        })
        .collect();
    write_atomic(path, &csv_bytes(&GPU_METRICS_COLUMNS, &rows, path)?)
}

/// The `GPU_*` columns of `results.csv` in order, empty without telemetry (`None`) or
/// without a GPU that answered.
pub(super) fn columns(s: Option<&GpuSummary>) -> Vec<(&'static str, String)> {
    let s = s.filter(|s| s.gpus > 0);
    let f = |get: fn(&GpuSummary) -> Option<f64>| fmt_opt(s.and_then(get));
    vec![
        (col::GPU_COUNT, fmt_opt(s.map(|s| s.gpus))),
        (col::GPU_SAMPLES, fmt_opt(s.map(|s| s.samples))),
        (col::GPU_WINDOW_S, f(|s| Some(s.window_s))),
        (col::GPU_MEAN_POWER_W, f(|s| s.mean_power_w)),
        (col::GPU_MAX_POWER_W, f(|s| s.max_power_w)),
        (col::GPU_ENERGY_J, f(|s| s.energy_j)),
        (
            col::GPU_ENERGY_FROM,
            fmt_opt(s.and_then(|s| s.energy_from).map(|e| e.as_str())),
        ),
        (
            col::GPU_J_PER_OUTPUT_TOKEN,
            f(|s| s.joules_per_output_token),
        ),
        (col::GPU_J_PER_REQUEST, f(|s| s.joules_per_request)),
        (col::GPU_MEAN_UTIL_PCT, f(|s| s.mean_util_pct)),
        (col::GPU_MEAN_MEMORY_USED_MIB, f(|s| s.mean_memory_used_mib)),
    ]
}
