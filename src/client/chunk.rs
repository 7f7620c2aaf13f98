//! Parsing one streamed chunk of an OpenAI-compatible response and counting the tokens it
//! carries. Counting is by the server's usage when it reports it (vLLM's continuous usage
//! stats), so a chunk carrying several tokens counts them all; otherwise one token per chunk with
//! non-empty text.

use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    /// The simulator's own timestamps, on its final chunk only (no real server sends them).
    #[serde(default)]
    sim_timing: Option<ServerTiming>,
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
    /// Chat: the delta of this chunk.
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// Token usage as reported by the server.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub completion_tokens: Option<u32>,
}

/// What one chunk told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkInfo {
    /// Whether the chunk carried non-empty generated text.
    pub has_text: bool,
    /// Whether a choice carried a finish reason.
    pub finished: bool,
    /// Usage on this chunk, if any.
    pub usage: Option<Usage>,
    /// The simulator's timestamps, if this chunk carried them.
    pub server_timing: Option<ServerTiming>,
}

/// Parse one SSE `data:` payload (not `[DONE]`). `Err` means the chunk is malformed.
pub fn parse(data: &str) -> Result<ChunkInfo, String> {
    let chunk: Chunk<'_> = serde_json::from_str(data)
        .map_err(|e| format!("malformed chunk ({e}): {}", super::clip(data, 120)))?;
    let mut info = ChunkInfo {
        usage: chunk.usage,
        server_timing: chunk.sim_timing,
        ..ChunkInfo::default()
    };
    for choice in &chunk.choices {
        let text = choice
            .text
            .as_deref()
            .or_else(|| choice.delta.as_ref().and_then(|d| d.content.as_deref()));
        if text.is_some_and(|t| !t.is_empty()) {
            info.has_text = true;
        }
        if choice.finish_reason.is_some() {
            info.finished = true;
        }
    }
    Ok(info)
}

/// Running token count for one response.
#[derive(Debug, Default, Clone)]
pub struct TokenCounter {
    /// Tokens attributed to chunks so far.
    pub counted: u32,
    /// The last completion_tokens reported by usage.
    pub usage_completion: Option<u32>,
    /// Prompt tokens reported by usage.
    pub usage_prompt: Option<u32>,
}

impl TokenCounter {
    /// How many new tokens this chunk carries.
    pub fn tokens_in(&mut self, info: &ChunkInfo) -> u32 {
        if let Some(u) = info.usage {
            if u.prompt_tokens.is_some() {
                self.usage_prompt = u.prompt_tokens;
            }
            if let Some(c) = u.completion_tokens {
                self.usage_completion = Some(c);
                let new = c.saturating_sub(self.counted);
                self.counted += new;
                return new;
            }
        }
        if info.has_text {
            self.counted += 1;
            1
        } else {
            0
        }
    }

    /// Final output token count: the server's usage when reported, else the chunk count.
    pub fn total(&self) -> u32 {
        self.usage_completion.unwrap_or(self.counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_chunk_with_continuous_usage_counts_tokens_by_usage() {
        let mut c = TokenCounter::default();
        let a = parse(r#"{"choices":[{"index":0,"text":" a","finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#).unwrap();
        assert!(a.has_text && !a.finished);
        assert_eq!(c.tokens_in(&a), 1);
        // A chunk that carries three tokens at once.
        let b = parse(r#"{"choices":[{"index":0,"text":" b c d","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#).unwrap();
        assert!(b.finished);
        assert_eq!(c.tokens_in(&b), 3);
        // Final usage-only chunk adds nothing.
        let u =
            parse(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#).unwrap();
        assert_eq!(c.tokens_in(&u), 0);
        assert_eq!(c.total(), 4);
        assert_eq!(c.usage_prompt, Some(5));
        assert_eq!(u.server_timing, None);
        let timed = parse(r#"{"choices":[],"usage":{"completion_tokens":4},"sim_timing":{"arrival_unix_ns":1,"first_token_unix_ns":2,"end_unix_ns":3}}"#).unwrap();
        assert_eq!(timed.server_timing.map(|t| t.first_token_unix_ns), Some(2));
    }

    #[test]
    fn chat_chunks_without_usage_count_one_per_text_chunk() {
        let mut c = TokenCounter::default();
        let role = parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#)
            .unwrap();
        assert_eq!(c.tokens_in(&role), 0);
        for _ in 0..3 {
            let t = parse(r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#).unwrap();
            assert_eq!(c.tokens_in(&t), 1);
        }
        assert_eq!(c.total(), 3);
    }

    #[test]
    fn escaped_text_and_malformed_chunks() {
        assert!(
            parse(r#"{"choices":[{"text":"\"q\"\n"}]}"#)
                .unwrap()
                .has_text
        );
        let err = parse(r#"{"choices":[{"#).unwrap_err();
        assert!(err.contains("malformed chunk"), "{err}");
        assert!(parse(r#"{"choices":"nope"}"#).is_err());
    }
}
