//! The fault matrix (issue 9): one test per fault a long unattended search meets. Every test
//! also reconciles the files with what the simulator did: each request sent appears exactly
//! once in an `output.csv`, with the error kind the injected fault must produce.

use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions, RunReport};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, SimStats, capacity};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

// This file is loaded by `#[path]` from `slow.rs`, so its submodules name their files.
#[path = "reliability/counts.rs"]
mod counts;
#[path = "reliability/inputs.rs"]
mod inputs;
#[path = "reliability/outage.rs"]
mod outage;
#[path = "reliability/real_servers.rs"]
mod real_servers;

/// Scaled time: the simulator runs 10× faster than the wall clock.
fn engine() -> EngineConfig {
    EngineConfig::small(16, 10.0)
}

/// The size every test here uses.
const SIZE: (u32, u32) = (64, 32);

/// Scratch folders of this module are named `rel-…`, apart from other areas' names.
fn fresh_dir(name: &str) -> super::support::FreshDir {
    super::support::fresh_dir(&format!("rel-{name}"))
}

/// A one-iteration search at `load` × capacity: enough to see how one iteration records a
/// fault. `extra` pairs override the defaults.
fn one_iteration(server: &SimServer, out: &Path, load: f64, extra: &[(&str, String)]) -> Config {
    let cap = capacity(server.config(), SIZE.0, SIZE.1).req_per_min;
    let mut pairs: Vec<(&str, String)> = vec![
        ("URL", server.url()),
        ("DURATION", "3s".into()),
        ("FILTER_BUFFER", "0.5s".into()),
        ("COOLDOWN", "0s".into()),
        ("DRAIN_TIMEOUT", "1s".into()),
        ("TOKENS_LIST", format!("{}:{}", SIZE.0, SIZE.1)),
        ("REQ_MIN_START", format!("{:.0}", cap * load)),
        ("QUEUE_GROWTH_MIN_MS", "25".into()),
        ("MAX_ITERATIONS", "1".into()),
        ("SEED", "11".into()),
        // Debug build on shared cores: client certification is tested elsewhere.
        ("CLIENT_LAG_LIMIT_MS", "1000".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k, v.clone()));
    }
    Config::from_pairs(&pairs).expect("valid test config").0
}

async fn run(cfg: Config) -> RunReport {
    experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new())
        .await
        .expect("the search runs")
}

use super::support::read_rows;

/// Every complete iteration folder under `out` (any size), in name order.
fn iteration_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let Ok(sizes) = std::fs::read_dir(out) else {
        return dirs;
    };
    for size in sizes.flatten().filter(|e| e.path().is_dir()) {
        for it in std::fs::read_dir(size.path()).unwrap().flatten() {
            let name = it.file_name().to_string_lossy().into_owned();
            if it.path().is_dir() && !name.starts_with('.') {
                dirs.push(it.path());
            }
        }
    }
    dirs.sort();
    dirs
}

/// Reads every iteration's `output.csv`, checks that request indices run 0..n without a gap or
/// a repeat in each, and returns the count of rows per error kind ("" = success).
fn reconcile_rows(out: &Path) -> BTreeMap<String, u64> {
    let mut kinds = BTreeMap::new();
    for dir in iteration_dirs(out) {
        let rows = read_rows(&dir.join("output.csv"));
        let ids: BTreeSet<u64> = rows
            .iter()
            .map(|r| r["request_idx"].parse().unwrap())
            .collect();
        assert_eq!(
            ids.len(),
            rows.len(),
            "a request twice in {}",
            dir.display()
        );
        assert_eq!(
            ids,
            (0..rows.len() as u64).collect(),
            "request indices with a gap in {}",
            dir.display()
        );
        for r in &rows {
            *kinds.entry(r["error_kind"].clone()).or_insert(0) += 1;
        }
    }
    kinds
}

fn kind(kinds: &BTreeMap<String, u64>, k: &str) -> u64 {
    kinds.get(k).copied().unwrap_or(0)
}

/// Requests the simulator received on its generation endpoints: accepted by the engine or
/// refused with an injected status.
fn received(stats: &SimStats) -> u64 {
    stats.total_requests + stats.faults.http_500 + stats.faults.http_429
}
