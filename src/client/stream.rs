//! Sending one request and following its response to the end, under the three timeouts
//! (`TTFT_TIMEOUT`, `TPOT_TIMEOUT`, `REQUEST_TIMEOUT`) and the iteration's cancel signal.
//! Every path ends in exactly one `RequestRecord`.
//!
//! A request succeeds only when the server generated an answer without an error, whatever the
//! HTTP status said: an error event or object, a failed finish reason, a stream that ends
//! without `[DONE]` and without a real finish reason, and zero generated tokens are failures,
//! each with its own [`ErrorKind`] and the server's message in `error_detail`. The body's first
//! bytes, not its `Content-Type`, decide whether it is a stream. The transport is not the
//! server: a pooled connection the server had closed is retried (up to three times).

use super::Api;
use super::chunk::{self, Finish, TokenCounter};
use super::sse::{Event, SseParser};
use super::transport::send_retrying;
use super::{Cancel, OpenAiClient, Prompt, RequestSpec, Slot, clip, describe_reqwest_error};
use crate::record::{ErrorKind, RequestRecord, TokenCount};
use serde::Serialize;
use std::time::Instant;
use tokio::time::timeout_at;

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
    continuous_usage_stats: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PromptField<'a> {
    Text(&'a str),
    Ids(&'a [u32]),
}

/// The request body: vLLM extras as the old tool sent them (`ignore_eos`,
/// `min_tokens = max_tokens`, usage on every chunk).
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<PromptField<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [super::ChatMessage]>,
    max_tokens: u32,
    min_tokens: u32,
    ignore_eos: bool,
    temperature: f64,
    stream: bool,
    stream_options: StreamOptions,
}

/// Serialise the body of one request.
pub(super) fn body(model: &str, api: Api, spec: &RequestSpec) -> Vec<u8> {
    let (prompt, messages) = match (&spec.prompt, api) {
        (Prompt::Chat(m), _) => (None, Some(m.as_slice())),
        (Prompt::Text(t), _) => (Some(PromptField::Text(t)), None),
        (Prompt::TokenIds(ids), _) => (Some(PromptField::Ids(ids)), None),
    };
    let body = Body {
        model,
        prompt,
        messages,
        max_tokens: spec.output_tokens,
        min_tokens: spec.output_tokens,
        ignore_eos: true,
        temperature: spec.temperature,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
            continuous_usage_stats: true,
        },
    };
    // Serialising plain data to a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

struct Failure {
    kind: ErrorKind,
    detail: String,
}

fn fail(kind: ErrorKind, detail: impl Into<String>) -> Failure {
    Failure {
        kind,
        detail: detail.into(),
    }
}

/// How many bytes of a non-streamed body are kept (a larger body is a bad answer, not memory to
/// spend).
const MAX_BODY_BYTES: usize = 64 << 20;

/// How much of a server's error message `error_detail` keeps.
const DETAIL_CHARS: usize = 200;

/// Send `spec` and follow the response; see the module header.
pub(super) async fn send(
    client: &OpenAiClient,
    spec: &RequestSpec,
    slot: Slot,
    cancel: &Cancel,
) -> RequestRecord {
    let model = spec.model.as_ref().map_or(&*client.cfg.model, |m| &*m.name);
    let payload = bytes::Bytes::from(body(model, client.cfg.api, spec));
    let sent_at = Instant::now();
    let mut rec = slot.record(spec, sent_at.saturating_duration_since(slot.t0));
    rec.token_offsets_us.reserve(spec.output_tokens as usize);
    let mut counter = TokenCounter::new();
    if spec.session.is_some() {
        counter.answer = Some(String::new());
    }
    let mut follow = Follow {
        client,
        t0: slot.t0,
        sent_at,
        last_token_at: sent_at,
        rec: &mut rec,
        counter: &mut counter,
    };
    let outcome = if cancel.is_cancelled() {
        Err(fail(cancel.kind(), "stopped before sending"))
    } else {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(fail(cancel.kind(), "stopped while in flight")),
            r = follow.drive(payload) => r,
        }
    };
    let now = Instant::now();
    rec.end = now.saturating_duration_since(slot.t0);
    settle_counts(&mut rec, &mut counter);
    let outcome = outcome.and_then(|()| {
        if rec.output_tokens == 0 && rec.requested_output_tokens > 0 {
            Err(fail(
                ErrorKind::EmptyOutput,
                format!(
                    "the response finished ({}) without a generated token",
                    counter
                        .finish_reason
                        .as_deref()
                        .unwrap_or("no finish reason")
                ),
            ))
        } else {
            Ok(())
        }
    });
    if let Err(f) = outcome {
        rec.error = Some(f.kind);
        rec.error_detail = Some(f.detail);
    }
    rec
}

/// Output and reasoning tokens from the tally, in order of trust (see
/// [`crate::record::TokenCount`]); the text is kept for the tokenizer only when no exact
/// count exists.
fn settle_counts(rec: &mut RequestRecord, counter: &mut TokenCounter) {
    let stamped = rec.token_offsets_us.len() as u32;
    rec.server_prompt_tokens = counter.usage_prompt;
    rec.answer_text = counter.answer.take();
    rec.reasoning_tokens = counter.reasoning();
    if let Some(n) = counter.usage_completion {
        rec.output_tokens = n;
        rec.output_tokens_from = TokenCount::Usage;
        return;
    }
    let counted = counter.total().max(stamped);
    if counter.finish_reason.as_deref() == Some("length") && counted > 0 {
        rec.output_tokens = counted.max(rec.requested_output_tokens);
        rec.output_tokens_from = TokenCount::FinishLength;
        return;
    }
    rec.output_tokens = counted;
    rec.output_tokens_from = TokenCount::Chunks;
    rec.generated_text = counter.text.take().filter(|t| !t.is_empty());
}

/// One request being followed: its record, its tally and its clocks.
struct Follow<'a> {
    client: &'a OpenAiClient,
    t0: Instant,
    /// When the (last) attempt was sent; token offsets are measured from here.
    sent_at: Instant,
    last_token_at: Instant,
    rec: &'a mut RequestRecord,
    counter: &'a mut TokenCounter,
}

/// What the body turned out to be, decided by its first bytes, not by `Content-Type`.
enum Reply {
    /// Nothing but whitespace yet.
    Undecided,
    /// An SSE stream (it starts with a field name, `:` or a BOM).
    Sse(SseParser),
    /// One JSON document (it starts with `{` or `[`): a server that did not stream.
    Json(Vec<u8>),
}

/// How the stream stands after an event.
enum Next {
    More,
    /// `[DONE]` arrived.
    Done,
}

impl Follow<'_> {
    async fn drive(&mut self, payload: bytes::Bytes) -> Result<(), Failure> {
        let cfg = &self.client.cfg;
        let total_deadline = tokio::time::Instant::from_std(self.sent_at + cfg.request_timeout);
        let ttft_deadline = tokio::time::Instant::from_std(self.sent_at + cfg.ttft_timeout);
        let first_deadline = total_deadline.min(ttft_deadline);
        let timeout_kind = |deadline: tokio::time::Instant, waiting_first: bool| {
            if deadline >= total_deadline {
                ErrorKind::TimeoutTotal
            } else if waiting_first {
                ErrorKind::TimeoutTtft
            } else {
                ErrorKind::TimeoutItl
            }
        };
        let mut resp = match timeout_at(first_deadline, self.send_with_retry(payload)).await {
            Err(_) => {
                return Err(fail(
                    timeout_kind(first_deadline, true),
                    "no response headers before the timeout",
                ));
            }
            Ok(r) => r?,
        };
        let status = resp.status();
        self.rec.http_status = Some(status.as_u16());
        if !status.is_success() {
            let kind = if status.as_u16() == 429 {
                ErrorKind::RateLimited
            } else {
                ErrorKind::HttpStatus
            };
            let text = match timeout_at(first_deadline, resp.text()).await {
                Ok(Ok(t)) => t,
                _ => String::new(),
            };
            return Err(fail(
                kind,
                format!("HTTP {}: {}", status.as_u16(), clip(&text, DETAIL_CHARS)),
            ));
        }
        let mut body = Reply::Undecided;
        let mut finished = false;
        let mut events = Vec::new();
        // A failure the server reported in the stream: the rest of the body is still read (to
        // its `[DONE]` or end, within the timeouts), as a well-behaved client does, so the
        // server sees a normal end rather than a disconnect, and the connection can be reused.
        let mut failed: Option<Failure> = None;
        loop {
            let waiting_first = self.rec.first_token.is_none();
            let deadline = if waiting_first {
                first_deadline
            } else {
                total_deadline.min(tokio::time::Instant::from_std(
                    self.last_token_at + cfg.tpot_timeout,
                ))
            };
            let read = timeout_at(deadline, resp.chunk()).await;
            if let Some(f) = failed.take_if(|_| !matches!(read, Ok(Ok(Some(_))))) {
                return Err(f);
            }
            let bytes = match read {
                Err(_) => {
                    let kind = timeout_kind(deadline, waiting_first);
                    return Err(fail(
                        kind,
                        format!("{} after {} tokens", kind, self.counter.counted),
                    ));
                }
                Ok(Ok(Some(bytes))) => bytes,
                Ok(Ok(None)) => return self.body_ended(body, finished),
                Ok(Err(e)) if finished => {
                    tracing::debug!("connection broke after the finish reason: {e}");
                    return Ok(());
                }
                Ok(Err(e)) => {
                    return Err(fail(
                        ErrorKind::StreamCut,
                        format!(
                            "stream broke after {} tokens: {}",
                            self.counter.counted,
                            describe_reqwest_error(&e)
                        ),
                    ));
                }
            };
            let now = Instant::now();
            if let Reply::Undecided = body {
                body = decide(&bytes);
            }
            match &mut body {
                Reply::Undecided => {}
                Reply::Json(buf) => {
                    if buf.len() + bytes.len() > MAX_BODY_BYTES {
                        return Err(fail(
                            ErrorKind::BadChunk,
                            format!("non-streamed body larger than {MAX_BODY_BYTES} bytes"),
                        ));
                    }
                    buf.extend_from_slice(&bytes);
                }
                Reply::Sse(parser) => {
                    parser.feed(&bytes, &mut events);
                    for ev in events.drain(..) {
                        if failed.is_some() {
                            if let Some(f) = failed.take_if(|_| ev.data.trim() == "[DONE]") {
                                return Err(f);
                            }
                            continue;
                        }
                        match self.on_event(&ev, now, &mut finished) {
                            Ok(Next::Done) => return Ok(()),
                            Ok(Next::More) => {}
                            Err(f) => failed = Some(f),
                        }
                    }
                }
            }
        }
    }

    /// Send, retrying (up to [`MAX_CLOSED_RETRIES`](super::transport::MAX_CLOSED_RETRIES)
    /// times) when a pooled keep-alive connection turned out to be closed by the server before
    /// any response: that request never reached the server, so its failure is the
    /// transport's, not the server's. The last retry's send time becomes `actual_send`;
    /// `transport_retries` counts the retries.
    async fn send_with_retry(
        &mut self,
        payload: bytes::Bytes,
    ) -> Result<reqwest::Response, Failure> {
        let client = self.client;
        let t0 = self.t0;
        let mut first: Option<String> = None;
        let sent = send_retrying(
            || {
                client
                    .authorized(client.http.post(&client.endpoint))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .body(payload.clone())
                    .send()
            },
            |e| {
                first.get_or_insert_with(|| describe_reqwest_error(e));
                self.rec.transport_retries += 1;
                self.sent_at = Instant::now();
                self.last_token_at = self.sent_at;
                self.rec.actual_send = self.sent_at.saturating_duration_since(t0);
            },
        )
        .await;
        sent.map_err(|e| {
            let kind = if e.is_connect() {
                ErrorKind::Connect
            } else {
                ErrorKind::ConnectionClosed
            };
            let detail = describe_reqwest_error(&e);
            match first {
                Some(first) => fail(kind, format!("{detail} (on the retry after: {first})")),
                None => fail(kind, detail),
            }
        })
    }

    /// One SSE event: an error, `[DONE]`, or a chunk whose tokens are stamped at `now`.
    fn on_event(&mut self, ev: &Event, now: Instant, finished: &mut bool) -> Result<Next, Failure> {
        if ev.is_error() {
            let payload = ev.error.as_deref().unwrap_or(&ev.data);
            return Err(fail(
                ErrorKind::ServerError,
                format!(
                    "error event after {} tokens: {}",
                    self.counter.counted,
                    clip(&chunk::error_event_message(payload), DETAIL_CHARS)
                ),
            ));
        }
        if ev.data.trim() == "[DONE]" {
            return Ok(Next::Done);
        }
        let info = chunk::parse_with(
            &ev.data,
            self.counter.text.is_some(),
            self.counter.answer.is_some(),
        )
        .map_err(|e| fail(ErrorKind::BadChunk, e))?;
        self.take_chunk(&info, now)?;
        *finished |= info.finish.is_some();
        Ok(Next::More)
    }

    /// Count and stamp one chunk's tokens; its error or failed finish ends the request.
    fn take_chunk(&mut self, info: &chunk::ChunkInfo, now: Instant) -> Result<(), Failure> {
        if let Some(msg) = &info.error {
            return Err(fail(
                ErrorKind::ServerError,
                format!(
                    "error after {} tokens: {}",
                    self.counter.counted,
                    clip(msg, DETAIL_CHARS)
                ),
            ));
        }
        let new = self.counter.take(info);
        if info.generated() {
            self.last_token_at = now;
            let at = now.saturating_duration_since(self.sent_at) + self.rec.actual_send;
            self.rec.first_token.get_or_insert(at);
            if info.answer_pieces > 0 {
                self.rec.first_answer_token.get_or_insert(at);
            }
            let us = offset_us(self.sent_at, now);
            self.rec
                .token_offsets_us
                .extend(std::iter::repeat_n(us, new as usize));
        }
        if let (Some(timing), Some(sink)) = (info.server_timing, &self.client.server_timings) {
            sink.push(self.rec.request_idx, timing);
        }
        if let Some(Finish::Failed(reason)) = &info.finish {
            return Err(fail(
                ErrorKind::Aborted,
                format!(
                    "finish_reason \"{}\" after {} tokens",
                    clip(reason, 40),
                    self.counter.counted
                ),
            ));
        }
        Ok(())
    }

    /// The body ended cleanly (no transport error).
    fn body_ended(&mut self, body: Reply, finished: bool) -> Result<(), Failure> {
        match body {
            Reply::Undecided => Err(fail(
                ErrorKind::StreamCut,
                "the 200 response had an empty body",
            )),
            Reply::Json(buf) => self.non_streamed(&buf),
            Reply::Sse(_) if finished => Ok(()),
            Reply::Sse(parser) if parser.has_partial_event() => {
                // What the standard discards at the end of a body is still evidence: a last
                // `[DONE]` or error event whose blank line never came.
                match parser.finish() {
                    Some(ev) if ev.is_error() || ev.data.trim() == "[DONE]" => {
                        let mut finished = false;
                        self.on_event(&ev, Instant::now(), &mut finished)
                            .map(|_| ())
                    }
                    _ => Err(fail(
                        ErrorKind::StreamCut,
                        format!(
                            "stream ended in the middle of an event, without [DONE] and without a finish reason after {} tokens",
                            self.counter.counted
                        ),
                    )),
                }
            }
            Reply::Sse(_) => Err(fail(
                ErrorKind::StreamCut,
                format!(
                    "stream ended without [DONE] and without a finish reason after {} tokens",
                    self.counter.counted
                ),
            )),
        }
    }

    /// A server that ignored `stream: true` (or a proxy that buffered the stream): the body is
    /// one JSON document; every token is stamped at its end, and the detail says so. A 200 body
    /// that is an error object is the server's error.
    fn non_streamed(&mut self, buf: &[u8]) -> Result<(), Failure> {
        let text = String::from_utf8_lossy(buf);
        let info = chunk::parse(&text).map_err(|e| fail(ErrorKind::BadChunk, e))?;
        if let Some(msg) = &info.error {
            return Err(fail(
                ErrorKind::ServerError,
                format!("HTTP 200 with an error body: {}", clip(msg, DETAIL_CHARS)),
            ));
        }
        self.take_chunk(&info, Instant::now())?;
        self.rec.streamed = false;
        self.rec.error_detail =
            Some("server did not stream: token times are all the end time".into());
        Ok(())
    }
}

/// The body's kind from its first non-whitespace byte: `{` or `[` is JSON, anything else SSE
/// (leading blank lines are harmless to SSE). The caller then feeds `bytes` to what it returns.
fn decide(bytes: &[u8]) -> Reply {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Reply::Undecided,
        Some(b'{' | b'[') => Reply::Json(Vec::new()),
        Some(_) => Reply::Sse(SseParser::new()),
    }
}

fn offset_us(from: Instant, to: Instant) -> u32 {
    u32::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
