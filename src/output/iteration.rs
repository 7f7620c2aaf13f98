//! The five files of one iteration, written as one folder:
//! `<output_dir>/<in>_<out>/<timestamp>/{output.csv, first_half.csv, second_half.csv,
//! results.csv, results.json}`. The old tool's columns come first in every CSV, so its readers
//! keep working; ours follow.

use super::{
    csv_bytes, fmt_micros_as_s, fmt_ms, fmt_offset_s, fmt_opt, offset_s, output_error, write_atomic,
};
use crate::error::Result;
use crate::evaluate::Verdict;
use crate::iteration::{Completion, IterationMeta};
use crate::metrics::{Halves, IterationSummary, request_metrics};
use crate::record::{ErrorKind, RequestRecord, TokenCount};
use crate::scrape::{ServerMetrics, ServerSummary};
use crate::stats::Distribution;
use crate::telemetry::{GpuIteration, GpuSummary};
use mst_results::Judgement;
use mst_results::results_csv as col;
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything written for one iteration.
pub struct IterationFiles<'a> {
    pub meta: &'a IterationMeta,
    pub records: &'a [RequestRecord],
    pub summary: &'a IterationSummary,
    pub verdict: &'a Verdict,
    pub halves: &'a Halves,
    /// What the search made of the iteration: `PASS`, `FAIL`, `OUTAGE` (no verdict on
    /// capacity), … — the console line's word, written as `JUDGEMENT`.
    pub judgement: Judgement,
    /// The server's metrics scraped during the iteration (None when scraping is off).
    pub server: Option<&'a ServerMetrics>,
    /// The GPU telemetry of the iteration (None without `GPU_METRICS_URL`/`GPU_SMI`).
    pub gpu: Option<&'a GpuIteration>,
}

/// Columns of `output.csv` and the halves, in order: the old tool's seven, then ours.
pub const OUTPUT_COLUMNS: [&str; 31] = [
    "received_timestamp",
    "complete_response_time",
    "success_rate",
    "success",
    "worker_idx",
    "request_idx",
    "global_request_id",
    "intended_send_s",
    "actual_send_s",
    "schedule_lag_ms",
    "ttft_ms",
    "tpot_ms",
    "itl_mean_ms",
    "itl_max_ms",
    "ntpot_ms",
    "e2e_ms",
    "input_tokens",
    "server_prompt_tokens",
    "output_tokens",
    "requested_output_tokens",
    "http_status",
    "error_kind",
    "error_detail",
    "class",
    "ttfo_ms",
    "reasoning_tokens",
    "output_tokens_from",
    "transport_retries",
    "model",
    "session",
    "turn",
];

/// The old tool's `results.csv` columns, which open ours in this order.
pub use mst_results::results_csv::OLD_COLUMNS as RESULTS_OLD_COLUMNS;

/// How many characters of the sample prompt `PROMPT_TEXT` keeps.
const PROMPT_TEXT_CHARS: usize = 200;

/// Writes `<output_dir>/<size_dir>/<timestamp>/{output.csv, first_half.csv, second_half.csv,
/// results.csv, results.json}` and returns the folder.
///
/// The folder is built as `.<name>.partial` and renamed when all five files are written, so a
/// folder that exists is complete. `<timestamp>` is `meta.started_at` as `%Y-%m-%d_%H-%M-%S`;
/// when that folder exists, `_2`, `_3`, … is appended (an existing folder is never touched).
/// Any failure is an [`crate::error::Error::Output`] naming the path.
pub fn write_iteration(output_dir: &Path, files: &IterationFiles) -> Result<PathBuf> {
    let size_dir = output_dir.join(files.meta.size.dir_name());
    fs::create_dir_all(&size_dir).map_err(|e| output_error(&size_dir, e))?;
    let stamp = files
        .meta
        .started_at
        .format("%Y-%m-%d_%H-%M-%S")
        .to_string();
    let name = free_folder_name(&size_dir, &stamp)?;
    let partial = size_dir.join(format!(".{name}.partial"));
    let target = size_dir.join(&name);
    if partial.exists() {
        // Left by a crashed run under the exact name we are about to use: it was never complete.
        fs::remove_dir_all(&partial).map_err(|e| output_error(&partial, e))?;
    }
    fs::create_dir(&partial).map_err(|e| output_error(&partial, e))?;
    let written = write_files(&partial, files)
        .and_then(|()| fs::rename(&partial, &target).map_err(|e| output_error(&target, e)));
    if let Err(e) = written {
        // Only our own unfinished folder is removed; the error that matters is `e`.
        let _ = fs::remove_dir_all(&partial);
        return Err(e);
    }
    Ok(target)
}

/// `stamp`, or `stamp_2`, `stamp_3`, … : the first name not yet taken in `dir`.
fn free_folder_name(dir: &Path, stamp: &str) -> Result<String> {
    if !dir.join(stamp).exists() {
        return Ok(stamp.to_string());
    }
    (2..10_000)
        .map(|n| format!("{stamp}_{n}"))
        .find(|name| !dir.join(name).exists())
        .ok_or_else(|| output_error(&dir.join(stamp), "every suffix up to _9999 is taken"))
}

fn write_files(dir: &Path, files: &IterationFiles) -> Result<()> {
    let mut order: Vec<usize> = (0..files.records.len()).collect();
    order.sort_by_key(|&i| files.records[i].request_idx);
    write_requests_csv(&dir.join("output.csv"), files, &order)?;
    write_requests_csv(
        &dir.join("first_half.csv"),
        files,
        &by_request_idx(files.records, &files.halves.first),
    )?;
    write_requests_csv(
        &dir.join("second_half.csv"),
        files,
        &by_request_idx(files.records, &files.halves.second),
    )?;
    let path = dir.join("results.csv");
    let (header, row) = results_row(files)
        .into_iter()
        .unzip::<_, _, Vec<_>, Vec<_>>();
    write_atomic(&path, &csv_bytes(&header, &[row], &path)?)?;
    if let Some(server) = files.server {
        write_server_metrics(&dir.join("server_metrics.csv"), server)?;
    }
    if let Some(gpu) = files.gpu {
        super::gpu::write_gpu_metrics(&dir.join("gpu_metrics.csv"), gpu)?;
    }
    let path = dir.join("results.json");
    let json = serde_json::to_vec(&results_json(files)).map_err(|e| output_error(&path, e))?;
    write_atomic(&path, &json)
}

/// `server_metrics.csv`: one row per kept sample of every scrape.
fn write_server_metrics(path: &Path, server: &ServerMetrics) -> Result<()> {
    let rows: Vec<Vec<String>> = server
        .samples
        .iter()
        .map(|s| {
            vec![
                format!("{:.6}", s.time_s),
                s.metric.clone(),
                s.labels.clone(),
                s.value.to_string(),
            ]
        })
        .collect();
    write_atomic(path, &csv_bytes(&SERVER_METRICS_COLUMNS, &rows, path)?)
}

/// Columns of `server_metrics.csv`.
pub const SERVER_METRICS_COLUMNS: [&str; 4] = ["time_s", "metric", "labels", "value"];

/// Valid indices of `picked`, ordered by request index.
fn by_request_idx(records: &[RequestRecord], picked: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = picked
        .iter()
        .copied()
        .filter(|&i| i < records.len())
        .collect();
    v.sort_by_key(|&i| records[i].request_idx);
    v
}

fn write_requests_csv(path: &Path, files: &IterationFiles, order: &[usize]) -> Result<()> {
    let rows: Vec<Vec<String>> = order
        .iter()
        .map(|&i| request_row(files, &files.records[i]))
        .collect();
    write_atomic(path, &csv_bytes(&OUTPUT_COLUMNS, &rows, path)?)
}

/// One `output.csv` row, in [`OUTPUT_COLUMNS`] order.
fn request_row(files: &IterationFiles, r: &RequestRecord) -> Vec<String> {
    let m = request_metrics(r);
    // The same instant `complete_response_time` runs to, so received = send + that time.
    let received = match (r.success(), r.last_token()) {
        (true, Some(last)) => last,
        _ => r.end,
    };
    let epoch_us =
        i128::from(files.meta.started_at.timestamp_micros()) + received.as_micros() as i128;
    vec![
        fmt_micros_as_s(epoch_us),
        fmt_ms(Some(m.e2e_ms)),
        format!("{:?}", files.summary.success_rate_pct),
        if r.success() { "True" } else { "False" }.to_string(),
        "0".to_string(),
        r.request_idx.to_string(),
        format!("{}-{}", files.meta.iteration, r.request_idx),
        fmt_offset_s(r.intended_send),
        fmt_offset_s(r.actual_send),
        fmt_ms(Some(m.schedule_lag_ms)),
        fmt_ms(m.ttft_ms),
        fmt_ms(m.tpot_ms),
        fmt_ms(m.itl_mean_ms),
        fmt_ms(m.itl_max_ms),
        fmt_ms(m.ntpot_ms),
        fmt_ms(Some(m.e2e_ms)),
        r.input_tokens.to_string(),
        fmt_opt(r.server_prompt_tokens),
        r.output_tokens.to_string(),
        r.requested_output_tokens.to_string(),
        fmt_opt(r.http_status),
        fmt_opt(r.error),
        r.error_detail.clone().unwrap_or_default(),
        super::workload::class_name(files.meta, r),
        fmt_ms(m.ttfo_ms),
        fmt_opt(r.reasoning_tokens),
        r.output_tokens_from.as_str().to_string(),
        r.transport_retries.to_string(),
        super::workload::model_name(files.meta, r).to_string(),
        fmt_opt(r.session),
        fmt_opt(r.turn),
    ]
}

fn upper_snake(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn bool_upper(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_string()
}

/// The `results.csv` columns and values, in order (see `docs/reference/outputs.md`).
fn results_row(files: &IterationFiles) -> Vec<(String, String)> {
    let (meta, s, verdict) = (files.meta, files.summary, files.verdict);
    let job_id = meta
        .labels
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(col::JOB_ID))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let prompt_text: String = meta.sample_prompt.chars().take(PROMPT_TEXT_CHARS).collect();
    let old = [
        meta.model.clone(),
        meta.size.input.to_string(),
        meta.size.output.to_string(),
        meta.sent_req_min(s.requests).to_string(),
        bool_upper(verdict.sustainable),
        meta.duration.as_secs_f64().to_string(),
        s.requests.to_string(),
        format!("{:?}", s.success_rate_pct),
        meta.prompt_token_count.to_string(),
        prompt_text,
        fmt_opt(s.median_response_tokens),
        job_id,
        meta.stage.number().to_string(),
    ];
    let mut cols: Vec<(String, String)> = RESULTS_OLD_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .zip(old)
        .collect();
    let mut push = |name: &str, value: String| cols.push((name.to_string(), value));
    let (completion, completion_reason) = match &meta.completion {
        Completion::Complete => ("COMPLETE", String::new()),
        Completion::AbortedEarly(r) => ("ABORTED_EARLY", r.clone()),
        Completion::AcceptedEarly(r) => ("ACCEPTED_EARLY", r.clone()),
        Completion::Interrupted(r) => ("INTERRUPTED", r.clone()),
    };
    push(col::ITERATION, meta.iteration.to_string());
    push(col::STARTED_AT, meta.started_at.to_rfc3339());
    push(
        col::FILTER_BUFFER,
        meta.filter_buffer.as_secs_f64().to_string(),
    );
    push(col::COMPLETION, completion.to_string());
    push(col::COMPLETION_REASON, completion_reason);
    push(col::JUDGEMENT, files.judgement.to_string());
    push(col::VERDICT_REASON, verdict.reason.clone());
    push(col::ACHIEVED_REQ_S, s.req_per_s.to_string());
    push(col::TARGET_REQ_S, s.target_send_rate_req_s.to_string());
    push(
        col::ACHIEVED_SEND_REQ_S,
        s.achieved_send_rate_req_s.to_string(),
    );
    push(col::INPUT_TOKENS_S, s.input_tokens_per_s.to_string());
    push(col::OUTPUT_TOKENS_S, s.output_tokens_per_s.to_string());
    push(col::FAILED, s.failed.to_string());
    for kind in ErrorKind::ALL {
        let count = s.errors_by_kind.get(&kind).copied().unwrap_or(0);
        push(
            &format!("{}{}", col::ERRORS_PREFIX, upper_snake(kind.as_str())),
            count.to_string(),
        );
    }
    let dists: [(col::Percentiles, &Option<Distribution>); 6] = [
        (col::TTFT_MS, &s.ttft_ms),
        (col::TTFO_MS, &s.ttfo_ms),
        (col::TPOT_MS, &s.tpot_ms),
        (col::ITL_MS, &s.itl_ms),
        (col::NTPOT_MS, &s.ntpot_ms),
        (col::E2E_MS, &s.e2e_ms),
    ];
    for (names, d) in dists {
        push(names.p50, fmt_ms(d.map(|d| d.p50)));
        push(names.p90, fmt_ms(d.map(|d| d.p90)));
        push(names.p99, fmt_ms(d.map(|d| d.p99)));
    }
    let lag = &s.schedule_lag_ms;
    push(col::LAG_P50_MS, fmt_ms(lag.map(|d| d.p50)));
    push(col::LAG_P99_MS, fmt_ms(lag.map(|d| d.p99)));
    push(col::LAG_MAX_MS, fmt_ms(lag.map(|d| d.max)));
    push(
        col::PLANNED_SEND_REQ_S,
        s.planned_send_rate_req_s.to_string(),
    );
    push(col::CLIENT_CPU_S, fmt_opt(s.client_cpu_s));
    push(col::CLIENT_CPU_PCT, fmt_opt(s.client_cpu_pct));
    push(
        col::CLIENT_MAX_IN_FLIGHT,
        s.client_max_in_flight.to_string(),
    );
    push(col::CLIENT_LIMITED, bool_upper(s.client_limited.is_some()));
    push(
        col::CLIENT_LIMIT_REASON,
        s.client_limited.clone().unwrap_or_default(),
    );
    push(
        col::PROMPT_TOKENS_MISMATCH,
        s.prompt_tokens_mismatch.to_string(),
    );
    let settle = meta.settle.as_ref();
    push(col::SETTLE_WAIT_S, fmt_opt(settle.map(|w| w.wait_s)));
    push(
        col::SETTLE_RESULT,
        settle
            .map(|w| w.end.as_str().to_string())
            .unwrap_or_default(),
    );
    push(col::NOT_STREAMED, s.not_streamed.to_string());
    push(col::USAGE_MISSING, s.usage_missing.to_string());
    push(
        col::OUTPUT_TOKENS_APPROX,
        s.output_tokens_approx.to_string(),
    );
    push(col::SHORT_OUTPUTS, s.short_outputs.to_string());
    let reasoning = &s.reasoning_tokens;
    push(col::REASONING_TOKENS_P50, fmt_opt(reasoning.map(|d| d.p50)));
    push(col::REASONING_TOKENS_P90, fmt_opt(reasoning.map(|d| d.p90)));
    push(col::REASONING_TOKENS_P99, fmt_opt(reasoning.map(|d| d.p99)));
    push(col::TRANSPORT_RETRIES, s.transport_retries.to_string());
    push(col::LOAD_UNIT, meta.load_unit.as_str().to_string());
    push(col::LOAD, meta.req_min.to_string());
    for (name, value) in super::workload::columns(meta, files.records) {
        push(&name, value);
    }
    let server = files.server.map(ServerMetrics::summary).unwrap_or_default();
    push(col::SERVER_SCRAPES, server.scrapes.to_string());
    push(col::SERVER_MAX_WAITING, fmt_opt(server.max_waiting));
    push(col::SERVER_MAX_RUNNING, fmt_opt(server.max_running));
    push(
        col::SERVER_MEAN_KV_USAGE_PCT,
        fmt_opt(server.mean_kv_usage_pct),
    );
    push(col::SERVER_PROMPT_TOKENS_S, fmt_opt(server.prompt_tokens_s));
    push(
        col::SERVER_GENERATION_TOKENS_S,
        fmt_opt(server.generation_tokens_s),
    );
    push(col::SERVER_REQUESTS_S, fmt_opt(server.requests_s));
    for (name, value) in super::gpu::columns(files.gpu.map(|g| &g.summary)) {
        push(name, value);
    }
    for c in &verdict.criteria {
        let prefix = upper_snake(&c.name);
        for (figure, value) in &c.figures {
            // A figure the criterion could not compute (it abstained) is NaN: written empty.
            let shown = if value.is_nan() {
                String::new()
            } else {
                value.to_string()
            };
            push(&format!("{prefix}_{}", upper_snake(figure)), shown);
        }
        push(
            &format!("{prefix}{}", col::PASSED_SUFFIX),
            bool_upper(c.passed),
        );
    }
    for (key, value) in &meta.labels {
        let column = key.to_ascii_uppercase();
        // JOB_ID already has its old column; a label never shadows a column we computed.
        if !cols.iter().any(|(c, _)| *c == column) {
            cols.push((column, value.clone()));
        }
    }
    cols
}

#[derive(Serialize)]
struct ResultsJson<'a> {
    meta: &'a IterationMeta,
    summary: &'a IterationSummary,
    verdict: &'a Verdict,
    judgement: Judgement,
    /// The server's figures from its metrics (null when scraping is off).
    server: Option<ServerSummary>,
    /// The GPU figures over the steady window (null without GPU telemetry).
    gpu: Option<&'a GpuSummary>,
    halves: HalvesJson,
    requests: Vec<RequestJson<'a>>,
}

/// The halves' window (s from t0) and how many records each half holds.
#[derive(Serialize)]
struct HalvesJson {
    window_start_s: f64,
    window_end_s: f64,
    midpoint_s: f64,
    first: usize,
    second: usize,
}

/// One request with every token's arrival time, seconds from t0.
#[derive(Serialize)]
struct RequestJson<'a> {
    request_idx: u64,
    intended_send_s: f64,
    actual_send_s: f64,
    first_token_s: Option<f64>,
    /// First answer (non-reasoning) token, s from t0.
    first_answer_token_s: Option<f64>,
    end_s: f64,
    token_times_s: Vec<f64>,
    input_tokens: u32,
    server_prompt_tokens: Option<u32>,
    output_tokens: u32,
    output_tokens_from: TokenCount,
    reasoning_tokens: Option<u32>,
    transport_retries: u8,
    requested_output_tokens: u32,
    /// Class index in an `ADDITIVE` mix (see `meta.classes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<u16>,
    /// Model index with several models (see `meta.models`).
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<u16>,
    /// Session index and turn number in multi-turn sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    turn: Option<u32>,
    http_status: Option<u16>,
    error: Option<ErrorKind>,
    error_detail: Option<&'a str>,
}

fn results_json<'a>(files: &IterationFiles<'a>) -> ResultsJson<'a> {
    let h = files.halves;
    let mut requests: Vec<RequestJson<'a>> = files
        .records
        .iter()
        .map(|r| RequestJson {
            request_idx: r.request_idx,
            intended_send_s: offset_s(r.intended_send),
            actual_send_s: offset_s(r.actual_send),
            first_token_s: r.first_token.map(offset_s),
            first_answer_token_s: r.first_answer_token.map(offset_s),
            end_s: offset_s(r.end),
            token_times_s: r
                .token_offsets_us
                .iter()
                .map(|us| offset_s(r.actual_send + Duration::from_micros(u64::from(*us))))
                .collect(),
            input_tokens: r.input_tokens,
            server_prompt_tokens: r.server_prompt_tokens,
            output_tokens: r.output_tokens,
            output_tokens_from: r.output_tokens_from,
            reasoning_tokens: r.reasoning_tokens,
            transport_retries: r.transport_retries,
            requested_output_tokens: r.requested_output_tokens,
            class: r.class,
            model: r.model,
            session: r.session,
            turn: r.turn,
            http_status: r.http_status,
            error: r.error,
            error_detail: r.error_detail.as_deref(),
        })
        .collect();
    requests.sort_by_key(|r| r.request_idx);
    ResultsJson {
        meta: files.meta,
        summary: files.summary,
        verdict: files.verdict,
        judgement: files.judgement,
        server: files.server.map(ServerMetrics::summary),
        gpu: files.gpu.map(|g| &g.summary),
        halves: HalvesJson {
            window_start_s: offset_s(h.window_start),
            window_end_s: offset_s(h.window_end),
            midpoint_s: offset_s(h.midpoint),
            first: h.first.len(),
            second: h.second.len(),
        },
        requests,
    }
}
