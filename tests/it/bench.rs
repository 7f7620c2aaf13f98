//! `bench-client` end to end, small: one rate step and one open-streams step against the
//! in-process simulator, checking that every figure the table reports is filled and sane.

use super::support::fresh_dir;
use mst_search::bench;
use mst_search::bench::BenchArgs;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_client_reports_every_figure_for_rates_and_streams() {
    let csv = fresh_dir("bench.csv");
    let args = BenchArgs {
        rates: vec![40.0],
        step_secs: 1.0,
        output_tokens: 8,
        input_tokens: 16,
        streams: vec![60],
        ramp_secs: 1.0,
        arrival: "constant".into(),
        burstiness: 1.0,
        csv: csv.to_path_buf(),
        in_process: true,
    };
    let rows = bench::run(args, CancellationToken::new())
        .await
        .expect("bench runs");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (streams, rate) = (&rows[0], &rows[1]);
    assert_eq!((streams.step, rate.step), ("streams", "rate"));
    assert_eq!((rate.requests, rate.failed), (40, 0), "{rate:?}");
    assert!(rate.achieved_pct > 95.0, "{rate:?}");
    // Every request's first token was matched with the simulator's own stamp; the client sees
    // it after the server sent it, within a generous bound for a loaded debug build.
    let ttft = rate.ttft_err_p50_ms.expect("sim_timing collected");
    assert!((-1.0..100.0).contains(&ttft), "TTFT error {ttft} ms");
    assert!(rate.lag_p50_ms.is_some() && rate.cpu_us_per_req.is_some());
    // One token a second for 2 s: all 60 streams are open together at the end of the ramp.
    assert_eq!((streams.requests, streams.failed), (60, 0), "{streams:?}");
    assert!(streams.max_in_flight >= 50, "{streams:?}");
    assert!(streams.rss_max_mb.is_some_and(|mb| mb > 0.0));

    let text = std::fs::read_to_string(&csv).expect("CSV written");
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("step,target_req_s,achieved_req_s"))
    );
    assert_eq!(lines.count(), 2);
}
