//! Generations that fail, abort or come back empty although the answer started with HTTP 200,
//! each written exactly as the servers that do it write it (issue 14, kind 3).

use mst_search::sim::{ErrorEventStyle, FaultConfig};
use serde_json::{Value, json};

use super::raw::{chunks, events, raw, text_of, tokens};
use super::{fast, start};

fn completion(max_tokens: u32) -> Value {
    json!({
        "prompt": "x", "max_tokens": max_tokens, "ignore_eos": true, "stream": true,
        "stream_options": {"include_usage": true},
    })
}

fn chat(max_tokens: u32) -> Value {
    json!({
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens,
        "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true},
    })
}

/// Tokens carried by the chunks of `body` before its first non-token event.
fn tokens_before(all: &[Value]) -> usize {
    all.iter()
        .filter_map(text_of)
        .map(|(_, t)| tokens(&t))
        .sum()
}

#[tokio::test]
async fn error_events_come_after_the_first_tokens_in_each_style_then_done() {
    let msg = "simulated engine failure during decoding";
    let json_event = format!(
        "data: {{\"error\":{{\"code\":500,\"message\":\"{msg}\",\"type\":\"InternalServerError\"}}}}\n\n"
    );
    let cases = [
        (ErrorEventStyle::Json, json_event.clone()),
        (
            ErrorEventStyle::Event,
            format!("event: error\n{json_event}"),
        ),
        (
            ErrorEventStyle::Field,
            format!("error: {{\"code\":500,\"message\":\"{msg}\",\"type\":\"server_error\"}}\n\n"),
        ),
    ];
    for (style, error) in cases {
        let sim = start(
            fast(),
            FaultConfig {
                fault_error_event_rate: 1.0,
                error_event_style: style,
                cut_after_tokens: 4,
                ..FaultConfig::default()
            },
        )
        .await;
        let r = raw(&sim, "/v1/completions", completion(10)).await;
        assert_eq!(r.status, 200);
        assert!(r.error.is_none(), "the body ends cleanly: {:?}", r.error);
        let tail = format!("{error}data: [DONE]\n\n");
        let head = r
            .body
            .strip_suffix(&tail)
            .unwrap_or_else(|| panic!("{style}: ends with the error event: {:?}", r.body));
        let all = chunks(&events(head));
        assert_eq!(all.len(), 4, "{style}");
        assert_eq!(tokens_before(&all), 4);
        assert!(
            all.iter()
                .all(|c| c["choices"][0]["finish_reason"].is_null())
        );
        assert_eq!(sim.stats().faults.error_event, 1);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn abort_sends_finish_reason_abort_then_usage_and_done() {
    let sim = start(
        fast(),
        FaultConfig {
            fault_abort_rate: 1.0,
            cut_after_tokens: 3,
            ..FaultConfig::default()
        },
    )
    .await;
    for (path, body) in [
        ("/v1/completions", completion(10)),
        ("/v1/chat/completions", chat(10)),
    ] {
        let r = raw(&sim, path, body).await;
        let ev = events(&r.body);
        assert_eq!(ev.last().map(String::as_str), Some("[DONE]"));
        let all = chunks(&ev);
        let (usage, rest) = all.split_last().expect("a usage chunk");
        let (abort, tokens_chunks) = rest.split_last().expect("an abort chunk");
        assert_eq!(abort["choices"][0]["finish_reason"], "abort", "{path}");
        assert_eq!(
            text_of(abort),
            None,
            "{path}: the abort chunk carries no text"
        );
        assert_eq!(tokens_before(tokens_chunks), 3, "{path}");
        assert!(
            tokens_chunks
                .iter()
                .all(|c| c["choices"][0]["finish_reason"].is_null())
        );
        assert_eq!(usage["usage"]["completion_tokens"], 3);
    }
    assert_eq!(sim.stats().faults.abort, 2);
    // Never later than the last token's chunk: with 2 tokens the abort comes after 1.
    let r = raw(&sim, "/v1/completions", completion(2)).await;
    let all = chunks(&events(&r.body));
    assert_eq!(tokens_before(&all), 1);
    assert_eq!(all[1]["choices"][0]["finish_reason"], "abort");
    // Aborted before its first token (`cut_after_tokens` 0): a chat stream still opens with
    // its role chunk.
    sim.set_faults(FaultConfig {
        fault_abort_rate: 1.0,
        ..FaultConfig::default()
    });
    let r = raw(&sim, "/v1/chat/completions", chat(4)).await;
    let all = chunks(&events(&r.body));
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(all[1]["choices"][0]["finish_reason"], "abort");
    assert_eq!(all[2]["usage"]["completion_tokens"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_finish_reason_marks_every_chunk_but_the_last_with_an_empty_string() {
    let sim = start(
        fast(),
        FaultConfig {
            empty_finish_reason: true,
            ..FaultConfig::default()
        },
    )
    .await;
    let r = raw(&sim, "/v1/chat/completions", chat(4)).await;
    let all = chunks(&events(&r.body));
    let finishes: Vec<&Value> = all[..5]
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .collect();
    assert_eq!(
        finishes,
        [
            &json!(""),
            &json!(""),
            &json!(""),
            &json!(""),
            &json!("length")
        ]
    );
    assert_eq!(all[5]["usage"]["completion_tokens"], 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn clean_end_closes_the_body_properly_without_finish_usage_or_done() {
    let sim = start(
        fast(),
        FaultConfig {
            fault_clean_end_rate: 1.0,
            empty_finish_reason: true,
            cut_after_tokens: 6,
            ..FaultConfig::default()
        },
    )
    .await;
    let r = raw(&sim, "/v1/completions", completion(16)).await;
    assert!(r.error.is_none(), "a clean end is not a cut: {:?}", r.error);
    let ev = events(&r.body);
    assert!(ev.iter().all(|e| e != "[DONE]"));
    let all = chunks(&ev);
    assert_eq!(all.len(), 6);
    assert_eq!(tokens_before(&all), 6);
    assert!(all.iter().all(|c| c["choices"][0]["finish_reason"] == ""));
    assert!(all.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(sim.stats().faults.clean_end, 1);
    assert_eq!(sim.stats().faults.cut, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_generations_stop_at_once_with_zero_tokens() {
    let sim = start(
        fast(),
        FaultConfig {
            fault_empty_rate: 1.0,
            ..FaultConfig::default()
        },
    )
    .await;
    let r = raw(&sim, "/v1/chat/completions", chat(8)).await;
    let ev = events(&r.body);
    assert_eq!(ev.len(), 4, "role, stop, usage, [DONE]: {ev:?}");
    let all = chunks(&ev);
    assert_eq!(all[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(all[1]["choices"][0]["finish_reason"], "stop");
    assert_eq!(all[1]["choices"][0]["delta"]["content"], "");
    assert_eq!(all[2]["usage"]["completion_tokens"], 0);
    let r = raw(&sim, "/v1/completions", completion(8)).await;
    let all = chunks(&events(&r.body));
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["choices"][0]["text"], "");
    assert_eq!(all[0]["choices"][0]["finish_reason"], "stop");
    let r = raw(
        &sim,
        "/v1/completions",
        json!({"prompt": "x", "max_tokens": 8}),
    )
    .await;
    let v: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(v["choices"][0]["text"], "");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 0);
    assert_eq!(sim.stats().faults.empty, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn error_body_is_a_200_json_error_object_streamed_or_not() {
    let sim = start(
        fast(),
        FaultConfig {
            fault_error_body_rate: 1.0,
            ..FaultConfig::default()
        },
    )
    .await;
    for body in [completion(4), json!({"prompt": "x", "max_tokens": 4})] {
        let r = raw(&sim, "/v1/completions", body).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "application/json");
        let v: Value = serde_json::from_str(&r.body).expect("a JSON body");
        assert_eq!(v["object"], "error");
        assert_eq!(v["type"], "InternalServerError");
        assert_eq!(v["code"], 500);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let s = sim.stats();
    assert_eq!(s.faults.error_body, 2);
    assert_eq!(s.total_requests, 0, "the engine never saw them");
    sim.shutdown().await;
}
