//! Chunk shapes from vLLM, SGLang, llama.cpp, Ollama and proxies, and the tally's rules.

use super::*;

#[test]
fn completions_chunk_with_continuous_usage_counts_tokens_by_usage() {
    let mut c = TokenCounter::new();
    let a = parse(r#"{"choices":[{"index":0,"text":" a","finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#).unwrap();
    assert!(a.generated() && a.finish.is_none());
    assert_eq!(c.take(&a), 1);
    // A chunk that carries three tokens at once.
    let b = parse(r#"{"choices":[{"index":0,"text":" b c d","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#).unwrap();
    assert_eq!(b.finish, Some(Finish::Done("length".into())));
    assert_eq!(c.take(&b), 3);
    // Final usage-only chunk adds nothing.
    let u = parse(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#).unwrap();
    assert_eq!(c.take(&u), 0);
    assert_eq!(c.total(), 4);
    assert_eq!(c.usage_prompt, Some(5));
    assert_eq!(c.reasoning(), None);
    let timed = parse(r#"{"choices":[],"usage":{"completion_tokens":4},"sim_timing":{"arrival_unix_ns":1,"first_token_unix_ns":2,"end_unix_ns":3}}"#).unwrap();
    assert_eq!(timed.server_timing.map(|t| t.first_token_unix_ns), Some(2));
}

#[test]
fn chat_chunks_without_usage_count_one_per_delta_and_keep_the_text() {
    let mut c = TokenCounter::new();
    let role =
        parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#).unwrap();
    assert_eq!(c.take(&role), 0);
    for _ in 0..3 {
        let t = parse(r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#).unwrap();
        assert_eq!(c.take(&t), 1);
    }
    assert_eq!(c.total(), 3);
    assert_eq!(c.text.as_deref(), Some("xxx"));
}

/// Field case 01 (guidellm#737): reasoning deltas are tokens, and a usage total that arrives
/// only at the end corrects the count without stamping tokens at the usage chunk.
#[test]
fn reasoning_deltas_are_tokens_and_end_usage_stamps_nothing() {
    let mut c = TokenCounter::new();
    let r1 = parse(r#"{"choices":[{"delta":{"reasoning_content":" hm"}}]}"#).unwrap();
    let r2 = parse(r#"{"choices":[{"delta":{"reasoning":" so"}}]}"#).unwrap();
    assert_eq!((r1.reasoning_pieces, r1.answer_pieces), (1, 0));
    assert_eq!(c.take(&r1) + c.take(&r2), 2);
    let a = parse(r#"{"choices":[{"delta":{"content":" yes"},"finish_reason":"stop"}]}"#).unwrap();
    assert_eq!((a.reasoning_pieces, a.answer_pieces), (0, 1));
    assert_eq!(c.take(&a), 1);
    let u = parse(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"completion_tokens_details":{"reasoning_tokens":4}}}"#).unwrap();
    assert_eq!(c.take(&u), 0, "the usage chunk stamps no token");
    assert_eq!(c.total(), 5);
    assert_eq!(c.reasoning(), Some(4), "the server's figure wins");
    assert_eq!(c.text, None, "text is dropped once usage is known");
    // Without usage details the reasoning deltas are counted.
    let mut d = TokenCounter::new();
    d.take(&r1);
    d.take(&a);
    assert_eq!(d.reasoning(), Some(1));
}

#[test]
fn tool_call_arguments_and_refusals_are_answer_tokens() {
    let t = parse(
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}"#,
    )
    .unwrap();
    assert_eq!(t.answer_pieces, 1);
    let named = parse(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#).unwrap();
    assert!(
        !named.generated(),
        "a tool call's name with empty arguments is no token yet"
    );
    let r = parse(r#"{"choices":[{"delta":{"refusal":"I can't"}}]}"#).unwrap();
    assert_eq!(r.answer_pieces, 1);
    let legacy = parse(r#"{"choices":[{"delta":{"function_call":{"arguments":"{}"}}}]}"#).unwrap();
    assert_eq!(legacy.answer_pieces, 1);
}

/// Kind 4: healthy streams are never a bad chunk.
#[test]
fn nulls_unknown_fields_and_several_choices_are_tolerated() {
    let n = parse(r#"{"choices":null,"usage":{"completion_tokens":2}}"#).unwrap();
    assert!(!n.generated());
    assert_eq!(n.usage.and_then(|u| u.completion_tokens), Some(2));
    let u = parse(r#"{"choices":[{"text":"a","finish_reason":null}],"usage":null,"system_fingerprint":null,"x_extra":{"a":[1,2]}}"#).unwrap();
    assert_eq!(u.answer_pieces, 1);
    assert_eq!(parse("null").unwrap(), ChunkInfo::default());
    assert_eq!(
        parse("").unwrap(),
        ChunkInfo::default(),
        "a heartbeat event"
    );
    let two = parse(r#"{"choices":[{"index":0,"text":"a"},{"index":1,"text":"b"}]}"#).unwrap();
    assert_eq!(two.answer_pieces, 2);
    let detail_null =
        parse(r#"{"choices":[],"usage":{"completion_tokens":2,"completion_tokens_details":null}}"#)
            .unwrap();
    assert!(detail_null.usage.is_some());
}

/// Field case 08 (sglang#3912, ollama#4357): an empty finish reason is none.
#[test]
fn an_empty_finish_reason_is_no_finish_and_abort_is_a_failure() {
    let e = parse(r#"{"choices":[{"text":"a","finish_reason":""}]}"#).unwrap();
    assert_eq!(e.finish, None);
    for reason in ["abort", "error", "cancelled", "Canceled", "failed"] {
        let f = parse(&format!(
            r#"{{"choices":[{{"text":"","finish_reason":"{reason}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(f.finish, Some(Finish::Failed(reason.into())), "{reason}");
    }
    for reason in [
        "stop",
        "length",
        "tool_calls",
        "content_filter",
        "eos_token",
    ] {
        let f = parse(&format!(
            r#"{{"choices":[{{"finish_reason":"{reason}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(f.finish, Some(Finish::Done(reason.into())), "{reason}");
    }
}

/// Field case 02 (vllm#57519): an error object inside a 200 stream, and vLLM's error body.
#[test]
fn error_objects_are_the_servers_errors() {
    let e = parse(r#"{"error":{"message":"engine died","type":"InternalServerError","code":500}}"#)
        .unwrap();
    assert_eq!(e.error.as_deref(), Some("engine died"));
    let body = parse(
        r#"{"object":"error","message":"out of memory","type":"InternalServerError","code":500}"#,
    )
    .unwrap();
    assert_eq!(body.error.as_deref(), Some("out of memory"));
    let s = parse(r#"{"error":"plain text"}"#).unwrap();
    assert_eq!(s.error.as_deref(), Some("plain text"));
    assert_eq!(parse(r#"{"error":null,"choices":[]}"#).unwrap().error, None);
    assert_eq!(
        error_event_message(r#"{"code":500,"message":"boom","type":"server_error"}"#),
        "boom"
    );
    assert_eq!(error_event_message(r#"{"error":{"message":"x"}}"#), "x");
    assert_eq!(error_event_message("not json"), "not json");
}

#[test]
fn a_non_streamed_chat_body_counts_its_message() {
    let b = parse(r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi there","reasoning_content":"think"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":6}}"#).unwrap();
    assert_eq!(b.answer_pieces, 1);
    assert_eq!(b.text, "hi therethink");
    assert_eq!(b.usage.and_then(|u| u.completion_tokens), Some(6));
}

#[test]
fn malformed_chunks_are_errors() {
    let err = parse(r#"{"choices":[{"#).unwrap_err();
    assert!(err.contains("malformed chunk"), "{err}");
    assert!(parse(r#"{"choices":"nope"}"#).is_err());
    assert!(parse("42").is_err());
}
