//! Column names of an iteration's `results.csv` (one header, one row), for the writer in the
//! tool and the reader in the report. The fixed columns are listed here in file order; between
//! and after them come columns built from a name: `ERRORS_<KIND>` (one per error kind), the
//! workload's (`PROMPT_LENGTHS`, `CLASS_…`, with several models `MODEL_<name>_…`), each criterion's `<CRITERION>_<FIGURE>` and
//! [`PASSED_SUFFIX`], and the labels. Meanings and units: `docs/reference/outputs.md`.

/// A name (a model, a class) as it stands inside a column name such as `MODEL_<name>_REQUESTS`:
/// ASCII letters and digits kept, every other character `_`. Two names with the same part
/// would share columns, so the tool refuses them together.
pub fn name_part(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Model name (several: comma separated, as in `MODEL`).
pub const MODEL_USED: &str = "MODEL_USED";
/// Input side of the size.
pub const INPUT_TOKENS: &str = "INPUT_TOKENS";
/// Output side of the size.
pub const OUTPUT_TOKENS: &str = "OUTPUT_TOKENS";
/// Offered rate, requests/minute; when `LOAD_UNIT` is not `req_min`, the requests sent per
/// minute of sending.
pub const REQ_MIN: &str = "REQ_MIN";
/// The verdict, `TRUE` (sustainable) or `FALSE`.
pub const EVALUATION: &str = "EVALUATION";
/// Configured sending duration, s.
pub const DURATION: &str = "DURATION";
/// Requests sent.
pub const TOTAL_REQUESTS: &str = "TOTAL_REQUESTS";
/// Share of successful requests, %.
pub const SUCCESS_RATE: &str = "SUCCESS_RATE";
/// Prompt length of the sample prompt, tokens.
pub const PROMPT_TOKEN_COUNT: &str = "PROMPT_TOKEN_COUNT";
/// The sample prompt's first characters.
pub const PROMPT_TEXT: &str = "PROMPT_TEXT";
/// Median output tokens of successful requests.
pub const MEDIAN_RESPONSE_TOKENS: &str = "MEDIAN_RESPONSE_TOKENS";
/// `JOB_ID` label.
pub const JOB_ID: &str = "JOB_ID";
/// Search stage, 1 ramp or 2 bisection.
pub const STAGE: &str = "STAGE";

/// The old tool's columns, which open `results.csv` in this order.
pub const OLD_COLUMNS: [&str; 13] = [
    MODEL_USED,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    REQ_MIN,
    EVALUATION,
    DURATION,
    TOTAL_REQUESTS,
    SUCCESS_RATE,
    PROMPT_TOKEN_COUNT,
    PROMPT_TEXT,
    MEDIAN_RESPONSE_TOKENS,
    JOB_ID,
    STAGE,
];

/// 1-based iteration number within the size.
pub const ITERATION: &str = "ITERATION";
/// Wall-clock time of t0, RFC 3339.
pub const STARTED_AT: &str = "STARTED_AT";
/// Configured `FILTER_BUFFER`, s.
pub const FILTER_BUFFER: &str = "FILTER_BUFFER";
/// `COMPLETE`, `ABORTED_EARLY`, `ACCEPTED_EARLY` or `INTERRUPTED`.
pub const COMPLETION: &str = "COMPLETION";
/// Why the iteration stopped early.
pub const COMPLETION_REASON: &str = "COMPLETION_REASON";
/// What the search made of the iteration (a [`crate::Judgement`]).
pub const JUDGEMENT: &str = "JUDGEMENT";
/// The failed criteria's details, or `all criteria passed`.
pub const VERDICT_REASON: &str = "VERDICT_REASON";
/// Successful completions per second over the iteration's wall time.
pub const ACHIEVED_REQ_S: &str = "ACHIEVED_REQ_S";
/// `REQ_MIN / 60`.
pub const TARGET_REQ_S: &str = "TARGET_REQ_S";
/// Requests sent per second of sending.
pub const ACHIEVED_SEND_REQ_S: &str = "ACHIEVED_SEND_REQ_S";
/// Prompt tokens of successful requests per second.
pub const INPUT_TOKENS_S: &str = "INPUT_TOKENS_S";
/// Output tokens of successful requests per second.
pub const OUTPUT_TOKENS_S: &str = "OUTPUT_TOKENS_S";
/// Requests that ended with an error.
pub const FAILED: &str = "FAILED";
/// Prefix of the per-kind error counts, `ERRORS_<KIND>` (the kind upper-snake-cased).
pub const ERRORS_PREFIX: &str = "ERRORS_";

/// The three percentile columns of one latency distribution, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: &'static str,
    /// 90th percentile.
    pub p90: &'static str,
    /// 99th percentile.
    pub p99: &'static str,
}

/// TTFT percentiles, ms.
pub const TTFT_MS: Percentiles = Percentiles {
    p50: "TTFT_P50_MS",
    p90: "TTFT_P90_MS",
    p99: "TTFT_P99_MS",
};
/// TTFO (first answer token) percentiles, ms.
pub const TTFO_MS: Percentiles = Percentiles {
    p50: "TTFO_P50_MS",
    p90: "TTFO_P90_MS",
    p99: "TTFO_P99_MS",
};
/// TPOT percentiles, ms.
pub const TPOT_MS: Percentiles = Percentiles {
    p50: "TPOT_P50_MS",
    p90: "TPOT_P90_MS",
    p99: "TPOT_P99_MS",
};
/// ITL percentiles, ms.
pub const ITL_MS: Percentiles = Percentiles {
    p50: "ITL_P50_MS",
    p90: "ITL_P90_MS",
    p99: "ITL_P99_MS",
};
/// NTPOT percentiles, ms.
pub const NTPOT_MS: Percentiles = Percentiles {
    p50: "NTPOT_P50_MS",
    p90: "NTPOT_P90_MS",
    p99: "NTPOT_P99_MS",
};
/// E2E percentiles, ms.
pub const E2E_MS: Percentiles = Percentiles {
    p50: "E2E_P50_MS",
    p90: "E2E_P90_MS",
    p99: "E2E_P99_MS",
};

/// Median schedule lag, ms.
pub const LAG_P50_MS: &str = "LAG_P50_MS";
/// 99th percentile of the schedule lag, ms.
pub const LAG_P99_MS: &str = "LAG_P99_MS";
/// Largest schedule lag, ms.
pub const LAG_MAX_MS: &str = "LAG_MAX_MS";
/// The schedule's own rate, requests/s.
pub const PLANNED_SEND_REQ_S: &str = "PLANNED_SEND_REQ_S";
/// CPU time of the process over the iteration, s.
pub const CLIENT_CPU_S: &str = "CLIENT_CPU_S";
/// That CPU time over the wall time, % of one core.
pub const CLIENT_CPU_PCT: &str = "CLIENT_CPU_PCT";
/// Most requests in flight at once.
pub const CLIENT_MAX_IN_FLIGHT: &str = "CLIENT_MAX_IN_FLIGHT";
/// `TRUE` when the client fell behind its schedule.
pub const CLIENT_LIMITED: &str = "CLIENT_LIMITED";
/// What the client missed.
pub const CLIENT_LIMIT_REASON: &str = "CLIENT_LIMIT_REASON";
/// Requests whose server-reported prompt tokens differ from the workload's.
pub const PROMPT_TOKENS_MISMATCH: &str = "PROMPT_TOKENS_MISMATCH";
/// How long the driver waited for an idle server, s.
pub const SETTLE_WAIT_S: &str = "SETTLE_WAIT_S";
/// How that wait ended.
pub const SETTLE_RESULT: &str = "SETTLE_RESULT";
/// Successful requests answered with one body although a stream was asked for.
pub const NOT_STREAMED: &str = "NOT_STREAMED";
/// Successful requests without server `usage`.
pub const USAGE_MISSING: &str = "USAGE_MISSING";
/// Of those, requests counted one token per delta.
pub const OUTPUT_TOKENS_APPROX: &str = "OUTPUT_TOKENS_APPROX";
/// Successful requests that generated fewer tokens than asked for.
pub const SHORT_OUTPUTS: &str = "SHORT_OUTPUTS";
/// Median reasoning tokens per successful request that reasoned.
pub const REASONING_TOKENS_P50: &str = "REASONING_TOKENS_P50";
/// 90th percentile of the reasoning tokens.
pub const REASONING_TOKENS_P90: &str = "REASONING_TOKENS_P90";
/// 99th percentile of the reasoning tokens.
pub const REASONING_TOKENS_P99: &str = "REASONING_TOKENS_P99";
/// Requests sent again on a closed pooled connection.
pub const TRANSPORT_RETRIES: &str = "TRANSPORT_RETRIES";
/// What the search varied (`req_min`, `users`, `sessions_min`, `trace_scale`).
pub const LOAD_UNIT: &str = "LOAD_UNIT";
/// The level the iteration ran at, in `LOAD_UNIT` (with `req_min` the same as `REQ_MIN`).
pub const LOAD: &str = "LOAD";
/// Scrapes of `SERVER_METRICS_URL` that answered.
pub const SERVER_SCRAPES: &str = "SERVER_SCRAPES";
/// Largest waiting queue the server reported, requests.
pub const SERVER_MAX_WAITING: &str = "SERVER_MAX_WAITING";
/// Largest running batch the server reported, requests.
pub const SERVER_MAX_RUNNING: &str = "SERVER_MAX_RUNNING";
/// Mean KV-cache usage over the scrapes, %.
pub const SERVER_MEAN_KV_USAGE_PCT: &str = "SERVER_MEAN_KV_USAGE_PCT";
/// The server's own prompt throughput, tokens/s.
pub const SERVER_PROMPT_TOKENS_S: &str = "SERVER_PROMPT_TOKENS_S";
/// The server's own generation throughput, tokens/s.
pub const SERVER_GENERATION_TOKENS_S: &str = "SERVER_GENERATION_TOKENS_S";
/// The server's own completed requests per second.
pub const SERVER_REQUESTS_S: &str = "SERVER_REQUESTS_S";
/// GPUs the telemetry reported (`GPU_METRICS_URL`, `GPU_SMI`); this and the `GPU_*` columns
/// below are empty without telemetry. Every `GPU_*` figure covers the steady window
/// (`[FILTER_BUFFER, sending stopped − FILTER_BUFFER]`) and sums over the GPUs unless it says
/// mean.
pub const GPU_COUNT: &str = "GPU_COUNT";
/// Telemetry polls that answered.
pub const GPU_SAMPLES: &str = "GPU_SAMPLES";
/// Length of the steady window the figures cover, s.
pub const GPU_WINDOW_S: &str = "GPU_WINDOW_S";
/// Mean power over the window (∫P dt over its length), all GPUs, W.
pub const GPU_MEAN_POWER_W: &str = "GPU_MEAN_POWER_W";
/// Largest power polled in the window, all GPUs, W.
pub const GPU_MAX_POWER_W: &str = "GPU_MAX_POWER_W";
/// Energy over the window, all GPUs, J.
pub const GPU_ENERGY_J: &str = "GPU_ENERGY_J";
/// Where the energy comes from: `counter` (the GPUs' energy counters' difference) or `power`
/// (trapezoid ∫P dt over the polled power).
pub const GPU_ENERGY_FROM: &str = "GPU_ENERGY_FROM";
/// Energy per output token generated in the window (successful requests), J.
pub const GPU_J_PER_OUTPUT_TOKEN: &str = "GPU_J_PER_OUTPUT_TOKEN";
/// Energy per successful request completed in the window, J.
pub const GPU_J_PER_REQUEST: &str = "GPU_J_PER_REQUEST";
/// Mean GPU utilisation over the polls in the window and the GPUs, %.
pub const GPU_MEAN_UTIL_PCT: &str = "GPU_MEAN_UTIL_PCT";
/// Mean memory used over the polls in the window, all GPUs, MiB.
pub const GPU_MEAN_MEMORY_USED_MIB: &str = "GPU_MEAN_MEMORY_USED_MIB";

/// Suffix of a criterion's outcome column, `<CRITERION>_PASSED` (`TRUE`/`FALSE`); the
/// criterion's name is its upper-snake-cased prefix.
pub const PASSED_SUFFIX: &str = "_PASSED";
