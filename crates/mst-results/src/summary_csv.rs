//! Column names of the tool's `<output_dir>/summary.csv` (one row per finished size, rebuilt
//! from every `mst.json`). The report's own `summary.csv` reuses the names it shares.
//! Meanings and units: `docs/reference/outputs.md`.

/// The size as given in `TOKENS_LIST`.
pub const SIZE: &str = "SIZE";
/// Input side of the size.
pub const INPUT_TOKENS: &str = "INPUT_TOKENS";
/// Output side of the size.
pub const OUTPUT_TOKENS: &str = "OUTPUT_TOKENS";
/// Model name.
pub const MODEL: &str = "MODEL";
/// The MST, requests/minute.
pub const MST_REQ_MIN: &str = "MST_REQ_MIN";
/// The MST in requests/second (`MST_REQ_MIN / 60`).
pub const MST_REQ_S: &str = "MST_REQ_S";
/// Final lower bound, requests/minute.
pub const LOWER_REQ_MIN: &str = "LOWER_REQ_MIN";
/// Final upper bound, requests/minute.
pub const UPPER_REQ_MIN: &str = "UPPER_REQ_MIN";
/// Why the search stopped (a [`crate::StopKind`]).
pub const STOP: &str = "STOP";
/// Why, in a sentence.
pub const REASON: &str = "REASON";
/// Iterations run for the size.
pub const ITERATIONS: &str = "ITERATIONS";
/// Start of the size's search, RFC 3339.
pub const STARTED_AT: &str = "STARTED_AT";
/// End of the size's search, RFC 3339.
pub const FINISHED_AT: &str = "FINISHED_AT";
/// Seconds from start to finish.
pub const WALL_TIME_S: &str = "WALL_TIME_S";
/// `JOB_ID`, when given.
pub const JOB_ID: &str = "JOB_ID";
/// The evaluators, joined with `+`.
pub const EVALUATORS: &str = "EVALUATORS";
/// Median output tokens generated per successful request at the MST.
pub const GENERATED_OUTPUT_TOKENS_P50: &str = "GENERATED_OUTPUT_TOKENS_P50";
/// Share of those requests that generated fewer tokens than asked for, %.
pub const SHORT_OUTPUTS_PCT: &str = "SHORT_OUTPUTS_PCT";
/// What the answer cost: the sum of the iterations' times (cooldowns, settles, sending,
/// drains), seconds.
pub const ITERATION_TIME_S: &str = "ITERATION_TIME_S";
/// Lower end of the MST's confidence interval (`confidence.low_req_min`), requests/minute;
/// empty when the search varied another unit (then `MST_CI_LOW_LOAD`).
pub const MST_CI_LOW_REQ_MIN: &str = "MST_CI_LOW_REQ_MIN";
/// Upper end of the MST's confidence interval (`confidence.high_req_min`), requests/minute.
pub const MST_CI_HIGH_REQ_MIN: &str = "MST_CI_HIGH_REQ_MIN";

/// `SEARCH`: `classic` or `adaptive`.
pub const SEARCH: &str = "SEARCH";
/// The adaptive search's capacity estimate (`capacity_estimate.req_min`), requests/minute.
pub const CAPACITY_ESTIMATE_REQ_MIN: &str = "CAPACITY_ESTIMATE_REQ_MIN";
/// Whole searches behind the MST (`REPEATS`; 1 without repeats).
pub const REPEATS: &str = "REPEATS";
/// Sample standard deviation of the repeats' MSTs (`repeat_stats.sd_req_min`), requests/minute.
pub const MST_SD_REQ_MIN: &str = "MST_SD_REQ_MIN";
/// Coefficient of variation of the repeats' MSTs (`repeat_stats.cv`).
pub const MST_CV: &str = "MST_CV";
/// GPUs behind the energy figures (`energy.gpus`); this and the energy columns below are
/// empty without GPU telemetry at the MST.
pub const GPU_COUNT: &str = "GPU_COUNT";
/// Mean power at the MST, all GPUs (`energy.power_w`), W.
pub const MST_POWER_W: &str = "MST_POWER_W";
/// Energy per output token at the MST (`energy.joules_per_output_token`), J.
pub const MST_J_PER_OUTPUT_TOKEN: &str = "MST_J_PER_OUTPUT_TOKEN";
/// Output tokens per joule at the MST (`energy.output_tokens_per_joule`).
pub const MST_OUTPUT_TOKENS_PER_J: &str = "MST_OUTPUT_TOKENS_PER_J";
/// Cost per million output tokens at the MST (`energy.cost_per_million_output_tokens`):
/// `GPU_COUNT × GPU_HOURLY_COST ÷ (output tokens/s at the MST × 3600) × 10⁶`, in the currency
/// of `GPU_HOURLY_COST`; empty without it.
pub const MST_COST_PER_M_OUTPUT_TOKENS: &str = "MST_COST_PER_M_OUTPUT_TOKENS";

/// What the search varied (`load_unit` in `mst.json`): `req_min`, `users`, `sessions_min`,
/// `trace_scale`.
pub const LOAD_UNIT: &str = "LOAD_UNIT";
/// The MST in `LOAD_UNIT` (`mst_load`): with `req_min` the same as `MST_REQ_MIN`.
pub const MST_LOAD: &str = "MST_LOAD";
/// Final lower bound in `LOAD_UNIT` (`lower_load`).
pub const LOWER_LOAD: &str = "LOWER_LOAD";
/// Final upper bound in `LOAD_UNIT` (`upper_load`).
pub const UPPER_LOAD: &str = "UPPER_LOAD";

/// Lower end of the MST's confidence interval in `LOAD_UNIT` (`confidence.low_req_min`,
/// which holds the level in `load_unit`); the same as `MST_CI_LOW_REQ_MIN` for rate searches.
pub const MST_CI_LOW_LOAD: &str = "MST_CI_LOW_LOAD";
/// Upper end of the MST's confidence interval in `LOAD_UNIT`.
pub const MST_CI_HIGH_LOAD: &str = "MST_CI_HIGH_LOAD";

/// Every column, in file order (columns are only ever appended, so an older file's header
/// is a prefix of this one).
pub const COLUMNS: [&str; 37] = [
    SIZE,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    MODEL,
    MST_REQ_MIN,
    MST_REQ_S,
    LOWER_REQ_MIN,
    UPPER_REQ_MIN,
    STOP,
    REASON,
    ITERATIONS,
    STARTED_AT,
    FINISHED_AT,
    WALL_TIME_S,
    JOB_ID,
    EVALUATORS,
    GENERATED_OUTPUT_TOKENS_P50,
    SHORT_OUTPUTS_PCT,
    ITERATION_TIME_S,
    MST_CI_LOW_REQ_MIN,
    MST_CI_HIGH_REQ_MIN,
    SEARCH,
    CAPACITY_ESTIMATE_REQ_MIN,
    REPEATS,
    MST_SD_REQ_MIN,
    MST_CV,
    LOAD_UNIT,
    MST_LOAD,
    LOWER_LOAD,
    UPPER_LOAD,
    GPU_COUNT,
    MST_POWER_W,
    MST_J_PER_OUTPUT_TOKEN,
    MST_OUTPUT_TOKENS_PER_J,
    MST_COST_PER_M_OUTPUT_TOKENS,
    MST_CI_LOW_LOAD,
    MST_CI_HIGH_LOAD,
];
