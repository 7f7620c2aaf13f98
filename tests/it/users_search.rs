//! Whole searches over closed-loop users (`LOAD=users`) against the simulator, with an answer
//! known in advance: the engine runs at most 8 sequences, and requests of 64:32 (equal
//! lengths) finish in waves, so up to 8 users every request is admitted within a step or two
//! (TTFT p50 about 30 ms at time scale 2), while a 9th user's request waits a whole wave for a
//! slot (about 450 ms). With `SLO_TTFT_P99_MS=200` the most users meeting the SLO is the batch
//! size, 8. From `USERS_START=4` doubling: 4 and 8 pass, 16 fails, then bisection on whole
//! numbers 12, 10, 9 (all fail) until the bounds are one user apart.

use super::support::fresh_dir;
use mst_search::config::Config;
use mst_search::error::Error;
use mst_search::experiment::{self, RunOptions};
use mst_search::output::SizeOutcome;
use mst_search::search::LoadUnit;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn engine() -> EngineConfig {
    EngineConfig::small(8, 2.0)
}

fn pairs(url: &str, out: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("URL", url.to_string()),
        ("OUTPUT_DIR", out.display().to_string()),
        ("TOKENS_LIST", "64:32".into()),
        ("LOAD", "users".into()),
        ("USERS_START", "4".into()),
        ("SLO_TTFT_P99_MS", "200".into()),
        ("CONFIRM", "none".into()),
        ("DURATION", "3s".into()),
        ("FILTER_BUFFER", "0.5s".into()),
        ("DRAIN_TIMEOUT", "2s".into()),
        ("COOLDOWN", "0s".into()),
        ("SETTLE_TIMEOUT", "0s".into()),
        ("MAX_ITERATIONS", "10".into()),
        ("SEED", "3".into()),
    ]
}

fn config(pairs: &[(&str, String)]) -> Config {
    Config::from_pairs(pairs).expect("valid test config").0
}

const QUIET: RunOptions = RunOptions { quiet: true };

/// (users, verdict) of every iteration the search must run.
const EXPECTED: [(f64, Option<bool>); 6] = [
    (4.0, Some(true)),
    (8.0, Some(true)),
    (16.0, Some(false)),
    (12.0, Some(false)),
    (10.0, Some(false)),
    (9.0, Some(false)),
];

fn path_of(o: &SizeOutcome) -> Vec<(f64, Option<bool>)> {
    o.iterations
        .iter()
        .map(|b| (b.level(), b.sustainable))
        .collect()
}

/// Iterations recorded in `state.json`, 0 while it does not exist yet.
fn recorded(size_dir: &Path) -> usize {
    std::fs::read_to_string(size_dir.join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["iterations"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// The MST in users, its unit in `mst.json` and `summary.csv`, and the SLO breaking above it.
fn check_answer(o: &SizeOutcome, out: &Path) {
    assert_eq!(path_of(o), EXPECTED, "{:?}", path_of(o));
    assert_eq!(o.load_unit, LoadUnit::Users);
    assert_eq!(
        (o.mst_load, o.lower_load, o.upper_load),
        (Some(8.0), Some(8.0), Some(9.0))
    );
    assert_eq!(o.evaluators, ["slo"]);
    assert!(o.reason.contains("users"), "{}", o.reason);
    let failed_at_9 = &o.iterations[5].reason;
    assert!(failed_at_9.contains("SLO_TTFT_P99_MS"), "{failed_at_9}");
    // The request rate measured at 8 users: 8 requests in flight, each about 32 steps of
    // 14-18 ms (time scale 2, one per 0.45-0.6 s): 800-1070 requests/minute.
    let rate = o.mst_req_min.expect("a measured rate at the MST");
    assert!((600.0..1200.0).contains(&rate), "{rate}");
    assert_eq!((o.lower_req_min, o.upper_req_min), (None, None));
    // An iteration's REQ_MIN is what was sent per minute, its LOAD the users.
    let at_8 = &o.iterations[1];
    assert!(at_8.req_min > 300.0, "{at_8:?}");
    // mst.json as written, and summary.csv's row.
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("64_32").join("mst.json")).expect("mst.json"),
    )
    .expect("json");
    assert_eq!(json["load_unit"], "users");
    assert_eq!(json["mst_load"], 8.0);
    let mut csv = csv::Reader::from_path(out.join("summary.csv")).expect("summary.csv");
    let headers = csv.headers().expect("headers").clone();
    let row = csv.records().next().expect("a row").expect("a record");
    let cell = |name: &str| row[headers.iter().position(|h| h == name).expect(name)].to_string();
    assert_eq!(cell("LOAD_UNIT"), "users");
    assert_eq!(cell("MST_LOAD").parse::<f64>().ok(), Some(8.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_users_meeting_the_slo_is_the_batch_size() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let out = fresh_dir("users-search");
    let report = experiment::run(
        config(&pairs(&server.url(), &out)),
        QUIET,
        CancellationToken::new(),
    )
    .await
    .expect("the search runs");
    check_answer(&report.outcomes[0], &out);
    // The server never had more requests at once than the most users tried.
    assert_eq!(server.stats().max_in_flight, 16, "{:?}", server.stats());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_users_search_resumes_to_the_same_answer() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let out = fresh_dir("users-resume");
    let size_dir = out.join("64_32");
    // Interrupt while iteration 4 (12 users) is sending.
    let token = CancellationToken::new();
    let cut = {
        let (token, size_dir) = (token.clone(), size_dir.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            while recorded(&size_dir) < 3 {
                assert!(started.elapsed() < Duration::from_secs(90), "never 3");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            token.cancel();
        })
    };
    let err = experiment::run(config(&pairs(&server.url(), &out)), QUIET, token)
        .await
        .expect_err("interrupted");
    cut.await.unwrap();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert_eq!(recorded(&size_dir), 3);

    // Another USERS_START is another search: refused, naming the key.
    let mut changed = pairs(&server.url(), &out);
    changed.push(("USERS_START", "5".into()));
    let err = experiment::run(config(&changed), QUIET, CancellationToken::new())
        .await
        .expect_err("changed settings");
    assert!(err.to_string().contains("USERS_START"), "{err}");

    let resumed = experiment::run(
        config(&pairs(&server.url(), &out)),
        QUIET,
        CancellationToken::new(),
    )
    .await
    .expect("resumed search");
    let o = &resumed.outcomes[0];
    check_answer(o, &out);
    let numbers: Vec<u32> = o.iterations.iter().map(|b| b.iteration).collect();
    assert_eq!(
        numbers,
        [1, 2, 3, 4, 5, 6],
        "no iteration lost or counted twice"
    );
    server.shutdown().await;
}
