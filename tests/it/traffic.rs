//! The shape of the traffic against the simulator, read from what was sent: gamma bursts
//! (`ARRIVAL=gamma`, `BURSTINESS`).

use super::support::{Scenario, read_rows};
use std::path::{Path, PathBuf};

/// The one iteration folder of `size` under `out`.
fn only_iteration(out: &Path, size: &str) -> PathBuf {
    let iterations: Vec<PathBuf> = std::fs::read_dir(out.join(size))
        .unwrap_or_else(|e| panic!("{size}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.ends_with("interrupted"))
        .collect();
    assert_eq!(iterations.len(), 1, "{iterations:?}");
    iterations.into_iter().next().unwrap()
}

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
