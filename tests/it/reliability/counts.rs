//! Faults inside an iteration: error statuses, broken streams, servers that do not stream or
//! report no usage, and a server too slow to answer. Each is counted by kind, exactly as often
//! as the simulator injected it, and the iteration still ends on time.

use super::*;
use mst_search::search::StopKind;
use std::time::{Duration, Instant};

/// 5% HTTP 500 and 5% HTTP 429: both counted, 429 apart from other statuses, and the success
/// rate criterion — not the latency criteria — decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_are_counted_by_kind_and_the_success_rate_decides() {
    let faults = FaultConfig {
        http_500_rate: 0.05,
        http_429_rate: 0.05,
        ..FaultConfig::default()
    };
    for (success_rate, passes) in [("80", true), ("97", false)] {
        let server = SimServer::start(engine(), faults.clone()).await.unwrap();
        let out = fresh_dir(&format!("status-{success_rate}"));
        let cfg = one_iteration(&server, &out, 0.4, &[("SUCCESS_RATE", success_rate.into())]);
        let report = run(cfg).await;
        let stats = server.stats();
        server.shutdown().await;

        let kinds = reconcile_rows(&out);
        assert_eq!(kinds.values().sum::<u64>(), received(&stats), "{kinds:?}");
        assert_eq!(
            kind(&kinds, "http-status"),
            stats.faults.http_500,
            "{kinds:?}"
        );
        assert_eq!(
            kind(&kinds, "rate-limited"),
            stats.faults.http_429,
            "{kinds:?}"
        );
        assert!(stats.faults.http_500 > 0 && stats.faults.http_429 > 0);
        assert_eq!(kind(&kinds, ""), stats.total_requests, "{kinds:?}");

        let dir = &iteration_dirs(&out)[0];
        let results = &read_rows(&dir.join("results.csv"))[0];
        assert_eq!(
            results["ERRORS_RATE_LIMITED"].parse::<u64>().unwrap(),
            stats.faults.http_429,
            "429s have their own column"
        );
        assert_eq!(
            results["ERRORS_HTTP_STATUS"].parse::<u64>().unwrap(),
            stats.faults.http_500
        );
        let brief = &report.outcomes[0].iterations[0];
        assert_eq!(brief.sustainable, Some(passes), "{}", brief.reason);
        // Whatever the verdict, the only criterion the errors may fail is the success rate.
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap())
                .unwrap();
        let failed: Vec<&str> = json["verdict"]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["passed"] == false)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if passes { &[] } else { &["success_rate"] };
        assert_eq!(failed, expected, "{}", brief.reason);
        if !passes {
            assert!(brief.reason.contains("SUCCESS_RATE"), "{}", brief.reason);
        }
    }
}

/// Streams cut part-way, a chunk that is not JSON, and a stall longer than `TPOT_TIMEOUT`:
/// one fault per run so each kind can be matched one to one with the simulator's count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_streams_are_counted_by_kind_and_the_iteration_ends_on_time() {
    let cases: [(&str, FaultConfig); 3] = [
        (
            "stream-cut",
            FaultConfig {
                cut_rate: 0.08,
                cut_after_tokens: 3,
                ..FaultConfig::default()
            },
        ),
        (
            "bad-chunk",
            FaultConfig {
                malformed_rate: 0.08,
                ..FaultConfig::default()
            },
        ),
        (
            "timeout-itl",
            FaultConfig {
                stall_rate: 0.08,
                stall_secs: 3.0,
                ..FaultConfig::default()
            },
        ),
    ];
    for (expected, faults) in cases {
        let server = SimServer::start(engine(), faults).await.unwrap();
        let out = fresh_dir(expected);
        let cfg = one_iteration(
            &server,
            &out,
            0.4,
            &[
                ("TPOT_TIMEOUT", "0.5s".into()),
                ("SUCCESS_RATE", "50".into()),
            ],
        );
        let (duration, drain) = (cfg.duration, cfg.drain_timeout);
        let clock = Instant::now();
        run(cfg).await;
        let took = clock.elapsed();
        let stats = server.stats();
        server.shutdown().await;

        let kinds = reconcile_rows(&out);
        let injected = match expected {
            "stream-cut" => stats.faults.cut,
            "bad-chunk" => stats.faults.malformed,
            _ => stats.faults.stall,
        };
        assert!(injected > 0, "{expected}: nothing injected");
        assert_eq!(kind(&kinds, expected), injected, "{expected}: {kinds:?}");
        assert_eq!(
            kind(&kinds, ""),
            received(&stats) - injected,
            "{expected}: every other request succeeds: {kinds:?}"
        );
        // Preparing the workload takes a moment; the iteration itself may not outlive its
        // duration plus the drain limit.
        assert!(
            took < duration + drain + Duration::from_secs(3),
            "{expected}: the iteration took {took:?}"
        );
    }
}

/// A server (or proxy) that answers with one JSON body although a stream was asked for, and
/// one that streams without `usage`: both are measured, and each row says how.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_do_not_stream_or_report_no_usage_are_handled() {
    for (name, faults) in [
        (
            "no-stream",
            FaultConfig {
                ignore_stream: true,
                ..FaultConfig::default()
            },
        ),
        (
            "no-usage",
            FaultConfig {
                omit_usage: true,
                ..FaultConfig::default()
            },
        ),
    ] {
        let server = SimServer::start(engine(), faults).await.unwrap();
        let out = fresh_dir(name);
        let cfg = one_iteration(&server, &out, 0.3, &[]);
        run(cfg).await;
        let stats = server.stats();
        server.shutdown().await;

        let kinds = reconcile_rows(&out);
        assert_eq!(kind(&kinds, ""), received(&stats), "{name}: {kinds:?}");
        let dir = &iteration_dirs(&out)[0];
        let rows = read_rows(&dir.join("output.csv"));
        for r in &rows {
            assert_eq!(r["output_tokens"], SIZE.1.to_string(), "{name}: {r:?}");
        }
        let results = &read_rows(&dir.join("results.csv"))[0];
        match name {
            "no-stream" => {
                assert!(
                    rows.iter()
                        .all(|r| r["error_detail"].contains("did not stream")),
                    "each row says its token times are the end time"
                );
                assert_eq!(results["NOT_STREAMED"], rows.len().to_string());
                // Every token carries the end time: no TPOT or ITL was measured (not 0 ms).
                assert!(
                    rows.iter().all(|r| r["tpot_ms"].is_empty()),
                    "{:?}",
                    rows[0]
                );
                assert_eq!(results["TPOT_P50_MS"], "");
            }
            _ => {
                assert!(rows.iter().all(|r| r["server_prompt_tokens"].is_empty()));
                assert_eq!(results["USAGE_MISSING"], rows.len().to_string());
            }
        }
    }
}

/// Every request waits longer than `TTFT_TIMEOUT` for its first token: all time out by kind and
/// each iteration ends on time. The server accepted every connection and answered: it is too
/// slow, not down, so each iteration is `FAIL` (criterion `overload`), never an outage, and the
/// search walks down (issue 14: an overloaded-but-alive server is never called dead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_slower_than_the_ttft_timeout_fails_every_request_on_time() {
    let slow = EngineConfig {
        // Each engine step takes 2 s of wall time: no first token within 0.5 s.
        step_fixed_ms: 20_000.0,
        ..engine()
    };
    let server = SimServer::start(slow, FaultConfig::default())
        .await
        .unwrap();
    let out = fresh_dir("slow");
    let cfg = one_iteration(
        &server,
        &out,
        1.0,
        &[
            ("REQ_MIN_START", "600".into()),
            ("TTFT_TIMEOUT", "0.5s".into()),
            ("MAX_ITERATIONS", "3".into()),
            ("RETRY_ON_OUTAGE", "1".into()),
        ],
    );
    let (duration, drain) = (cfg.duration, cfg.drain_timeout);
    let clock = Instant::now();
    let report = run(cfg).await;
    let took = clock.elapsed();
    let stats = server.stats();
    server.shutdown().await;

    let kinds = reconcile_rows(&out);
    assert_eq!(
        kind(&kinds, "timeout-ttft"),
        kinds.values().sum::<u64>(),
        "{kinds:?}"
    );
    assert_eq!(kinds.values().sum::<u64>(), received(&stats));
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.stop, StopKind::IterationCap, "{}", outcome.reason);
    let rates: Vec<f64> = outcome.iterations.iter().map(|i| i.req_min).collect();
    assert_eq!(
        rates,
        [600.0, 600.0, 300.0],
        "a confirmed fail, then the walk down: {}",
        outcome.reason
    );
    for i in &outcome.iterations {
        assert_eq!(i.sustainable, Some(false), "{}", i.reason);
        assert!(i.reason.contains("overloaded, not down"), "{}", i.reason);
    }
    assert!(!report.incomplete());
    // Each iteration ends on time; the settle wait before the next lasts at most the 2-s step
    // that aborts the timed-out requests still running.
    assert!(
        took < 3 * (duration + drain) + Duration::from_secs(3 * 3),
        "took {took:?}"
    );
}
