//! Whole searches in multi-turn sessions mode (`SESSION_TURNS=2`, `API=chat`): the answer is in
//! sessions per minute, and a search interrupted mid-way resumes to the same iterations and MST.
//!
//! As in `resume.rs`, the searches visit only rates far from capacity so every verdict is
//! clear-cut: 0.1 × and 0.5 × the session capacity (pass) and 2.5 × (fail, confirmed), where the
//! session capacity is taken as the request capacity of the size over `SESSION_TURNS` (the
//! second turn's longer prompt makes the real one somewhat lower, which only sharpens the fail).

use super::resume::{counted_folders, engine, recorded, wait_recorded};
use super::support::fresh_dir;
use mst_search::config::Config;
use mst_search::error::Error;
use mst_search::experiment::{self, RunOptions};
use mst_search::output::SizeOutcome;
use mst_search::sim::{FaultConfig, SimServer, capacity};
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TURNS: u32 = 2;

/// 0.1 × the session capacity of 64:32, sessions/min.
fn start_sessions_min() -> f64 {
    (capacity(&engine(), 64, 32).req_per_min / f64::from(TURNS) * 0.1).round()
}

fn pairs(url: &str, out: &Path, turns: u32) -> Vec<(&'static str, String)> {
    vec![
        ("URL", url.to_string()),
        ("API", "chat".into()),
        ("SESSION_TURNS", turns.to_string()),
        ("TOKENS_LIST", "64:32".into()),
        ("REQ_MIN_START", start_sessions_min().to_string()),
        ("REQ_MIN_INCREASE_MULTIPLIER", "5".into()),
        ("THRESHOLD_TYPE", "relative".into()),
        ("STOP_THRESHOLD", "0.85".into()),
        ("CONFIRM", "fail".into()),
        ("DURATION", "2s".into()),
        ("FILTER_BUFFER", "0.3s".into()),
        ("COOLDOWN", "0s".into()),
        ("DRAIN_TIMEOUT", "1s".into()),
        ("QUEUE_GROWTH_MIN_MS", "1000".into()),
        ("QUEUE_GROWTH_WINDOW_PCT", "100".into()),
        ("THROUGHPUT_MIN_PCT", "50".into()),
        ("MAX_ITERATIONS", "8".into()),
        ("SEED", "11".into()),
        ("EARLY_ABORT", "false".into()),
        ("CLIENT_LAG_LIMIT_MS", "1000".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ]
}

fn config(pairs: &[(&str, String)]) -> Config {
    Config::from_pairs(pairs).expect("valid test config").0
}

const QUIET: RunOptions = RunOptions { quiet: true };

/// (level, stage, attempt, verdict) the clear-cut search must run, levels in sessions/min.
fn expected_path() -> Vec<(f64, u8, u32, Option<bool>)> {
    let r0 = start_sessions_min();
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let r1 = round2(r0 * 5.0);
    let r2 = round2(r1 * 5.0);
    vec![
        (r0, 1, 1, Some(true)),
        (r1, 1, 1, Some(true)),
        (r2, 1, 1, Some(false)),
        (r2, 1, 2, Some(false)),
    ]
}

/// (level, stage, attempt, verdict) of every iteration run; the level in sessions/min (a
/// brief's `req_min` is the requests sent per minute outside rate searches).
fn path_of(o: &SizeOutcome) -> Vec<(f64, u8, u32, Option<bool>)> {
    o.iterations
        .iter()
        .map(|b| (b.level(), b.stage, b.attempt, b.sustainable))
        .collect()
}

fn mst_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("64_32").join("mst.json")).expect("mst.json");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_search_ends_with_an_mst_in_sessions_per_minute() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let out = fresh_dir("sessions-search");
    let report = experiment::run(
        config(&pairs(&server.url(), &out, TURNS)),
        QUIET,
        CancellationToken::new(),
    )
    .await
    .expect("a session search");
    let outcome = &report.outcomes[0];
    assert_eq!(path_of(outcome), expected_path(), "{outcome:?}");
    // The answer is the highest passing level, written with its unit.
    let mst = mst_json(&out);
    let level = expected_path()[1].0;
    assert_eq!(mst["mst_load"], serde_json::json!(level), "{mst}");
    assert_eq!(mst["load_unit"], "sessions_min", "{mst}");
    // Its request rate is what the iterations at that level measured: up to 2 turns a session.
    let req_min = mst["mst_req_min"].as_f64().unwrap();
    assert!(
        req_min > level && req_min <= f64::from(TURNS) * level * 1.5,
        "{req_min} req/min at {level} sessions/min"
    );
    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary.csv");
    assert!(summary.contains("sessions_min"), "{summary}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_session_search_resumes_to_the_same_iterations_and_mst() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let out = fresh_dir("sessions-resume");
    let size_dir = out.join("64_32");
    let token = CancellationToken::new();
    let cut = {
        let (token, size_dir) = (token.clone(), size_dir.clone());
        tokio::spawn(async move {
            wait_recorded(&size_dir, 2, Duration::from_secs(60)).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            token.cancel();
        })
    };
    let err = experiment::run(config(&pairs(&server.url(), &out, TURNS)), QUIET, token)
        .await
        .expect_err("interrupted");
    cut.await.unwrap();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert_eq!(recorded(&size_dir), 2);
    assert_eq!(counted_folders(&size_dir).len(), 2);

    // Another number of turns is other traffic: the checkpoint refuses it, naming the key.
    let refused = experiment::run(
        config(&pairs(&server.url(), &out, TURNS + 1)),
        QUIET,
        CancellationToken::new(),
    )
    .await
    .expect_err("another SESSION_TURNS");
    assert!(refused.to_string().contains("SESSION_TURNS"), "{refused}");

    let resumed = experiment::run(
        config(&pairs(&server.url(), &out, TURNS)),
        QUIET,
        CancellationToken::new(),
    )
    .await
    .expect("resumed search");
    let resumed = &resumed.outcomes[0];
    assert_eq!(path_of(resumed), expected_path(), "{resumed:?}");
    assert_eq!(counted_folders(&size_dir).len(), expected_path().len());
    let mst = mst_json(&out);
    assert_eq!(mst["load_unit"], "sessions_min", "{mst}");
    assert_eq!(
        mst["mst_load"],
        serde_json::json!(expected_path()[1].0),
        "{mst}"
    );
    server.shutdown().await;
}
