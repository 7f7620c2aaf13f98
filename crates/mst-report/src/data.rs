//! Reading a results tree: which sizes and iteration folders exist (`mst.json` says which
//! iterations a size's search used), then every iteration's `results.csv`, `output.csv`,
//! `server_metrics.csv` and `gpu_metrics.csv` through polars lazy scans. Everything below this module works on plain
//! vectors, so the plots and tables never touch polars.

use anyhow::{Context, Result};
use mst_results::SizeOutcome;
use mst_results::results_csv as col;
use polars::prelude::{
    DataType, Expr, LazyCsvReader, LazyFileListReader, PlRefPath, col, len, lit,
};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// Figures of `results.csv` the report reads as numbers (missing columns stay None).
pub const FIGURES: &[&str] = &[
    col::REQ_MIN,
    col::LOAD,
    col::DURATION,
    col::FILTER_BUFFER,
    col::ITERATION,
    col::STAGE,
    col::ACHIEVED_REQ_S,
    col::TTFT_MS.p50,
    col::TTFT_MS.p90,
    col::TTFT_MS.p99,
    col::TPOT_MS.p50,
    col::TPOT_MS.p99,
    col::E2E_MS.p50,
    col::E2E_MS.p90,
    col::E2E_MS.p99,
    col::SERVER_MAX_WAITING,
    col::SERVER_MAX_RUNNING,
    col::SERVER_MEAN_KV_USAGE_PCT,
    col::SERVER_GENERATION_TOKENS_S,
    col::GPU_MEAN_POWER_W,
    col::GPU_J_PER_OUTPUT_TOKEN,
];

/// One request of `output.csv`, reduced to what the plots use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestPoint {
    /// Intended send time, seconds from t0 (the time the verdict's window is cut on).
    pub send_s: f64,
    /// TTFT in ms; None for a request without a first token.
    pub ttft_ms: Option<f64>,
    /// E2E in ms.
    pub e2e_ms: Option<f64>,
    /// The request ended without error.
    pub success: bool,
}

/// The server's queue over one iteration, from `server_metrics.csv`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSeries {
    /// (seconds from t0, requests) of `vllm:num_requests_waiting`.
    pub waiting: Vec<(f64, f64)>,
    /// (seconds from t0, requests) of `vllm:num_requests_running`.
    pub running: Vec<(f64, f64)>,
}

/// The GPUs' power over one iteration, from `gpu_metrics.csv` (GPU telemetry: `GPU_METRICS_URL`
/// or `GPU_SMI`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuSeries {
    /// GPUs seen: the most rows of one poll (the file has one row per GPU per poll).
    pub gpus: u32,
    /// (seconds from t0, W): the power summed over the GPUs, one point per poll, in time
    /// order. A poll where some GPU has no power (or no row) is left out, as the tool leaves
    /// it out of its energy figures, so a GPU that did not answer is no dip in the line.
    pub power_w: Vec<(f64, f64)>,
}

/// Everything the report knows about one iteration folder.
#[derive(Debug, Clone)]
pub struct IterationData {
    /// Folder name, relative to the size folder.
    pub folder: String,
    /// The folder itself.
    pub path: PathBuf,
    /// `EVALUATION`: Some(true) sustainable, Some(false) not, None when absent.
    pub sustainable: Option<bool>,
    /// `VERDICT_REASON`.
    pub verdict_reason: String,
    /// `COMPLETION`.
    pub completion: String,
    /// `mst.json` lists the iteration as unusable (every request failed; no verdict).
    pub unusable: bool,
    /// Numeric figures by `results.csv` column name (see [`FIGURES`]).
    pub figures: BTreeMap<&'static str, f64>,
    /// Names of the criteria that failed (lower-case, from `<CRITERION>_PASSED = FALSE`).
    pub failed_criteria: Vec<String>,
    /// One point per request of `output.csv`, in file order.
    pub requests: Vec<RequestPoint>,
    /// Waiting and running requests on the server, when `server_metrics.csv` exists.
    pub server: Option<ServerSeries>,
    /// The GPUs' total power, when `gpu_metrics.csv` exists.
    pub gpu: Option<GpuSeries>,
}

impl IterationData {
    /// A figure of `results.csv`, None when the column is missing or empty.
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.figures.get(name).copied()
    }

    /// The level the search ran this iteration at, in the size's `LOAD_UNIT`: `LOAD`, or
    /// `REQ_MIN` in files written before it (which were all rate searches).
    pub fn level(&self) -> Option<f64> {
        self.figure(col::LOAD).or_else(|| self.figure(col::REQ_MIN))
    }
}

/// One size folder: its outcome (when the search finished) and its iterations in search order.
#[derive(Debug, Clone)]
pub struct SizeData {
    /// Folder name, `<in>_<out>`.
    pub dir_name: String,
    /// `mst.json`, when present.
    pub outcome: Option<SizeOutcome>,
    /// The iterations `mst.json` lists, in order; without `mst.json`, every complete iteration
    /// folder in name (start time) order.
    pub iterations: Vec<IterationData>,
}

/// Read the whole tree under `dir`. Sizes come in numeric order of input, then output length.
pub fn load(dir: &Path) -> Result<Vec<SizeData>> {
    let mut sizes = Vec::new();
    for size_dir in sorted_subdirs(dir)? {
        let mst_path = size_dir.join("mst.json");
        let outcome: Option<SizeOutcome> = if mst_path.is_file() {
            let text = fs::read_to_string(&mst_path)
                .with_context(|| format!("reading {}", mst_path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not an mst.json", mst_path.display()))?,
            )
        } else {
            None
        };
        let folders: Vec<(String, bool)> = match &outcome {
            Some(o) => o
                .iterations
                .iter()
                .map(|i| (i.folder.clone(), i.sustainable.is_none()))
                .collect(),
            None => sorted_subdirs(&size_dir)?
                .iter()
                .filter(|p| p.join("results.csv").is_file())
                .map(|p| (file_name(p), false))
                .collect(),
        };
        if outcome.is_none() && folders.is_empty() {
            continue;
        }
        let iterations = folders
            .iter()
            .map(|(f, unusable)| read_results(&size_dir.join(f), f, *unusable))
            .collect::<Result<Vec<_>>>()?;
        sizes.push(SizeData {
            dir_name: file_name(&size_dir),
            outcome,
            iterations,
        });
    }
    sizes.sort_by_key(|s| size_order(&s.dir_name));
    let mut all: Vec<&mut IterationData> = sizes
        .iter_mut()
        .flat_map(|s| s.iterations.iter_mut())
        .collect();
    attach_requests(&mut all)?;
    attach_server(&mut all)?;
    attach_gpus(&mut all)?;
    Ok(sizes)
}

/// Sizes in numeric order (`64_32` before `256_16`), by the first number of each side.
fn size_order(dir_name: &str) -> (u64, u64, String) {
    let first = |side: &str| {
        side.split('-')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    let (i, o) = dir_name.split_once('_').unwrap_or((dir_name, ""));
    (first(i), first(o), dir_name.to_string())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Visible subdirectories of `dir`, by name (hidden `.partial` folders are incomplete).
fn sorted_subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir)
        .with_context(|| format!("reading the results folder {}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !file_name(p).starts_with('.'))
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn pl_path(p: &Path) -> PlRefPath {
    PlRefPath::new(p.to_string_lossy().as_ref())
}

/// A lazy scan in which every column is text: the report casts what it needs, so an empty
/// column in one file cannot change its type.
fn scan_text(paths: &[PathBuf]) -> LazyCsvReader {
    LazyCsvReader::new_paths(paths.iter().map(|p| pl_path(p)).collect())
        .with_infer_schema_length(Some(0))
        .with_has_header(true)
}

fn read_results(folder: &Path, name: &str, unusable: bool) -> Result<IterationData> {
    let path = folder.join("results.csv");
    let df = scan_text(std::slice::from_ref(&path))
        .finish()
        .and_then(|lf| lf.limit(1).collect())
        .with_context(|| format!("reading {}", path.display()))?;
    let text = |c: &str| -> Option<String> {
        df.column(c)
            .ok()
            .and_then(|s| s.str().ok().and_then(|s| s.get(0).map(str::to_string)))
    };
    let mut figures = BTreeMap::new();
    for &f in FIGURES {
        if let Some(v) = text(f).and_then(|t| t.trim().parse::<f64>().ok()) {
            figures.insert(f, v);
        }
    }
    let failed_criteria = df
        .get_column_names()
        .iter()
        .filter_map(|c| {
            c.strip_suffix(col::PASSED_SUFFIX)
                .map(|n| (c.to_string(), n))
        })
        .filter(|(c, _)| text(c).is_some_and(|v| v.eq_ignore_ascii_case("false")))
        .map(|(_, n)| n.to_ascii_lowercase())
        .collect();
    Ok(IterationData {
        folder: name.to_string(),
        path: folder.to_path_buf(),
        sustainable: text(col::EVALUATION).map(|v| v.eq_ignore_ascii_case("true")),
        verdict_reason: text(col::VERDICT_REASON).unwrap_or_default(),
        completion: text(col::COMPLETION).unwrap_or_default(),
        unusable,
        figures,
        failed_criteria,
        requests: Vec::new(),
        server: None,
        gpu: None,
    })
}

/// Index of each iteration by the path string polars reports for its file.
fn by_path(all: &mut [&mut IterationData], file: &str) -> (Vec<PathBuf>, HashMap<String, usize>) {
    let mut paths = Vec::new();
    let mut index = HashMap::new();
    for (i, it) in all.iter().enumerate() {
        let p = it.path.join(file);
        if p.is_file() {
            index.insert(p.to_string_lossy().into_owned(), i);
            paths.push(p);
        }
    }
    (paths, index)
}

fn f64_col(name: &str) -> Expr {
    col(name).cast(DataType::Float64)
}

/// One lazy scan over every `output.csv`, projected to the four columns the plots use.
fn attach_requests(all: &mut [&mut IterationData]) -> Result<()> {
    let (paths, index) = by_path(all, "output.csv");
    if paths.is_empty() {
        return Ok(());
    }
    let df = scan_text(&paths)
        .with_include_file_paths(Some("file".into()))
        .finish()
        .and_then(|lf| {
            lf.select([
                col("file"),
                f64_col("intended_send_s"),
                f64_col("ttft_ms"),
                f64_col("e2e_ms"),
                col("success"),
            ])
            .collect()
        })
        .context("reading the output.csv files")?;
    let files = df.column("file")?.str()?;
    let send = df.column("intended_send_s")?.f64()?;
    let ttft = df.column("ttft_ms")?.f64()?;
    let e2e = df.column("e2e_ms")?.f64()?;
    let success = df.column("success")?.str()?;
    for row in 0..df.height() {
        let (Some(file), Some(send_s)) = (files.get(row), send.get(row)) else {
            continue;
        };
        if let Some(&i) = index.get(file) {
            all[i].requests.push(RequestPoint {
                send_s,
                ttft_ms: ttft.get(row),
                e2e_ms: e2e.get(row),
                success: success
                    .get(row)
                    .is_some_and(|s| s.eq_ignore_ascii_case("true")),
            });
        }
    }
    Ok(())
}

/// One lazy scan over every `server_metrics.csv`, filtered to the queue gauges.
fn attach_server(all: &mut [&mut IterationData]) -> Result<()> {
    let (paths, index) = by_path(all, "server_metrics.csv");
    if paths.is_empty() {
        return Ok(());
    }
    let waiting = "vllm:num_requests_waiting";
    let running = "vllm:num_requests_running";
    let df = scan_text(&paths)
        .with_include_file_paths(Some("file".into()))
        .finish()
        .and_then(|lf| {
            lf.filter(
                col("metric")
                    .eq(lit(waiting))
                    .or(col("metric").eq(lit(running))),
            )
            .select([
                col("file"),
                f64_col("time_s"),
                col("metric"),
                f64_col("value"),
            ])
            .collect()
        })
        .context("reading the server_metrics.csv files")?;
    for &i in index.values() {
        all[i].server = Some(ServerSeries::default());
    }
    let files = df.column("file")?.str()?;
    let time = df.column("time_s")?.f64()?;
    let metric = df.column("metric")?.str()?;
    let value = df.column("value")?.f64()?;
    for row in 0..df.height() {
        let (Some(file), Some(t), Some(m), Some(v)) = (
            files.get(row),
            time.get(row),
            metric.get(row),
            value.get(row),
        ) else {
            continue;
        };
        let Some(series) = index.get(file).and_then(|&i| all[i].server.as_mut()) else {
            continue;
        };
        if m == waiting {
            series.waiting.push((t, v));
        } else {
            series.running.push((t, v));
        }
    }
    Ok(())
}

/// One lazy scan over every `gpu_metrics.csv`, grouped by file and poll: the power summed over
/// the GPUs, how many GPUs lacked it and how many rows the poll had.
fn attach_gpus(all: &mut [&mut IterationData]) -> Result<()> {
    let (paths, index) = by_path(all, "gpu_metrics.csv");
    if paths.is_empty() {
        return Ok(());
    }
    let df = scan_text(&paths)
        .with_include_file_paths(Some("file".into()))
        .finish()
        .and_then(|lf| {
            // Grouped by the time as written: the rows of one poll carry the same text.
            lf.group_by([col("file"), col("time_s")])
                .agg([
                    f64_col("power_w").sum().alias("power_w"),
                    f64_col("power_w")
                        .null_count()
                        .cast(DataType::UInt32)
                        .alias("missing"),
                    len().cast(DataType::UInt32).alias("rows"),
                ])
                .select([
                    col("file"),
                    f64_col("time_s"),
                    col("power_w"),
                    col("missing"),
                    col("rows"),
                ])
                .collect()
        })
        .context("reading the gpu_metrics.csv files")?;
    let mut polls: Vec<Vec<(f64, f64, u32, u32)>> = vec![Vec::new(); all.len()];
    let files = df.column("file")?.str()?;
    let time = df.column("time_s")?.f64()?;
    let power = df.column("power_w")?.f64()?;
    let missing = df.column("missing")?.u32()?;
    let rows = df.column("rows")?.u32()?;
    for row in 0..df.height() {
        let (Some(file), Some(t), Some(w), Some(m), Some(n)) = (
            files.get(row),
            time.get(row),
            power.get(row),
            missing.get(row),
            rows.get(row),
        ) else {
            continue;
        };
        if let Some(&i) = index.get(file) {
            polls[i].push((t, w, m, n));
        }
    }
    for &i in index.values() {
        let gpus = polls[i].iter().map(|p| p.3).max().unwrap_or(0);
        let mut power_w: Vec<(f64, f64)> = polls[i]
            .iter()
            .filter(|&&(_, _, m, n)| m == 0 && n == gpus)
            .map(|&(t, w, _, _)| (t, w))
            .collect();
        power_w.sort_by(|a, b| a.0.total_cmp(&b.0));
        all[i].gpu = Some(GpuSeries { gpus, power_w });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iteration(path: &Path) -> IterationData {
        IterationData {
            folder: file_name(path),
            path: path.to_path_buf(),
            sustainable: None,
            verdict_reason: String::new(),
            completion: String::new(),
            unusable: false,
            figures: BTreeMap::new(),
            failed_criteria: Vec::new(),
            requests: Vec::new(),
            server: None,
            gpu: None,
        }
    }

    #[test]
    fn gpu_power_is_summed_per_poll_and_incomplete_polls_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with");
        let without = dir.path().join("without");
        let silent = dir.path().join("silent");
        for d in [&with, &without, &silent] {
            fs::create_dir_all(d).unwrap();
        }
        // Telemetry that never answered: the header alone.
        fs::write(
            silent.join("gpu_metrics.csv"),
            "time_s,gpu,power_w,energy_mj,util_pct,memory_used_mib\n",
        )
        .unwrap();
        // Two GPUs, rows out of time order; at 0.4 s GPU 1 gave no power, at 0.6 s it gave no
        // row at all: both polls would be dips, so neither is plotted.
        fs::write(
            with.join("gpu_metrics.csv"),
            "time_s,gpu,power_w,energy_mj,util_pct,memory_used_mib\n\
             0.200000,host:1,70.5,,10,1024\n\
             0.000000,host:0,60,1000,0,1024\n\
             0.000000,host:1,61,1000,0,1024\n\
             0.200000,host:0,80.25,2000,20,1100\n\
             0.400000,host:0,90,3000,30,1100\n\
             0.400000,host:1,,3000,30,1100\n\
             0.600000,host:0,95,4000,30,1100\n",
        )
        .unwrap();
        let mut a = iteration(&with);
        let mut b = iteration(&without);
        let mut c = iteration(&silent);
        attach_gpus(&mut [&mut a, &mut b, &mut c]).unwrap();
        let g = a.gpu.expect("gpu_metrics.csv exists");
        assert_eq!(g.gpus, 2);
        assert_eq!(g.power_w, vec![(0.0, 121.0), (0.2, 150.75)]);
        assert_eq!(b.gpu, None, "no gpu_metrics.csv, no series");
        assert_eq!(
            c.gpu,
            Some(GpuSeries::default()),
            "a header alone is an empty series"
        );
    }
}
