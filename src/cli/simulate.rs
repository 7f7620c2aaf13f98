//! Flags of `mst-search simulate`: the embedded simulator's engine parameters and faults.

use clap::Args;

use crate::sim::{EngineConfig, FaultConfig};

/// Run an OpenAI-compatible LLM-server simulator with a known capacity.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Fixed cost of every engine step, model milliseconds.
    #[arg(long, default_value_t = 8.0, allow_negative_numbers = true)]
    pub step_fixed_ms: f64,
    /// Cost per running sequence in a step, model milliseconds.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub step_per_seq_ms: f64,
    /// Cost per prompt token prefilled in a step, model milliseconds.
    #[arg(long, default_value_t = 0.02, allow_negative_numbers = true)]
    pub step_per_prefill_token_ms: f64,
    /// Largest batch (running sequences).
    #[arg(long, default_value_t = 256)]
    pub max_num_seqs: u32,
    /// KV-cache budget in tokens; a sequence reserves prompt + max_tokens.
    #[arg(long, default_value_t = 200_000)]
    pub kv_cache_tokens: u64,
    /// Largest prompt + max_tokens of one request.
    #[arg(long, default_value_t = 32_768)]
    pub max_model_len: u32,
    /// Bound of the waiting queue; requests beyond it get HTTP 429.
    #[arg(long, default_value_t = 100_000)]
    pub max_waiting: usize,
    /// Speed-up of model time (10 = ten times faster).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub time_scale: f64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Served model id.
    #[arg(long, default_value = "sim-model")]
    pub model: String,
    /// Mean output length when a request does not set ignore_eos.
    #[arg(long, default_value_t = 200.0, allow_negative_numbers = true)]
    pub eos_mean_tokens: f64,
    /// Share of requests answered with HTTP 500 (0..=1).
    #[arg(
        long = "fault-500-rate",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub fault_500_rate: f64,
    /// Share of requests answered with HTTP 429 (0..=1).
    #[arg(
        long = "fault-429-rate",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub fault_429_rate: f64,
    /// Share of requests whose stream is cut without [DONE] (0..=1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_cut_rate: f64,
    /// Tokens sent before a cut.
    #[arg(long, default_value_t = 1)]
    pub fault_cut_after: u32,
    /// Share of streams with one chunk that is not valid JSON (0..=1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_malformed_rate: f64,
    /// Share of streams that stall halfway (0..=1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_stall_rate: f64,
    /// Length of a stall, wall-clock seconds.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    pub fault_stall_secs: f64,
    /// Refuse connections this many seconds after start (with --fault-refuse-for).
    #[arg(long, allow_negative_numbers = true, requires = "fault_refuse_for")]
    pub fault_refuse_at: Option<f64>,
    /// For this many seconds.
    #[arg(long, allow_negative_numbers = true, requires = "fault_refuse_at")]
    pub fault_refuse_for: Option<f64>,
    /// Answer with one JSON body even when a stream was asked for.
    #[arg(long)]
    pub ignore_stream: bool,
    /// Leave `usage` out of streamed responses.
    #[arg(long)]
    pub omit_usage: bool,
    /// Answer /tokenize and /detokenize with 404, like a server without them.
    #[arg(long)]
    pub no_tokenize: bool,
    /// Answer /tokenize in this server's shape: vllm, llama.cpp or tgi (TGI's completions
    /// route then takes text prompts only and counts one BOS token more).
    #[arg(long, default_value = "vllm", value_name = "SERVER")]
    pub tokenize_api: crate::client::TokenizeApi,
    /// Print the analytic capacity for IN:OUT tokens per request and exit.
    #[arg(long, value_name = "IN:OUT")]
    pub capacity: Option<String>,
}

impl SimulateArgs {
    /// The engine configuration, validated; errors name the flag.
    pub fn engine(&self) -> Result<EngineConfig, String> {
        let cfg = EngineConfig {
            step_fixed_ms: self.step_fixed_ms,
            step_per_seq_ms: self.step_per_seq_ms,
            step_per_prefill_token_ms: self.step_per_prefill_token_ms,
            max_num_seqs: self.max_num_seqs,
            kv_cache_tokens: self.kv_cache_tokens,
            max_model_len: self.max_model_len,
            max_waiting: self.max_waiting,
            time_scale: self.time_scale,
            seed: self.seed,
            model: self.model.clone(),
            eos_mean_tokens: self.eos_mean_tokens,
        };
        // The engine names the field (`step_fixed_ms = …`); the user typed the flag.
        cfg.validate().map_err(|e| match e.split_once(' ') {
            Some((field, rest)) => format!("--{} {rest}", field.replace('_', "-")),
            None => e,
        })?;
        Ok(cfg)
    }

    /// The fault configuration, validated; errors name the flag.
    pub fn faults(&self) -> Result<FaultConfig, String> {
        let faults = FaultConfig {
            http_500_rate: self.fault_500_rate,
            http_429_rate: self.fault_429_rate,
            cut_rate: self.fault_cut_rate,
            cut_after_tokens: self.fault_cut_after,
            malformed_rate: self.fault_malformed_rate,
            stall_rate: self.fault_stall_rate,
            stall_secs: self.fault_stall_secs,
            // clap makes the two refuse flags require each other.
            refuse: self.fault_refuse_at.zip(self.fault_refuse_for),
            ignore_stream: self.ignore_stream,
            omit_usage: self.omit_usage,
            no_tokenize: self.no_tokenize,
            tokenize_api: self.tokenize_api,
        };
        // Fields map to flags: `http_500_rate` → `--fault-500-rate`, `refuse_at` → `--fault-refuse-at`.
        faults.validate_labelled(|field| {
            format!(
                "--fault-{}",
                field.trim_start_matches("http_").replace('_', "-")
            )
        })?;
        Ok(faults)
    }

    /// The `--capacity IN:OUT` request shape, if given.
    pub fn capacity_shape(&self) -> Result<Option<(u32, u32)>, String> {
        let Some(spec) = &self.capacity else {
            return Ok(None);
        };
        let parsed = spec.split_once(':').and_then(|(i, o)| {
            Some((i.trim().parse::<u32>().ok()?, o.trim().parse::<u32>().ok()?))
        });
        match parsed {
            Some((i, o)) if o > 0 => Ok(Some((i, o))),
            _ => Err(format!(
                "--capacity {spec:?}: expected IN:OUT token counts, e.g. 1000:100 (OUT at least 1)"
            )),
        }
    }
}
