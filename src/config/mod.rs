//! Typed, validated configuration: the only place that reads `.env`, the environment or flags.
//!
//! Sources in rising priority: the `--env` file (dotenvy), the process environment, command-line
//! flags. Raw strings become domain types once, here; a bad value is an [`Error::Config`] naming
//! the key, the value and what was expected, before any traffic is sent.

mod evaluators;
pub mod keys;
mod load;
mod metrics;
pub mod mode;
mod parse;
mod search;
mod sessions;
#[cfg(test)]
mod tests;
mod trace;
mod traffic;
mod users;
mod workload;

pub use crate::workload::WorkloadConfig;
pub use evaluators::EvaluatorSettings;
pub use keys::{KEYS, suggest as suggest_key};
pub use parse::*;
pub use trace::TraceSettings;
pub use users::{LoadMode, USERS_START_DEFAULT};

use crate::client::{Api, Secret};
use crate::error::Result;
use crate::error::Warning;
use crate::load::arrivals::ArrivalKind;
use crate::search::{ConfirmPolicy, Threshold};
use crate::size::{SizeSpec, TokenRange};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `EXPERIMENT_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExperimentType {
    Mst,
    Mit,
}

/// The validated configuration of a run.
///
/// Serialised, it is the part of the resume fingerprint that does not depend on the size:
/// fields are named by their `.env` key, durations in seconds, and the fields of keys not
/// marked `fingerprint` in the registry are skipped (a test changes every key in turn and
/// checks the two agree).
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// `URL`: base URL of the server, scheme added when missing (`http://`), no trailing slash.
    #[serde(skip)]
    pub url: String,
    /// `API`: completions (default) or chat.
    #[serde(rename = "API")]
    pub api: Api,
    /// `OPENAI_API_KEY` or `API_KEY`: sent as a bearer token, never printed.
    #[serde(skip)]
    pub api_key: Option<Secret>,
    /// `MODEL`: the model names to request (several: a split over models or LoRA adapters);
    /// empty means ask the server's `/v1/models` and use its first. In the fingerprint through
    /// the resolved name(s) `experiment::state::settings` adds.
    #[serde(skip)]
    pub models: Vec<String>,
    /// `TRAFFIC_SPLIT`: with several `MODEL` names, the share of requests each gets, in
    /// `MODEL`'s order, summing to 1 (even when the key is unset); empty with one model.
    #[serde(rename = "TRAFFIC_SPLIT", skip_serializing_if = "Vec::is_empty")]
    pub traffic_split: Vec<f64>,
    /// `DURATION`: length of one iteration's sending phase.
    #[serde(rename = "DURATION", serialize_with = "secs")]
    pub duration: Duration,
    /// `TOKENS_LIST`: the sizes, searched in order.
    #[serde(skip)]
    pub sizes: Vec<SizeSpec>,
    /// `REQ_MIN_START`: start rate per size by index (requests/minute); the last is reused.
    #[serde(skip)]
    pub req_min_start: Vec<f64>,
    /// `REQ_MIN_INCREASE_MULTIPLIER` (> 1).
    #[serde(rename = "REQ_MIN_INCREASE_MULTIPLIER")]
    pub multiplier: f64,
    /// `THRESHOLD_TYPE` + `STOP_THRESHOLD`.
    #[serde(rename = "THRESHOLD_TYPE/STOP_THRESHOLD")]
    pub threshold: Threshold,
    /// `COOLDOWN`: pause between iterations.
    #[serde(skip)]
    pub cooldown: Duration,
    /// `FILTER_BUFFER`: cut from each end of an iteration before the steady window.
    #[serde(rename = "FILTER_BUFFER", serialize_with = "secs")]
    pub filter_buffer: Duration,
    /// `SUCCESS_RATE`: minimum share of successful requests, percent.
    #[serde(rename = "SUCCESS_RATE")]
    pub success_rate_pct: f64,
    /// `ADDITIVE`: one mixed search over all sizes (workloads issue).
    #[serde(rename = "ADDITIVE")]
    pub additive: bool,
    /// `TOKENS_LIST_PROPORTION`: weights for `ADDITIVE`, one per size.
    #[serde(skip)]
    pub tokens_list_proportion: Vec<f64>,
    /// `PROMPTS_FILE`: JSONL prompt set (workloads issue).
    #[serde(rename = "PROMPTS_FILE")]
    pub prompts_file: Option<PathBuf>,
    /// `EXPERIMENT_TYPE`: MST or MIT.
    #[serde(rename = "EXPERIMENT_TYPE")]
    pub experiment_type: ExperimentType,
    /// `FRAC_GREEDY`: share of temperature-0 requests, 0..=1.
    #[serde(rename = "FRAC_GREEDY")]
    pub frac_greedy: f64,
    /// `SAMPLE_SIZE`: number of distinct prompts reused; None = every request distinct.
    #[serde(rename = "SAMPLE_SIZE")]
    pub sample_size: Option<u32>,
    /// `REQUEST_TIMEOUT`: limit on one whole request.
    #[serde(rename = "REQUEST_TIMEOUT", serialize_with = "secs")]
    pub request_timeout: Duration,
    /// `TTFT_TIMEOUT`: limit on the wait for the first token.
    #[serde(rename = "TTFT_TIMEOUT", serialize_with = "secs")]
    pub ttft_timeout: Duration,
    /// `TPOT_TIMEOUT`: limit on the wait between two tokens.
    #[serde(rename = "TPOT_TIMEOUT", serialize_with = "secs")]
    pub tpot_timeout: Duration,
    /// `ARRIVAL`: poisson (default), constant, jitter, or gamma with `BURSTINESS` as its
    /// shape (serialised with it, so the fingerprint moves with either key).
    #[serde(rename = "ARRIVAL")]
    pub arrival: ArrivalKind,
    /// The load mode's keys (`THINK_TIME`, …): what the search varies.
    #[serde(flatten)]
    pub mode: mode::ModeSettings,
    /// `SEED`: seeds arrivals and prompts.
    #[serde(rename = "SEED")]
    pub seed: u64,
    /// `EVALUATOR` with each evaluator's keys (`QUEUE_*`, `THROUGHPUT_MIN_PCT`,
    /// `DRIFT_MIN_PCT`, `SLO_*`, `PLATEAU_*`, `SUCCESS_RATE`): all must pass.
    #[serde(rename = "EVALUATOR")]
    pub evaluators: Vec<crate::evaluate::EvaluatorSpec>,
    /// `DRIFT_MIN_PCT`, `SLO_*`, `PLATEAU_*`, `EARLY_ABORT*`: the other evaluators and the
    /// early-abort watchdog.
    #[serde(rename = "evaluator keys")]
    pub evaluator_settings: EvaluatorSettings,
    /// `CONFIRM` (none|fail|both); `CONFIRM_FAIL=false` means `none`.
    #[serde(rename = "CONFIRM")]
    pub confirm: ConfirmPolicy,
    /// `SEARCH`: classic (the old sequence) or adaptive (aimed from the measured capacity).
    #[serde(rename = "SEARCH")]
    pub search: crate::search::Strategy,
    /// `SATURATION_PROBE` with `PROBE_DURATION` and `PROBE_CONCURRENCY`; None when off.
    #[serde(rename = "SATURATION_PROBE")]
    pub probe: Option<crate::load::saturation::ProbeSettings>,
    /// `CI_STOP_WIDTH`: also converge once the confidence interval's relative width is at most
    /// this, in (0, 1); None: off.
    #[serde(rename = "CI_STOP_WIDTH")]
    pub ci_stop_width: Option<f64>,
    /// `REPEATS`: whole searches per size.
    #[serde(rename = "REPEATS")]
    pub repeats: u32,
    /// `MAX_ITERATIONS`: cap per size.
    #[serde(rename = "MAX_ITERATIONS")]
    pub max_iterations: u32,
    /// `REQ_MIN_FLOOR`: lowest rate tried when walking down (requests/minute).
    #[serde(rename = "REQ_MIN_FLOOR")]
    pub req_min_floor: f64,
    /// `DRAIN_TIMEOUT`: how long in-flight requests may finish after `DURATION`.
    #[serde(rename = "DRAIN_TIMEOUT", serialize_with = "secs")]
    pub drain_timeout: Duration,
    /// `RETRY_ON_OUTAGE`: outage iterations in a row that are run again before a size gives up.
    #[serde(rename = "RETRY_ON_OUTAGE")]
    pub retry_on_outage: u32,
    /// `OUTAGE_WAIT`: after an outage, how long to wait for the server to answer again.
    #[serde(skip)]
    pub outage_wait: Duration,
    /// `SETTLE_TIMEOUT`: before each iteration, how long to wait for an idle server (no
    /// request running or waiting); zero = no wait (see `experiment::settle`).
    #[serde(rename = "SETTLE_TIMEOUT", serialize_with = "secs")]
    pub settle_timeout: Duration,
    /// `CLIENT_LAG_LIMIT_MS`: a send later than this is late (see [`crate::load::certify`]).
    #[serde(rename = "CLIENT_LAG_LIMIT_MS")]
    pub client_lag_limit_ms: f64,
    /// `OUTPUT_DIR`: where `<in>_<out>/…` folders go (default `requests`).
    #[serde(skip)]
    pub output_dir: PathBuf,
    /// `JOB_ID`: run label copied into results (defaults to `SLURM_JOB_ID` when set).
    #[serde(skip)]
    pub job_id: Option<String>,
    /// Metadata copied into results: `GPUS`, `CPUS`, `NODE` (and any given).
    #[serde(skip)]
    pub metadata: BTreeMap<String, String>,
    /// Workload keys beyond the old tool's (tokenizer, shared prefix, dataset fields).
    #[serde(rename = "workload keys")]
    pub workload: WorkloadConfig,
    /// `SIZE_INDEX` (`--size-index`), else `SLURM_ARRAY_TASK_ID`: search only this 0-based
    /// `TOKENS_LIST` entry (one array task per size); None searches them all.
    #[serde(skip)]
    pub size_index: Option<usize>,
    /// `SERVER_METRICS_URL` + `SCRAPE_INTERVAL`: the server's metrics scraped per iteration.
    #[serde(skip)]
    pub scrape: crate::scrape::ScrapeConfig,
    /// `TRACE` with `TRACE_FORMAT` and `SCALE`: a trace replayed at a time scale (the search
    /// variable); None: requests at a rate. Its content hash and `SCALE` are in the
    /// fingerprint.
    #[serde(rename = "TRACE", skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceSettings>,
    /// `SESSION_TURNS`: turns per multi-turn session; 1 sends independent requests. Sessions
    /// (more than 1) then arrive at the search's level, in sessions per minute.
    #[serde(rename = "SESSION_TURNS")]
    pub session_turns: u32,
    /// `GPU_METRICS_URL` or `GPU_SMI`, and `GPU_HOURLY_COST`: GPU telemetry per iteration.
    /// Not in the resume fingerprint: it neither changes the load nor any verdict, so a search
    /// may be resumed with telemetry added or removed (iterations without it carry no GPU
    /// figures and are left out of the energy at the MST).
    #[serde(skip)]
    pub telemetry: crate::telemetry::TelemetryConfig,
}

impl Config {
    /// The client's settings from `URL`, `API`, `API_KEY`, `MODEL` (its first name; empty when
    /// unset: the pre-flight asks the server) and the three timeouts.
    pub fn client_config(&self) -> crate::client::ClientConfig {
        crate::client::ClientConfig {
            base_url: self.url.clone(),
            api: self.api,
            api_key: self.api_key.clone(),
            model: self.models.first().cloned().unwrap_or_default(),
            request_timeout: self.request_timeout,
            ttft_timeout: self.ttft_timeout,
            tpot_timeout: self.tpot_timeout,
        }
    }

    /// An iteration of `size` at `req_min` from the iteration keys (`DURATION`,
    /// `FILTER_BUFFER`, `DRAIN_TIMEOUT`, `ARRIVAL`, `EARLY_ABORT*`), sending `model`; no labels
    /// and no early accept (the driver adds both where they apply).
    pub fn iteration_plan(
        &self,
        size: crate::size::SizeSpec,
        req_min: f64,
        stage: crate::search::Stage,
        iteration: u32,
        seed: u64,
        model: &str,
    ) -> crate::load::runner::IterationPlan {
        crate::load::runner::IterationPlan {
            size,
            req_min,
            stage,
            iteration,
            duration: self.duration,
            filter_buffer: self.filter_buffer,
            drain_timeout: self.drain_timeout,
            arrival: self.arrival,
            unit: self.load_unit(),
            seed,
            model: model.to_string(),
            labels: Default::default(),
            early_abort: self.evaluator_settings.early_abort,
            early_accept: None,
            trace: self.trace.as_ref().map(|t| t.trace.clone()),
            users: match self.mode.load {
                LoadMode::Rate => None,
                LoadMode::Users { .. } => Some(crate::load::users::UsersPlan {
                    // The level is a whole number of users (the search rounds it).
                    users: req_min.round().max(1.0) as u32,
                    think_time: self.mode.think_time,
                }),
            },
            sessions: self.sessions_plan(),
        }
    }

    /// Multi-turn sessions from `SESSION_TURNS` and `THINK_TIME`; None with one turn.
    pub fn sessions_plan(&self) -> Option<crate::load::sessions::SessionsPlan> {
        (self.session_turns > 1).then_some(crate::load::sessions::SessionsPlan {
            turns: self.session_turns,
            think_time: self.mode.think_time,
        })
    }

    /// The unit of the searched level in the configured load mode (requests/minute for
    /// open-loop rates).
    pub fn load_unit(&self) -> crate::search::LoadUnit {
        if self.trace.is_some() {
            crate::search::LoadUnit::TraceScale
        } else if self.session_turns > 1 {
            crate::search::LoadUnit::SessionsMin
        } else {
            self.mode.unit()
        }
    }

    /// What the workload needs, from `API`, `TOKENS_LIST`, `SEED`, `SAMPLE_SIZE`,
    /// `FRAC_GREEDY`, `ADDITIVE`/`TOKENS_LIST_PROPORTION`, `PROMPTS_*` and the workload keys.
    pub fn workload_settings(&self) -> crate::workload::WorkloadSettings {
        crate::workload::WorkloadSettings {
            api: self.api,
            sizes: self.sizes.clone(),
            seed: self.seed,
            sample_size: self.sample_size,
            frac_greedy: self.frac_greedy,
            mix_weights: self.additive.then(|| self.tokens_list_proportion.clone()),
            prompts_file: self.prompts_file.clone(),
            model_split: self
                .models
                .iter()
                .cloned()
                .zip(self.traffic_split.iter().copied())
                .collect(),
            keys: self.workload.clone(),
        }
    }

    /// The names of `EVALUATOR`'s evaluators, in order.
    pub fn evaluator_names(&self) -> Vec<&'static str> {
        self.evaluators.iter().map(|e| e.name()).collect()
    }

    /// Start level for the size at `index`: the rate (the last `REQ_MIN_START` entry is
    /// reused), with `TRACE` the start scale `SCALE`, or with `LOAD=users` the `USERS_START`
    /// users.
    pub fn start_req_min(&self, index: usize) -> f64 {
        if let Some(t) = &self.trace {
            // With TRACE the search's level is the time scale.
            return t.scale;
        }
        if let LoadMode::Users { start } = self.mode.load {
            return f64::from(start);
        }
        let i = index.min(self.req_min_start.len().saturating_sub(1));
        self.req_min_start.get(i).copied().unwrap_or(60.0)
    }
}

/// A duration as `<seconds>s` (e.g. `1800s`, `0.25s`), for the fingerprint.
fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}s", d.as_secs_f64()))
}

/// Raw key=value sources in rising priority.
pub struct Sources<'a> {
    /// Pairs from the `--env` file, in file order (a repeated key: the last one wins).
    pub file: Vec<(String, String)>,
    /// Process environment lookup; only known keys are asked for.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// (KEY, value) from command-line flags.
    pub flags: Vec<(&'static str, String)>,
}

impl Config {
    /// Validate all layers into a Config (flags > env > file). Returns warnings (unknown file
    /// keys with a did-you-mean, ignored keys, an overridden `CONFIRM_FAIL`).
    pub fn from_sources(s: &Sources) -> Result<(Config, Vec<Warning>)> {
        load::resolve(s, "the env file")
    }

    /// A configuration from `(KEY, value)` pairs only, as if they were an env file and nothing
    /// else were set: for configurations built in code (the demo, tests).
    pub fn from_pairs(pairs: &[(&str, String)]) -> Result<(Config, Vec<Warning>)> {
        let no_env = |_: &str| None;
        Config::from_sources(&Sources {
            file: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            env: &no_env,
            flags: Vec::new(),
        })
    }

    /// Read the `--env` file with dotenvy (without modifying the process environment), take
    /// the real process environment and the flags, and validate them all.
    pub fn load(
        env_file: Option<&Path>,
        flags: Vec<(&'static str, String)>,
    ) -> Result<(Config, Vec<Warning>)> {
        let file = match env_file {
            Some(p) => load::read_env_file(p)?,
            None => Vec::new(),
        };
        // Lossy, so a non-UTF-8 value reaches the validator and is reported, not skipped.
        let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
        let label = env_file.map_or_else(String::new, |p| p.display().to_string());
        load::resolve(
            &Sources {
                file,
                env: &env,
                flags,
            },
            &label,
        )
    }
}
