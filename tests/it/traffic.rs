//! The shape of the traffic against the simulator: gamma bursts (`ARRIVAL=gamma`,
//! `BURSTINESS`) read from what was sent, and a split over several models (`MODEL=a,b,c`,
//! `TRAFFIC_SPLIT`) read from what the server saw.

use super::support::only_iteration;
use super::support::{Scenario, read_rows};
use mst_search::experiment::{self, RunOptions};
use mst_search::sim::EngineConfig;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

fn mean_and_cv(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt() / mean)
}

/// A gamma iteration's intended send times in `output.csv` have gaps whose coefficient of
/// variation is 1/sqrt(BURSTINESS): BURSTINESS=0.25 gives CV 2 where Poisson gives 1. About
/// 1,000 gaps; the sample CV of gamma(k) gaps has relative sd sqrt((1 + 1/k) / (2n)) = 5%
/// here, the mean's CV/sqrt(n) = 6%; both are allowed five of those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamma_bursts_reach_output_csv_with_cv_one_over_root_burstiness() {
    let burstiness: f64 = 0.25;
    let req_min = 6000.0;
    let running = Scenario::new()
        .keys(&[
            ("TOKENS_LIST", "8:4"),
            ("ARRIVAL", "gamma"),
            ("BURSTINESS", "0.25"),
            ("REQ_MIN_START", "6000"),
            ("DURATION", "10s"),
            ("FILTER_BUFFER", "1s"),
            ("MAX_ITERATIONS", "1"),
            ("EARLY_ABORT", "false"),
            ("SEED", "5"),
        ])
        .start()
        .await;
    assert!(
        req_min < 0.5 * running.capacity(8, 4),
        "the bursts must not overload the simulator"
    );
    running.run().await;
    let rows = read_rows(&only_iteration(running.out_dir(), "8_4").join("output.csv"));
    let mut sends: Vec<f64> = rows
        .iter()
        .map(|r| r["intended_send_s"].parse().unwrap())
        .collect();
    sends.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = sends.windows(2).map(|w| w[1] - w[0]).collect();
    let n = gaps.len() as f64;
    assert!(gaps.len() > 700, "{} gaps", gaps.len());
    let (mean, cv) = mean_and_cv(&gaps);
    println!("{} gaps: mean {mean:.5} s, CV {cv:.3}", gaps.len());
    let cv_expected = 1.0 / burstiness.sqrt();
    let mean_gap = 60.0 / req_min;
    let mean_tol = 5.0 * cv_expected / n.sqrt();
    let cv_tol = 5.0 * ((1.0 + 1.0 / burstiness) / (2.0 * n)).sqrt();
    assert!(
        (mean / mean_gap - 1.0).abs() < mean_tol,
        "mean gap {mean} s, expected {mean_gap} ± {mean_tol:.2} relative"
    );
    assert!(
        (cv / cv_expected - 1.0).abs() < cv_tol,
        "CV {cv}, expected {cv_expected} ± {cv_tol:.2} relative"
    );
    // Every request was answered: the bursts queued but did not fail.
    assert!(rows.iter().all(|r| r["error_kind"].is_empty()));
    running.shutdown().await;
}

/// The simulator serving a base model and two LoRA adapters.
fn three_models() -> EngineConfig {
    EngineConfig {
        adapters: vec!["lora-a".into(), "lora-b".into()],
        ..EngineConfig::small(16, 10.0)
    }
}

/// What the server saw follows `TRAFFIC_SPLIT`: the simulator's per-model request counts pass
/// a chi-squared goodness-of-fit test against the split at alpha = 0.001 (with its fixed seed
/// the test is deterministic; over seeds it would fail once in a thousand), and `output.csv`'s
/// `model` column and `results.csv`'s `MODEL_<name>_REQUESTS` agree with the server's counts
/// request for request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traffic_split_reaches_the_server_in_its_proportions() {
    let names = ["sim-model", "lora-a", "lora-b"];
    let split = [0.6, 0.3, 0.1];
    let running = Scenario::new()
        .engine(three_models())
        .keys(&[
            ("TOKENS_LIST", "8:4"),
            ("MODEL", "sim-model,lora-a,lora-b"),
            ("TRAFFIC_SPLIT", "0.6,0.3,0.1"),
            ("REQ_MIN_START", "6000"),
            ("DURATION", "6s"),
            ("FILTER_BUFFER", "1s"),
            ("MAX_ITERATIONS", "1"),
            ("SEED", "3"),
        ])
        .start()
        .await;
    running.run().await;
    let seen = running.server().requests_by_model();
    let n: u64 = seen.values().sum();
    assert!(n > 400, "{seen:?}");
    let chi2: f64 = names
        .iter()
        .zip(split)
        .map(|(m, p)| {
            let expected = p * n as f64;
            (seen[*m] as f64 - expected).powi(2) / expected
        })
        .sum();
    let critical = ChiSquared::new(2.0).unwrap().inverse_cdf(1.0 - 0.001);
    println!("server saw {seen:?}: chi2 = {chi2:.2} (critical {critical:.2})");
    assert!(chi2 < critical, "{seen:?}: chi2 {chi2} >= {critical}");

    let iteration = only_iteration(running.out_dir(), "8_4");
    let rows = read_rows(&iteration.join("output.csv"));
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        assert!(r["error_kind"].is_empty(), "{r:?}");
        *written.entry(r["model"].clone()).or_default() += 1;
    }
    assert_eq!(
        written, seen,
        "output.csv's model column against the server's counts"
    );
    let results = &read_rows(&iteration.join("results.csv"))[0];
    for (m, column) in names.iter().zip([
        "MODEL_sim_model_REQUESTS",
        "MODEL_lora_a_REQUESTS",
        "MODEL_lora_b_REQUESTS",
    ]) {
        assert_eq!(results[column], seen[*m].to_string(), "{column}");
    }
    assert_eq!(results["MODEL_USED"], "sim-model,lora-a,lora-b");
    assert!(!results["MODEL_lora_b_TTFT_P50_MS"].is_empty());

    // Resume: the same settings find the finished search and send nothing more; another
    // split or model list is refused by the checkpoint, naming what changed.
    running.run().await;
    assert_eq!(running.server().requests_by_model(), seen);
    let mut other_split = running.config().clone();
    other_split.traffic_split = vec![0.5, 0.4, 0.1];
    let mut other_models = running.config().clone();
    other_models.models.swap(1, 2);
    for (cfg, change) in [
        (
            other_split,
            "TRAFFIC_SPLIT was [0.6,0.3,0.1] and is now [0.5,0.4,0.1]",
        ),
        (
            other_models,
            "MODEL was sim-model,lora-a,lora-b and is now sim-model,lora-b,lora-a",
        ),
    ] {
        let err = experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new())
            .await
            .expect_err("changed settings");
        assert!(err.to_string().contains(change), "{err}");
    }
    assert_eq!(running.server().requests_by_model(), seen);
    running.shutdown().await;
}

/// Each of several models must be served: one the server does not list stops the run before
/// any request, naming MODEL and the missing name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_the_server_does_not_list_is_refused_before_any_traffic() {
    let running = Scenario::new()
        .engine(three_models())
        .keys(&[
            ("TOKENS_LIST", "8:4"),
            ("MODEL", "sim-model,lora-a,lora-z"),
            ("DURATION", "2s"),
            ("MAX_ITERATIONS", "1"),
        ])
        .start()
        .await;
    let err = running.try_run().await.expect_err("lora-z is not served");
    let text = err.to_string();
    assert!(
        text.contains("MODEL") && text.contains("lora-z") && text.contains("lora-a, lora-b"),
        "{text}"
    );
    assert_eq!(err.exit_code(), 2);
    assert_eq!(running.server().stats().total_requests, 0);
    running.shutdown().await;
}
