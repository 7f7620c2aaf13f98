//! `TRACE` replay of one iteration against the simulator: the server is asked for the trace's
//! requests in the trace's order, with its prompt sizes (as the simulator counts them) and its
//! output sizes, sent at the trace's times divided by the scale.
//!
//! Tolerance of the timing check: request i's intended send time must be its trace time over
//! the scale (to a microsecond: the schedule is computed, not measured), and its actual send
//! time is that plus the schedule lag the record measures; each actual gap between neighbours
//! then differs from the trace gap / scale by the difference of two lags, so the check allows
//! the largest lag the records show, and that lag itself must stay under 50 ms (a debug build
//! on two shared cores; the dispatcher's own tests hold it far lower).

use super::support::sim_client;
use mst_search::client::Api;
use mst_search::config::Config;
use mst_search::load::runner::{Progress, run_iteration};
use mst_search::search::Stage;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use mst_search::workload::Workload;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_gets_the_trace_requests_in_order_with_their_sizes_at_the_scaled_times() {
    let server = SimServer::start(EngineConfig::small(16, 10.0), FaultConfig::default())
        .await
        .unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/mooncake_sample.jsonl");
    let scale = 4.0;
    let duration = Duration::from_secs(2);
    let (cfg, _) = Config::from_pairs(&[
        ("URL", server.url()),
        ("TRACE", path.display().to_string()),
        ("SCALE", scale.to_string()),
        ("DURATION", "2s".into()),
    ])
    .unwrap();
    let trace = cfg.trace.as_ref().unwrap().trace.clone();
    let client = Arc::new(sim_client(&server, Api::Completions));
    let (workload, _) = Workload::prepare(&client, &cfg.workload_settings())
        .await
        .unwrap();
    let plan = cfg.iteration_plan(
        cfg.sizes[0],
        scale,
        Stage::Ramp,
        1,
        3,
        &server.config().model,
    );
    server.record_requests();
    let (meta, records) = run_iteration(
        client,
        Arc::new(workload),
        &plan,
        &CancellationToken::new(),
        Arc::new(Progress::default()),
    )
    .await;

    // 8 s of trace time at 4 x in 2 s.
    let (offsets, slots) = trace.window(scale, duration);
    assert!(offsets.len() >= 8, "{}", offsets.len());
    assert_eq!(meta.planned_requests, offsets.len() as u64);
    assert_eq!(records.len(), offsets.len());
    let max_lag = records
        .iter()
        .map(|r| r.schedule_lag())
        .max()
        .unwrap()
        .as_secs_f64();
    assert!(max_lag < 0.05, "schedule lag {max_lag} s");
    // What the server saw: the trace's requests in its order, with its sizes, at its gaps.
    let seen = server.received();
    assert_eq!(
        seen.len(),
        offsets.len(),
        "the server received every request once"
    );
    for (i, got) in seen.iter().enumerate() {
        let t = &trace.requests[slots[i].entry as usize];
        assert_eq!(
            (got.prompt_tokens, got.max_tokens),
            (t.input_tokens, t.output_tokens),
            "request {i} as the server received it"
        );
        if i > 0 {
            let gap = (got.at - seen[i - 1].at).as_secs_f64();
            let want = (offsets[i] - offsets[i - 1]).as_secs_f64();
            // Two sends' lags and two connections' arrival jitter on loopback.
            assert!(
                (gap - want).abs() <= max_lag + 0.02,
                "request {i} arrived {gap} s after the one before; trace gap / scale {want} s"
            );
        }
    }
    for (i, r) in records.iter().enumerate() {
        let t = &trace.requests[slots[i].entry as usize];
        assert!(r.success(), "{r:?}");
        assert_eq!(r.request_idx, i as u64);
        // The simulator's own count of the prompt, and the max_tokens it was asked for.
        assert_eq!(r.server_prompt_tokens, Some(t.input_tokens), "request {i}");
        assert_eq!(r.requested_output_tokens, t.output_tokens, "request {i}");
        let trace_s = f64::from(slots[i].pass) * trace.period_s() + t.arrival_s;
        assert!(
            (r.intended_send.as_secs_f64() - trace_s / scale).abs() < 1e-6,
            "request {i}: intended {:?}, trace {trace_s} s / {scale}",
            r.intended_send
        );
        if i > 0 {
            let prev = &records[i - 1];
            let gap = r.actual_send.as_secs_f64() - prev.actual_send.as_secs_f64();
            let want = (offsets[i] - offsets[i - 1]).as_secs_f64();
            assert!(
                (gap - want).abs() <= max_lag + 1e-6,
                "request {i}: sent {gap} s after the one before, trace gap / scale {want} s, \
                 largest lag {max_lag} s"
            );
        }
    }
    server.shutdown().await;
}
