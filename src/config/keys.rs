//! The names of every configuration key, so that only known keys are read from the process
//! environment and a misspelt key in the env file gets a "did you mean" instead of silence.

/// Every key the configuration reads, in the order of `.env.example`.
pub const KNOWN_KEYS: &[&str] = &[
    "URL",
    "API",
    "OPENAI_API_KEY",
    "API_KEY",
    "MODEL",
    "DURATION",
    "TOKENS_LIST",
    "REQ_MIN_START",
    "REQ_MIN_INCREASE_MULTIPLIER",
    "THRESHOLD_TYPE",
    "STOP_THRESHOLD",
    "COOLDOWN",
    "FILTER_BUFFER",
    "SUCCESS_RATE",
    "ADDITIVE",
    "TOKENS_LIST_PROPORTION",
    "PROMPTS_FILE",
    "PROMPTS_FIELD",
    "OUTPUT_FROM_DATASET",
    "TOKENIZER",
    "SHARED_PREFIX_TOKENS",
    "PREFIX_GROUPS",
    "EXPERIMENT_TYPE",
    "FRAC_GREEDY",
    "SAMPLE_SIZE",
    "REQUEST_TIMEOUT",
    "TTFT_TIMEOUT",
    "TPOT_TIMEOUT",
    "ARRIVAL",
    "SEED",
    "EVALUATOR",
    "QUEUE_GROWTH_WINDOW_PCT",
    "QUEUE_GROWTH_MIN_MS",
    "THROUGHPUT_MIN_PCT",
    // Evaluators beyond queue, and early abort (src/config/evaluators.rs).
    "DRIFT_MIN_PCT",
    "SLO_TTFT_P50_MS",
    "SLO_TTFT_P90_MS",
    "SLO_TTFT_P99_MS",
    "SLO_TPOT_P50_MS",
    "SLO_TPOT_P90_MS",
    "SLO_TPOT_P99_MS",
    "SLO_ITL_P50_MS",
    "SLO_ITL_P90_MS",
    "SLO_ITL_P99_MS",
    "SLO_E2E_P50_MS",
    "SLO_E2E_P90_MS",
    "SLO_E2E_P99_MS",
    "SLO_GOODPUT_PCT",
    "PLATEAU_MIN_GAIN_PCT",
    "PLATEAU_MIN_GAIN_REQ_MIN",
    "EARLY_ABORT",
    "EARLY_ABORT_AFTER_PCT",
    "EARLY_ABORT_DELAY_FACTOR",
    "EARLY_ABORT_DELAY_MIN_MS",
    "CONFIRM",
    "CONFIRM_FAIL",
    "MAX_ITERATIONS",
    "REQ_MIN_FLOOR",
    "DRAIN_TIMEOUT",
    "RETRY_ON_OUTAGE",
    "OUTAGE_WAIT",
    "SETTLE_TIMEOUT",
    "CLIENT_LAG_LIMIT_MS",
    "OUTPUT_DIR",
    "JOB_ID",
    "SLURM_JOB_ID",
    "GPUS",
    "CPUS",
    "NODE",
    "SIZE_INDEX",
    "SLURM_ARRAY_TASK_ID",
    // Server metrics (src/scrape.rs).
    "SERVER_METRICS_URL",
    "SCRAPE_INTERVAL",
];

/// Keys copied verbatim into the results' metadata.
pub const METADATA_KEYS: &[&str] = &["GPUS", "CPUS", "NODE"];

/// Keys whose values are secrets: never echoed in a message.
pub const SECRET_KEYS: &[&str] = &["OPENAI_API_KEY", "API_KEY"];

/// Whether `key` is one the configuration reads.
pub fn is_known(key: &str) -> bool {
    KNOWN_KEYS.contains(&key)
}

/// Keys an earlier version read, with what replaced them: an old env file gets told, not just
/// warned of an unknown key.
pub const RETIRED_KEYS: &[(&str, &str)] = &[(
    "QUEUE_GROWTH_MAX_PCT",
    "replaced by QUEUE_GROWTH_WINDOW_PCT: material queueing-delay growth is now a share of the window's length (default 2), not of the starting delay",
)];

/// What replaced a retired key, if `key` is one.
pub fn retired(key: &str) -> Option<&'static str> {
    let upper = key.to_ascii_uppercase();
    RETIRED_KEYS
        .iter()
        .find(|(k, _)| *k == upper)
        .map(|(_, why)| *why)
}

/// The known key closest to `unknown`, when one is close enough to be a likely typo.
pub fn suggest(unknown: &str) -> Option<&'static str> {
    let upper = unknown.to_ascii_uppercase();
    KNOWN_KEYS
        .iter()
        .map(|k| (strsim::jaro_winkler(&upper, k), *k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}
