//! The request body, the order of trust of token counts, and how the body is recognised.

use super::*;
use std::time::Duration;

#[test]
fn completions_body_has_the_vllm_extras_and_token_ids() {
    let spec = RequestSpec {
        prompt: Prompt::TokenIds(vec![1, 2, 3]),
        input_tokens: 3,
        class: None,
        model: None,
        output_tokens: 7,
        temperature: 0.0,
        session: None,
    };
    let v: serde_json::Value = serde_json::from_slice(&body("m", Api::Completions, &spec)).unwrap();
    assert_eq!(v["prompt"], serde_json::json!([1, 2, 3]));
    assert_eq!(v["max_tokens"], 7);
    assert_eq!(v["min_tokens"], 7);
    assert_eq!(v["ignore_eos"], true);
    assert_eq!(v["stream"], true);
    assert_eq!(v["stream_options"]["continuous_usage_stats"], true);
    assert!(v.get("messages").is_none());
}

fn rec(requested: u32) -> RequestRecord {
    RequestRecord::new(0, Duration::ZERO, Duration::ZERO, 10, requested)
}

#[test]
fn usage_wins_then_a_length_finish_then_chunks_with_the_text_kept() {
    let mut c = TokenCounter::new();
    c.take(&chunk::parse(r#"{"choices":[{"text":" a b"}]}"#).unwrap());
    c.take(
        &chunk::parse(r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2}}"#)
            .unwrap(),
    );
    let mut r = rec(16);
    settle_counts(&mut r, &mut c);
    assert_eq!(
        (r.output_tokens, r.output_tokens_from),
        (2, TokenCount::Usage)
    );
    assert_eq!(r.server_prompt_tokens, Some(10));

    // Field case 10: no usage, two tokens per chunk, finish `length` = max_tokens.
    let mut c = TokenCounter::new();
    for _ in 0..7 {
        c.take(&chunk::parse(r#"{"choices":[{"text":" a b"}]}"#).unwrap());
    }
    c.take(&chunk::parse(r#"{"choices":[{"text":" a b","finish_reason":"length"}]}"#).unwrap());
    let mut r = rec(16);
    settle_counts(&mut r, &mut c);
    assert_eq!(
        (r.output_tokens, r.output_tokens_from),
        (16, TokenCount::FinishLength)
    );
    assert_eq!(r.generated_text, None);

    // Stopped early without usage: one per delta, text kept for the tokenizer.
    let mut c = TokenCounter::new();
    c.take(&chunk::parse(r#"{"choices":[{"text":" a b","finish_reason":"stop"}]}"#).unwrap());
    let mut r = rec(16);
    settle_counts(&mut r, &mut c);
    assert_eq!(
        (r.output_tokens, r.output_tokens_from),
        (1, TokenCount::Chunks)
    );
    assert_eq!(r.generated_text.as_deref(), Some(" a b"));
}

#[test]
fn the_body_decides_between_sse_and_json() {
    assert!(matches!(decide(b"data: {}\n\n"), Reply::Sse(_)));
    assert!(matches!(decide(b": ping\n\n"), Reply::Sse(_)));
    assert!(matches!(decide(b"\r\nevent: x\n"), Reply::Sse(_)));
    assert!(matches!(decide(b"  {\"choices\":[]}"), Reply::Json(_)));
    assert!(matches!(decide(b"\n \r\n"), Reply::Undecided));
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
        model: None,
        output_tokens: 2,
        temperature: 1.0,
        session: None,
    };
    let v: serde_json::Value = serde_json::from_slice(&body("m", Api::Chat, &spec)).unwrap();
    assert_eq!(v["messages"][0]["content"], "hi");
    assert!(v.get("prompt").is_none());
}
