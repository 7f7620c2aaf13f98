//! The LLM-server simulator of mst-search: an OpenAI-compatible streaming server that behaves
//! like a continuous-batching engine (vLLM-style) and whose capacity is known in closed form
//! ([`capacity`]), so every other part of mst-search can be tested against a known answer.
//!
//! It is a crate of its own because it is the only user of axum and needs nothing of the tool:
//! the report's tests and any other test harness can start a simulator without compiling the
//! tool, and the tool's own modules (client, load, search…) cannot reach into the server they
//! are tested against. The tool still depends on this crate, and so still builds axum, for its
//! `simulate`, `demo` and `bench-client` commands; it re-exports it as `mst_search::sim`.
//!
//! - `engine`: the batch state machine and the task that steps it on a virtual clock;
//! - `server`: axum routes, streaming, fault injection per request;
//! - `wire`: request parsing and response JSON shapes, and the `/tokenize` shapes imitated;
//! - `tokenizer`: a deterministic tokenizer and the chat template;
//! - `framing`: how events are framed on the wire (line endings, comments, split data);
//! - `keepalive`: closing keep-alive connections the way servers behind a limit do;
//! - `faults`, `capacity`, `metrics`: what their names say;
//! - `args`: the `simulate` flags ([`SimulateArgs`]); `cmd`: the `simulate` command itself.

mod args;
mod capacity;
pub mod cmd;
mod engine;
mod faults;
mod framing;
mod keepalive;
mod listener;
mod metrics;
mod received;
mod server;
mod stream;
pub mod tokenizer;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use args::SimulateArgs;
pub use capacity::{Capacity, capacity};
pub use faults::FaultConfig;
pub use framing::{ErrorEventStyle, LineEnding};
pub use metrics::DCGM_PATH;
pub use received::Received;
pub use wire::TokenizeShape;

/// The engine's parameters. All times are MODEL milliseconds, before `time_scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Fixed cost of every step.
    pub step_fixed_ms: f64,
    /// Cost per running sequence in a step.
    pub step_per_seq_ms: f64,
    /// Cost per prompt token admitted (prefilled) in a step.
    pub step_per_prefill_token_ms: f64,
    /// Largest batch.
    pub max_num_seqs: u32,
    /// KV budget in tokens; a running sequence reserves `prompt + max_tokens`.
    pub kv_cache_tokens: u64,
    /// Largest `prompt + max_tokens` of one request.
    pub max_model_len: u32,
    /// Bound of the waiting queue; a request beyond it gets HTTP 429.
    pub max_waiting: usize,
    /// Speed-up of model time: 10.0 runs 10 times faster than model time.
    pub time_scale: f64,
    /// Seed of every random draw (output lengths, words, faults).
    pub seed: u64,
    /// Served model id.
    pub model: String,
    /// Further model names served on top of `model`, as LoRA adapters on a vLLM server:
    /// `/v1/models` lists them after `model` (with `parent` = `model`), requests may name any
    /// of them, and the engine runs them alike. A request naming a model not served gets
    /// HTTP 404, as vLLM answers.
    pub adapters: Vec<String>,
    /// Mean output length (geometric) when a request does not set `ignore_eos`.
    pub eos_mean_tokens: f64,
    /// Keep generating a request whose client has disconnected (queued or running) instead of
    /// dropping it, as a gateway or proxy that does not pass disconnects on makes a server do.
    /// Off by default (vLLM aborts such a request).
    pub keep_abandoned: bool,
    /// GPUs whose DCGM-style telemetry `/dcgm/metrics` exports (None: no such route).
    pub gpus: Option<GpuPower>,
}

/// The simulated GPUs' power, for `/dcgm/metrics`: `gpus × idle_w + per_seq_w × running` W in
/// all, shared evenly between the GPUs, so the power follows the batch's occupancy. Their
/// energy counters (mJ) integrate exactly that piecewise-constant power over real (wall)
/// seconds since the server started, whatever `time_scale` is.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPower {
    /// GPUs exported (at least 1).
    pub gpus: u32,
    /// Power of one idle GPU, W.
    pub idle_w: f64,
    /// Power each running sequence adds, W (in all, not per GPU).
    pub per_seq_w: f64,
}

impl GpuPower {
    /// Power of all the GPUs with `running` sequences in the batch, W.
    pub fn power_w(&self, running: f64) -> f64 {
        f64::from(self.gpus) * self.idle_w + self.per_seq_w * running
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            step_fixed_ms: 8.0,
            step_per_seq_ms: 0.1,
            step_per_prefill_token_ms: 0.02,
            max_num_seqs: 256,
            kv_cache_tokens: 200_000,
            max_model_len: 32_768,
            max_waiting: 100_000,
            time_scale: 1.0,
            seed: 0,
            model: "sim-model".to_string(),
            adapters: Vec::new(),
            eos_mean_tokens: 200.0,
            keep_abandoned: false,
            gpus: None,
        }
    }
}

impl EngineConfig {
    /// A small engine — `max_num_seqs` sequences, 20 ms fixed step, 1 ms per sequence — whose
    /// capacity is a few thousand requests per minute, run `time_scale` times faster than model
    /// time: what the demo, the tests and the benchmarks drive.
    pub fn small(max_num_seqs: u32, time_scale: f64) -> EngineConfig {
        EngineConfig {
            step_fixed_ms: 20.0,
            step_per_seq_ms: 1.0,
            step_per_prefill_token_ms: 0.05,
            max_num_seqs,
            kv_cache_tokens: 1_000_000,
            time_scale,
            ..EngineConfig::default()
        }
    }

    /// Every model name served: `model`, then the `adapters`.
    pub fn served_models(&self) -> Vec<String> {
        std::iter::once(&self.model)
            .chain(&self.adapters)
            .cloned()
            .collect()
    }

    /// Checks every field; the message names the option, the value and what is expected.
    pub fn validate(&self) -> Result<(), String> {
        let times = [
            ("step_fixed_ms", self.step_fixed_ms),
            ("step_per_seq_ms", self.step_per_seq_ms),
            ("step_per_prefill_token_ms", self.step_per_prefill_token_ms),
        ];
        for (name, v) in times {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "{name} = {v}: expected a non-negative number of milliseconds"
                ));
            }
        }
        if self.max_num_seqs == 0 {
            return Err("max_num_seqs = 0: expected at least 1 sequence".to_string());
        }
        if self.kv_cache_tokens < 2 {
            return Err(format!(
                "kv_cache_tokens = {}: expected at least 2 tokens (one prompt and one output token)",
                self.kv_cache_tokens
            ));
        }
        if self.max_model_len < 2 {
            return Err(format!(
                "max_model_len = {}: expected at least 2 tokens",
                self.max_model_len
            ));
        }
        if self.max_waiting == 0 {
            return Err(
                "max_waiting = 0: expected room for at least 1 waiting request".to_string(),
            );
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(format!(
                "time_scale = {}: expected a positive finite number",
                self.time_scale
            ));
        }
        if self.model.trim().is_empty() {
            return Err(format!(
                "model = {:?}: expected a non-empty model id",
                self.model
            ));
        }
        let served = self.served_models();
        for (i, name) in self.adapters.iter().enumerate() {
            if name.trim().is_empty() || served[..=i].contains(name) {
                return Err(format!(
                    "adapters = {:?}: expected non-empty names, distinct from each other and from model {:?}",
                    self.adapters, self.model
                ));
            }
        }
        if let Some(g) = &self.gpus {
            if g.gpus == 0 {
                return Err("gpus = 0: expected at least 1 GPU (or none at all)".to_string());
            }
            for (name, v) in [("gpu_idle_w", g.idle_w), ("gpu_per_seq_w", g.per_seq_w)] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(format!(
                        "{name} = {v}: expected a non-negative number of watts"
                    ));
                }
            }
        }
        if !(self.eos_mean_tokens.is_finite() && self.eos_mean_tokens >= 1.0) {
            return Err(format!(
                "eos_mean_tokens = {}: expected a mean output length of at least 1 token",
                self.eos_mean_tokens
            ));
        }
        Ok(())
    }
}

/// A snapshot of the engine and server counters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SimStats {
    /// Sequences in the batch.
    pub running: u32,
    /// Requests queued for admission.
    pub waiting: usize,
    /// Largest `waiting` seen since start.
    pub max_waiting_seen: usize,
    /// Most requests handed to the engine and not yet finished or aborted at once (queued or
    /// running), since start: the concurrency the server saw.
    pub max_in_flight: u64,
    /// Requests handed to the engine since start.
    pub total_requests: u64,
    /// Requests answered with an error status (bad request, injected fault, full queue).
    pub rejected_requests: u64,
    /// Requests that ran to their length.
    pub finished_requests: u64,
    /// Requests aborted because their client went away.
    pub aborted_requests: u64,
    /// Output tokens generated since start.
    pub tokens_generated: u64,
    /// Prompt tokens prefilled since start.
    pub prompt_tokens: u64,
    /// KV tokens reserved by running sequences.
    pub kv_used_tokens: u64,
    /// `kv_used_tokens / kv_cache_tokens`, 0..=1.
    pub kv_usage: f64,
    /// Faults injected since start, so a test can reconcile the client's error counts with
    /// what the server actually did.
    pub faults: FaultCounts,
    /// TCP connections accepted since start.
    pub connections_accepted: u64,
    /// Most HTTP requests served on one connection (above 1: keep-alive reuse happened).
    pub max_requests_per_connection: u64,
}

/// How many requests got each injected fault. A request counts once per fault it drew; stream
/// faults (cut, malformed, stall) count only for requests that were answered with a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultCounts {
    pub http_500: u64,
    pub http_429: u64,
    pub cut: u64,
    pub malformed: u64,
    pub stall: u64,
    /// Requests in the engine when a connection refusal started: their connections were
    /// closed, so each is a cut stream on the client's side.
    pub dropped_by_refusal: u64,
    /// Streams that reported an error event after their first tokens.
    pub error_event: u64,
    /// Streams ended by a `finish_reason: "abort"` chunk.
    pub abort: u64,
    /// Streams whose body ended cleanly without a finish chunk or `[DONE]`.
    pub clean_end: u64,
    /// Requests that generated zero tokens.
    pub empty: u64,
    /// Requests answered with HTTP 200 and an error object.
    pub error_body: u64,
    /// Connections the server closed after a response or when idle (keep-alive limits).
    pub keepalive_closes: u64,
}

/// A running simulator: engine task plus HTTP server on one address.
pub struct SimServer {
    addr: SocketAddr,
    cfg: Arc<EngineConfig>,
    shared: Arc<engine::Shared>,
    faults: Arc<Mutex<FaultConfig>>,
    counters: Arc<faults::FaultCounters>,
    refuse_tx: mpsc::UnboundedSender<Duration>,
    cancel: CancellationToken,
    engine_task: JoinHandle<()>,
    server_task: JoinHandle<()>,
}

impl SimServer {
    /// Starts on `127.0.0.1` with a free port.
    pub async fn start(cfg: EngineConfig, faults: FaultConfig) -> anyhow::Result<SimServer> {
        Self::start_on(cfg, faults, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr` (port 0 picks a free port).
    pub async fn start_on(
        cfg: EngineConfig,
        faults: FaultConfig,
        addr: SocketAddr,
    ) -> anyhow::Result<SimServer> {
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("invalid simulator configuration: {e}"))?;
        faults
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid fault configuration: {e}"))?;
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = tcp.local_addr().context("cannot read the bound address")?;
        let cfg = Arc::new(cfg);
        let shared = Arc::new(engine::Shared::default());
        let cancel = CancellationToken::new();
        let (submit_tx, submit_rx) = mpsc::unbounded_channel();
        let engine_task = tokio::spawn(engine::run(
            (*cfg).clone(),
            submit_rx,
            shared.clone(),
            cancel.child_token(),
        ));
        let faults_cell = Arc::new(Mutex::new(faults.clone()));
        let fault_counters = Arc::new(faults::FaultCounters::default());
        let (refuse_tx, refuse_rx) = mpsc::unbounded_channel();
        let counters = shared.clone();
        let on_refuse = Box::new(move || {
            // Every request in the engine loses its connection: count them as cut.
            let open = counters.running.load(Ordering::Relaxed) as u64
                + counters.waiting.load(Ordering::Relaxed) as u64;
            counters
                .dropped_by_refusal
                .fetch_add(open, Ordering::Relaxed);
        });
        let listener = listener::RefusableListener::new(
            tcp,
            addr,
            refuse_rx,
            on_refuse,
            keepalive::Watch::new(faults_cell.clone(), fault_counters.clone()),
        );
        let app = keepalive::layer(server::router(server::AppState::new(
            cfg.clone(),
            shared.clone(),
            submit_tx,
            faults_cell.clone(),
            fault_counters.clone(),
        )));
        let stop = cancel.child_token();
        let server_task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<keepalive::ConnInfo>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
            if let Err(e) = served {
                tracing::error!("simulator server stopped: {e}");
            }
        });
        let server = SimServer {
            addr,
            cfg,
            shared,
            faults: faults_cell,
            counters: fault_counters,
            refuse_tx,
            cancel,
            engine_task,
            server_task,
        };
        server.schedule_refusal(&faults);
        Ok(server)
    }

    fn schedule_refusal(&self, faults: &FaultConfig) {
        if let Some((at, dur)) = faults.refuse {
            let tx = self.refuse_tx.clone();
            let cancel = self.cancel.child_token();
            tokio::spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs_f64(at)) => {
                        let _ = tx.send(Duration::from_secs_f64(dur));
                    }
                }
            });
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The engine configuration it runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Replaces the faults for requests that arrive from now on; a `refuse` schedule in them
    /// starts counting now.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.schedule_refusal(&faults);
        if let Ok(mut f) = self.faults.lock() {
            *f = faults;
        }
    }

    /// Closes the listener (new connections get ECONNREFUSED) and the open connections, then
    /// listens on the same port again after `d`.
    pub fn refuse_connections_for(&self, d: Duration) {
        let _ = self.refuse_tx.send(d);
    }

    /// Requests admitted per served model name since start (a request that names no model
    /// counts for `model`); every served name is listed, with 0 when none asked for it.
    /// Counted after the request is validated (an unknown model is not counted), before
    /// faults are drawn.
    pub fn requests_by_model(&self) -> std::collections::BTreeMap<String, u64> {
        let mut counts: std::collections::BTreeMap<String, u64> = self
            .cfg
            .served_models()
            .into_iter()
            .map(|m| (m, 0))
            .collect();
        if let Ok(seen) = self.shared.by_model.lock() {
            for (m, n) in seen.iter() {
                counts.insert(m.clone(), *n);
            }
        }
        counts
    }

    /// Starts logging every accepted request (see [`Received`]), emptying any earlier log;
    /// times are from this call. Off until called, so a long-running server keeps nothing.
    pub fn record_requests(&self) {
        self.shared.received.start();
    }

    /// The requests accepted since [`SimServer::record_requests`], in arrival order (empty
    /// when it was never called).
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.snapshot()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        let s = &self.shared;
        let c = &self.counters;
        let kv_used_tokens = s.kv_used.load(Ordering::Relaxed);
        SimStats {
            running: s.running.load(Ordering::Relaxed),
            waiting: s.waiting.load(Ordering::Relaxed),
            max_waiting_seen: s.max_waiting_seen.load(Ordering::Relaxed),
            max_in_flight: s.max_in_flight.load(Ordering::Relaxed),
            total_requests: s.total_requests.load(Ordering::Relaxed),
            rejected_requests: s.rejected_requests.load(Ordering::Relaxed),
            finished_requests: s.finished_stop.load(Ordering::Relaxed)
                + s.finished_length.load(Ordering::Relaxed),
            aborted_requests: s.aborted.load(Ordering::Relaxed),
            tokens_generated: s.tokens_generated.load(Ordering::Relaxed),
            prompt_tokens: s.prompt_tokens.load(Ordering::Relaxed),
            kv_used_tokens,
            kv_usage: kv_used_tokens as f64 / self.cfg.kv_cache_tokens as f64,
            faults: FaultCounts {
                http_500: s.fault_500.load(Ordering::Relaxed),
                http_429: s.fault_429.load(Ordering::Relaxed),
                cut: s.fault_cut.load(Ordering::Relaxed),
                malformed: s.fault_malformed.load(Ordering::Relaxed),
                stall: s.fault_stall.load(Ordering::Relaxed),
                dropped_by_refusal: s.dropped_by_refusal.load(Ordering::Relaxed),
                error_event: c.error_event.load(Ordering::Relaxed),
                abort: c.abort.load(Ordering::Relaxed),
                clean_end: c.clean_end.load(Ordering::Relaxed),
                empty: c.empty.load(Ordering::Relaxed),
                error_body: c.error_body.load(Ordering::Relaxed),
                keepalive_closes: c.keepalive_closes.load(Ordering::Relaxed),
            },
            connections_accepted: c.connections.load(Ordering::Relaxed),
            max_requests_per_connection: c.max_requests_per_connection.load(Ordering::Relaxed),
        }
    }

    /// Stops the engine (open streams end without `[DONE]`) and the server.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.engine_task.await;
        let server_task = self.server_task;
        let abort = server_task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), server_task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Runs a simulator on `addr` until Ctrl-C or SIGTERM.
pub async fn serve_forever(
    cfg: EngineConfig,
    faults: FaultConfig,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    let server = SimServer::start_on(cfg, faults, addr).await?;
    tracing::info!("simulator listening on {}", server.url());
    wait_for_signal().await;
    tracing::info!("simulator shutting down");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
