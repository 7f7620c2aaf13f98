//! The batch scripts in `slurm/`, submitted with a real `sbatch` to the one-node cluster that
//! `.ci/slurm-up.sh` starts, against the simulator: a checkpoint signal mid-search and a
//! resubmission, a self-requeue, an array over three sizes, two concurrent jobs and the lock,
//! and `serve_and_search.slurm` starting `mst-search simulate` itself.
//!
//! Without `sbatch` (or a cluster answering `sinfo`) these tests print a SKIP line and pass;
//! with `MST_REQUIRE_SLURM=1` (CI) that is a failure instead.

use super::resume::{counted_folders, engine, env_text, expected_path, path_of, wait_recorded};
use super::support::{FreshDir, fresh_dir, skip_or_require};
use mst_search::output::SizeOutcome;
use mst_search::sim::{FaultConfig, SimServer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a cluster is there; a skip is loud, and fatal under `MST_REQUIRE_SLURM=1`.
/// The SLURM tests run one at a time: their jobs all share this machine's two cores, and
/// searches run side by side would judge each other's load (the node declares 8 CPUs so that one
/// test's jobs — the lock test's two — can run together).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A guard that keeps other SLURM tests waiting, or None (after a visible skip message) when
/// there is no cluster.
async fn slurm_ready(test: &str) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if slurm_available(test) {
        Some(ONE_AT_A_TIME.lock().await)
    } else {
        None
    }
}

fn slurm_available(test: &str) -> bool {
    let answers = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if answers("sbatch", &["--version"]) && answers("sinfo", &["-h"]) {
        return true;
    }
    skip_or_require(
        "MST_REQUIRE_SLURM",
        test,
        "sbatch/sinfo not available or no cluster answering (run .ci/slurm-up.sh)",
    );
    false
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `sbatch` a script of `slurm/` with extra sbatch options and script arguments; returns the
/// job id. Logs go to `dir/job-<id>.out`.
fn submit(dir: &Path, script: &str, sbatch_opts: &[&str], args: &[&str]) -> String {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(format!("--chdir={}", dir.display()))
        .arg(format!("--output={}/job-%j.out", dir.display()))
        .arg("--cpus-per-task=1")
        .args(sbatch_opts)
        .arg(repo().join("slurm").join(script))
        .args(args)
        .env("MST_SEARCH_DIR", repo())
        .env("MST_SEARCH_BIN", env!("CARGO_BIN_EXE_mst-search"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sbatch {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    id.split(';').next().unwrap_or_default().to_string()
}

/// One line per job (per task for an array) from `scontrol show job -o`.
fn job_lines(id: &str) -> Vec<String> {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or("")
}

const ENDED: [&str; 6] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
];

/// Waits until every task of job `id` has ended; returns their `ExitCode` fields (`code:sig`).
async fn wait_job(id: &str, dir: &Path, within: Duration) -> Vec<String> {
    let started = Instant::now();
    loop {
        let lines = job_lines(id);
        let done = !lines.is_empty() && lines.iter().all(|l| ENDED.contains(&field(l, "JobState")));
        if done {
            return lines
                .iter()
                .map(|l| field(l, "ExitCode").to_string())
                .collect();
        }
        assert!(
            started.elapsed() < within,
            "job {id} did not end within {within:?}: {lines:?}\n{}",
            logs(dir)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every job log in `dir`, for failure messages.
fn logs(dir: &Path) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("job-") || name.starts_with("server-") {
            text += &format!(
                "--- {name}\n{}\n",
                std::fs::read_to_string(e.path()).unwrap_or_default()
            );
        }
    }
    text
}

fn signal_batch(id: &str, signal: &str) {
    let ok = Command::new("scancel")
        .args([&format!("--signal={signal}"), "--batch", id])
        .status()
        .unwrap()
        .success();
    assert!(ok, "scancel --signal={signal} --batch {id}");
}

fn outcome(size_dir: &Path) -> SizeOutcome {
    let text = std::fs::read_to_string(size_dir.join("mst.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", size_dir.display()));
    serde_json::from_str(&text).unwrap()
}

fn state(size_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(size_dir.join("state.json")).unwrap()).unwrap()
}

/// A work folder for one test (removed when the first value is dropped), with the clear-cut
/// search's env file pointing at `url`.
fn workdir(name: &str, url: &str) -> (FreshDir, PathBuf, PathBuf) {
    let dir = fresh_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("requests");
    let env = dir.join("search.env");
    std::fs::write(&env, env_text(url, &out)).unwrap();
    (dir, out, env)
}

const JOB_TIME: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_signal_stops_the_job_with_code_4_and_a_resubmission_resumes() {
    let Some(_one_at_a_time) = slurm_ready("slurm checkpoint").await else {
        return;
    };
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let (dir, out, env) = workdir("slurm-ckpt", &server.url());
    let env_s = env.display().to_string();
    // The uninterrupted reference, side by side with the interrupted job, against its own
    // simulator: sharing one would double the load each sees.
    let ref_server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let (ref_dir, ref_out, ref_env) = workdir("slurm-ckpt-ref", &ref_server.url());
    let reference = submit(
        &ref_dir,
        "experiment_automation.slurm",
        &[],
        &[&ref_env.display().to_string()],
    );
    let first = submit(&dir, "experiment_automation.slurm", &[], &[&env_s]);
    let size_dir = out.join("64_32");
    wait_recorded(&size_dir, 1, JOB_TIME).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let signalled = Instant::now();
    signal_batch(&first, "USR1");
    let codes = wait_job(&first, &dir, JOB_TIME).await;
    assert_eq!(codes, ["4:0"], "{}", logs(&dir));
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert_eq!(state(&size_dir)["iterations"].as_array().unwrap().len(), 1);
    assert!(size_dir.join("interrupted").is_dir());

    let second = submit(&dir, "experiment_automation.slurm", &[], &[&env_s]);
    assert_eq!(
        wait_job(&second, &dir, JOB_TIME).await,
        ["0:0"],
        "{}",
        logs(&dir)
    );
    assert_eq!(wait_job(&reference, &ref_dir, JOB_TIME).await, ["0:0"]);
    let resumed = outcome(&size_dir);
    let uninterrupted = outcome(&ref_out.join("64_32"));
    assert_eq!(path_of(&resumed), path_of(&uninterrupted));
    assert_eq!(path_of(&resumed), expected_path());
    assert_eq!(resumed.mst_req_min, uninterrupted.mst_req_min);
    let numbers: Vec<u32> = resumed.iterations.iter().map(|b| b.iteration).collect();
    assert_eq!(numbers, [1, 2, 3, 4], "no iteration lost or counted twice");
    assert_eq!(counted_folders(&size_dir).len(), 4);
    // Job metadata: both jobs are stamped in state.json, and rows carry the job and node.
    let runs: Vec<String> = state(&size_dir)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["job_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(runs, [first.clone(), second.clone()]);
    assert_eq!(resumed.job_id.as_deref(), Some(second.as_str()));
    let last = size_dir
        .join(&resumed.iterations[3].folder)
        .join("results.csv");
    let mut r = csv::Reader::from_path(&last).unwrap();
    let header = r.headers().unwrap().clone();
    let row = r.records().next().unwrap().unwrap();
    let get = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .map(|i| row[i].to_string())
    };
    assert_eq!(get("JOB_ID").as_deref(), Some(second.as_str()));
    assert_eq!(get("NODE").as_deref(), Some("localhost"));
    server.shutdown().await;
    ref_server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mst_requeue_the_job_requeues_itself_after_a_checkpoint_and_finishes() {
    let Some(_one_at_a_time) = slurm_ready("slurm requeue").await else {
        return;
    };
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let (dir, out, env) = workdir("slurm-requeue", &server.url());
    let job = submit(
        &dir,
        "experiment_automation.slurm",
        &["--export=ALL,MST_REQUEUE=1"],
        &[&env.display().to_string()],
    );
    let size_dir = out.join("64_32");
    wait_recorded(&size_dir, 1, JOB_TIME).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    signal_batch(&job, "USR1");
    // The same job id runs again and ends the search.
    assert_eq!(
        wait_job(&job, &dir, Duration::from_secs(300)).await,
        ["0:0"],
        "{}",
        logs(&dir)
    );
    let lines = job_lines(&job);
    assert_eq!(field(&lines[0], "Restarts"), "1", "{lines:?}");
    assert_eq!(path_of(&outcome(&size_dir)), expected_path());
    assert!(logs(&dir).contains("requeueing job"), "{}", logs(&dir));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_searches_three_sizes_side_by_side_into_one_summary() {
    let Some(_one_at_a_time) = slurm_ready("slurm array").await else {
        return;
    };
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let (dir, out, env) = workdir("slurm-array", &server.url());
    let mut text = std::fs::read_to_string(&env).unwrap();
    text += "TOKENS_LIST=16:16,32:16,64:32\nMAX_ITERATIONS=2\n";
    std::fs::write(&env, text).unwrap();
    let job = submit(
        &dir,
        "array.slurm",
        &["--array=0-2"],
        &[&env.display().to_string()],
    );
    let codes = wait_job(&job, &dir, Duration::from_secs(240)).await;
    assert_eq!(codes, ["0:0", "0:0", "0:0"], "{}", logs(&dir));
    let mut jobs = Vec::new();
    for size in ["16_16", "32_16", "64_32"] {
        let o = outcome(&out.join(size));
        assert_eq!(o.size, size.replace('_', ":"));
        assert_eq!(o.iterations.len(), 2, "{o:?}");
        assert_eq!(counted_folders(&out.join(size)).len(), 2);
        jobs.push(o.job_id.unwrap_or_default());
    }
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), 3, "one task per size: {jobs:?}");
    let mut r = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let sizes: Vec<String> = r.records().map(|x| x.unwrap()[0].to_string()).collect();
    assert_eq!(
        sizes,
        ["16:16", "32:16", "64:32"],
        "every task's size, once"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_jobs_on_the_same_results_one_runs_one_exits_0() {
    let Some(_one_at_a_time) = slurm_ready("slurm lock").await else {
        return;
    };
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let (dir, out, env) = workdir("slurm-lock", &server.url());
    let env_s = env.display().to_string();
    let a = submit(&dir, "experiment_automation.slurm", &[], &[&env_s]);
    // A is past its first iteration, so it holds the lock for several seconds more.
    wait_recorded(&out.join("64_32"), 1, JOB_TIME).await;
    let b = submit(&dir, "experiment_automation.slurm", &[], &[&env_s]);
    assert_eq!(
        wait_job(&b, &dir, JOB_TIME).await,
        ["0:0"],
        "{}",
        logs(&dir)
    );
    let b_log = std::fs::read_to_string(dir.join(format!("job-{b}.out"))).unwrap();
    assert!(b_log.contains("already running (pid"), "{b_log}");
    assert_eq!(
        wait_job(&a, &dir, JOB_TIME).await,
        ["0:0"],
        "{}",
        logs(&dir)
    );
    assert_eq!(path_of(&outcome(&out.join("64_32"))), expected_path());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_search_starts_the_server_runs_and_stops_it_also_on_a_signal() {
    let Some(_one_at_a_time) = slurm_ready("slurm serve_and_search").await else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (dir, out, env) = workdir("slurm-serve", "127.0.0.1:9");
    let e = engine();
    let server_cmd = format!(
        "{} simulate --port {port} --step-fixed-ms {} --step-per-seq-ms {} \
         --step-per-prefill-token-ms {} --max-num-seqs {} --kv-cache-tokens {} --time-scale {}",
        env!("CARGO_BIN_EXE_mst-search"),
        e.step_fixed_ms,
        e.step_per_seq_ms,
        e.step_per_prefill_token_ms,
        e.max_num_seqs,
        e.kv_cache_tokens,
        e.time_scale
    );
    let export = format!(
        "--export=ALL,SERVER_CMD={server_cmd},SERVER_PORT={port},SERVER_WAIT=60,SERVER_LOG={}/server.log",
        dir.display()
    );
    let env_s = env.display().to_string();
    let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let size_dir = out.join("64_32");

    let first = submit(&dir, "serve_and_search.slurm", &[&export], &[&env_s]);
    wait_recorded(&size_dir, 1, JOB_TIME).await;
    assert!(listening(), "the job's server serves the search");
    signal_batch(&first, "USR1");
    assert_eq!(
        wait_job(&first, &dir, JOB_TIME).await,
        ["4:0"],
        "{}",
        logs(&dir)
    );
    assert!(!listening(), "the server is stopped on the signal");

    let second = submit(&dir, "serve_and_search.slurm", &[&export], &[&env_s]);
    assert_eq!(
        wait_job(&second, &dir, JOB_TIME).await,
        ["0:0"],
        "{}",
        logs(&dir)
    );
    assert!(!listening(), "the server is stopped at the end");
    assert_eq!(path_of(&outcome(&size_dir)), expected_path());
}
