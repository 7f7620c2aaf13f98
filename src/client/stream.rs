//! Sending one request and following its SSE stream to the end, under the three timeouts
//! (`TTFT_TIMEOUT`, `TPOT_TIMEOUT`, `REQUEST_TIMEOUT`) and the iteration's cancel signal.
//! Every path ends in exactly one `RequestRecord`.

use super::chunk::{self, TokenCounter};
use super::{Cancel, OpenAiClient, Prompt, RequestSpec, Slot, clip, describe_reqwest_error};
use crate::config::Api;
use crate::load::record::{ErrorKind, RequestRecord};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
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

/// Send `spec` and follow the response; see the module header.
pub(super) async fn send(
    client: &OpenAiClient,
    spec: &RequestSpec,
    slot: Slot,
    cancel: &Cancel,
) -> RequestRecord {
    let payload = body(&client.cfg.model, client.cfg.api, spec);
    let sent_at = Instant::now();
    let mut rec = slot.record(spec, sent_at.saturating_duration_since(slot.t0));
    rec.token_offsets_us.reserve(spec.output_tokens as usize);
    let mut counter = TokenCounter::default();
    let outcome = if cancel.is_cancelled() {
        Err(fail(cancel.kind(), "stopped before sending"))
    } else {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(fail(cancel.kind(), "stopped while in flight")),
            r = drive(client, payload, sent_at, &mut rec, &mut counter) => r,
        }
    };
    let now = Instant::now();
    rec.end = now.saturating_duration_since(slot.t0);
    rec.output_tokens = counter.total().max(rec.token_offsets_us.len() as u32);
    rec.server_prompt_tokens = counter.usage_prompt;
    if let Err(f) = outcome {
        rec.error = Some(f.kind);
        rec.error_detail = Some(f.detail);
    }
    rec
}

async fn drive(
    client: &OpenAiClient,
    payload: Vec<u8>,
    sent_at: Instant,
    rec: &mut RequestRecord,
    counter: &mut TokenCounter,
) -> Result<(), Failure> {
    let cfg = &client.cfg;
    let total_deadline = tokio::time::Instant::from_std(sent_at + cfg.request_timeout);
    let ttft_deadline = tokio::time::Instant::from_std(sent_at + cfg.ttft_timeout);
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

    let request = client
        .authorized(client.http.post(&client.endpoint))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .body(payload);
    let resp = match timeout_at(first_deadline, request.send()).await {
        Err(_) => {
            return Err(fail(
                timeout_kind(first_deadline, true),
                "no response headers before the timeout",
            ));
        }
        Ok(Err(e)) => return Err(fail(ErrorKind::Connect, describe_reqwest_error(&e))),
        Ok(Ok(resp)) => resp,
    };
    let status = resp.status();
    rec.http_status = Some(status.as_u16());
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
            format!("HTTP {}: {}", status.as_u16(), clip(&text, 200)),
        ));
    }
    let is_sse = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return non_streaming(resp, first_deadline, sent_at, rec, counter).await;
    }

    let mut events = resp.bytes_stream().eventsource();
    let mut last_token_at = sent_at;
    let mut finished = false;
    loop {
        let waiting_first = rec.first_token.is_none();
        let deadline = if waiting_first {
            first_deadline
        } else {
            total_deadline.min(tokio::time::Instant::from_std(
                last_token_at + cfg.tpot_timeout,
            ))
        };
        let event = match timeout_at(deadline, events.next()).await {
            Err(_) => {
                let kind = timeout_kind(deadline, waiting_first);
                return Err(fail(
                    kind,
                    format!("{} after {} tokens", kind, counter.counted),
                ));
            }
            Ok(None) if finished => return Ok(()),
            Ok(None) => {
                return Err(fail(
                    ErrorKind::StreamCut,
                    format!(
                        "stream ended without [DONE] after {} tokens",
                        counter.counted
                    ),
                ));
            }
            Ok(Some(Err(e))) => {
                return Err(fail(
                    ErrorKind::StreamCut,
                    format!("stream broke after {} tokens: {e}", counter.counted),
                ));
            }
            Ok(Some(Ok(ev))) => ev,
        };
        if event.data == "[DONE]" {
            return Ok(());
        }
        let info = chunk::parse(&event.data).map_err(|e| fail(ErrorKind::BadChunk, e))?;
        let new = counter.tokens_in(&info);
        if new > 0 {
            let now = Instant::now();
            last_token_at = now;
            if rec.first_token.is_none() {
                rec.first_token = Some(now.saturating_duration_since(sent_at) + rec.actual_send);
            }
            let us = offset_us(sent_at, now);
            rec.token_offsets_us
                .extend(std::iter::repeat_n(us, new as usize));
        }
        finished |= info.finished;
        if let (Some(timing), Some(sink)) = (info.server_timing, &client.server_timings) {
            sink.push(rec.request_idx, timing);
        }
    }
}

/// A server that ignored `stream: true`: take the usage from the JSON body; every token is
/// stamped at the end, and the detail says so.
async fn non_streaming(
    resp: reqwest::Response,
    deadline: tokio::time::Instant,
    sent_at: Instant,
    rec: &mut RequestRecord,
    counter: &mut TokenCounter,
) -> Result<(), Failure> {
    let text = match timeout_at(deadline, resp.text()).await {
        Err(_) => return Err(fail(ErrorKind::TimeoutTtft, "non-streaming body timed out")),
        Ok(Err(e)) => return Err(fail(ErrorKind::StreamCut, describe_reqwest_error(&e))),
        Ok(Ok(t)) => t,
    };
    let info = chunk::parse(&text).map_err(|e| fail(ErrorKind::BadChunk, e))?;
    let n = counter.tokens_in(&info).max(u32::from(info.has_text));
    counter.counted = counter.counted.max(n);
    let now = Instant::now();
    rec.first_token = Some(now.saturating_duration_since(sent_at) + rec.actual_send);
    rec.token_offsets_us
        .extend(std::iter::repeat_n(offset_us(sent_at, now), n as usize));
    rec.streamed = false;
    rec.error_detail = Some("server did not stream: token times are all the end time".into());
    Ok(())
}

fn offset_us(from: Instant, to: Instant) -> u32 {
    u32::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_body_has_the_vllm_extras_and_token_ids() {
        let spec = RequestSpec {
            prompt: Prompt::TokenIds(vec![1, 2, 3]),
            input_tokens: 3,
            class: None,
            output_tokens: 7,
            temperature: 0.0,
        };
        let v: serde_json::Value =
            serde_json::from_slice(&body("m", Api::Completions, &spec)).unwrap();
        assert_eq!(v["prompt"], serde_json::json!([1, 2, 3]));
        assert_eq!(v["max_tokens"], 7);
        assert_eq!(v["min_tokens"], 7);
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["continuous_usage_stats"], true);
        assert!(v.get("messages").is_none());
    }

    #[test]
    fn chat_body_has_messages_not_prompt() {
        let spec = RequestSpec {
            prompt: Prompt::Chat(vec![super::super::ChatMessage {
                role: "user".into(),
                content: "hi".into(),
            }]),
            input_tokens: 1,
            class: None,
            output_tokens: 2,
            temperature: 1.0,
        };
        let v: serde_json::Value = serde_json::from_slice(&body("m", Api::Chat, &spec)).unwrap();
        assert_eq!(v["messages"][0]["content"], "hi");
        assert!(v.get("prompt").is_none());
    }
}
