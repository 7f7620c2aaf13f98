//! A client that cannot keep its schedule must say so (`CLIENT_LIMITED`) instead of handing the
//! server a verdict: the driver runs a real search against the simulator on a one-thread runtime
//! that a blocking task starves, and the same search without the blocking task as the control.
//! A single stall is not a client that falls behind: it must not end a search.

use super::support::fresh_dir;
use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions, RunReport};
use mst_search::search::StopKind;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How the client's only thread is taken from it during the search.
#[derive(Clone, Copy)]
enum Hog {
    /// Never.
    None,
    /// 100 ms at a time, all the time, as a client with no CPU to spare: most sends are late.
    Starve,
    /// Once, for `ms` milliseconds, `after_ms` into the search: one stall on a busy machine.
    Once { after_ms: u64, ms: u64 },
}

/// One small search (`req_min` for `duration`, at most `iterations` iterations) on a
/// current-thread runtime that `hog` takes the thread from.
fn search_on_one_thread(
    out: &Path,
    hog: Hog,
    iterations: u32,
    req_min: u32,
    duration: &str,
    lag_limit_ms: u32,
) -> RunReport {
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
        let hog = match hog {
            Hog::None => None,
            Hog::Starve => Some(tokio::spawn(async {
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    tokio::task::yield_now().await;
                }
            })),
            Hog::Once { after_ms, ms } => Some(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                std::thread::sleep(Duration::from_millis(ms));
            })),
        };
        let (cfg, _) = Config::from_pairs(&[
            ("URL", server.url()),
            ("DURATION", duration.into()),
            ("FILTER_BUFFER", "0.2s".into()),
            ("COOLDOWN", "0s".into()),
            ("DRAIN_TIMEOUT", "2s".into()),
            ("TOKENS_LIST", "32:8".into()),
            ("REQ_MIN_START", req_min.to_string()),
            ("ARRIVAL", "constant".into()),
            ("CLIENT_LAG_LIMIT_MS", lag_limit_ms.to_string()),
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

/// The iterations' results.csv rows as (header, row), in order; `expected` folders.
fn results_rows(out: &Path, expected: usize) -> Vec<(Vec<String>, Vec<String>)> {
    let size_dir = out.join("32_8");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&size_dir)
        .expect("size folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert_eq!(folders.len(), expected, "{folders:?}");
    folders.iter().map(|f| results_row(f)).collect()
}

fn results_row(folder: &Path) -> (Vec<String>, Vec<String>) {
    let mut r = csv::Reader::from_path(folder.join("results.csv")).expect("results.csv");
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
    let report = search_on_one_thread(&out, Hog::Starve, 5, 600, "1.5s", 20);
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.stop, StopKind::ClientLimited, "{}", outcome.reason);
    assert!(report.incomplete(), "a client-limited search exits 1");
    assert_eq!(
        outcome.iterations.len(),
        2,
        "the search re-runs the iteration once, then stops"
    );
    assert!(outcome.iterations.iter().all(|i| i.sustainable.is_none()));
    assert_eq!(outcome.iterations[1].req_min, outcome.iterations[0].req_min);
    assert_eq!((outcome.mst_req_min, outcome.upper_req_min), (None, None));
    for needle in ["client, not the server", "CLIENT_LAG_LIMIT_MS", "srun"] {
        assert!(
            outcome.reason.contains(needle),
            "{needle}: {}",
            outcome.reason
        );
    }

    let rows = results_rows(&out, 2);
    let (header, row) = &rows[1];
    let (header, row) = (header.as_slice(), row.as_slice());
    assert_eq!(cell(header, row, "CLIENT_LIMITED"), "TRUE");
    assert_eq!(cell(header, row, "JUDGEMENT"), "CLIENT_LIMITED");
    let lag_p99: f64 = cell(header, row, "LAG_P99_MS").parse().expect("lag");
    assert!(lag_p99 > 20.0, "lag p99 {lag_p99}");
    assert!(
        cell(header, row, "CLIENT_LIMIT_REASON").contains("requests were sent more than"),
        "{row:?}"
    );
    assert!(
        cell(header, row, "VERDICT_REASON").starts_with("CLIENT_LIMITED"),
        "{row:?}"
    );
    // Filled on Linux (10 ms resolution, so it may be 0 for so short an iteration).
    let cpu: Result<f64, _> = cell(header, row, "CLIENT_CPU_S").parse();
    assert!(cpu.is_ok() || !cfg!(target_os = "linux"), "{row:?}");
}

#[test]
fn same_search_without_starvation_gets_a_server_verdict() {
    let out = fresh_dir("client-not-limited");
    let report = search_on_one_thread(&out, Hog::None, 1, 600, "1.5s", 20);
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.stop, StopKind::IterationCap, "{}", outcome.reason);
    assert!(outcome.iterations[0].sustainable.is_some());
    let (header, row) = &results_rows(&out, 1)[0];
    assert_eq!(cell(header, row, "CLIENT_LIMITED"), "FALSE", "{row:?}");
}

/// Issue 14: on a busy 2-core machine the first iteration of a 5 req/s search (100 requests)
/// was `CLIENT_LIMITED` and ended the search: the p99 of 100 lags is nearly their maximum, so
/// one stall decided it. One 450-ms stall delays two or three sends; it is not a client that
/// falls behind.
#[test]
fn one_hiccup_in_a_5_req_s_iteration_of_100_requests_is_not_client_limited() {
    let out = fresh_dir("client-hiccup");
    let hiccup = Hog::Once {
        after_ms: 8_000,
        ms: 450,
    };
    // A limit of 100 ms: a loaded debug build's scheduling noise stays under it, the stall's
    // two or three late sends do not (the old p99 rule fired on exactly those).
    let report = search_on_one_thread(&out, hiccup, 1, 300, "20s", 100);
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.stop, StopKind::IterationCap, "{}", outcome.reason);
    let (header, row) = &results_rows(&out, 1)[0];
    assert_eq!(cell(header, row, "TOTAL_REQUESTS"), "100", "{row:?}");
    // The stall must show: at least one send later than the limit (with two or three late,
    // the old p99 rule fired; on a loaded machine the stall may delay only one beyond 100 ms).
    let lag_max: f64 = cell(header, row, "LAG_MAX_MS").parse().expect("lag");
    assert!(
        lag_max > 100.0,
        "the stall delayed at least one send past the limit: {lag_max} ms"
    );
    assert_eq!(cell(header, row, "CLIENT_LIMITED"), "FALSE", "{row:?}");
    assert!(outcome.iterations[0].sustainable.is_some(), "{row:?}");
}
