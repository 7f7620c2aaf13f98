//! Checkpoint and resume: a search interrupted after iteration k (through the library's
//! cancellation token, or SIGTERM to the binary) and run again ends with the same iteration
//! list and MST as an uninterrupted run with the same seed, with no iteration lost or counted
//! twice, and the interrupted iteration's partial files kept aside.
//!
//! Making "the same MST" a fair assertion: the simulator's verdicts near capacity vary with
//! timing (and with the load of a shared 2-core machine), so these searches visit only rates
//! far from it — 0.1 × capacity (pass), 0.5 × (pass), 2.5 × (fail, confirmed) — judged with
//! loose thresholds (queueing growth above max(1 s, 10 × its baseline), completions below 50 %
//! of sends; at 2.5 × at most 40 % can complete), and a
//! relative stop threshold of 0.85 ends the search there. Every verdict is then clear-cut and
//! the whole path is known in advance; the tests check it against that expectation and
//! against the uninterrupted run. Arrival schedules come from
//! `iteration_seed(SEED, size, iteration)`, so the re-run of an interrupted iteration sends
//! exactly the traffic the uninterrupted run sent.

use super::support::fresh_dir;
use mst_search::config::Config;
use mst_search::error::Error;
use mst_search::experiment::{self, RunOptions, Start};
use mst_search::output::SizeOutcome;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn engine() -> EngineConfig {
    EngineConfig::small(16, 5.0)
}

/// The start rate (0.1 × the analytic capacity of 64:32) of the clear-cut search.
pub fn start_rate() -> f64 {
    (capacity(&engine(), 64, 32).req_per_min * 0.1).round()
}

/// `(KEY, value)` pairs of the clear-cut search against `url`, writing into `out`.
pub fn pairs(url: &str, out: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("URL", url.to_string()),
        ("TOKENS_LIST", "64:32".into()),
        ("REQ_MIN_START", start_rate().to_string()),
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
        // The traffic of an iteration must not depend on timing: an early abort would stop
        // sending at a moment that differs between the run and its replay.
        ("EARLY_ABORT", "false".into()),
        // These searches test checkpoints and SLURM, often as several debug-build processes at
        // once on two cores: the client's self-certification (tested in client_limited.rs) must
        // not stop them for lag that only this test machine causes.
        ("CLIENT_LAG_LIMIT_MS", "1000".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ]
}

/// The same pairs as an env file's text.
pub fn env_text(url: &str, out: &Path) -> String {
    pairs(url, out)
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

/// (rate, stage, attempt, verdict) of every iteration the clear-cut search must run.
pub fn expected_path() -> Vec<(f64, u8, u32, Option<bool>)> {
    let r0 = start_rate();
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

pub fn path_of(o: &SizeOutcome) -> Vec<(f64, u8, u32, Option<bool>)> {
    o.iterations
        .iter()
        .map(|b| (b.req_min, b.stage, b.attempt, b.sustainable))
        .collect()
}

/// Iteration folders directly in the size folder (the counted ones).
pub fn counted_folders(size_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(size_dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "interrupted")
        .collect();
    v.sort();
    v
}

/// Iterations recorded in `state.json`, 0 while it does not exist yet.
pub fn recorded(size_dir: &Path) -> usize {
    std::fs::read_to_string(size_dir.join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["iterations"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Waits until `state.json` records `k` iterations.
pub async fn wait_recorded(size_dir: &Path, k: usize, within: Duration) {
    let started = Instant::now();
    while recorded(size_dir) < k {
        assert!(
            started.elapsed() < within,
            "{} never recorded {k} iterations",
            size_dir.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `mst-search --env ENV --quiet` as a child process, its output captured.
pub fn spawn_search(env: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_mst-search"))
        .arg("--env")
        .arg(env)
        .arg("--quiet")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child without blocking the runtime that serves the simulator.
pub async fn finish(child: std::process::Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

fn config(pairs: &[(&str, String)]) -> Config {
    Config::from_pairs(pairs).expect("valid test config").0
}

fn column(path: &Path, name: &str) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let i = r.headers().unwrap().iter().position(|h| h == name).unwrap();
    r.records().map(|x| x.unwrap()[i].to_string()).collect()
}

const QUIET: RunOptions = RunOptions { quiet: true };

/// The clear-cut search against `url` into `out`, to the end.
async fn search(url: &str, out: &Path) -> mst_search::error::Result<experiment::RunReport> {
    experiment::run(config(&pairs(url, out)), QUIET, CancellationToken::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_search_resumes_to_the_same_iterations_and_mst() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let reference_dir = fresh_dir("resume-ref");
    let reference = search(&server.url(), &reference_dir)
        .await
        .expect("uninterrupted search");
    let reference = &reference.outcomes[0];
    assert_eq!(path_of(reference), expected_path(), "{reference:?}");

    // Interrupt while iteration 4 (the confirmation of the first fail) is sending: state.json
    // then holds iterations 1 to 3 and a search waiting for that confirmation.
    let out = fresh_dir("resume-cut");
    let size_dir = out.join("64_32");
    let token = CancellationToken::new();
    let cut = {
        let (token, size_dir) = (token.clone(), size_dir.clone());
        tokio::spawn(async move {
            wait_recorded(&size_dir, 3, Duration::from_secs(60)).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            token.cancel();
        })
    };
    let err = experiment::run(config(&pairs(&server.url(), &out)), QUIET, token)
        .await
        .expect_err("interrupted");
    cut.await.unwrap();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert_eq!(err.exit_code(), 4);
    assert_eq!(recorded(&size_dir), 3);
    assert_eq!(
        counted_folders(&size_dir).len(),
        3,
        "the partial is not mixed in"
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(size_dir.join("interrupted"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].join("INTERRUPTED.txt").is_file());
    assert_eq!(
        column(&aside[0].join("results.csv"), "COMPLETION"),
        ["INTERRUPTED"]
    );
    assert!(!size_dir.join("mst.json").exists(), "no answer yet");

    // The same command again: continues with the confirmation, iteration 4.
    let resumed = search(&server.url(), &out).await.expect("resumed search");
    let resumed = &resumed.outcomes[0];
    assert_eq!(path_of(resumed), path_of(reference), "same iterations");
    assert_eq!(resumed.mst_req_min, reference.mst_req_min);
    assert_eq!(resumed.upper_req_min, reference.upper_req_min);
    let numbers: Vec<u32> = resumed.iterations.iter().map(|b| b.iteration).collect();
    assert_eq!(numbers, [1, 2, 3, 4], "no iteration lost or counted twice");
    let folders = counted_folders(&size_dir);
    assert_eq!(folders.len(), 4, "{folders:?}");
    for b in &resumed.iterations {
        assert!(folders.contains(&b.folder), "{} missing", b.folder);
    }
    // The re-run iteration 4 replays the uninterrupted run's traffic exactly, and the
    // interrupted attempt had started on the same schedule.
    let sends = |dir: &Path| column(&dir.join("output.csv"), "intended_send_s");
    let fourth_ref = sends(
        &reference_dir
            .join("64_32")
            .join(&reference.iterations[3].folder),
    );
    let fourth = sends(&size_dir.join(&resumed.iterations[3].folder));
    assert_eq!(fourth, fourth_ref);
    let partial = sends(&aside[0]);
    assert!(!partial.is_empty() && partial.len() < fourth.len());
    assert_eq!(partial[..], fourth[..partial.len()]);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(size_dir.join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["set_aside"][0]["iteration"], 4);
    assert_eq!(state["runs"].as_array().unwrap().len(), 2);
    assert!(state["finished_at"].is_string());

    // Once more: the finished size is skipped, nothing new is written.
    let again = search(&server.url(), &out).await.expect("finished search");
    assert_eq!(again.outcomes[0], *resumed);
    assert_eq!(counted_folders(&size_dir), folders);

    // A changed setting is refused, naming it; --fresh sets everything aside and starts over.
    let mut changed = pairs(&server.url(), &out);
    changed.push(("DURATION", "3s".into()));
    let err = experiment::run(config(&changed), QUIET, CancellationToken::new())
        .await
        .expect_err("changed settings");
    let msg = err.to_string();
    assert!(
        msg.contains("DURATION was 2s and is now 3s") && msg.contains("--fresh"),
        "{msg}"
    );
    assert_eq!(err.exit_code(), 2);
    changed.push(("MAX_ITERATIONS", "1".into()));
    let fresh = experiment::run_with(
        config(&changed),
        QUIET,
        Start::Fresh,
        CancellationToken::new(),
    )
    .await
    .expect("fresh start");
    assert_eq!(fresh.outcomes[0].iterations.len(), 1);
    let previous: Vec<PathBuf> = std::fs::read_dir(out.join("previous"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(previous.len(), 1);
    assert_eq!(counted_folders(&previous[0].join("64_32")), folders, "kept");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_saves_state_and_exits_4_within_seconds_then_the_rerun_finishes() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let out = fresh_dir("resume-sigterm");
    let size_dir = out.join("64_32");
    let env = out.with_extension("env");
    std::fs::write(&env, env_text(&server.url(), &out)).unwrap();
    let run = || spawn_search(&env);
    let child = run();
    wait_recorded(&size_dir, 1, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let done = finish(child).await;
    let took = signalled.elapsed();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(4), "{stderr}");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert_eq!(recorded(&size_dir), 1);
    assert!(size_dir.join("interrupted").is_dir());

    let child = run();
    let done = finish(child).await;
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let outcome: SizeOutcome =
        serde_json::from_str(&std::fs::read_to_string(size_dir.join("mst.json")).unwrap()).unwrap();
    assert_eq!(path_of(&outcome), expected_path());
    assert_eq!(outcome.mst_req_min, Some(expected_path()[1].0));
    assert_eq!(counted_folders(&size_dir).len(), 4);
    server.shutdown().await;
}
