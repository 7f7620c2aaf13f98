//! The report's table: one row per size with the MST, its bounds, how the search got there
//! (iterations, wall time, the criterion that bound it) and the latencies measured at the MST.
//! Written as `summary.csv` (for scripts) and `summary.md` (for people).

use crate::data::{IterationData, SizeData};
use anyhow::{Context, Result};
use mst_results::StopKind;
use mst_results::results_csv as col;
use mst_results::summary_csv as sum;
use std::fmt::Write as _;
use std::path::Path;

/// One size's line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// `in:out` (from `mst.json`; the folder name when the search has not finished).
    pub size: String,
    /// Size folder name, `<in>_<out>`.
    pub dir_name: String,
    /// Model name, when known.
    pub model: String,
    /// The MST, requests/minute (`mst.json` `mst_req_min`).
    pub mst_req_min: Option<f64>,
    /// The MST in requests/second (`mst.json` `mst_req_s`: `mst_req_min / 60`, the offered
    /// rate; the completions measured there are `ACHIEVED_REQ_S` in [`AT_MST`]).
    pub mst_req_s: Option<f64>,
    /// Final bounds, requests/minute.
    pub lower_req_min: Option<f64>,
    /// Final upper bound: the lowest confirmed unsustainable rate, requests/minute.
    pub upper_req_min: Option<f64>,
    /// What the search varied (`mst.json` `load_unit`; `req_min` for older files).
    pub load_unit: mst_results::LoadUnit,
    /// The MST in `load_unit` (`mst_load`; the rate for older files).
    pub mst_load: Option<f64>,
    /// The final upper bound in `load_unit` (`upper_load`; the rate for older files).
    pub upper_load: Option<f64>,
    /// Why the search stopped; None without `mst.json` (written [`UNFINISHED`]).
    pub stop: Option<StopKind>,
    /// Iterations run for the size.
    pub iterations: usize,
    /// Seconds the size's search took, cooldowns included.
    pub wall_time_s: Option<f64>,
    /// The criterion (or criteria, joined with `+`) that failed at the upper bound: what limits
    /// the MST. `-` when no rate failed.
    pub binding: String,
    /// The iteration folder that measured the MST (the last sustainable one at that rate).
    pub mst_folder: Option<String>,
    /// Figures of that iteration's `results.csv`, in [`AT_MST`] order.
    pub at_mst: Vec<Option<f64>>,
}

/// `results.csv` figures reported at the MST, under the same names in `summary.csv`.
pub const AT_MST: [&str; 9] = [
    col::ACHIEVED_REQ_S,
    col::TTFT_MS.p50,
    col::TTFT_MS.p99,
    col::TPOT_MS.p50,
    col::E2E_MS.p50,
    col::E2E_MS.p99,
    col::SERVER_MAX_WAITING,
    col::SERVER_MEAN_KV_USAGE_PCT,
    col::SERVER_GENERATION_TOKENS_S,
];

/// The report's `STOP` for a size whose search has not finished (no `mst.json`): the report's
/// own word, not a [`StopKind`], since no search stopped.
pub const UNFINISHED: &str = "unfinished";

impl SummaryRow {
    /// `STOP` as written: the stop kind, or [`UNFINISHED`].
    pub fn stop_text(&self) -> &'static str {
        self.stop.map_or(UNFINISHED, StopKind::as_str)
    }
}

/// Columns of the report's `summary.csv`, in order.
pub fn columns() -> Vec<&'static str> {
    let mut c = vec![
        sum::SIZE,
        sum::MODEL,
        sum::MST_REQ_MIN,
        sum::MST_REQ_S,
        sum::LOWER_REQ_MIN,
        sum::UPPER_REQ_MIN,
        sum::STOP,
        sum::ITERATIONS,
        sum::WALL_TIME_S,
        "BINDING_CRITERION",
        "MST_ITERATION_FOLDER",
    ];
    c.extend(AT_MST);
    c
}

fn same_rate(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Whether the iteration ran at the search level `level` (in the size's unit).
fn at_rate(it: &IterationData, level: f64) -> bool {
    it.level().is_some_and(|r| same_rate(r, level))
}

/// The row of one size.
pub fn row(size: &SizeData) -> SummaryRow {
    let o = size.outcome.as_ref();
    let mst = o.and_then(|o| o.mst_req_min);
    let upper = o.and_then(|o| o.upper_req_min);
    // The answer and bound in the searched unit (files before `mst_load`: the rate).
    let mst_load = o.and_then(|o| o.mst_load.or(o.mst_req_min));
    let upper_load = o.and_then(|o| o.upper_load.or(o.upper_req_min));
    let mst_it = mst_load.and_then(|m| {
        size.iterations
            .iter()
            .rev()
            .find(|it| it.sustainable == Some(true) && at_rate(it, m))
    });
    let binding = upper_load
        .map(|u| {
            let mut names: Vec<&str> = size
                .iterations
                .iter()
                .filter(|it| it.sustainable == Some(false) && at_rate(it, u))
                .flat_map(|it| it.failed_criteria.iter().map(String::as_str))
                .collect();
            names.sort_unstable();
            names.dedup();
            if names.is_empty() {
                "-".to_string()
            } else {
                names.join("+")
            }
        })
        .unwrap_or_else(|| "-".to_string());
    SummaryRow {
        size: o.map_or_else(|| size.dir_name.clone(), |o| o.size.clone()),
        dir_name: size.dir_name.clone(),
        model: o.map(|o| o.model.clone()).unwrap_or_default(),
        mst_req_min: mst,
        mst_req_s: o.and_then(|o| o.mst_req_s),
        lower_req_min: o.and_then(|o| o.lower_req_min),
        upper_req_min: upper,
        load_unit: o.map(|o| o.load_unit).unwrap_or_default(),
        mst_load,
        upper_load,
        stop: o.map(|o| o.stop),
        iterations: size.iterations.len(),
        wall_time_s: o.map(|o| o.wall_time_s),
        binding,
        mst_folder: mst_it.map(|it| it.folder.clone()),
        at_mst: AT_MST
            .iter()
            .map(|f| mst_it.and_then(|it| it.figure(f)))
            .collect(),
    }
}

fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x}"))
        .unwrap_or_default()
}

fn short(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".to_string())
}

/// `summary.csv`: full precision, empty cell for no value.
pub fn write_csv(path: &Path, rows: &[SummaryRow]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(columns())?;
    for r in rows {
        let mut rec = vec![
            r.size.clone(),
            r.model.clone(),
            num(r.mst_req_min),
            num(r.mst_req_s),
            num(r.lower_req_min),
            num(r.upper_req_min),
            r.stop_text().to_string(),
            r.iterations.to_string(),
            num(r.wall_time_s),
            r.binding.clone(),
            r.mst_folder.clone().unwrap_or_default(),
        ];
        rec.extend(r.at_mst.iter().map(|v| num(*v)));
        w.write_record(&rec)?;
    }
    let bytes = w.into_inner().context("encoding summary.csv")?;
    crate::write_file(path, &bytes)
}

/// `summary.md`: the same rows, rounded for reading.
pub fn markdown(rows: &[SummaryRow]) -> String {
    let mut s = String::from("# MST report\n\n");
    s.push_str(
        "| size | MST req/min | MST req/s | bounds req/min | stop | iterations | wall time s | binding criterion | TTFT p50 / p99 ms | TPOT p50 ms | E2E p50 / p99 ms |\n\
         |---|---:|---:|---|---|---:|---:|---|---:|---:|---:|\n",
    );
    for r in rows {
        let at = |i: usize| r.at_mst.get(i).copied().flatten();
        let _ = writeln!(
            s,
            "| {} | {} | {} | [{}, {}] | {} | {} | {} | {} | {} / {} | {} | {} / {} |",
            r.size,
            short(r.mst_req_min, 1),
            short(r.mst_req_s, 3),
            short(r.lower_req_min, 1),
            short(r.upper_req_min, 1),
            r.stop_text(),
            r.iterations,
            short(r.wall_time_s, 0),
            r.binding,
            short(at(1), 1),
            short(at(2), 1),
            short(at(3), 2),
            short(at(4), 1),
            short(at(5), 1),
        );
    }
    s.push_str(
        "\nMST = the highest rate judged sustainable (the search's lower bound). The binding \
         criterion is the one that failed at the upper bound. Latencies are those of the \
         iteration that measured the MST.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(outcome: Option<mst_results::SizeOutcome>) -> SizeData {
        SizeData {
            dir_name: "64_32".into(),
            outcome,
            iterations: Vec::new(),
        }
    }

    #[test]
    fn stop_is_the_outcome_s_kind_or_unfinished_without_mst_json() {
        let unfinished = row(&size(None));
        assert_eq!(
            (unfinished.stop, unfinished.stop_text()),
            (None, UNFINISHED)
        );
        let outcome: mst_results::SizeOutcome = serde_json::from_value(serde_json::json!({
            "size": "64:32", "input_tokens": "64", "output_tokens": "32", "model": "m",
            "mst_req_min": null, "mst_req_s": null, "lower_req_min": null,
            "upper_req_min": null, "stop": "client-limited", "reason": "r", "iterations": [],
            "started_at": "", "finished_at": "", "wall_time_s": 1.0, "job_id": null,
            "evaluators": ["queue"]
        }))
        .unwrap();
        let done = row(&size(Some(outcome)));
        assert_eq!(done.stop, Some(StopKind::ClientLimited));
        assert_eq!(done.stop_text(), "client-limited");
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("summary.csv");
        write_csv(&csv, &[unfinished, done]).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(
            text.contains(",unfinished,") && text.contains(",client-limited,"),
            "{text}"
        );
    }

    /// Outside rate searches the MST iteration and the binding criterion are found by the
    /// searched level (`LOAD`, users here), not by `REQ_MIN` (what was sent per minute).
    #[test]
    fn a_users_search_finds_its_mst_iteration_by_the_level() {
        let outcome: mst_results::SizeOutcome = serde_json::from_value(serde_json::json!({
            "size": "64:32", "input_tokens": "64", "output_tokens": "32", "model": "m",
            "mst_req_min": 1020.0, "mst_req_s": 17.0, "lower_req_min": null,
            "upper_req_min": null, "load_unit": "users", "mst_load": 8.0, "lower_load": 8.0,
            "upper_load": 9.0, "stop": "converged", "reason": "r", "iterations": [],
            "started_at": "", "finished_at": "", "wall_time_s": 1.0, "job_id": null,
            "evaluators": ["slo"]
        }))
        .unwrap();
        let it = |folder: &str, load: f64, req_min: f64, pass: bool| crate::data::IterationData {
            folder: folder.into(),
            path: folder.into(),
            sustainable: Some(pass),
            verdict_reason: String::new(),
            completion: String::new(),
            unusable: false,
            figures: [
                (col::LOAD, load),
                (col::REQ_MIN, req_min),
                (col::ACHIEVED_REQ_S, load),
            ]
            .into_iter()
            .collect(),
            failed_criteria: if pass {
                vec![]
            } else {
                vec!["ttft_p99".into()]
            },
            requests: Vec::new(),
            server: None,
            gpu: None,
        };
        let data = SizeData {
            dir_name: "64_32".into(),
            outcome: Some(outcome),
            iterations: vec![it("a", 8.0, 1056.0, true), it("b", 9.0, 1080.0, false)],
        };
        let r = row(&data);
        assert_eq!(r.load_unit, mst_results::LoadUnit::Users);
        assert_eq!((r.mst_load, r.upper_load), (Some(8.0), Some(9.0)));
        assert_eq!(r.mst_folder.as_deref(), Some("a"));
        assert_eq!(r.binding, "ttft_p99");
        assert_eq!(
            r.at_mst[0],
            Some(8.0),
            "ACHIEVED_REQ_S of the MST iteration"
        );
    }
}
