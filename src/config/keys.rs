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
    "EXPERIMENT_TYPE",
    "FRAC_GREEDY",
    "SAMPLE_SIZE",
    "REQUEST_TIMEOUT",
    "TTFT_TIMEOUT",
    "TPOT_TIMEOUT",
    "ARRIVAL",
    "SEED",
    "EVALUATOR",
    "QUEUE_GROWTH_MAX_PCT",
    "QUEUE_GROWTH_MIN_MS",
    "THROUGHPUT_MIN_PCT",
    "CONFIRM",
    "CONFIRM_FAIL",
    "MAX_ITERATIONS",
    "REQ_MIN_FLOOR",
    "DRAIN_TIMEOUT",
    "OUTPUT_DIR",
    "JOB_ID",
    "SLURM_JOB_ID",
    "GPUS",
    "CPUS",
    "NODE",
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
