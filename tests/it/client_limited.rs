//! A client that cannot keep its schedule must say so (`CLIENT_LIMITED`) instead of handing the
//! server a verdict: the driver runs a real search against the simulator on a one-thread runtime
//! that a blocking task starves, and the same search without the blocking task as the control.

use super::support::fresh_dir;
use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions, RunReport};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One small search (10 req/s for 1.5 s, at most `iterations` iterations) on a current-thread
/// runtime; with `starve`, a task holds the only thread 30 ms at a time, as a client with no
/// CPU to spare would.
fn search_on_one_thread(out: &Path, starve: bool, iterations: u32) -> RunReport {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let engine = EngineConfig {
            step_fixed_ms: 20.0,
            time_scale: 20.0,
            ..EngineConfig::default()
        };
        let server = SimServer::start(engine, FaultConfig::default())
            .await
            .expect("simulator");
        let hog = starve.then(|| {
            tokio::spawn(async {
                loop {
                    std::thread::sleep(Duration::from_millis(30));
                    tokio::task::yield_now().await;
                }
            })
        });
        let (cfg, _) = Config::from_pairs(&[
            ("URL", server.url()),
            ("DURATION", "1.5s".into()),
            ("FILTER_BUFFER", "0.2s".into()),
            ("COOLDOWN", "0s".into()),
            ("DRAIN_TIMEOUT", "2s".into()),
            ("TOKENS_LIST", "32:8".into()),
            ("REQ_MIN_START", "600".into()),
            ("ARRIVAL", "constant".into()),
            ("CLIENT_LAG_LIMIT_MS", "20".into()),
            ("MAX_ITERATIONS", iterations.to_string()),
            ("OUTPUT_DIR", out.display().to_string()),
        ])
        .expect("valid test config");
        let report = experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new())
            .await
            .expect("the run itself succeeds");
        if let Some(hog) = hog {
            hog.abort();
        }
        server.shutdown().await;
        report
    })
}

/// The single iteration's results.csv as (header, row).
fn results_row(out: &Path) -> (Vec<String>, Vec<String>) {
    let size_dir = out.join("32_8");
    let folders: Vec<PathBuf> = std::fs::read_dir(&size_dir)
        .expect("size folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let mut r = csv::Reader::from_path(folders[0].join("results.csv")).expect("results.csv");
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let row = r
        .records()
        .next()
        .expect("one row")
        .expect("row")
        .iter()
        .map(str::to_string)
        .collect();
    (header, row)
}

fn cell<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("column {name} missing"));
    &row[i]
}

#[test]
fn starved_client_is_client_limited_not_a_server_verdict() {
    let out = fresh_dir("client-limited");
    let report = search_on_one_thread(&out, true, 5);
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.stop, "client-limited", "{}", outcome.reason);
    assert!(report.incomplete(), "a client-limited search exits 1");
    assert_eq!(outcome.iterations.len(), 1, "the search stops at once");
    assert_eq!(outcome.iterations[0].sustainable, None);
    assert_eq!((outcome.mst_req_min, outcome.upper_req_min), (None, None));
    for needle in ["client, not the server", "CLIENT_LAG_LIMIT_MS", "srun"] {
        assert!(
            outcome.reason.contains(needle),
            "{needle}: {}",
            outcome.reason
        );
    }

    let (header, row) = results_row(&out);
    assert_eq!(cell(&header, &row, "CLIENT_LIMITED"), "TRUE");
    let lag_p99: f64 = cell(&header, &row, "LAG_P99_MS").parse().expect("lag");
    assert!(lag_p99 > 20.0, "lag p99 {lag_p99}");
    assert!(cell(&header, &row, "CLIENT_LIMIT_REASON").contains("p99 schedule lag"));
    assert!(
        cell(&header, &row, "VERDICT_REASON").starts_with("CLIENT_LIMITED"),
        "{row:?}"
    );
    // Filled on Linux (10 ms resolution, so it may be 0 for so short an iteration).
    let cpu: Result<f64, _> = cell(&header, &row, "CLIENT_CPU_S").parse();
    assert!(cpu.is_ok() || !cfg!(target_os = "linux"), "{row:?}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn same_search_without_starvation_gets_a_server_verdict() {
    let out = fresh_dir("client-not-limited");
    let report = search_on_one_thread(&out, false, 1);
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.stop, "iteration-cap", "{}", outcome.reason);
    assert!(outcome.iterations[0].sustainable.is_some());
    let (header, row) = results_row(&out);
    assert_eq!(cell(&header, &row, "CLIENT_LIMITED"), "FALSE", "{row:?}");
    let _ = std::fs::remove_dir_all(&out);
}
