//! The answer for one size: `<output_dir>/<in>_<out>/mst.json` (everything about that size's
//! search), and `<output_dir>/summary.csv` with one row per finished size, so the MST never
//! lives only on the console (a failure of the old tool).
//!
//! `summary.csv` is rebuilt from every size's `mst.json` rather than appended to: array tasks
//! finish sizes concurrently, and a rebuild under a short lock (`.summary.lock`) always ends
//! with a file that lists every size finished so far, whoever writes last.

use super::{csv_bytes, fmt_opt, output_error, write_atomic};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// One iteration of a size's search, as listed in `mst.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationBrief {
    /// 1-based iteration number within the size.
    pub iteration: u32,
    /// Search stage, 1 (ramp) or 2 (bisection).
    pub stage: u8,
    /// Offered rate, requests/minute.
    pub req_min: f64,
    /// 1 for the first run at this rate, 2 for its confirmation re-run.
    pub attempt: u32,
    /// The verdict; None when the iteration was unusable (interrupted, no data).
    pub sustainable: Option<bool>,
    /// Why (the verdict's reason, or why it was unusable).
    pub reason: String,
    /// The iteration's folder, relative to the size folder.
    pub folder: String,
    /// Successful completions per second over the iteration (`summary.req_per_s`).
    pub achieved_req_s: f64,
    /// Successful completions per minute in the steady window (what `plateau` compares).
    #[serde(default)]
    pub steady_req_min: f64,
    /// Successful requests (tokens were generated and no error).
    #[serde(default)]
    pub succeeded: u64,
    /// Median output tokens actually generated per successful request (None without any).
    #[serde(default)]
    pub output_tokens_p50: Option<f64>,
    /// Successful requests that generated fewer tokens than requested.
    #[serde(default)]
    pub short_outputs: u64,
}

/// How one size's search ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeOutcome {
    /// The size as given in `TOKENS_LIST` (`in:out`).
    pub size: String,
    /// Input side of the size (`a` or `a-b`).
    pub input_tokens: String,
    /// Output side of the size (`a` or `a-b`).
    pub output_tokens: String,
    /// Model name.
    pub model: String,
    /// The MST in requests/minute: the highest sustainable rate; None when none was found.
    pub mst_req_min: Option<f64>,
    /// Successful completions per second achieved at that rate.
    pub mst_req_s: Option<f64>,
    /// Final lower bound of the bisection (requests/minute).
    pub lower_req_min: Option<f64>,
    /// Final upper bound: the lowest confirmed unsustainable rate (requests/minute).
    pub upper_req_min: Option<f64>,
    /// Why the search stopped (machine-readable, e.g. `converged`, `max-iterations`).
    pub stop: String,
    /// Why, in a sentence.
    pub reason: String,
    /// Every iteration run for this size, in order.
    pub iterations: Vec<IterationBrief>,
    /// Wall-clock start of the size's search (RFC 3339).
    pub started_at: String,
    /// Wall-clock end of the size's search (RFC 3339).
    pub finished_at: String,
    /// Seconds from start to finish, cooldowns included.
    pub wall_time_s: f64,
    /// `JOB_ID`, when given.
    pub job_id: Option<String>,
    /// The evaluators that judged every iteration.
    pub evaluators: Vec<String>,
    /// Median output tokens actually generated per successful request at the MST (over the
    /// iterations judged sustainable at that rate). It differs from `output_tokens` when the
    /// server ignored `ignore_eos`/`min_tokens`: the MST was then measured at this length.
    #[serde(default)]
    pub generated_output_tokens_p50: Option<f64>,
    /// Percentage of those successful requests that generated fewer tokens than requested.
    #[serde(default)]
    pub short_outputs_pct: Option<f64>,
}

impl SizeOutcome {
    /// `generated_output_tokens_p50` and `short_outputs_pct` from the iterations judged
    /// sustainable at `mst_req_min`: the request-weighted mean of their medians, and the
    /// share of short answers among their successes. None without such an iteration.
    pub fn generated_at_mst(
        iterations: &[IterationBrief],
        mst_req_min: Option<f64>,
    ) -> (Option<f64>, Option<f64>) {
        let Some(mst) = mst_req_min else {
            return (None, None);
        };
        let at: Vec<&IterationBrief> = iterations
            .iter()
            .filter(|b| b.sustainable == Some(true) && b.req_min == mst && b.succeeded > 0)
            .collect();
        let ok: u64 = at.iter().map(|b| b.succeeded).sum();
        if ok == 0 {
            return (None, None);
        }
        let weighted: f64 = at
            .iter()
            .filter_map(|b| b.output_tokens_p50.map(|m| m * b.succeeded as f64))
            .sum();
        let short: u64 = at.iter().map(|b| b.short_outputs).sum();
        (
            Some(weighted / ok as f64),
            Some(100.0 * short as f64 / ok as f64),
        )
    }
}

/// Columns of `summary.csv`, in order.
pub const SUMMARY_COLUMNS: [&str; 18] = [
    "SIZE",
    "INPUT_TOKENS",
    "OUTPUT_TOKENS",
    "MODEL",
    "MST_REQ_MIN",
    "MST_REQ_S",
    "LOWER_REQ_MIN",
    "UPPER_REQ_MIN",
    "STOP",
    "REASON",
    "ITERATIONS",
    "STARTED_AT",
    "FINISHED_AT",
    "WALL_TIME_S",
    "JOB_ID",
    "EVALUATORS",
    "GENERATED_OUTPUT_TOKENS_P50",
    "SHORT_OUTPUTS_PCT",
];

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
    vec![
        o.size.clone(),
        o.input_tokens.clone(),
        o.output_tokens.clone(),
        o.model.clone(),
        fmt_opt(o.mst_req_min),
        fmt_opt(o.mst_req_s),
        fmt_opt(o.lower_req_min),
        fmt_opt(o.upper_req_min),
        o.stop.clone(),
        o.reason.clone(),
        o.iterations.len().to_string(),
        o.started_at.clone(),
        o.finished_at.clone(),
        o.wall_time_s.to_string(),
        o.job_id.clone().unwrap_or_default(),
        o.evaluators.join("+"),
        fmt_opt(o.generated_output_tokens_p50),
        fmt_opt(o.short_outputs_pct),
    ]
}
