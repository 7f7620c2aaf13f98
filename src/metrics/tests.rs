//! Hand-built records with hand-computed figures. The fixtures here are shared with the output
//! writers' tests (`pub(crate)`).

use super::*;
use crate::iteration::Completion;
use crate::search::Stage;
use crate::size::{SizeSpec, TokenRange};
use chrono::TimeZone;

fn dms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A record with the given timings (ms from t0) and token offsets (ms after the actual send).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    idx: u64,
    intended_ms: u64,
    actual_ms: u64,
    token_ms: &[u32],
    end_ms: u64,
    output_tokens: u32,
    error: Option<ErrorKind>,
) -> RequestRecord {
    let token_offsets_us: Vec<u32> = token_ms.iter().map(|t| t * 1000).collect();
    let mut r = RequestRecord::new(idx, dms(intended_ms), dms(actual_ms), 100, 4);
    r.first_token = token_offsets_us
        .first()
        .map(|us| dms(actual_ms) + Duration::from_micros(u64::from(*us)));
    r.first_answer_token = r.first_token;
    r.token_offsets_us = token_offsets_us;
    r.end = dms(end_ms);
    r.output_tokens = output_tokens;
    r.http_status = Some(200);
    r.error = error;
    r.error_detail = error.map(|k| format!("failed: {k}"));
    r
}

/// Six requests covering: a chunk of two tokens, one token, a failure after tokens, a connect
/// failure, a success with no token, a 429.
pub(crate) fn sample_records() -> Vec<RequestRecord> {
    let mut r0 = record(0, 0, 10, &[100, 150, 150, 250], 265, 4, None);
    r0.server_prompt_tokens = Some(100);
    let mut r1 = record(1, 1000, 1000, &[80], 1090, 1, None);
    r1.server_prompt_tokens = Some(101);
    let r2 = record(
        2,
        2000,
        2005,
        &[200, 300],
        2335,
        2,
        Some(ErrorKind::TimeoutItl),
    );
    let mut r3 = record(3, 3000, 3000, &[], 3002, 0, Some(ErrorKind::Connect));
    r3.http_status = None;
    let r4 = record(4, 4000, 4001, &[], 4051, 0, None);
    let mut r5 = record(5, 5000, 5000, &[], 5010, 0, Some(ErrorKind::RateLimited));
    r5.http_status = Some(429);
    vec![r0, r1, r2, r3, r4, r5]
}

/// Metadata matching [`sample_records`]: 60 req/min, sending 6 s, ended at 8 s.
pub(crate) fn sample_meta() -> IterationMeta {
    let one = TokenRange { min: 100, max: 100 };
    let four = TokenRange { min: 4, max: 4 };
    IterationMeta {
        size: SizeSpec {
            input: one,
            output: four,
        },
        req_min: 60.0,
        load_unit: Default::default(),
        stage: Stage::Bisect,
        iteration: 3,
        model: "test-model".to_string(),
        started_at: chrono::Local
            .with_ymd_and_hms(2024, 6, 11, 14, 30, 5)
            .single()
            .unwrap_or_else(chrono::Local::now),
        duration: Duration::from_secs(6),
        filter_buffer: dms(500),
        planned_requests: 6,
        sending_stopped: Duration::from_secs(6),
        ended: Duration::from_secs(8),
        completion: Completion::Complete,
        sample_prompt: "hello world ".repeat(30),
        prompt_token_count: 100,
        prompt_lengths: "exact (server /tokenize)".to_string(),
        output_clipped: None,
        classes: Vec::new(),
        models: Vec::new(),
        session_turns: None,
        labels: [
            ("JOB_ID".to_string(), "job-42".to_string()),
            ("gpus".to_string(), "2".to_string()),
        ]
        .into_iter()
        .collect(),
        client: Default::default(),
        settle: None,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn chunked_tokens_count_in_tpot_but_make_no_itl_gap() {
    let r = &sample_records()[0];
    let m = request_metrics(r);
    assert_eq!(m.ttft_ms, Some(100.0));
    assert_eq!(m.e2e_ms, 250.0);
    assert_eq!(m.tpot_ms, Some(50.0)); // (250 − 100) / 3
    assert_eq!(m.ntpot_ms, Some(62.5)); // 250 / 4
    assert_eq!(itl_ms(r).collect::<Vec<_>>(), vec![50.0, 100.0]);
    assert_eq!(m.itl_mean_ms, Some(75.0));
    assert_eq!(m.itl_max_ms, Some(100.0));
    assert_eq!(m.schedule_lag_ms, 10.0);
}

#[test]
fn one_token_has_no_tpot_and_no_itl() {
    let m = request_metrics(&sample_records()[1]);
    assert_eq!(m.ttft_ms, Some(80.0));
    assert_eq!(m.e2e_ms, 80.0);
    assert_eq!(m.tpot_ms, None);
    assert_eq!(m.ntpot_ms, Some(80.0));
    assert_eq!((m.itl_mean_ms, m.itl_max_ms), (None, None));
    assert_eq!(m.schedule_lag_ms, 0.0);
}

#[test]
fn failed_request_e2e_runs_to_its_end_and_tpot_to_its_last_token() {
    let m = request_metrics(&sample_records()[2]);
    assert_eq!(m.ttft_ms, Some(200.0));
    assert_eq!(m.e2e_ms, 330.0); // end 2335 − send 2005
    assert_eq!(m.tpot_ms, Some(100.0)); // tokens at 2205 and 2305
    assert_eq!(m.ntpot_ms, Some(165.0));
    assert_eq!(m.itl_max_ms, Some(100.0));
    assert_eq!(m.schedule_lag_ms, 5.0);
}

#[test]
fn no_token_gives_no_ttft_and_e2e_to_end() {
    let records = sample_records();
    let connect = request_metrics(&records[3]);
    assert_eq!(connect.ttft_ms, None);
    assert_eq!(connect.e2e_ms, 2.0);
    assert_eq!((connect.tpot_ms, connect.ntpot_ms), (None, None));
    let empty_success = request_metrics(&records[4]);
    assert_eq!(empty_success.ttft_ms, None);
    assert_eq!(empty_success.e2e_ms, 50.0);
    assert_eq!(empty_success.ntpot_ms, None);
    assert_eq!(empty_success.schedule_lag_ms, 1.0);
}

#[test]
fn errors_by_kind_are_written_by_name_in_alphabetical_order_and_read_back() {
    let s = summarize(&sample_meta(), &sample_records());
    let json = serde_json::to_value(&s).unwrap();
    let names: Vec<&String> = json["errors_by_kind"].as_object().unwrap().keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "results.json keeps its alphabetical keys");
    assert_eq!(json["errors_by_kind"]["timeout-itl"], 1);
    assert_eq!(json["errors_by_kind"]["aborted"], 0);
    let back: IterationSummary = serde_json::from_value(json).unwrap();
    assert_eq!(back.errors_by_kind, s.errors_by_kind);
}

#[test]
fn summary_of_sample_iteration() {
    let s = summarize(&sample_meta(), &sample_records());
    assert_eq!((s.requests, s.succeeded, s.failed), (6, 3, 3));
    assert_eq!(s.success_rate_pct, 50.0);
    assert_eq!(s.errors_by_kind.len(), ErrorKind::ALL.len());
    assert_eq!(s.errors_by_kind[&ErrorKind::TimeoutItl], 1);
    assert_eq!(s.errors_by_kind[&ErrorKind::Connect], 1);
    assert_eq!(s.errors_by_kind[&ErrorKind::RateLimited], 1);
    assert_eq!(s.errors_by_kind[&ErrorKind::StreamCut], 0);
    assert_eq!(s.errors_by_kind.values().sum::<u64>(), 3);
    assert_eq!((s.duration_s, s.sending_s), (8.0, 6.0));
    assert_eq!(s.req_per_s, 3.0 / 8.0);
    assert_eq!(s.input_tokens_per_s, 300.0 / 8.0);
    assert_eq!(s.output_tokens_per_s, 5.0 / 8.0);
    assert_eq!(s.achieved_send_rate_req_s, 1.0);
    assert_eq!(s.target_send_rate_req_s, 1.0);

    let ttft = s.ttft_ms.expect("two successes with tokens");
    assert_eq!(
        (ttft.count, ttft.min, ttft.max, ttft.p50),
        (2, 80.0, 100.0, 90.0)
    );
    let tpot = s.tpot_ms.expect("one success with ≥ 2 tokens");
    assert_eq!((tpot.count, tpot.mean), (1, 50.0));
    let itl = s.itl_ms.expect("gaps of request 0");
    assert_eq!((itl.count, itl.min, itl.max), (2, 50.0, 100.0));
    let ntpot = s.ntpot_ms.expect("successes with tokens");
    assert_eq!((ntpot.count, ntpot.p50), (2, 71.25));
    let e2e = s.e2e_ms.expect("three successes");
    assert_eq!(
        (e2e.count, e2e.min, e2e.p50, e2e.max),
        (3, 50.0, 80.0, 250.0)
    );
    let lag = s.schedule_lag_ms.expect("all requests");
    assert_eq!((lag.count, lag.max), (6, 10.0));
    assert!(close(lag.mean, 16.0 / 6.0));
    assert_eq!(s.median_response_tokens, Some(1.0));
    assert_eq!(s.prompt_tokens_mismatch, 1);
}

#[test]
fn summary_of_nothing_sent_has_no_nan() {
    let mut meta = sample_meta();
    meta.sending_stopped = Duration::ZERO;
    meta.ended = Duration::ZERO;
    let s = summarize(&meta, &[]);
    assert_eq!((s.requests, s.success_rate_pct, s.req_per_s), (0, 0.0, 0.0));
    assert_eq!(s.achieved_send_rate_req_s, 0.0);
    assert_eq!((s.e2e_ms, s.schedule_lag_ms), (None, None));
    assert_eq!(s.median_response_tokens, None);
    assert_eq!(s.errors_by_kind.len(), ErrorKind::ALL.len());
}

#[test]
fn halves_split_the_buffered_completion_window_at_its_midpoint() {
    let records = sample_records();
    // Ends: 265, 1090, 2335, 3002, 4051, 5010 ms; window [765, 4510], midpoint 2637.5 ms.
    let h = halves(&records, dms(500));
    assert_eq!(h.window_start, dms(765));
    assert_eq!(h.window_end, dms(4510));
    assert_eq!(h.midpoint, Duration::from_micros(2_637_500));
    assert_eq!(h.first, vec![1, 2]);
    assert_eq!(h.second, vec![3, 4]);
}

#[test]
fn halves_put_the_midpoint_in_the_second_half_and_keep_the_window_ends() {
    let ends = [0, 100, 150, 200, 300];
    let records: Vec<_> = ends
        .iter()
        .enumerate()
        .map(|(i, e)| record(i as u64, 0, 0, &[], *e, 0, None))
        .collect();
    // Window [100, 200], midpoint 150.
    let h = halves(&records, dms(100));
    assert_eq!(h.first, vec![1]);
    assert_eq!(h.second, vec![2, 3]);
}

#[test]
fn halves_are_empty_without_records_or_window() {
    assert_eq!(halves(&[], dms(10)), Halves::default());
    let h = halves(&sample_records(), Duration::from_secs(3));
    assert!(h.first.is_empty() && h.second.is_empty());
    assert!(h.window_end >= h.window_start);
}

#[test]
fn send_window_is_clamped_to_the_sending_period() {
    let mut meta = sample_meta();
    meta.filter_buffer = Duration::from_secs(1);
    assert_eq!(send_window(&meta), (dms(1000), dms(5000)));
    meta.filter_buffer = Duration::from_secs(4);
    assert_eq!(send_window(&meta), (dms(4000), dms(4000)));
    meta.filter_buffer = Duration::from_secs(10);
    assert_eq!(send_window(&meta), (dms(6000), dms(6000)));
}

#[test]
fn client_cpu_is_carried_into_the_summary() {
    let mut meta = sample_meta();
    meta.client.cpu_s = Some(2.0);
    meta.client.max_in_flight = 4;
    let s = summarize(&meta, &sample_records());
    assert_eq!(s.client_cpu_s, Some(2.0));
    assert_eq!(s.client_cpu_pct, Some(25.0));
    assert_eq!(s.client_max_in_flight, 4);
}

/// A later session turn's `input_tokens` is the tool's estimate of the whole conversation
/// (without the chat template's tokens): its difference from the server's count is not a
/// mismatch, while a first turn's still is.
#[test]
fn later_session_turns_are_not_prompt_mismatches() {
    let mut records = sample_records();
    let base = summarize(&sample_meta(), &records).prompt_tokens_mismatch;
    assert_eq!(base, 1);
    let first = records
        .iter()
        .position(|r| r.server_prompt_tokens.is_some_and(|s| s != r.input_tokens))
        .expect("the mismatch");
    records[first].turn = Some(2);
    assert_eq!(
        summarize(&sample_meta(), &records).prompt_tokens_mismatch,
        0
    );
    records[first].turn = Some(1);
    assert_eq!(
        summarize(&sample_meta(), &records).prompt_tokens_mismatch,
        1
    );
}
