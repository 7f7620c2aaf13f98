//! The answer for one size: `<output_dir>/<in>_<out>/mst.json` (everything about that size's
//! search), and `<output_dir>/summary.csv` with one row per finished size, so the MST never
//! lives only on the console (a failure of the old tool).
//!
//! `summary.csv` is rebuilt from every size's `mst.json` rather than appended to: array tasks
//! finish sizes concurrently, and a rebuild under a short lock (`.summary.lock`) always ends
//! with a file that lists every size finished so far, whoever writes last.

use super::{csv_bytes, fmt_opt, output_error, write_atomic};
use crate::error::Result;
use mst_results::SizeOutcome;
use std::fs;
use std::path::{Path, PathBuf};

/// Columns of `summary.csv`, in order.
pub use mst_results::summary_csv::COLUMNS as SUMMARY_COLUMNS;

/// Writes `<output_dir>/<size_dir_name>/mst.json` (pretty-printed) atomically; returns its path.
pub fn write_size_outcome(
    output_dir: &Path,
    size_dir_name: &str,
    outcome: &SizeOutcome,
) -> Result<PathBuf> {
    let dir = output_dir.join(size_dir_name);
    fs::create_dir_all(&dir).map_err(|e| output_error(&dir, e))?;
    let path = dir.join("mst.json");
    let mut json = serde_json::to_vec_pretty(outcome).map_err(|e| output_error(&path, e))?;
    json.push(b'\n');
    write_atomic(&path, &json)?;
    Ok(path)
}

/// Rebuilds `<output_dir>/summary.csv` from every `<output_dir>/*/mst.json`, one row per size
/// sorted by input then output tokens, and returns its path. The file is written through a
/// temporary file while holding `<output_dir>/.summary.lock`, so concurrent rebuilds (array
/// tasks) never lose a row. A `summary.csv` whose header is not ours is left alone and
/// reported as an error; an unreadable `mst.json` is skipped with a warning.
pub fn write_summary(output_dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(output_dir).map_err(|e| output_error(output_dir, e))?;
    let path = output_dir.join("summary.csv");
    let lock_path = output_dir.join(".summary.lock");
    let _lock = crate::lock::lock_blocking(&lock_path).map_err(|e| output_error(&lock_path, e))?;
    let header = csv_bytes(&SUMMARY_COLUMNS, &[], &path)?;
    match fs::read(&path) {
        // An earlier version's header is a prefix of ours (columns are only ever appended):
        // the rebuild from every mst.json loses nothing.
        Ok(old) if !old.is_empty() && !header.starts_with(first_line(&old)) => {
            return Err(output_error(
                &path,
                "its header differs from this version's summary columns; move it away to start \
                 a new one",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(output_error(&path, e)),
    }
    let mut outcomes = read_outcomes(output_dir)?;
    outcomes.sort_by_key(size_key);
    let rows: Vec<Vec<String>> = outcomes.iter().map(summary_row).collect();
    write_atomic(&path, &csv_bytes(&SUMMARY_COLUMNS, &rows, &path)?)?;
    Ok(path)
}

/// The first line of `bytes` without its line ending.
fn first_line(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(bytes.len());
    &bytes[..end]
}

/// Every `<output_dir>/<dir>/mst.json` that parses (hidden folders skipped).
fn read_outcomes(output_dir: &Path) -> Result<Vec<SizeOutcome>> {
    let entries = fs::read_dir(output_dir).map_err(|e| output_error(output_dir, e))?;
    let mut outcomes = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let file = entry.path().join("mst.json");
        let text = match fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(e) => return Err(output_error(&file, e)),
        };
        match serde_json::from_str::<SizeOutcome>(&text) {
            Ok(o) => outcomes.push(o),
            Err(e) => tracing::warn!("{} is left out of summary.csv: {e}", file.display()),
        }
    }
    Ok(outcomes)
}

/// Sizes in numeric order of their lower token counts, then by name.
fn size_key(o: &SizeOutcome) -> (u64, u64, String) {
    let first = |s: &str| {
        s.split('-')
            .next()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    (
        first(&o.input_tokens),
        first(&o.output_tokens),
        o.size.clone(),
    )
}

fn summary_row(o: &SizeOutcome) -> Vec<String> {
    // The interval is in the search's unit: under the request-rate names only for a rate.
    let rate_ci = o
        .confidence
        .as_ref()
        .filter(|_| o.load_unit == mst_results::LoadUnit::ReqMin);
    vec![
        o.size.clone(),
        o.input_tokens.clone(),
        o.output_tokens.clone(),
        o.model.clone(),
        fmt_opt(o.mst_req_min),
        fmt_opt(o.mst_req_s),
        fmt_opt(o.lower_req_min),
        fmt_opt(o.upper_req_min),
        o.stop.to_string(),
        o.reason.clone(),
        o.iterations.len().to_string(),
        o.started_at.clone(),
        o.finished_at.clone(),
        o.wall_time_s.to_string(),
        o.job_id.clone().unwrap_or_default(),
        o.evaluators.join("+"),
        fmt_opt(o.generated_output_tokens_p50),
        fmt_opt(o.short_outputs_pct),
        o.iteration_time_s.to_string(),
        fmt_opt(rate_ci.map(|c| c.low_req_min)),
        fmt_opt(rate_ci.map(|c| c.high_req_min)),
        o.search.clone(),
        fmt_opt(o.capacity_estimate.as_ref().map(|e| e.req_min)),
        o.repeats.len().max(1).to_string(),
        fmt_opt(o.repeat_stats.as_ref().map(|s| s.sd_req_min)),
        fmt_opt(o.repeat_stats.as_ref().map(|s| s.cv)),
        o.load_unit.as_str().to_string(),
        fmt_opt(o.mst_load),
        fmt_opt(o.lower_load),
        fmt_opt(o.upper_load),
        fmt_opt(o.energy.as_ref().map(|e| e.gpus)),
        fmt_opt(o.energy.as_ref().map(|e| e.power_w)),
        fmt_opt(o.energy.as_ref().and_then(|e| e.joules_per_output_token)),
        fmt_opt(o.energy.as_ref().and_then(|e| e.output_tokens_per_joule)),
        fmt_opt(
            o.energy
                .as_ref()
                .and_then(|e| e.cost_per_million_output_tokens),
        ),
        fmt_opt(o.confidence.as_ref().map(|c| c.low_req_min)),
        fmt_opt(o.confidence.as_ref().map(|c| c.high_req_min)),
    ]
}
