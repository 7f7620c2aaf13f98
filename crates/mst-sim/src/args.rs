//! Flags of `mst-search simulate`: the simulator's engine parameters and faults. They live
//! here rather than in the tool's `cli` because [`crate::cmd`] runs on them; the tool's
//! command line embeds [`SimulateArgs`] as its `simulate` subcommand.

use clap::Args;

use crate::{EngineConfig, ErrorEventStyle, FaultConfig, LineEnding, TokenizeShape};

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
    /// Further model names served as LoRA adapters on the model, comma separated (listed by
    /// /v1/models; requests for any other name get HTTP 404).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub adapters: Vec<String>,
    /// Mean output length when a request does not set ignore_eos.
    #[arg(long, default_value_t = 200.0, allow_negative_numbers = true)]
    pub eos_mean_tokens: f64,
    /// Keep generating requests whose client disconnected (as behind a gateway that does not
    /// pass disconnects on) instead of aborting them as vLLM does.
    #[arg(long)]
    pub keep_abandoned: bool,
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
    /// Tokens sent before a cut, an error event, an abort or a clean end.
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
    /// Chat only (no effect on completions): stream the first N output tokens as reasoning
    /// deltas (even requests `reasoning_content`, odd ones `reasoning`) before any content.
    #[arg(long, default_value_t = 0)]
    pub reasoning_tokens: u32,
    /// Honour include_usage but ignore continuous_usage_stats (usage only at the end).
    #[arg(long)]
    pub usage_at_end_only: bool,
    /// Output tokens per SSE chunk (at least 1).
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    /// Share of streams that send an error event after --fault-cut-after tokens, then [DONE].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_error_event_rate: f64,
    /// How that error event is written: json (data: {"error":…}), event (event: error), or
    /// field (llama.cpp's `error: {…}` line).
    #[arg(long, default_value_t = ErrorEventStyle::Json)]
    pub error_event_style: ErrorEventStyle,
    /// Share of streams that end after --fault-cut-after tokens with finish_reason "abort".
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_abort_rate: f64,
    /// Every chunk but the last carries finish_reason "" instead of null.
    #[arg(long)]
    pub empty_finish_reason: bool,
    /// Share of streams whose body ends cleanly after --fault-cut-after tokens, without a
    /// finish chunk, usage or [DONE].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_clean_end_rate: f64,
    /// Share of requests that generate zero tokens (finish_reason "stop", no text).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_empty_rate: f64,
    /// Share of requests answered with HTTP 200 and vLLM's JSON error object.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fault_error_body_rate: f64,
    /// Accept ignore_eos and min_tokens but stop at the end-of-sequence draw anyway.
    #[arg(long)]
    pub ignore_eos_ignored: bool,
    /// Line ending of SSE lines: lf, crlf or cr.
    #[arg(long, default_value_t = LineEnding::Lf)]
    pub sse_line_ending: LineEnding,
    /// Write `data:{…}` without the space after the colon.
    #[arg(long)]
    pub sse_no_space: bool,
    /// Send a `: ping` comment between events.
    #[arg(long)]
    pub sse_comments: bool,
    /// Send each JSON payload as two data: lines, split after a comma between members.
    #[arg(long)]
    pub sse_split_data: bool,
    /// Content-Type of SSE responses (the body stays SSE), e.g. application/json.
    #[arg(long, value_name = "VALUE")]
    pub content_type: Option<String>,
    /// Healthy streams with "usage": null, "choices": null, unknown fields and a first
    /// {"choices":null} event.
    #[arg(long)]
    pub null_fields: bool,
    /// Close each connection right after its N-th response, without Connection: close (0: never).
    #[arg(long, default_value_t = 0)]
    pub keepalive_close_every: u32,
    /// Close a connection idle this many milliseconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub keepalive_idle_ms: u64,
    /// Answer /tokenize in this server's shape: vllm, llama.cpp or tgi (TGI's completions
    /// route then takes text prompts only and counts one BOS token more).
    #[arg(long, default_value = "vllm", value_name = "SERVER")]
    pub tokenize_api: TokenizeShape,
    /// GPUs to export DCGM-style telemetry for at /dcgm/metrics (0: none); their power follows
    /// the batch (see --gpu-idle-w, --gpu-per-seq-w).
    #[arg(long, default_value_t = 0)]
    pub gpus: u32,
    /// Power of one idle simulated GPU, W.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    pub gpu_idle_w: f64,
    /// Power each running sequence adds to the simulated GPUs in all, W.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub gpu_per_seq_w: f64,
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
            adapters: self.adapters.clone(),
            eos_mean_tokens: self.eos_mean_tokens,
            keep_abandoned: self.keep_abandoned,
            gpus: (self.gpus > 0).then_some(crate::GpuPower {
                gpus: self.gpus,
                idle_w: self.gpu_idle_w,
                per_seq_w: self.gpu_per_seq_w,
            }),
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
            reasoning_tokens: self.reasoning_tokens,
            usage_at_end_only: self.usage_at_end_only,
            tokens_per_chunk: self.tokens_per_chunk,
            fault_error_event_rate: self.fault_error_event_rate,
            error_event_style: self.error_event_style,
            fault_abort_rate: self.fault_abort_rate,
            empty_finish_reason: self.empty_finish_reason,
            fault_clean_end_rate: self.fault_clean_end_rate,
            fault_empty_rate: self.fault_empty_rate,
            fault_error_body_rate: self.fault_error_body_rate,
            ignore_eos_ignored: self.ignore_eos_ignored,
            sse_line_ending: self.sse_line_ending,
            sse_no_space: self.sse_no_space,
            sse_comments: self.sse_comments,
            sse_split_data: self.sse_split_data,
            content_type: self.content_type.clone(),
            null_fields: self.null_fields,
            keepalive_close_every: self.keepalive_close_every,
            keepalive_idle_ms: self.keepalive_idle_ms,
            tokenize_api: self.tokenize_api,
        };
        faults.validate_labelled(fault_flag)?;
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

/// The flag of a `FaultConfig` field: `http_500_rate` → `--fault-500-rate`, `refuse_at` →
/// `--fault-refuse-at`, `fault_empty_rate` → `--fault-empty-rate`, `tokens_per_chunk` →
/// `--tokens-per-chunk`.
fn fault_flag(field: &str) -> String {
    let flag = field.trim_start_matches("http_").replace('_', "-");
    match field {
        "tokens_per_chunk" | "content_type" => format!("--{flag}"),
        f if f.starts_with("fault_") => format!("--{flag}"),
        _ => format!("--fault-{flag}"),
    }
}
