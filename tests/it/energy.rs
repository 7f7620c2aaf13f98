//! GPU telemetry end to end: the simulator's DCGM-style `/dcgm/metrics` (power following its
//! batch, an energy counter integrating it) scraped during real iterations, a fake
//! `nvidia-smi` on the child's `PATH` for `GPU_SMI`, and telemetry that does not answer.

use super::support::{fresh_dir, read_rows};
use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions};
use mst_search::sim::{DCGM_PATH, EngineConfig, FaultConfig, GpuPower, SimServer, capacity};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tokio_util::sync::CancellationToken;

/// Two GPUs at 60 W idle each and 2 W per running sequence: the power moves with the batch
/// while staying smooth enough for a 100 ms poll to follow it.
fn engine() -> EngineConfig {
    EngineConfig {
        gpus: Some(GpuPower {
            gpus: 2,
            idle_w: 60.0,
            per_seq_w: 2.0,
        }),
        ..EngineConfig::small(16, 10.0)
    }
}

/// The only iteration folder of `64_32`.
fn iteration_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join("64_32"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

fn keys(url: &str, req_min: f64, out: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("URL", url.to_string()),
        ("DURATION", "3s".into()),
        ("FILTER_BUFFER", "0.5s".into()),
        ("COOLDOWN", "0s".into()),
        ("SETTLE_TIMEOUT", "0s".into()),
        ("DRAIN_TIMEOUT", "1s".into()),
        ("CLIENT_LAG_LIMIT_MS", "1000".into()),
        ("TOKENS_LIST", "64:32".into()),
        ("REQ_MIN_START", format!("{req_min:.0}")),
        ("MAX_ITERATIONS", "1".into()),
        ("CONFIRM", "none".into()),
        ("EARLY_ABORT", "false".into()),
        ("EARLY_ACCEPT", "false".into()),
        ("SERVER_METRICS_URL", "off".into()),
        ("SCRAPE_INTERVAL", "100ms".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ]
}

/// One iteration at `req_min` with `extra` keys; its `results.csv` row.
async fn one_iteration(
    url: &str,
    req_min: f64,
    extra: &[(&'static str, String)],
    out: &Path,
) -> std::collections::BTreeMap<String, String> {
    let mut pairs = keys(url, req_min, out);
    pairs.extend(extra.iter().cloned());
    let (cfg, _) = Config::from_pairs(&pairs).expect("valid config");
    experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new())
        .await
        .expect("the search runs to its end");
    read_rows(&iteration_dir(out).join("results.csv")).remove(0)
}

fn num(row: &std::collections::BTreeMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?} in {row:?}", row[col]))
}

/// The energy from the simulator's counters agrees with ∫P dt over the polled power within
/// 5 %, both sit between the idle and the full-batch power over the window, and a fuller batch
/// spends fewer joules per output token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_agrees_with_the_simulated_gpus_and_falls_per_token_as_the_batch_fills() {
    let engine = engine();
    let server = SimServer::start(engine.clone(), FaultConfig::default())
        .await
        .unwrap();
    let gpu_url = format!("{}{DCGM_PATH}", server.url());
    let cap = capacity(&engine, 64, 32).req_per_min;
    let mut per_token = Vec::new();
    for share in [0.1, 0.8] {
        let out = fresh_dir(&format!("energy-{share}"));
        let row = one_iteration(
            &server.url(),
            share * cap,
            &[
                ("GPU_METRICS_URL", gpu_url.clone()),
                ("GPU_HOURLY_COST", "3".into()),
            ],
            &out,
        )
        .await;
        assert_eq!(row["GPU_COUNT"], "2", "{row:?}");
        assert_eq!(row["GPU_ENERGY_FROM"], "counter", "{row:?}");
        let (energy, window) = (num(&row, "GPU_ENERGY_J"), num(&row, "GPU_WINDOW_S"));
        let trapezoid = num(&row, "GPU_MEAN_POWER_W") * window;
        assert!(
            (trapezoid - energy).abs() <= 0.05 * energy,
            "rate {share} × capacity: counter {energy:.1} J, ∫P dt {trapezoid:.1} J"
        );
        let idle = 2.0 * 60.0 * window;
        let full = (2.0 * 60.0 + 2.0 * 16.0) * window;
        assert!(
            energy >= 0.99 * idle && energy <= 1.01 * full,
            "{energy} J outside [{idle}, {full}]"
        );
        assert!(num(&row, "GPU_MAX_POWER_W") >= num(&row, "GPU_MEAN_POWER_W"));
        let j_token = num(&row, "GPU_J_PER_OUTPUT_TOKEN");
        assert!(num(&row, "GPU_J_PER_REQUEST") > j_token);
        // gpu_metrics.csv holds both GPUs at every poll.
        let polls = read_rows(&iteration_dir(&out).join("gpu_metrics.csv"));
        assert!(polls.len() >= 2 * 20, "{} rows", polls.len());
        assert!(polls.iter().any(|p| p["gpu"] == "sim:1"), "{:?}", polls[0]);
        eprintln!(
            "rate {share} × capacity: {energy:.1} J (∫P dt {trapezoid:.1} J) over {window:.2} s, \
             {j_token:.4} J/token, mean {} W",
            row["GPU_MEAN_POWER_W"]
        );
        // The one sustainable iteration is the MST: mst.json and summary.csv carry its energy
        // and the cost of a million tokens (2 GPUs × 3 per hour over an hour's tokens).
        let mst: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("64_32/mst.json")).unwrap())
                .unwrap();
        let e = &mst["energy"];
        assert_eq!(e["gpus"], 2, "{mst}");
        let rel = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(
            rel(e["joules_per_output_token"].as_f64().unwrap(), j_token),
            "{e}"
        );
        assert!(rel(e["power_w"].as_f64().unwrap(), energy / window), "{e}");
        let tokens_s = e["output_tokens_s"].as_f64().unwrap();
        let cost = e["cost_per_million_output_tokens"].as_f64().unwrap();
        assert!(rel(cost, 2.0 * 3.0 / (tokens_s * 3600.0) * 1e6), "{e}");
        let summary = read_rows(&out.join("summary.csv")).remove(0);
        assert!(
            rel(num(&summary, "MST_COST_PER_M_OUTPUT_TOKENS"), cost),
            "{summary:?}"
        );
        per_token.push(j_token);
    }
    assert!(
        per_token[1] < 0.5 * per_token[0],
        "joules per token should fall as the batch fills: {per_token:?}"
    );
    server.shutdown().await;
}

/// Regression guard for the rule that telemetry never decides: a GPU endpoint that answers
/// 404 for the whole iteration leaves the iteration judged, its `GPU_*` columns empty and no
/// energy at the MST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_endpoint_that_does_not_answer_is_no_failure() {
    let engine = EngineConfig::small(16, 10.0);
    let server = SimServer::start(engine.clone(), FaultConfig::default())
        .await
        .unwrap();
    let cap = capacity(&engine, 64, 32).req_per_min;
    let out = fresh_dir("energy-silent");
    let row = one_iteration(
        &server.url(),
        0.3 * cap,
        &[
            // Without GPUs the simulator has no such route.
            ("GPU_METRICS_URL", format!("{}{DCGM_PATH}", server.url())),
            ("GPU_HOURLY_COST", "2".into()),
        ],
        &out,
    )
    .await;
    assert_eq!(row["EVALUATION"], "TRUE", "{row:?}");
    assert_eq!(row["GPU_COUNT"], "");
    assert_eq!(row["GPU_ENERGY_J"], "");
    let mst: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("64_32/mst.json")).unwrap())
            .unwrap();
    assert!(mst["mst_req_min"].is_number(), "{mst}");
    assert!(mst.get("energy").is_none(), "{mst}");
    server.shutdown().await;
}

/// Runs the binary with `PATH` set for the child only (the test process's own environment is
/// shared by every test thread and is never changed).
async fn mst_with_path(env_file: PathBuf, path: String) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mst-search"))
            .arg("--env")
            .arg(env_file)
            .env("PATH", path)
            .env_remove("RUST_LOG")
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap()
}

fn env_file(dir: &Path, pairs: &[(&'static str, String)]) -> PathBuf {
    let body: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let p = dir.join("energy.env");
    std::fs::write(&p, body).unwrap();
    p
}

/// `GPU_SMI=true` with a fake `nvidia-smi` (two GPUs at 150 W and 100 W) on the child's
/// `PATH`: its rows land in `gpu_metrics.csv` and the energy is ∫P dt of 250 W; without it on
/// `PATH` the run stops before any request, naming `GPU_SMI` and `nvidia-smi`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_smi_samples_a_fake_nvidia_smi_and_refuses_to_start_without_one() {
    use std::os::unix::fs::PermissionsExt;
    let server = SimServer::start(EngineConfig::small(16, 10.0), FaultConfig::default())
        .await
        .unwrap();
    let root = fresh_dir("energy-smi");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("nvidia-smi");
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         case \"$1\" in --query-gpu=index,power.draw,utilization.gpu,memory.used) ;; *) exit 6 ;; esac\n\
         printf '0, 150.00, 40, 2048\\n1, 100.00, [N/A], 1024\\n'\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let system_path = "/usr/bin:/bin".to_string();
    let cap = capacity(&EngineConfig::small(16, 10.0), 64, 32).req_per_min;

    let missing_out = root.join("missing");
    let mut pairs = keys(&server.url(), 0.3 * cap, &missing_out);
    pairs.push(("GPU_SMI", "true".into()));
    let out = mst_with_path(env_file(&root, &pairs), system_path.clone()).await;
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("GPU_SMI") && text.contains("nvidia-smi"),
        "{text}"
    );
    assert_eq!(server.stats().total_requests, 0, "nothing may be sent");

    let smi_out = root.join("smi");
    let mut pairs = keys(&server.url(), 0.3 * cap, &smi_out);
    pairs.push(("GPU_SMI", "true".into()));
    let out = mst_with_path(
        env_file(&root, &pairs),
        format!("{}:{system_path}", bin.display()),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = iteration_dir(&smi_out);
    let polls = read_rows(&dir.join("gpu_metrics.csv"));
    assert!(polls.len() >= 2 * 10, "{} rows", polls.len());
    assert_eq!(
        (polls[0]["gpu"].as_str(), polls[0]["power_w"].as_str()),
        ("0", "150")
    );
    assert_eq!(polls[1]["util_pct"], "", "[N/A] is left out");
    let row = read_rows(&dir.join("results.csv")).remove(0);
    assert_eq!(row["GPU_ENERGY_FROM"], "power");
    assert!(
        (num(&row, "GPU_MEAN_POWER_W") - 250.0).abs() < 1e-9,
        "{row:?}"
    );
    let expected = 250.0 * num(&row, "GPU_WINDOW_S");
    assert!((num(&row, "GPU_ENERGY_J") - expected).abs() < 1e-6 * expected);
    assert_eq!(num(&row, "GPU_MEAN_UTIL_PCT"), 40.0);
    assert_eq!(num(&row, "GPU_MEAN_MEMORY_USED_MIB"), 3072.0);
    server.shutdown().await;
}
