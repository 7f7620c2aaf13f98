//! Turning a sequence's tokens into the response: server-sent events for streamed requests,
//! one JSON body otherwise, with the request's faults applied on the way.
//!
//! The per-token path is the hot one: the constant head of every chunk is serialised once per
//! request, and the tokens already waiting when the client is ready are written into one frame
//! (one allocation per frame).

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::faults::Drawn;
use super::wire::{ApiError, Endpoint, WORDS};

/// One admitted request on its way back to the client.
pub(crate) struct Generation {
    pub endpoint: Endpoint,
    pub id: String,
    pub model: String,
    pub created: u64,
    pub rx: mpsc::UnboundedReceiver<()>,
    pub prompt_tokens: u32,
    pub n_out: u32,
    pub finish_reason: &'static str,
    pub faults: Drawn,
    pub words: ChaCha8Rng,
    pub arrival: SystemTime,
    pub include_usage: bool,
    pub continuous_usage: bool,
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn usage(prompt: u32, completion: u32) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
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

    /// The streamed response.
    pub fn into_sse(self) -> Response {
        let object = match self.endpoint {
            Endpoint::Completions => "text_completion",
            Endpoint::Chat => "chat.completion.chunk",
        };
        let model_json = serde_json::to_string(&self.model).unwrap_or_else(|_| "\"\"".to_string());
        let head = format!(
            "data: {{\"id\":\"{}\",\"object\":\"{object}\",\"created\":{},\"model\":{model_json},\"choices\":[",
            self.id, self.created
        );
        let state = SseState {
            stall_pending: self.faults.stall,
            malformed_pending: self.faults.malformed,
            cut_at: self.faults.cut_after.map(|k| k.min(self.n_out)),
            req: self,
            head: Bytes::from(head),
            sent: 0,
            first_token: None,
            done: false,
        };
        let stream = futures_util::stream::unfold(state, |mut st| async move {
            let frame = st.next_frame().await?;
            Some((frame, st))
        });
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(stream),
        )
            .into_response()
    }

    /// The non-streamed response, once the sequence has finished.
    pub async fn into_body(mut self) -> Response {
        let cut_at = self.faults.cut_after.map(|k| k.min(self.n_out));
        let target = cut_at.unwrap_or(self.n_out);
        let mut first_token = None;
        let mut text = String::with_capacity(self.n_out as usize * 6);
        for _ in 0..target {
            if self.rx.recv().await.is_none() {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the simulator engine stopped",
                )
                .into_response();
            }
            first_token.get_or_insert_with(SystemTime::now);
            let w = self.next_word();
            text.push_str(w);
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
            Endpoint::Chat => json!({
                "index": 0, "message": {"role": "assistant", "content": text}, "logprobs": null,
                "finish_reason": self.finish_reason, "stop_reason": null,
            }),
        };
        let object = match self.endpoint {
            Endpoint::Completions => "text_completion",
            Endpoint::Chat => "chat.completion",
        };
        axum::Json(json!({
            "id": self.id, "object": object, "created": self.created, "model": self.model,
            "choices": [choice],
            "usage": usage(self.prompt_tokens, self.n_out),
            "sim_timing": timing(self.arrival, first_token, end),
        }))
        .into_response()
    }
}

struct SseState {
    req: Generation,
    head: Bytes,
    sent: u32,
    first_token: Option<SystemTime>,
    stall_pending: Option<Duration>,
    malformed_pending: bool,
    cut_at: Option<u32>,
    done: bool,
}

impl SseState {
    async fn next_frame(&mut self) -> Option<Result<Bytes, io::Error>> {
        if self.done {
            return None;
        }
        let mid = self.req.midpoint();
        if self.cut_at == Some(self.sent) {
            self.done = true;
            // hyper drops its unflushed output when a body fails; give the tokens before the
            // cut time to reach the client, as they would from a server that dies.
            tokio::time::sleep(Duration::from_millis(10)).await;
            return Some(Err(io::Error::other("simulated cut")));
        }
        if self.sent == mid {
            if let Some(d) = self.stall_pending.take() {
                tokio::time::sleep(d).await;
            }
            if std::mem::take(&mut self.malformed_pending) {
                return Some(Ok(Bytes::from_static(b"data: {\"choices\":[{\n\n")));
            }
        }
        if self.sent == self.req.n_out {
            self.done = true;
            return Some(Ok(self.final_frame()));
        }
        if self.req.rx.recv().await.is_none() {
            self.done = true;
            return Some(Err(io::Error::other("the simulator engine stopped")));
        }
        self.first_token.get_or_insert_with(SystemTime::now);
        // Tokens already generated go out in one frame, up to the next fault point.
        let mut limit = self.req.n_out;
        if let Some(k) = self.cut_at {
            limit = limit.min(k);
        }
        if (self.stall_pending.is_some() || self.malformed_pending) && mid > self.sent {
            limit = limit.min(mid);
        }
        let mut buf = BytesMut::with_capacity(2 * (self.head.len() + 160));
        self.push_token(&mut buf);
        while self.sent < limit && self.req.rx.try_recv().is_ok() {
            if buf.remaining_mut() < self.head.len() + 160 {
                buf.reserve(8 * (self.head.len() + 160));
            }
            self.push_token(&mut buf);
        }
        Some(Ok(buf.freeze()))
    }

    fn push_token(&mut self, buf: &mut BytesMut) {
        use std::fmt::Write;
        let first = self.sent == 0;
        self.sent += 1;
        let finish = if self.sent == self.req.n_out {
            self.req.finish_reason
        } else {
            ""
        };
        let word = self.req.next_word();
        let p = self.req.prompt_tokens;
        let usage = |buf: &mut BytesMut, c: u32| {
            if self.req.continuous_usage {
                let _ = write!(
                    buf,
                    ",\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{c},\"total_tokens\":{}}}",
                    p + c
                );
            }
        };
        match self.req.endpoint {
            Endpoint::Completions => {
                buf.put_slice(&self.head);
                buf.put_slice(b"{\"index\":0,\"text\":\"");
                buf.put_slice(word.as_bytes());
                buf.put_slice(b"\",\"logprobs\":null,\"finish_reason\":");
            }
            Endpoint::Chat => {
                if first {
                    buf.put_slice(&self.head);
                    buf.put_slice(
                        b"{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]",
                    );
                    usage(buf, 0);
                    buf.put_slice(b"}\n\n");
                }
                buf.put_slice(&self.head);
                buf.put_slice(b"{\"index\":0,\"delta\":{\"content\":\"");
                buf.put_slice(word.as_bytes());
                buf.put_slice(b"\"},\"logprobs\":null,\"finish_reason\":");
            }
        }
        if finish.is_empty() {
            buf.put_slice(b"null");
        } else {
            let _ = write!(buf, "\"{finish}\"");
        }
        buf.put_slice(b",\"stop_reason\":null}]");
        usage(buf, self.sent);
        buf.put_slice(b"}\n\n");
    }

    fn final_frame(&self) -> Bytes {
        let mut out = BytesMut::new();
        if self.req.include_usage {
            let end = SystemTime::now();
            out.put_slice(&self.head);
            out.put_slice(b"],\"usage\":");
            out.put_slice(
                usage(self.req.prompt_tokens, self.sent)
                    .to_string()
                    .as_bytes(),
            );
            out.put_slice(b",\"sim_timing\":");
            out.put_slice(
                timing(self.req.arrival, self.first_token, end)
                    .to_string()
                    .as_bytes(),
            );
            out.put_slice(b"}\n\n");
        }
        out.put_slice(b"data: [DONE]\n\n");
        out.freeze()
    }
}
