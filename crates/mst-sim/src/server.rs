//! The HTTP side: vLLM's OpenAI-compatible routes over the engine, with per-request faults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::RngExt;
use rand_distr::{Distribution, Geometric};
use serde_json::json;
use tokio::sync::mpsc;

use super::engine::{Shared, Submit};
use super::faults::{self, FaultConfig, FaultCounters};
use super::framing::Framing;
use super::stream::{Generation, Style};
use super::wire::{self, ApiError, Endpoint, TokenizeShape};
use super::{EngineConfig, metrics, tokenizer};

/// Requests without `max_tokens` get vLLM's completions default.
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 16;

pub(crate) struct AppState {
    cfg: Arc<EngineConfig>,
    shared: Arc<Shared>,
    submit: mpsc::UnboundedSender<Submit>,
    faults: Arc<Mutex<FaultConfig>>,
    counters: Arc<FaultCounters>,
    next_request: AtomicU64,
    created: u64,
}

impl AppState {
    pub fn new(
        cfg: Arc<EngineConfig>,
        shared: Arc<Shared>,
        submit: mpsc::UnboundedSender<Submit>,
        faults: Arc<Mutex<FaultConfig>>,
        counters: Arc<FaultCounters>,
    ) -> Arc<Self> {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Arc::new(AppState {
            cfg,
            shared,
            submit,
            faults,
            counters,
            next_request: AtomicU64::new(0),
            created,
        })
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/apply-template", post(apply_template))
        .route("/chat_tokenize", post(chat_tokenize))
        .route("/metrics", get(metrics_text))
        .route(metrics::DCGM_PATH, get(dcgm_text))
        .fallback(|| async { no_such_route() })
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state)
}

/// vLLM's shape: the base model, then each LoRA adapter with the base model as `parent`.
async fn models(State(st): State<Arc<AppState>>) -> Response {
    let base = &st.cfg.model;
    let adapters = st.cfg.adapters.iter().map(|a| {
        json!({
            "id": a, "object": "model", "created": st.created,
            "owned_by": "mst-search", "root": a, "parent": base,
            "max_model_len": st.cfg.max_model_len,
        })
    });
    let data: Vec<serde_json::Value> = std::iter::once(json!({
        "id": base, "object": "model", "created": st.created,
        "owned_by": "mst-search", "root": base, "parent": null,
        "max_model_len": st.cfg.max_model_len,
    }))
    .chain(adapters)
    .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn metrics_text(State(st): State<Arc<AppState>>) -> Response {
    let body = metrics::render(&st.shared, &st.cfg.model, st.cfg.kv_cache_tokens);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `/dcgm/metrics`: the simulated GPUs' telemetry; without `--gpus` the route is not there.
async fn dcgm_text(State(st): State<Arc<AppState>>) -> Response {
    let Some(gpus) = &st.cfg.gpus else {
        return no_such_route().into_response();
    };
    let body = metrics::render_dcgm(
        &st.shared,
        gpus,
        st.cfg.max_num_seqs,
        st.cfg.kv_cache_tokens,
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// What a route the server does not have answers.
fn no_such_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// The fallback's 404, when `no_tokenize` hides the tokenizer routes.
fn tokenize_hidden(st: &AppState) -> Option<Response> {
    let hidden = st.faults.lock().is_ok_and(|f| f.no_tokenize);
    hidden.then(|| no_such_route().into_response())
}

/// The shape `/tokenize` answers in (`FaultConfig::tokenize_api`).
fn tokenize_api(st: &AppState) -> TokenizeShape {
    st.faults
        .lock()
        .map_or(TokenizeShape::Vllm, |f| f.tokenize_api)
}

/// The id the simulator's TGI shape reports for the BOS token it adds to text.
const TGI_BOS: u32 = 1;

async fn tokenize(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    if let Some(hidden) = tokenize_hidden(&st) {
        return hidden;
    }
    match tokenize_api(&st) {
        TokenizeShape::Vllm => match wire::parse_tokenize(&body) {
            Ok(ids) => axum::Json(json!({
                "count": ids.len(), "max_model_len": st.cfg.max_model_len, "tokens": ids, "token_strs": null,
            }))
            .into_response(),
            Err(e) => e.into_response(),
        },
        TokenizeShape::LlamaCpp => match wire::parse_llamacpp_tokenize(&body) {
            Ok(ids) => axum::Json(json!({"tokens": ids})).into_response(),
            Err(e) => e.into_response(),
        },
        TokenizeShape::Tgi => match wire::parse_tgi_tokenize(&body) {
            Ok(ids) => axum::Json(tgi_tokens(std::iter::once(TGI_BOS).chain(ids))).into_response(),
            Err(e) => e.into_response(),
        },
    }
}

/// TGI's `[{"id", "text", "start", "stop"}…]`; the first token is the added BOS, which covers
/// no text (`start == stop`). The others' offsets count tokens, not characters: the simulator's
/// tokens have no fixed width, and clients need only tell added tokens from read ones.
fn tgi_tokens(ids: impl IntoIterator<Item = u32>) -> serde_json::Value {
    let list: Vec<_> = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let (start, stop) = if i == 0 { (0, 0) } else { (i - 1, i) };
            json!({"id": id, "text": "", "start": start, "stop": stop})
        })
        .collect();
    serde_json::Value::Array(list)
}

/// llama.cpp's `/apply-template` is not served: the simulator's chat template is made of token
/// ids with no text form, so a llama.cpp-shaped client cannot count chats (as with a server
/// whose template it cannot render).
async fn apply_template() -> Response {
    no_such_route().into_response()
}

/// TGI's `/chat_tokenize`: the chat's tokens with the template's (which add no BOS).
async fn chat_tokenize(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    if tokenize_api(&st) != TokenizeShape::Tgi || tokenize_hidden(&st).is_some() {
        return no_such_route().into_response();
    }
    match wire::parse_tokenize(&body) {
        Ok(ids) => {
            let mut tokens = tgi_tokens(std::iter::once(0).chain(ids));
            if let Some(list) = tokens.as_array_mut() {
                list.remove(0);
            }
            axum::Json(json!({"tokenize_response": tokens, "templated_text": ""})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn detokenize(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    if let Some(hidden) = tokenize_hidden(&st) {
        return hidden;
    }
    match wire::parse_detokenize(&body) {
        Ok(ids) => axum::Json(json!({"prompt": tokenizer::detokenize(&ids)})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn completions(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    generate(&st, Endpoint::Completions, &body).await
}

async fn chat(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    generate(&st, Endpoint::Chat, &body).await
}

async fn generate(st: &AppState, endpoint: Endpoint, body: &[u8]) -> Response {
    match admit(st, endpoint, body) {
        Ok(Admitted::Stream(g)) => g.into_sse(),
        Ok(Admitted::Body(g)) => g.into_body().await,
        Ok(Admitted::ErrorBody) => {
            // vLLM's error object, under a 200 status.
            let body = json!({
                "object": "error", "message": "simulated engine failure",
                "type": "InternalServerError", "param": null, "code": 500,
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => {
            st.shared.rejected_requests.fetch_add(1, Ordering::Relaxed);
            e.into_response()
        }
    }
}

/// How an accepted request is answered.
enum Admitted {
    Stream(Generation),
    Body(Generation),
    /// HTTP 200 with an error object, without the engine.
    ErrorBody,
}

/// Validates the request, draws its faults and length, and hands it to the engine.
fn admit(st: &AppState, endpoint: Endpoint, body: &[u8]) -> Result<Admitted, ApiError> {
    let arrival = SystemTime::now();
    let n = st.next_request.fetch_add(1, Ordering::Relaxed);
    let cfg = &st.cfg;
    let mut req = wire::parse_generation(endpoint, body)?;
    if endpoint == Endpoint::Completions && tokenize_api(st) == TokenizeShape::Tgi {
        // TGI's completions route takes text only, and adds BOS to it.
        wire::require_text_prompt(body)?;
        req.prompt_tokens += 1;
    }
    let model = req.model.as_deref().unwrap_or(&cfg.model);
    if *model != cfg.model && !cfg.adapters.iter().any(|a| a == model) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("The model `{model}` does not exist."),
        ));
    }
    if req.prompt_tokens == 0 {
        return Err(ApiError::bad_request(
            "the prompt is empty: expected at least one token",
        ));
    }
    let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 {
        return Err(ApiError::bad_request(
            "`max_tokens` = 0: expected at least 1",
        ));
    }
    if req.min_tokens > max_tokens {
        return Err(ApiError::bad_request(format!(
            "`min_tokens` = {} is larger than `max_tokens` = {max_tokens}",
            req.min_tokens
        )));
    }
    let total = req.prompt_tokens as u64 + max_tokens;
    if total > u64::from(cfg.max_model_len) {
        return Err(ApiError::bad_request(format!(
            "This model's maximum context length is {} tokens. However, you requested {total} tokens \
             ({} in the messages, {max_tokens} in the completion). Please reduce the length of the \
             messages or completion.",
            cfg.max_model_len, req.prompt_tokens
        )));
    }
    if total > cfg.kv_cache_tokens {
        return Err(ApiError::bad_request(format!(
            "the request needs {total} KV-cache tokens but the cache holds {}: reduce the prompt or max_tokens",
            cfg.kv_cache_tokens
        )));
    }
    // Both fit in u32: bounded by max_model_len above.
    let (prompt_tokens, max_tokens) = (req.prompt_tokens as u32, max_tokens as u32);
    if let Ok(mut seen) = st.shared.by_model.lock() {
        *seen.entry(model.to_string()).or_default() += 1;
    }
    st.shared.received.push(|at| crate::Received {
        at,
        endpoint: match endpoint {
            Endpoint::Completions => "completions",
            Endpoint::Chat => "chat",
        },
        model: model.to_string(),
        prompt_tokens,
        max_tokens,
        body: String::from_utf8_lossy(body).into_owned(),
    });

    let mut rng = faults::request_rng(cfg.seed, n);
    let (mut drawn, f) = match st.faults.lock() {
        Ok(f) => {
            let mut d = f.draw(&mut rng);
            f.draw_more(&mut faults::extra_rng(cfg.seed, n), &mut d);
            (d, f.clone())
        }
        Err(_) => (faults::Drawn::default(), FaultConfig::default()),
    };
    let streamed = req.stream && !f.ignore_stream;
    match drawn.status {
        Some(500) => {
            st.shared.fault_500.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "simulated internal server error",
            ));
        }
        Some(_) => {
            st.shared.fault_429.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "simulated rate limit",
            ));
        }
        None => {}
    }
    if drawn.error_body {
        st.counters.error_body.fetch_add(1, Ordering::Relaxed);
        return Ok(Admitted::ErrorBody);
    }
    if !streamed {
        // Error events, aborts and clean ends are stream faults.
        drawn.end = None;
    }
    // A server that ignores `ignore_eos` and `min_tokens` stops at its own end of sequence.
    let (ignore_eos, min_tokens) = if f.ignore_eos_ignored {
        (false, 0)
    } else {
        (req.ignore_eos, req.min_tokens)
    };
    let n_out = if ignore_eos {
        max_tokens
    } else {
        let natural = Geometric::new(1.0 / cfg.eos_mean_tokens).map_or(0, |g| g.sample(&mut rng));
        let lo = (min_tokens as u32).max(1);
        natural
            .saturating_add(1)
            .clamp(u64::from(lo), u64::from(max_tokens)) as u32
    };
    let words = faults::request_rng(cfg.seed ^ 0x5eed_f00d, rng.random());

    let queued = st.shared.waiting.fetch_add(1, Ordering::Relaxed);
    if queued >= cfg.max_waiting {
        st.shared.waiting.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("the waiting queue is full ({} requests)", cfg.max_waiting),
        ));
    }
    st.shared
        .max_waiting_seen
        .fetch_max(queued + 1, Ordering::Relaxed);
    let (tx, rx) = mpsc::unbounded_channel();
    let submit = Submit {
        prompt_tokens,
        max_tokens,
        // An empty generation is one engine step that samples the end of sequence.
        output_len: if drawn.empty { 1 } else { n_out },
        tx,
    };
    // Counted before the engine can see it, so its end never comes before its start.
    let in_flight = st.shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    st.shared
        .max_in_flight
        .fetch_max(in_flight, Ordering::Relaxed);
    if st.submit.send(submit).is_err() {
        st.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        st.shared.waiting.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the simulator engine stopped",
        ));
    }
    st.shared.total_requests.fetch_add(1, Ordering::Relaxed);
    count_stream_faults(&st.shared, &drawn);
    st.counters.count(&drawn);
    let prefix = match endpoint {
        Endpoint::Completions => "cmpl",
        Endpoint::Chat => "chatcmpl",
    };
    let generation = Generation {
        endpoint,
        id: format!("{prefix}-{n:016x}"),
        model: cfg.model.clone(),
        created: arrival
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        rx,
        prompt_tokens,
        n_out: if drawn.empty { 0 } else { n_out },
        finish_reason: if n_out < max_tokens || drawn.empty {
            "stop"
        } else {
            "length"
        },
        faults: drawn,
        words,
        arrival,
        include_usage: req.include_usage && !f.omit_usage,
        continuous_usage: req.continuous_usage && !f.omit_usage && !f.usage_at_end_only,
        style: style(&f, endpoint, n),
    };
    Ok(if streamed {
        Admitted::Stream(generation)
    } else {
        Admitted::Body(generation)
    })
}

/// The shape options of request number `n`.
fn style(f: &FaultConfig, endpoint: Endpoint, n: u64) -> Style {
    let default = Style::default();
    Style {
        reasoning_tokens: match endpoint {
            Endpoint::Chat => f.reasoning_tokens,
            Endpoint::Completions => 0,
        },
        // SGLang and older vLLM use `reasoning_content`, newer vLLM `reasoning`.
        reasoning_field: if n.is_multiple_of(2) {
            "reasoning_content"
        } else {
            "reasoning"
        },
        tokens_per_chunk: f.tokens_per_chunk.max(1),
        empty_finish_reason: f.empty_finish_reason,
        null_fields: f.null_fields,
        error_style: f.error_event_style,
        framing: Framing {
            line_ending: f.sse_line_ending,
            no_space: f.sse_no_space,
            comments: f.sse_comments,
            split_data: f.sse_split_data,
        },
        content_type: f
            .content_type
            .as_deref()
            .and_then(|c| axum::http::HeaderValue::from_str(c).ok())
            .unwrap_or(default.content_type),
    }
}

/// Counts the stream faults of a request the engine accepted, for [`super::SimStats::faults`].
fn count_stream_faults(shared: &Shared, drawn: &faults::Drawn) {
    let bump = |c: &AtomicU64, on: bool| {
        if on {
            c.fetch_add(1, Ordering::Relaxed);
        }
    };
    bump(&shared.fault_cut, drawn.cut_after.is_some());
    bump(&shared.fault_malformed, drawn.malformed);
    bump(&shared.fault_stall, drawn.stall.is_some());
}
