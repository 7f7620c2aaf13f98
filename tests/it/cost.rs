//! What an answer cost: every iteration's `time_s` (its cooldown, settle wait, sending, drain,
//! judging) and their sum `iteration_time_s` in `mst.json` and `summary.csv`.

use super::support::{Scenario, read_rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_iteration_counts_its_cooldown_and_sending_and_the_size_their_sum() {
    let scenario = Scenario::new();
    let cap = scenario.capacity(64, 16);
    let scenario = scenario
        .key("DURATION", "1.5s")
        .key("COOLDOWN", "0.5s")
        .key("EARLY_ABORT", "false")
        .key("TOKENS_LIST", "64:16")
        .key("REQ_MIN_START", format!("{:.0}", cap * 0.3))
        // 0.3 × then 2.4 × capacity: a pass and a clear fail, so the interval exists.
        .key("REQ_MIN_INCREASE_MULTIPLIER", "8")
        .key("MAX_ITERATIONS", "3")
        .start()
        .await;
    let report = scenario.run().await;
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.iterations.len(), 3, "{}", outcome.reason);
    for (i, b) in outcome.iterations.iter().enumerate() {
        // Sending lasts DURATION; every iteration after the first also waited the cooldown.
        let floor = 1.5 + if i == 0 { 0.0 } else { 0.5 };
        assert!(
            b.time_s >= floor,
            "iteration {}: {} s < {floor} s",
            b.iteration,
            b.time_s
        );
        assert!(
            b.time_s < floor + 10.0,
            "iteration {}: {} s",
            b.iteration,
            b.time_s
        );
    }
    let sum: f64 = outcome.iterations.iter().map(|b| b.time_s).sum();
    assert!((outcome.iteration_time_s - sum).abs() < 1e-9);
    assert!(outcome.iteration_time_s <= outcome.wall_time_s + 1e-6);

    let mst: serde_json::Value = serde_json::from_slice(
        &std::fs::read(scenario.out_dir().join("64_16").join("mst.json")).expect("mst.json"),
    )
    .expect("json");
    assert_eq!(
        mst["iteration_time_s"].as_f64(),
        Some(outcome.iteration_time_s)
    );
    let rows = read_rows(&scenario.out_dir().join("summary.csv"));
    let written: f64 = rows[0]["ITERATION_TIME_S"].parse().expect("a number");
    assert!((written - outcome.iteration_time_s).abs() < 1e-9);

    // Issue 16, item 4: the MST's interval from the judged iterations, in both files.
    let verdicts: Vec<Option<bool>> = outcome.iterations.iter().map(|b| b.sustainable).collect();
    assert_eq!(verdicts, [Some(true), Some(false), Some(false)]);
    let ci = &mst["confidence"];
    assert_eq!(ci["level"].as_f64(), Some(0.9), "{mst:#}");
    assert_eq!(
        ci["method"].as_str(),
        Some(mst_search::search::confidence::METHOD.id())
    );
    let (low, high) = (
        ci["low_req_min"].as_f64().expect("low"),
        ci["high_req_min"].as_f64().expect("high"),
    );
    let rates: Vec<f64> = outcome.iterations.iter().map(|b| b.req_min).collect();
    assert!(
        rates[0] <= low && low <= high && high <= rates[1],
        "{low}..{high} vs {rates:?}"
    );
    assert_eq!(rows[0]["MST_CI_LOW_REQ_MIN"].parse::<f64>().ok(), Some(low));
    assert_eq!(
        rows[0]["MST_CI_HIGH_REQ_MIN"].parse::<f64>().ok(),
        Some(high)
    );
    scenario.shutdown().await;
}
