//! Turning a sequence's tokens into the response: server-sent events for streamed requests,
//! one JSON body otherwise, with the request's faults and the server's quirks applied on the way.
//!
//! The per-token path is the hot one: the constant head of every chunk is serialised once per
//! request, and the chunks already complete when the client is ready are written into one frame
//! (one allocation per frame). The JSON of each event is built apart from its framing
//! ([`super::framing`]), so every quirk of one composes with every quirk of the other.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::faults::{Drawn, StreamEnd};
use super::framing::{ErrorEventStyle, Framing};
use super::wire::{ApiError, Endpoint, WORDS};

/// The message of an error reported inside a stream.
const STREAM_ERROR: &str = "simulated engine failure during decoding";

/// How a server shapes its responses (the non-fault options of `FaultConfig`), for one request.
#[derive(Debug, Clone)]
pub(crate) struct Style {
    /// Leading output tokens sent as reasoning (0 on the completions endpoint).
    pub reasoning_tokens: u32,
    /// `reasoning_content` or `reasoning`.
    pub reasoning_field: &'static str,
    pub tokens_per_chunk: u32,
    pub empty_finish_reason: bool,
    pub null_fields: bool,
    pub error_style: ErrorEventStyle,
    pub framing: Framing,
    pub content_type: HeaderValue,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            reasoning_tokens: 0,
            reasoning_field: "reasoning_content",
            tokens_per_chunk: 1,
            empty_finish_reason: false,
            null_fields: false,
            error_style: ErrorEventStyle::Json,
            framing: Framing::default(),
            content_type: HeaderValue::from_static("text/event-stream"),
        }
    }
}

/// One admitted request on its way back to the client.
pub(crate) struct Generation {
    pub endpoint: Endpoint,
    pub id: String,
    pub model: String,
    pub created: u64,
    pub rx: mpsc::UnboundedReceiver<()>,
    pub prompt_tokens: u32,
    /// Output tokens the client gets (0 for an empty generation, whose engine sequence still
    /// produces the one token that ends it).
    pub n_out: u32,
    pub finish_reason: &'static str,
    pub faults: Drawn,
    pub words: ChaCha8Rng,
    pub arrival: SystemTime,
    pub include_usage: bool,
    pub continuous_usage: bool,
    pub style: Style,
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn timing(arrival: SystemTime, first: Option<SystemTime>, end: SystemTime) -> Value {
    json!({
        "arrival_unix_ns": unix_ns(arrival),
        "first_token_unix_ns": unix_ns(first.unwrap_or(end)),
        "end_unix_ns": unix_ns(end),
    })
}

impl Generation {
    /// Where a stall or a malformed chunk goes: halfway, after at least one token.
    fn midpoint(&self) -> u32 {
        (self.n_out / 2).max(1).min(self.n_out)
    }

    fn next_word(&mut self) -> &'static str {
        WORDS[self.words.random_range(0..WORDS.len())]
    }

    /// Reasoning tokens among the first `sent` output tokens.
    fn reasoning_in(&self, sent: u32) -> u32 {
        sent.min(self.style.reasoning_tokens)
    }

    /// The usage object, with `completion_tokens_details` when the server reasons.
    fn usage(&self, completion: u32) -> Value {
        let p = self.prompt_tokens;
        let mut u = json!({"prompt_tokens": p, "completion_tokens": completion, "total_tokens": p + completion});
        if self.style.reasoning_tokens > 0 {
            u["completion_tokens_details"] =
                json!({"reasoning_tokens": self.reasoning_in(completion)});
        }
        u
    }

    /// The streamed response.
    pub fn into_sse(self) -> Response {
        let object = match self.endpoint {
            Endpoint::Completions => "text_completion",
            Endpoint::Chat => "chat.completion.chunk",
        };
        let model_json = serde_json::to_string(&self.model).unwrap_or_else(|_| "\"\"".to_string());
        let mut prefix = format!(
            "{{\"id\":\"{}\",\"object\":\"{object}\",\"created\":{},\"model\":{model_json}",
            self.id, self.created
        );
        if self.style.null_fields {
            prefix.push_str(",\"system_fingerprint\":null,\"x_extra\":{\"a\":1}");
        }
        // A cut may come after the last token; the other early ends come before the chunk
        // that would carry the finish reason.
        let cut_at = match (self.faults.cut_after, self.faults.end) {
            (Some(k), _) => Some(k.min(self.n_out)),
            (None, Some(_)) => Some(self.faults.end_after.min(self.n_out.saturating_sub(1))),
            (None, None) => None,
        };
        let content_type = self.style.content_type.clone();
        let state = SseState {
            stall_pending: self.faults.stall,
            malformed_pending: self.faults.malformed,
            cut_at,
            framing: self.style.framing,
            head: Bytes::from(format!("{prefix},\"choices\":[")),
            prefix: Bytes::from(prefix),
            req: self,
            sent: 0,
            received: 0,
            first_token: None,
            first_event: true,
            started: false,
            done: false,
            scratch: Vec::new(),
        };
        let stream = futures_util::stream::unfold(state, |mut st| async move {
            let frame = st.next_frame().await?;
            Some((frame, st))
        });
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            Body::from_stream(stream),
        )
            .into_response()
    }

    /// The non-streamed response, once the sequence has finished.
    pub async fn into_body(mut self) -> Response {
        let cut_at = self.faults.cut_after.map(|k| k.min(self.n_out));
        // An empty generation still waits for the step that ends it.
        let target = cut_at
            .unwrap_or(self.n_out)
            .max(u32::from(self.faults.empty));
        let mut first_token = None;
        let mut reasoning = String::new();
        let mut text = String::with_capacity(self.n_out as usize * 6);
        for i in 0..target {
            if self.rx.recv().await.is_none() {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the simulator engine stopped",
                )
                .into_response();
            }
            if self.faults.empty {
                break;
            }
            first_token.get_or_insert_with(SystemTime::now);
            let w = self.next_word();
            if i < self.style.reasoning_tokens {
                reasoning.push_str(w);
            } else {
                text.push_str(w);
            }
        }
        if cut_at.is_some() {
            let cut = futures_util::stream::once(async {
                Err::<Bytes, _>(io::Error::other("simulated cut"))
            });
            return Response::new(Body::from_stream(cut));
        }
        if let Some(d) = self.faults.stall {
            tokio::time::sleep(d).await;
        }
        if self.faults.malformed {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                "{\"choices\":[{",
            )
                .into_response();
        }
        let end = SystemTime::now();
        let choice = match self.endpoint {
            Endpoint::Completions => json!({
                "index": 0, "text": text, "logprobs": null,
                "finish_reason": self.finish_reason, "stop_reason": null,
            }),
            Endpoint::Chat => {
                let mut message = json!({"role": "assistant", "content": text});
                if self.style.reasoning_tokens > 0 {
                    message["reasoning_content"] = Value::String(reasoning);
                }
                json!({
                    "index": 0, "message": message, "logprobs": null,
                    "finish_reason": self.finish_reason, "stop_reason": null,
                })
            }
        };
        let object = match self.endpoint {
            Endpoint::Completions => "text_completion",
            Endpoint::Chat => "chat.completion",
        };
        let mut body = json!({
            "id": self.id, "object": object, "created": self.created, "model": self.model,
            "choices": [choice],
            "usage": self.usage(self.n_out),
            "sim_timing": timing(self.arrival, first_token, end),
        });
        if self.style.null_fields {
            body["system_fingerprint"] = Value::Null;
            body["x_extra"] = json!({"a": 1});
        }
        axum::Json(body).into_response()
    }
}

struct SseState {
    req: Generation,
    /// Every chunk's JSON up to (not including) `"choices"`.
    prefix: Bytes,
    /// `prefix` and `,"choices":[`.
    head: Bytes,
    framing: Framing,
    /// Output tokens sent.
    sent: u32,
    /// Output tokens the engine has handed over (sent or waiting for their chunk to fill).
    received: u32,
    first_token: Option<SystemTime>,
    /// No event has been written yet (no comment before it).
    first_event: bool,
    /// The opening event (`null_fields`) has been dealt with.
    started: bool,
    stall_pending: Option<Duration>,
    malformed_pending: bool,
    /// Where the stream ends early: a cut, or [`Drawn::end`].
    cut_at: Option<u32>,
    done: bool,
    scratch: Vec<u8>,
}

impl SseState {
    async fn next_frame(&mut self) -> Option<Result<Bytes, io::Error>> {
        if self.done {
            return None;
        }
        let mut buf = BytesMut::with_capacity(2 * (self.head.len() + 160));
        if !std::mem::replace(&mut self.started, true) && self.req.style.null_fields {
            self.event(&mut buf, b"{\"choices\":null}");
            return Some(Ok(buf.freeze()));
        }
        if self.req.faults.empty {
            return Some(self.empty_generation(buf).await);
        }
        let mid = self.req.midpoint();
        if self.cut_at == Some(self.sent) {
            self.done = true;
            return self.early_end(buf).await;
        }
        if self.sent == mid {
            if let Some(d) = self.stall_pending.take() {
                tokio::time::sleep(d).await;
            }
            if std::mem::take(&mut self.malformed_pending) {
                self.event(&mut buf, b"{\"choices\":[{");
                return Some(Ok(buf.freeze()));
            }
        }
        if self.sent == self.req.n_out {
            self.done = true;
            self.final_events(&mut buf);
            return Some(Ok(buf.freeze()));
        }
        let end = self.chunk_end();
        while self.received < end {
            if self.req.rx.recv().await.is_none() {
                self.done = true;
                return Some(Err(io::Error::other("the simulator engine stopped")));
            }
            self.received += 1;
        }
        self.first_token.get_or_insert_with(SystemTime::now);
        self.push_chunk(&mut buf, end);
        // Chunks already complete go out in the same frame, up to the next fault point.
        while !self.at_fault_point() && self.sent < self.req.n_out {
            let end = self.chunk_end();
            while self.received < end && self.req.rx.try_recv().is_ok() {
                self.received += 1;
            }
            if self.received < end {
                break;
            }
            self.push_chunk(&mut buf, end);
        }
        Some(Ok(buf.freeze()))
    }

    fn at_fault_point(&self) -> bool {
        self.cut_at == Some(self.sent)
            || (self.sent == self.req.midpoint()
                && (self.stall_pending.is_some() || self.malformed_pending))
    }

    /// The end (exclusive) of the next chunk: `tokens_per_chunk` tokens, fewer before the end,
    /// a fault point or the end of the reasoning.
    fn chunk_end(&self) -> u32 {
        let mut end = (self.sent + self.req.style.tokens_per_chunk).min(self.req.n_out);
        let mid = self.req.midpoint();
        let stops = [
            self.cut_at,
            (self.stall_pending.is_some() || self.malformed_pending).then_some(mid),
            Some(self.req.style.reasoning_tokens),
        ];
        for stop in stops.into_iter().flatten() {
            if stop > self.sent {
                end = end.min(stop);
            }
        }
        end
    }

    /// Frames `payload` as the next event.
    fn event(&mut self, buf: &mut BytesMut, payload: &[u8]) {
        self.framing.data_event(buf, payload, self.first_event);
        self.first_event = false;
    }

    /// Frames the JSON in `scratch` as the next event.
    fn event_from_scratch(&mut self, buf: &mut BytesMut) {
        let scratch = std::mem::take(&mut self.scratch);
        self.event(buf, &scratch);
        self.scratch = scratch;
        self.scratch.clear();
    }

    /// Writes `,"usage":{…}` with `completion` tokens when usage goes on every chunk, else
    /// `,"usage":null` with `null_fields`.
    fn usage_part(&mut self, completion: u32) {
        let out = &mut self.scratch;
        if self.req.continuous_usage {
            let p = self.req.prompt_tokens;
            let _ = write!(
                out,
                ",\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{completion},\"total_tokens\":{}",
                p + completion
            );
            if self.req.style.reasoning_tokens > 0 {
                let r = self.req.reasoning_in(completion);
                let _ = write!(
                    out,
                    ",\"completion_tokens_details\":{{\"reasoning_tokens\":{r}}}"
                );
            }
            out.push(b'}');
        } else if self.req.style.null_fields {
            out.extend_from_slice(b",\"usage\":null");
        }
    }

    /// `"finish_reason":` and its value for a chunk that does not end the generation.
    fn no_finish(&self) -> &'static [u8] {
        if self.req.style.empty_finish_reason {
            b"\"\""
        } else {
            b"null"
        }
    }

    /// The chat stream's opening chunk: the role and no text.
    fn push_role(&mut self, buf: &mut BytesMut) {
        let no_finish = self.no_finish();
        self.scratch.extend_from_slice(&self.head);
        self.scratch.extend_from_slice(
            b"{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":",
        );
        self.scratch.extend_from_slice(no_finish);
        self.scratch.extend_from_slice(b"}]");
        self.usage_part(0);
        self.scratch.push(b'}');
        self.event_from_scratch(buf);
    }

    /// One chunk with the tokens `sent..end` (all reasoning or all answer).
    fn push_chunk(&mut self, buf: &mut BytesMut, end: u32) {
        if self.sent == 0 && self.req.endpoint == Endpoint::Chat {
            self.push_role(buf);
        }
        self.scratch.extend_from_slice(&self.head);
        match self.req.endpoint {
            Endpoint::Completions => self.scratch.extend_from_slice(b"{\"index\":0,\"text\":\""),
            Endpoint::Chat => {
                let field = if self.sent < self.req.style.reasoning_tokens {
                    self.req.style.reasoning_field
                } else {
                    "content"
                };
                self.scratch
                    .extend_from_slice(b"{\"index\":0,\"delta\":{\"");
                self.scratch.extend_from_slice(field.as_bytes());
                self.scratch.extend_from_slice(b"\":\"");
            }
        }
        for _ in self.sent..end {
            let word = self.req.next_word();
            self.scratch.extend_from_slice(word.as_bytes());
        }
        self.sent = end;
        self.scratch.push(b'"');
        if self.req.endpoint == Endpoint::Chat {
            self.scratch.push(b'}');
        }
        self.scratch
            .extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
        if self.sent == self.req.n_out {
            let _ = write!(self.scratch, "\"{}\"", self.req.finish_reason);
        } else {
            let no_finish = self.no_finish();
            self.scratch.extend_from_slice(no_finish);
        }
        self.scratch.extend_from_slice(b",\"stop_reason\":null}]");
        self.usage_part(self.sent);
        self.scratch.push(b'}');
        self.event_from_scratch(buf);
    }

    /// A chunk without text that ends the generation with `finish`.
    fn push_finish_only(&mut self, buf: &mut BytesMut, finish: &str) {
        self.scratch.extend_from_slice(&self.head);
        match self.req.endpoint {
            Endpoint::Completions => self
                .scratch
                .extend_from_slice(b"{\"index\":0,\"text\":\"\""),
            Endpoint::Chat => self
                .scratch
                .extend_from_slice(b"{\"index\":0,\"delta\":{\"content\":\"\"}"),
        }
        let _ = write!(
            self.scratch,
            ",\"logprobs\":null,\"finish_reason\":\"{finish}\",\"stop_reason\":null}}]"
        );
        self.usage_part(self.sent);
        self.scratch.push(b'}');
        self.event_from_scratch(buf);
    }

    /// Zero tokens: the engine's one step, then (chat: the role chunk and) a `stop` chunk
    /// without text, usage and `[DONE]`.
    async fn empty_generation(&mut self, mut buf: BytesMut) -> Result<Bytes, io::Error> {
        self.done = true;
        if self.req.rx.recv().await.is_none() {
            return Err(io::Error::other("the simulator engine stopped"));
        }
        if self.req.endpoint == Endpoint::Chat {
            self.push_role(&mut buf);
        }
        self.push_finish_only(&mut buf, "stop");
        self.final_events(&mut buf);
        Ok(buf.freeze())
    }

    /// The stream's early end at `cut_at`.
    async fn early_end(&mut self, mut buf: BytesMut) -> Option<Result<Bytes, io::Error>> {
        match self.req.faults.end {
            None => {
                // hyper drops its unflushed output when a body fails; give the tokens before
                // the cut time to reach the client, as they would from a server that dies.
                tokio::time::sleep(Duration::from_millis(10)).await;
                Some(Err(io::Error::other("simulated cut")))
            }
            Some(StreamEnd::CleanEnd) => None,
            Some(StreamEnd::Abort) => {
                if self.sent == 0 && self.req.endpoint == Endpoint::Chat {
                    self.push_role(&mut buf);
                }
                self.push_finish_only(&mut buf, "abort");
                self.final_events(&mut buf);
                Some(Ok(buf.freeze()))
            }
            Some(StreamEnd::ErrorEvent) => {
                self.error_event(&mut buf);
                self.event(&mut buf, b"[DONE]");
                Some(Ok(buf.freeze()))
            }
        }
    }

    fn error_event(&mut self, buf: &mut BytesMut) {
        let first = std::mem::replace(&mut self.first_event, false);
        match self.req.style.error_style {
            ErrorEventStyle::Json | ErrorEventStyle::Event => {
                let payload = json!({"error": {"message": STREAM_ERROR, "type": "InternalServerError", "code": 500}});
                let name =
                    (self.req.style.error_style == ErrorEventStyle::Event).then_some("error");
                self.framing
                    .named_event(buf, name, payload.to_string().as_bytes(), first);
            }
            ErrorEventStyle::Field => {
                let payload = json!({"code": 500, "message": STREAM_ERROR, "type": "server_error"});
                self.framing
                    .field_event(buf, "error", payload.to_string().as_bytes(), first);
            }
        }
    }

    /// The usage chunk (when asked for) and `[DONE]`.
    fn final_events(&mut self, buf: &mut BytesMut) {
        if self.req.include_usage {
            let end = SystemTime::now();
            let choices: &[u8] = if self.req.style.null_fields {
                b",\"choices\":null,\"usage\":"
            } else {
                b",\"choices\":[],\"usage\":"
            };
            self.scratch.extend_from_slice(&self.prefix);
            self.scratch.extend_from_slice(choices);
            let usage = self.req.usage(self.sent).to_string();
            self.scratch.extend_from_slice(usage.as_bytes());
            self.scratch.extend_from_slice(b",\"sim_timing\":");
            let t = timing(self.req.arrival, self.first_token, end).to_string();
            self.scratch.extend_from_slice(t.as_bytes());
            self.scratch.push(b'}');
            self.event_from_scratch(buf);
        }
        self.event(buf, b"[DONE]");
    }
}
