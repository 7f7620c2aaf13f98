//! Writers for the per-iteration files (`output.csv`, the halves, `results.csv`, `results.json`)
//! and the per-size outcome (`mst.json`, `summary.csv`).
//!
//! Every file is written under a temporary name in its final directory and renamed into place,
//! and an iteration folder is assembled under a hidden `.partial` name and renamed as a whole,
//! so a crash or a full disk never leaves a file or folder that looks complete but is not.
//! Column meanings and units are documented in `docs/reference/outputs.md`.

mod gpu;
mod iteration;
mod outcome;
mod workload;

pub use gpu::GPU_METRICS_COLUMNS;
pub use iteration::{
    IterationFiles, OUTPUT_COLUMNS, RESULTS_OLD_COLUMNS, SERVER_METRICS_COLUMNS, write_iteration,
};
pub use mst_results::{IterationBrief, Judgement, SizeOutcome, StopKind};
pub use outcome::{SUMMARY_COLUMNS, write_size_outcome, write_summary};

use crate::error::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// An [`Error::Output`] for `path`.
fn output_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory, then rename, so
/// readers see either the old file or the whole new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| output_error(path, "the path has no file name"))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        // The temporary file is ours and useless now; failing to remove it changes nothing.
        let _ = fs::remove_file(&tmp);
        output_error(path, e)
    })
}

/// CSV bytes for a header and rows (every value already formatted).
fn csv_bytes<S: AsRef<[u8]>>(header: &[S], rows: &[Vec<String>], path: &Path) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = || -> std::result::Result<(), csv::Error> {
        if !header.is_empty() {
            w.write_record(header)?;
        }
        for row in rows {
            w.write_record(row)?;
        }
        w.flush()?;
        Ok(())
    };
    write().map_err(|e| output_error(path, e))?;
    w.into_inner().map_err(|e| output_error(path, e))
}

/// Milliseconds with microsecond resolution (the resolution of the records); empty for None.
fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// A whole number of microseconds as seconds with six decimals, exactly (no float rounding).
fn fmt_micros_as_s(us: i128) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let us = us.unsigned_abs();
    format!("{sign}{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// An offset from t0 in seconds with six decimals.
fn fmt_offset_s(d: Duration) -> String {
    fmt_micros_as_s(d.as_micros() as i128)
}

/// An offset from t0 in seconds as a number for JSON (microsecond resolution).
fn offset_s(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// An optional value with `Display`; empty for None.
fn fmt_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
