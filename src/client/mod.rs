//! The OpenAI-compatible streaming client: one shared, pooled `reqwest::Client` that sends a
//! request, reads its SSE stream, enforces the three timeouts and turns whatever happened into a
//! [`RequestRecord`]. Server failures become records with an [`ErrorKind`]; only failures of the
//! tool itself (a bad URL, a client that cannot be built) are `Err`.

mod api;
mod chunk;
pub mod sse;
mod stream;
mod tokenize;
mod transport;

pub use chunk::{ChunkInfo, ServerTiming, TokenCounter, Usage, parse as parse_chunk};
pub use tokenize::{ServerTokenizer, TokenizeApi};

use crate::error::{Error, Result};
use crate::record::{ErrorKind, RequestRecord};
pub use api::{Api, Secret};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What the client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:8000` (no trailing slash, no `/v1`).
    pub base_url: String,
    /// Which endpoint.
    pub api: Api,
    /// Bearer token, never printed.
    pub api_key: Option<Secret>,
    /// Model name sent in every request.
    pub model: String,
    /// Limit on a whole request.
    pub request_timeout: Duration,
    /// Limit on the wait for the first token.
    pub ttft_timeout: Duration,
    /// Limit on the wait between two tokens.
    pub tpot_timeout: Duration,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// The prompt of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Plain text (completions).
    Text(String),
    /// Token ids of the served model (completions; exact length).
    TokenIds(Vec<u32>),
    /// Chat messages (chat completions).
    Chat(Vec<ChatMessage>),
}

/// Everything that varies between requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub prompt: Prompt,
    /// Prompt tokens the workload intended.
    pub input_tokens: u32,
    /// Index of the `TOKENS_LIST` entry this request was drawn from in an `ADDITIVE` mix.
    pub class: Option<u16>,
    /// The model drawn for this request when `MODEL` names several; None sends the client's
    /// configured model.
    pub model: Option<ModelChoice>,
    /// `max_tokens` = `min_tokens`.
    pub output_tokens: u32,
    pub temperature: f64,
    /// In a multi-turn session (`SESSION_TURNS` > 1), which session and turn this request is;
    /// the client then returns the answer's text in the record
    /// ([`RequestRecord::answer_text`]) for the next turn's conversation. None everywhere
    /// else, so chunks copy no text.
    pub session: Option<SessionTurn>,
}

/// One turn of a multi-turn session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTurn {
    /// The session's index within its iteration (0-based, in order of start time).
    pub session: u64,
    /// The turn's number within its session (1-based).
    pub turn: u32,
}

/// One of several models (`MODEL=a,b,c`), as drawn for a request.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    /// Position of the name in `MODEL` (the records' `model` index).
    pub index: u16,
    /// The name sent as the request's `model`.
    pub name: std::sync::Arc<str>,
}

/// Where a request sits in its iteration's timeline.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub request_idx: u64,
    /// Iteration start.
    pub t0: Instant,
    /// Intended send time, from `t0`.
    pub intended: Duration,
}

impl Slot {
    /// The record of `spec` sent in this slot `actual_send` after `t0`, before anything came
    /// back: the one place a request's row is started, by the client and by the dispatcher
    /// (for a request whose task panicked).
    pub fn record(&self, spec: &RequestSpec, actual_send: Duration) -> RequestRecord {
        let mut r = RequestRecord::new(
            self.request_idx,
            self.intended,
            actual_send,
            spec.input_tokens,
            spec.output_tokens,
        );
        r.class = spec.class;
        r.model = spec.model.as_ref().map(|m| m.index);
        r.session = spec.session.map(|s| s.session);
        r.turn = spec.session.map(|s| s.turn);
        r
    }
}

/// Stops in-flight requests and says why (the kind each stopped request records).
#[derive(Debug, Default)]
pub struct Cancel {
    token: CancellationToken,
    kind: OnceLock<ErrorKind>,
}

impl Cancel {
    pub fn new() -> Arc<Cancel> {
        Arc::new(Cancel::default())
    }
    /// Stop everything in flight; the first kind given wins.
    pub fn cancel(&self, kind: ErrorKind) {
        let _ = self.kind.set(kind);
        self.token.cancel();
    }
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
    /// Resolves when cancelled.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }
    /// The kind stopped requests record.
    pub fn kind(&self) -> ErrorKind {
        self.kind.get().copied().unwrap_or(ErrorKind::Cancelled)
    }
}

/// What a probe of the server found.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// Model ids served (`/v1/models`).
    pub models: Vec<String>,
    /// `max_model_len` of the first model, when the server reports it (vLLM does).
    pub max_model_len: Option<u32>,
}

/// The seam between the load generator and the network: sends one request, returns its record.
pub trait LlmClient: Send + Sync + 'static {
    /// Send one request and follow it to its end (or to `cancel`). Always returns a record.
    fn send(
        &self,
        spec: &RequestSpec,
        slot: Slot,
        cancel: &Cancel,
    ) -> impl std::future::Future<Output = RequestRecord> + Send;
}

/// The real client over HTTP.
#[derive(Debug, Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    endpoint: String,
    server_timings: Option<Arc<ServerTimings>>,
}

/// Where the client puts the server's own timestamps (`sim_timing`) of every request that
/// carried them, keyed by request index; `bench-client` compares them with the client's clocks.
#[derive(Debug, Default)]
pub struct ServerTimings {
    seen: Mutex<Vec<(u64, ServerTiming)>>,
}

impl ServerTimings {
    fn push(&self, request_idx: u64, timing: ServerTiming) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((request_idx, timing));
        }
    }

    /// Everything collected so far, emptying the sink.
    pub fn take(&self) -> Vec<(u64, ServerTiming)> {
        self.seen
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default()
    }
}

impl OpenAiClient {
    /// Build the shared, pooled client. Fails only on an unusable configuration.
    pub fn new(cfg: ClientConfig) -> Result<OpenAiClient> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(cfg.ttft_timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| {
                Error::config(
                    "URL",
                    cfg.base_url.clone(),
                    format!("a usable endpoint ({e})"),
                )
            })?;
        let endpoint = match cfg.api {
            Api::Completions => format!("{}/v1/completions", cfg.base_url),
            Api::Chat => format!("{}/v1/chat/completions", cfg.base_url),
        };
        Ok(OpenAiClient {
            http,
            cfg: Arc::new(cfg),
            endpoint,
            server_timings: None,
        })
    }

    /// Collect the server's `sim_timing` of every request into `sink` (see [`ServerTimings`]).
    pub fn with_server_timings(mut self, sink: Arc<ServerTimings>) -> OpenAiClient {
        self.server_timings = Some(sink);
        self
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    fn authorized(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cfg.api_key {
            Some(key) => rb.bearer_auth(key.expose()),
            None => rb,
        }
    }

    /// Ask `/v1/models`, retrying for up to `within`; an error names the URL.
    pub async fn probe(&self, within: Duration) -> Result<ServerInfo> {
        let url = format!("{}/v1/models", self.cfg.base_url);
        let deadline = Instant::now() + within;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let req = self
                .authorized(self.http.get(&url))
                .timeout(left.max(Duration::from_millis(100)));
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let body: serde_json::Value =
                        resp.json().await.map_err(|e| Error::Unreachable {
                            url: url.clone(),
                            reason: format!("/v1/models did not return JSON ({e})"),
                        })?;
                    return Ok(parse_models(&body));
                }
                Ok(resp) => last = format!("HTTP {} from /v1/models", resp.status()),
                Err(e) => last = describe_reqwest_error(&e),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(Error::Unreachable {
            url: self.cfg.base_url.clone(),
            reason: format!("{last} (tried for {:.0} s)", within.as_secs_f64()),
        })
    }
}

impl LlmClient for OpenAiClient {
    fn send(
        &self,
        spec: &RequestSpec,
        slot: Slot,
        cancel: &Cancel,
    ) -> impl std::future::Future<Output = RequestRecord> + Send {
        stream::send(self, spec, slot, cancel)
    }
}

fn parse_models(body: &serde_json::Value) -> ServerInfo {
    let data = body.get("data").and_then(|d| d.as_array());
    let models = data
        .map(|d| {
            d.iter()
                .filter_map(|m| m.get("id").and_then(|i| i.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let max_model_len = data
        .and_then(|d| d.first())
        .and_then(|m| m.get("max_model_len"))
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok());
    ServerInfo {
        models,
        max_model_len,
    }
}

/// A reqwest error as one line without the URL's credentials (reqwest never prints headers).
pub(crate) fn describe_reqwest_error(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The first `max` bytes of `s`, cut at a character boundary (for error details).
pub(crate) fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// rustls needs one process-wide crypto provider; we build with `ring` only.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
