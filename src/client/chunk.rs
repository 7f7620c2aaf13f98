//! Reading one chunk of an OpenAI-compatible response — a streamed `data:` payload or a whole
//! non-streamed body — and keeping the running tally of one response's tokens.
//!
//! What counts as generated output is every delta the model produced, of any kind: completion
//! `text`, chat `delta.content`, reasoning (`delta.reasoning_content` from SGLang and older
//! vLLM, `delta.reasoning` from newer vLLM), tool-call argument fragments
//! (`delta.tool_calls[*].function.arguments`) and `delta.refusal`. The first of them is the
//! first token (TTFT); the first that is not reasoning is the first answer token (TTFO).
//!
//! Tolerant where a stream is healthy: `choices: null`, `usage: null`, a `null` payload,
//! unknown fields and several choices are all fine. Strict where it is not: an `error` object
//! (or `"object": "error"`) anywhere is the server's error, and a finish reason of `abort`,
//! `error`, `cancelled`… is a failed generation, while `""` is no finish reason at all.
//!
//! Shapes: the OpenAI API reference (completions and chat completion chunk objects), vLLM's
//! `ErrorResponse` (`{"object":"error","message":…}`) and in-stream `{"error":{…}}` events,
//! SGLang's `reasoning_content` and `finish_reason: "abort"`.

use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Chunk<'a> {
    /// `null` and absent are both no choices.
    #[serde(default, borrow)]
    choices: Option<Vec<Choice<'a>>>,
    #[serde(default)]
    usage: Option<Usage>,
    /// The simulator's own timestamps, on its final chunk only (no real server sends them).
    #[serde(default)]
    sim_timing: Option<ServerTiming>,
    /// An error object (or string) the server put in the chunk or body.
    #[serde(default)]
    error: Option<serde_json::Value>,
    /// `"error"` on vLLM's error bodies.
    #[serde(default, borrow)]
    object: Option<Cow<'a, str>>,
    /// The message of vLLM's error bodies.
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

/// When the server says it received a request and sent its first and last token, nanoseconds
/// since the Unix epoch (the simulator's `sim_timing`). Used by `bench-client` to check the
/// client's own clocks against the server's.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTiming {
    pub arrival_unix_ns: u64,
    pub first_token_unix_ns: u64,
    pub end_unix_ns: u64,
}

#[derive(Deserialize)]
struct Choice<'a> {
    /// Completions: the text of this chunk.
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    /// Chat stream: the delta of this chunk.
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    /// Chat, non-streamed: the whole message.
    #[serde(default, borrow)]
    message: Option<Delta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    /// The deprecated single `function_call` delta (older OpenAI-compatible servers).
    #[serde(default, borrow)]
    function_call: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(default, borrow)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// Token usage as reported by the server.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub completion_tokens: Option<u32>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
}

/// `usage.completion_tokens_details` (OpenAI, vLLM with a reasoning parser).
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u32>,
}

/// How a choice's finish reason reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The generation ended normally (`stop`, `length`, `tool_calls`, …); the reason is kept.
    Done(String),
    /// The generation was aborted or failed (`abort`, `error`, `cancelled`, `canceled`,
    /// `failed`); the reason is kept.
    Failed(String),
}

/// What one chunk carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkInfo {
    /// Choices that carried answer output (text, content, tool-call arguments, refusal).
    pub answer_pieces: u32,
    /// Choices that carried reasoning output.
    pub reasoning_pieces: u32,
    /// The generated text of every kind, concatenated (for counting tokens without usage).
    pub text: String,
    /// The answer's own text (completion `text`, chat `content`; no reasoning, tool-call
    /// arguments or refusal), collected only when asked ([`parse_with`]'s `keep_answer`): what
    /// a chat client puts back into the conversation as the assistant's message.
    pub answer_text: String,
    /// The strongest finish reason of any choice (`Failed` over `Done`); None when every choice
    /// had none or an empty string.
    pub finish: Option<Finish>,
    /// Usage on this chunk, if any.
    pub usage: Option<Usage>,
    /// The server's error message, when the chunk is an error.
    pub error: Option<String>,
    /// The simulator's timestamps, if this chunk carried them.
    pub server_timing: Option<ServerTiming>,
}

impl ChunkInfo {
    /// Whether the chunk carried any generated output.
    pub fn generated(&self) -> bool {
        self.answer_pieces + self.reasoning_pieces > 0
    }
}

/// Finish reasons that mean the generation did not complete.
const FAILED_FINISH: [&str; 5] = ["abort", "error", "cancelled", "canceled", "failed"];

fn nonempty<'s>(s: &'s Option<Cow<'_, str>>) -> Option<&'s str> {
    s.as_deref().filter(|t| !t.is_empty())
}

/// Parse one SSE `data:` payload (not `[DONE]`) or a whole non-streamed body, its generated
/// text included. `Err` means it is not JSON of a chunk's shape (the message quotes its start).
pub fn parse(data: &str) -> Result<ChunkInfo, String> {
    parse_with(data, true, true)
}

/// [`parse`], collecting [`ChunkInfo::text`] only when `keep_text` and
/// [`ChunkInfo::answer_text`] only when `keep_answer`: the per-token path asks for the text
/// only while the response has reported no usage and for the answer only in a multi-turn
/// session, so most chunks copy no text.
pub fn parse_with(data: &str, keep_text: bool, keep_answer: bool) -> Result<ChunkInfo, String> {
    if data.trim().is_empty() {
        // An event with empty data (a heartbeat some servers send) carries nothing.
        return Ok(ChunkInfo::default());
    }
    let chunk: Option<Chunk<'_>> = serde_json::from_str(data)
        .map_err(|e| format!("malformed chunk ({e}): {}", super::clip(data, 120)))?;
    let Some(chunk) = chunk else {
        return Ok(ChunkInfo::default());
    };
    let mut info = ChunkInfo {
        usage: chunk.usage,
        server_timing: chunk.sim_timing,
        error: error_message(&chunk),
        ..ChunkInfo::default()
    };
    let mut text = String::new();
    let mut keep = |t: &str| {
        if keep_text {
            text.push_str(t);
        }
    };
    let mut answer_text = String::new();
    for choice in chunk.choices.iter().flatten() {
        let mut answer = false;
        let mut reasoning = false;
        if let Some(t) = nonempty(&choice.text) {
            keep(t);
            if keep_answer {
                answer_text.push_str(t);
            }
            answer = true;
        }
        for d in [&choice.delta, &choice.message].into_iter().flatten() {
            if let (Some(t), true) = (nonempty(&d.content), keep_answer) {
                answer_text.push_str(t);
            }
            for t in [&d.content, &d.refusal].into_iter().filter_map(nonempty) {
                keep(t);
                answer = true;
            }
            for t in [&d.reasoning_content, &d.reasoning]
                .into_iter()
                .filter_map(nonempty)
            {
                keep(t);
                reasoning = true;
            }
            let args = d
                .tool_calls
                .iter()
                .flatten()
                .filter_map(|c| c.function.as_ref())
                .chain(d.function_call.as_ref())
                .filter_map(|f| nonempty(&f.arguments));
            for t in args {
                keep(t);
                answer = true;
            }
        }
        info.answer_pieces += u32::from(answer);
        info.reasoning_pieces += u32::from(reasoning && !answer);
        if let Some(reason) = nonempty(&choice.finish_reason) {
            let failed = FAILED_FINISH.iter().any(|f| f.eq_ignore_ascii_case(reason));
            let finish = if failed {
                Finish::Failed(reason.to_string())
            } else {
                Finish::Done(reason.to_string())
            };
            if !matches!(info.finish, Some(Finish::Failed(_))) {
                info.finish = Some(finish);
            }
        }
    }
    info.text = text;
    info.answer_text = answer_text;
    Ok(info)
}

/// The error a chunk or body reports: a non-null `error` (object with `message`, or a string),
/// or vLLM's `"object": "error"` body.
fn error_message(chunk: &Chunk<'_>) -> Option<String> {
    match &chunk.error {
        Some(serde_json::Value::Null) | None => {}
        Some(serde_json::Value::String(s)) => return Some(s.clone()),
        Some(v) => {
            let msg = v
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            return Some(msg);
        }
    }
    (chunk.object.as_deref() == Some("error")).then(|| {
        chunk
            .message
            .as_deref()
            .unwrap_or("an error object without a message")
            .to_string()
    })
}

/// The message inside an SSE error event's payload (JSON with `message`, or `error.message`),
/// else the payload itself.
pub fn error_event_message(payload: &str) -> String {
    let v: Option<serde_json::Value> = serde_json::from_str(payload).ok();
    let msg = v.as_ref().and_then(|v| {
        v.get("message")
            .or_else(|| v.get("error").and_then(|e| e.get("message")))
            .and_then(|m| m.as_str())
    });
    msg.unwrap_or(payload).to_string()
}

/// The running tally of one response.
#[derive(Debug, Default, Clone)]
pub struct TokenCounter {
    /// Tokens attributed to chunks so far (and stamped with their arrival).
    pub counted: u32,
    /// Of those, tokens of reasoning chunks.
    pub reasoning_counted: u32,
    /// The last `completion_tokens` the server reported.
    pub usage_completion: Option<u32>,
    /// The last `prompt_tokens` the server reported.
    pub usage_prompt: Option<u32>,
    /// The last `completion_tokens_details.reasoning_tokens` the server reported.
    pub usage_reasoning: Option<u32>,
    /// Whether any chunk carried reasoning output.
    pub saw_reasoning: bool,
    /// The last real finish reason seen.
    pub finish_reason: Option<String>,
    /// The generated text, kept while no usage has been seen (dropped once usage arrives).
    pub text: Option<String>,
    /// The answer's text ([`ChunkInfo::answer_text`]) of every chunk, kept whole when the
    /// request asked for it (a multi-turn session's turn); None otherwise.
    pub answer: Option<String>,
}

impl TokenCounter {
    /// A tally that keeps the generated text until usage arrives.
    pub fn new() -> TokenCounter {
        TokenCounter {
            text: Some(String::new()),
            ..TokenCounter::default()
        }
    }

    /// Take in one chunk; returns how many tokens it carried that are to be stamped at its
    /// arrival. With usage on a chunk that carries output (continuous usage), that is the rise
    /// of `completion_tokens`; without, one per choice that carried output. Usage on a chunk
    /// without output (the final usage chunk) updates the totals and stamps nothing.
    pub fn take(&mut self, info: &ChunkInfo) -> u32 {
        let mut rise = None;
        if let Some(u) = info.usage {
            if u.prompt_tokens.is_some() {
                self.usage_prompt = u.prompt_tokens;
            }
            if let Some(r) = u.completion_tokens_details.and_then(|d| d.reasoning_tokens) {
                self.usage_reasoning = Some(r);
            }
            if let Some(c) = u.completion_tokens {
                self.usage_completion = Some(c);
                self.text = None;
                rise = Some(c.saturating_sub(self.counted));
            }
        }
        if let (Some(text), true) = (&mut self.text, info.generated()) {
            text.push_str(&info.text);
        }
        if let Some(answer) = &mut self.answer {
            answer.push_str(&info.answer_text);
        }
        if let Some(Finish::Done(r) | Finish::Failed(r)) = &info.finish {
            self.finish_reason = Some(r.clone());
        }
        if !info.generated() {
            return 0;
        }
        let new = rise.unwrap_or(info.answer_pieces + info.reasoning_pieces);
        self.counted += new;
        if info.reasoning_pieces > 0 {
            self.saw_reasoning = true;
            // A chunk with both kinds (several choices) gives reasoning its own pieces.
            self.reasoning_counted += if info.answer_pieces == 0 {
                new
            } else {
                info.reasoning_pieces.min(new)
            };
        }
        new
    }

    /// Output tokens: the server's usage when reported, else the tokens counted from chunks.
    pub fn total(&self) -> u32 {
        self.usage_completion.unwrap_or(self.counted)
    }

    /// Reasoning tokens: the server's figure when reported, else those counted from reasoning
    /// chunks; None when there was neither.
    pub fn reasoning(&self) -> Option<u32> {
        self.usage_reasoning
            .or(self.saw_reasoning.then_some(self.reasoning_counted))
    }
}

#[cfg(test)]
mod tests;
