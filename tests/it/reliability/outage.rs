//! The server process dies mid-iteration (SIGKILL) and comes back, or never does: the iteration
//! is an outage, not a verdict on capacity; the search waits, runs the same rate again, and gives
//! up with a reason after `RETRY_ON_OUTAGE` outages in a row.

use super::*;
use mst_search::search::StopKind;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The simulator as a separate process on `port`, with [`engine`]'s parameters.
fn spawn_sim(port: u16) -> Child {
    let e = engine();
    Command::new(env!("CARGO_BIN_EXE_mst-search"))
        .args([
            "simulate",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["--step-fixed-ms", &e.step_fixed_ms.to_string()])
        .args(["--step-per-seq-ms", &e.step_per_seq_ms.to_string()])
        .args([
            "--step-per-prefill-token-ms",
            &e.step_per_prefill_token_ms.to_string(),
        ])
        .args(["--max-num-seqs", &e.max_num_seqs.to_string()])
        .args(["--kv-cache-tokens", &e.kv_cache_tokens.to_string()])
        .args(["--time-scale", &e.time_scale.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator process starts")
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the simulator did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(port: u16, out: &Path, extra: &[(&str, &str)]) -> Config {
    let cap = capacity(&engine(), SIZE.0, SIZE.1).req_per_min;
    let mut pairs: Vec<(&str, String)> = vec![
        ("URL", format!("127.0.0.1:{port}")),
        ("DURATION", "3s".into()),
        ("FILTER_BUFFER", "0.5s".into()),
        ("COOLDOWN", "0s".into()),
        ("DRAIN_TIMEOUT", "1s".into()),
        ("TOKENS_LIST", format!("{}:{}", SIZE.0, SIZE.1)),
        ("REQ_MIN_START", format!("{:.0}", cap * 0.3)),
        ("QUEUE_GROWTH_MIN_MS", "25".into()),
        ("SEED", "5".into()),
        // Debug build on shared cores: client certification is tested elsewhere.
        ("CLIENT_LAG_LIMIT_MS", "1000".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k, v.to_string()));
    }
    Config::from_pairs(&pairs).expect("valid test config").0
}

/// Every folder's verdict line, in iteration order: (req_min, JUDGEMENT).
fn evaluations(out: &Path) -> Vec<(f64, String)> {
    iteration_dirs(out)
        .iter()
        .map(|d| {
            let r = &read_rows(&d.join("results.csv"))[0];
            (r["REQ_MIN"].parse().unwrap(), r["JUDGEMENT"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_iteration_and_restarted_is_an_outage_then_the_rate_is_rerun() {
    let port = free_port();
    let mut sim = spawn_sim(port);
    wait_listening(port).await;
    let out = fresh_dir("killed");
    let cfg = config(
        port,
        &out,
        &[("MAX_ITERATIONS", "2"), ("OUTAGE_WAIT", "30s")],
    );
    let search = tokio::spawn(run(cfg));
    // Kill it 1.5 s into the first 3-s iteration, bring it back 3 s later on the same port.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sim.kill().unwrap();
    sim.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut sim = spawn_sim(port);
    let report = search.await.unwrap();
    let _ = sim.kill();
    let _ = sim.wait();

    let evals = evaluations(&out);
    assert_eq!(evals.len(), 2, "{evals:?}");
    assert_eq!(evals[0].1, "OUTAGE", "{evals:?}");
    assert_eq!(
        evals[1].0, evals[0].0,
        "the same rate is run again: {evals:?}"
    );
    assert_ne!(evals[1].1, "OUTAGE", "{evals:?}");
    let kinds = reconcile_rows(&out);
    assert!(kind(&kinds, "connect") > 0, "{kinds:?}");
    assert!(kind(&kinds, "") > 0, "{kinds:?}");
    let brief = &report.outcomes[0].iterations[0];
    assert_eq!(
        brief.sustainable, None,
        "an outage is no verdict: {}",
        brief.reason
    );
    assert!(brief.reason.contains("refused"), "{}", brief.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stays_down_stops_the_size_after_retry_on_outage() {
    let port = free_port();
    let mut sim = spawn_sim(port);
    wait_listening(port).await;
    let out = fresh_dir("down-for-good");
    let cfg = config(
        port,
        &out,
        &[("RETRY_ON_OUTAGE", "1"), ("OUTAGE_WAIT", "1s")],
    );
    let search = tokio::spawn(run(cfg));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sim.kill().unwrap();
    sim.wait().unwrap();
    let clock = Instant::now();
    let report = search.await.unwrap();

    let evals = evaluations(&out);
    assert_eq!(
        evals.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["OUTAGE", "OUTAGE"],
        "one outage, one retry, then stop"
    );
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.stop, StopKind::Unusable);
    assert!(
        outcome.reason.contains("RETRY_ON_OUTAGE"),
        "{}",
        outcome.reason
    );
    assert!(report.incomplete());
    // Rest of the first iteration, the 1-s wait, a 3-s retry, drain: well under 10 s.
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    let kinds = reconcile_rows(&out);
    assert!(kind(&kinds, "connect") > 0, "{kinds:?}");
}
