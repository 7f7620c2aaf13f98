//! Iterations do not leak into each other (issue 14, kind 8). Behind a gateway that does not
//! pass disconnects on, a server keeps working on the requests of an iteration the watchdog
//! aborted; with `COOLDOWN=0` the confirmation re-run started behind that queue, got no token
//! before the watchdog fired, was judged `OUTAGE` three times and the size ended `unusable` at
//! half its capacity. The simulator plays that server (`keep_abandoned`); the driver must wait
//! for it to settle, and call an overloaded-but-alive server `FAIL`, never `OUTAGE`.

use super::support::{Running, Scenario, read_rows};
use futures_util::StreamExt;
use mst_search::experiment::RunReport;
use mst_search::search::StopKind;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SIZE: (u32, u32) = (32, 64);

/// A gateway-fronted engine: 16 sequences, requests of ~1.2 s, kept when their client leaves.
fn gateway_engine() -> EngineConfig {
    EngineConfig {
        keep_abandoned: true,
        ..EngineConfig::small(16, 2.0)
    }
}

/// Starts a stream of 200 tokens, reads its first event, and hangs up.
async fn abandon_one_request(sim: &SimServer) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "sim-model", "prompt": "one two three", "max_tokens": 200,
        "ignore_eos": true, "stream": true,
    });
    let resp = c
        .post(format!("{}/v1/completions", sim.url()))
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    let mut body = resp.bytes_stream();
    body.next().await.expect("a first event").expect("bytes");
    drop(body);
}

/// Waits up to `within` for `done(stats)`.
async fn wait_for(
    sim: &SimServer,
    within: Duration,
    done: impl Fn(&mst_search::sim::SimStats) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done(&sim.stats()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_abandoned_generates_a_request_whose_client_hung_up_to_its_end() {
    let fast = |keep| EngineConfig {
        keep_abandoned: keep,
        time_scale: 20.0,
        ..EngineConfig::default()
    };
    let kept = SimServer::start(fast(true), FaultConfig::default())
        .await
        .unwrap();
    abandon_one_request(&kept).await;
    assert!(
        wait_for(&kept, Duration::from_secs(10), |s| s.finished_requests == 1).await,
        "{:?}",
        kept.stats()
    );
    assert_eq!(kept.stats().aborted_requests, 0);
    assert_eq!(kept.stats().tokens_generated, 200);
    kept.shutdown().await;

    // The default drops it, as vLLM does.
    let dropped = SimServer::start(fast(false), FaultConfig::default())
        .await
        .unwrap();
    abandon_one_request(&dropped).await;
    assert!(
        wait_for(&dropped, Duration::from_secs(10), |s| s.aborted_requests
            == 1)
        .await,
        "{:?}",
        dropped.stats()
    );
    assert_eq!(dropped.stats().finished_requests, 0);
    dropped.shutdown().await;
}

/// A search that starts at twice the capacity, with early abort, `COOLDOWN=0` and the given
/// `SETTLE_TIMEOUT` (and `extra` keys), against the gateway engine; the scenario is returned
/// still running so that its output folder lives on for the assertions.
async fn search_from_twice_capacity(
    settle: &str,
    max_iterations: u32,
    extra: &[(&'static str, &str)],
) -> (Running, RunReport) {
    let scenario = Scenario::new().engine(gateway_engine());
    let cap = scenario.capacity(SIZE.0, SIZE.1);
    let scenario = scenario
        .key("DURATION", "4s")
        .key("FILTER_BUFFER", "0.5s")
        .key("TOKENS_LIST", format!("{}:{}", SIZE.0, SIZE.1))
        .key("REQ_MIN_START", format!("{:.0}", 2.0 * cap))
        .key("STOP_THRESHOLD", "0.2")
        .key("QUEUE_GROWTH_MIN_MS", "25")
        .key("EARLY_ABORT_DELAY_MIN_MS", "200")
        .key("SETTLE_TIMEOUT", settle)
        .key("MAX_ITERATIONS", max_iterations.to_string())
        .key("SEED", "3")
        .keys(extra)
        .start()
        .await;
    let report = scenario.run().await;
    (scenario, report)
}

/// Every iteration folder, in iteration order.
fn iteration_dirs(out: &Path) -> Vec<PathBuf> {
    let size_dir = out.join(format!("{}_{}", SIZE.0, SIZE.1));
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&size_dir)
        .expect("size folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() && !p.ends_with("interrupted"))
        .collect();
    folders.sort();
    folders
}

/// The folder of the `i`-th iteration (0-based).
fn iteration_dir(out: &Path, i: usize) -> PathBuf {
    iteration_dirs(out).swap_remove(i)
}

/// Every iteration's results.csv row, in iteration order.
fn iteration_rows(out: &Path) -> Vec<BTreeMap<String, String>> {
    iteration_dirs(out)
        .iter()
        .map(|f| read_rows(&f.join("results.csv")).remove(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_overload_left_queued_behind_a_gateway_is_waited_for_and_the_search_converges_near_capacity()
 {
    let (scenario, report) = search_from_twice_capacity("60s", 14, &[]).await;
    let cap = scenario.capacity(SIZE.0, SIZE.1);
    let out = scenario.out_dir();
    let outcome = &report.outcomes[0];
    let rows = iteration_rows(out);
    let judgements: Vec<&str> = rows.iter().map(|r| r["JUDGEMENT"].as_str()).collect();
    assert!(!judgements.contains(&"OUTAGE"), "{judgements:?}");
    assert_ne!(outcome.stop, StopKind::Unusable, "{}", outcome.reason);
    let mst = outcome
        .mst_req_min
        .unwrap_or_else(|| panic!("no MST: {} ({judgements:?})", outcome.reason));
    assert!(
        mst >= 0.5 * cap && mst <= 1.1 * cap,
        "MST {mst:.1} req/min vs capacity {cap:.1} ({judgements:?})"
    );
    // The first iteration overloaded the server and was aborted; the next one waited for the
    // queue it left, and every iteration started on an idle server.
    assert_eq!(rows[0]["COMPLETION"], "ABORTED_EARLY", "{:?}", rows[0]);
    let waited: f64 = rows[1]["SETTLE_WAIT_S"].parse().expect("a number");
    assert!(waited > 0.2, "the re-run waited {waited} s");
    // What the control below shows leaking does not: the re-run starts on an idle server.
    let (first, rerun) = (fastest_ttft_ms(out, 0), fastest_ttft_ms(out, 1));
    assert!(
        rerun < 3.0 * first + 50.0,
        "the re-run's fastest TTFT {rerun:.1} ms vs {first:.1} ms in the first iteration"
    );
    for r in &rows {
        assert_eq!(r["SETTLE_RESULT"], "idle", "{r:?}");
        // Nothing leaks: a rate well below capacity, measured on an idle server, passes.
        if r["REQ_MIN"].parse::<f64>().unwrap() < 0.6 * cap {
            assert_eq!(r["JUDGEMENT"], "PASS", "{r:?}");
        }
    }
    scenario.shutdown().await;
}

/// The fastest TTFT (ms) of the `i`-th iteration's requests that got a token; infinite when
/// none did.
fn fastest_ttft_ms(out: &Path, i: usize) -> f64 {
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(iteration_dir(out, i).join("results.json")).unwrap(),
    )
    .unwrap();
    json["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some(r["first_token_s"].as_f64()? - r["actual_send_s"].as_f64()?))
        .map(|s| s * 1e3)
        .fold(f64::INFINITY, f64::min)
}

/// The control: without the settle wait the confirmation re-run starts behind the requests the
/// aborted iteration left on the server — even its fastest request waits many times the first
/// iteration's fastest TTFT (or gets no token at all). This is the leak the issue describes;
/// there every re-run got no token and was called an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_settle_wait_the_rerun_starts_behind_the_queue_left_by_the_abort() {
    let (scenario, _) = search_from_twice_capacity("0s", 2, &[]).await;
    let out = scenario.out_dir();
    let rows = iteration_rows(out);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["SETTLE_RESULT"] == "off"), "{rows:?}");
    assert!(rows.iter().all(|r| r["JUDGEMENT"] != "OUTAGE"), "{rows:?}");
    let (first, rerun) = (fastest_ttft_ms(out, 0), fastest_ttft_ms(out, 1));
    assert!(
        rerun > 5.0 * first + 100.0,
        "the re-run's fastest TTFT {rerun:.1} ms vs {first:.1} ms in the first iteration"
    );
    scenario.shutdown().await;
}

/// Without server metrics the driver probes: the re-run waits until a probe's TTFT is back near
/// the idle TTFT measured at the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_metrics_a_probe_ttft_back_near_idle_ends_the_wait() {
    let (scenario, _) =
        search_from_twice_capacity("60s", 2, &[("SERVER_METRICS_URL", "off")]).await;
    let out = scenario.out_dir();
    let rows = iteration_rows(out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["SETTLE_RESULT"], "idle", "{:?}", rows[1]);
    let waited: f64 = rows[1]["SETTLE_WAIT_S"].parse().expect("a number");
    assert!(waited > 0.2, "the re-run waited {waited} s");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(iteration_dir(out, 1).join("results.json")).unwrap(),
    )
    .unwrap();
    let detail = json["meta"]["settle"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("TTFT"), "{detail}");
    scenario.shutdown().await;
}

/// A server still busy when `SETTLE_TIMEOUT` runs out: a warning, and the iteration runs anyway
/// with `SETTLE_RESULT=timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_still_busy_at_the_settle_timeout_is_run_anyway_and_says_so() {
    let (scenario, report) = search_from_twice_capacity("0.3s", 2, &[]).await;
    let out = scenario.out_dir();
    let rows = iteration_rows(out);
    assert_eq!(rows.len(), 2, "{}", report.outcomes[0].reason);
    assert_eq!(rows[1]["SETTLE_RESULT"], "timeout", "{:?}", rows[1]);
    let waited: f64 = rows[1]["SETTLE_WAIT_S"].parse().expect("a number");
    assert!((0.2..2.0).contains(&waited), "waited {waited} s");
    scenario.shutdown().await;
}
