//! How real servers shape a healthy stream, each an option of the simulator (issue 14): the
//! default stays byte for byte what it was, and every option changes exactly its part.

use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use serde_json::{Value, json};

use super::raw::{chunks, events, raw, text_of, tokens, without_clock};
use super::{fast, start};

fn chat(max_tokens: u32, usage: bool, continuous: bool) -> Value {
    json!({
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens,
        "ignore_eos": true, "stream": true,
        "stream_options": {"include_usage": usage, "continuous_usage_stats": continuous},
    })
}

fn completion(max_tokens: u32, usage: bool, continuous: bool) -> Value {
    json!({
        "prompt": "hello there", "max_tokens": max_tokens, "ignore_eos": true, "stream": true,
        "stream_options": {"include_usage": usage, "continuous_usage_stats": continuous},
    })
}

#[tokio::test]
async fn default_output_is_byte_for_byte_what_it_was_before_the_options() {
    // Recorded from the simulator before issue 14 (`simulate --time-scale 50 --seed 3`), with
    // the wall-clock figures zeroed; the request numbers fix ids and words.
    let sim = SimServer::start(
        EngineConfig {
            time_scale: 50.0,
            seed: 3,
            ..EngineConfig::default()
        },
        FaultConfig::default(),
    )
    .await
    .expect("simulator starts");
    let cases = [
        (
            "/v1/completions",
            json!({"prompt":"hello there","max_tokens":7,"ignore_eos":true,"stream":true}),
            include_str!("golden/completions_stream.txt"),
        ),
        (
            "/v1/completions",
            json!({"prompt":"hello there","max_tokens":7,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}),
            include_str!("golden/completions_stream_usage.txt"),
        ),
        (
            "/v1/completions",
            json!({"prompt":"hello there","max_tokens":30,"stream":false}),
            include_str!("golden/completions_body.txt"),
        ),
        (
            "/v1/chat/completions",
            json!({"messages":[{"role":"user","content":"hi"}],"max_tokens":6,"ignore_eos":true,"stream":true}),
            include_str!("golden/chat_stream.txt"),
        ),
        (
            "/v1/chat/completions",
            json!({"messages":[{"role":"user","content":"hi"}],"max_tokens":6,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}),
            include_str!("golden/chat_stream_usage.txt"),
        ),
    ];
    for (path, body, golden) in cases {
        let r = raw(&sim, path, body).await;
        assert_eq!(without_clock(&r.body), golden, "{path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn reasoning_tokens_stream_before_the_answer_in_both_field_names_and_are_counted() {
    let sim = start(
        fast(),
        FaultConfig {
            reasoning_tokens: 3,
            ..FaultConfig::default()
        },
    )
    .await;
    for (n, field) in [(0, "reasoning_content"), (1, "reasoning")] {
        let r = raw(&sim, "/v1/chat/completions", chat(8, true, true)).await;
        let all = chunks(&events(&r.body));
        let (usage, tokens_chunks) = all.split_last().expect("a usage chunk");
        let kinds: Vec<&str> = tokens_chunks
            .iter()
            .skip(1) // the role chunk
            .map(|c| text_of(c).expect("a token chunk carries text").0)
            .collect();
        assert_eq!(
            kinds,
            [
                field, field, field, "content", "content", "content", "content", "content"
            ],
            "request {n}"
        );
        for (i, c) in tokens_chunks.iter().enumerate() {
            let u = &c["usage"];
            assert_eq!(
                u["completion_tokens"], i,
                "continuous usage counts reasoning"
            );
            assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], i.min(3));
        }
        assert_eq!(usage["usage"]["completion_tokens"], 8);
        assert_eq!(
            usage["usage"]["completion_tokens_details"]["reasoning_tokens"],
            3
        );
    }
    // Fewer tokens than the reasoning: N' is what was actually sent.
    let r = raw(&sim, "/v1/chat/completions", chat(2, true, false)).await;
    let all = chunks(&events(&r.body));
    let usage = &all.last().expect("a usage chunk")["usage"];
    assert_eq!(usage["completion_tokens"], 2);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 2);
    // Non-streamed chat: the reasoning in `message.reasoning_content`.
    let mut body = chat(5, false, false);
    body["stream"] = json!(false);
    let r = raw(&sim, "/v1/chat/completions", body).await;
    let v: Value = serde_json::from_str(&r.body).expect("a JSON body");
    let msg = &v["choices"][0]["message"];
    assert_eq!(tokens(msg["reasoning_content"].as_str().unwrap_or("")), 3);
    assert_eq!(tokens(msg["content"].as_str().unwrap_or("")), 2);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        3
    );
    // Completions: no effect.
    let r = raw(&sim, "/v1/completions", completion(4, true, false)).await;
    let all = chunks(&events(&r.body));
    assert!(
        all[..4]
            .iter()
            .all(|c| text_of(c).map(|t| t.0) == Some("text"))
    );
    assert!(all[4]["usage"].get("completion_tokens_details").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn usage_at_end_only_ignores_continuous_usage_but_keeps_the_final_usage() {
    let sim = start(
        fast(),
        FaultConfig {
            usage_at_end_only: true,
            ..FaultConfig::default()
        },
    )
    .await;
    let r = raw(&sim, "/v1/chat/completions", chat(5, true, true)).await;
    let all = chunks(&events(&r.body));
    assert_eq!(all.len(), 1 + 5 + 1);
    assert!(all[..6].iter().all(|c| c.get("usage").is_none()), "{all:?}");
    assert_eq!(all[6]["usage"]["completion_tokens"], 5);
    assert_eq!(all[6]["choices"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_per_chunk_batches_tokens_and_counts_usage_cumulatively() {
    let sim = start(
        fast(),
        FaultConfig {
            tokens_per_chunk: 3,
            reasoning_tokens: 4,
            ..FaultConfig::default()
        },
    )
    .await;
    let r = raw(&sim, "/v1/completions", completion(10, true, true)).await;
    let all = chunks(&events(&r.body));
    let (usage, token_chunks) = all.split_last().expect("a usage chunk");
    let per_chunk: Vec<usize> = token_chunks
        .iter()
        .map(|c| tokens(&text_of(c).expect("text").1))
        .collect();
    assert_eq!(per_chunk, [3, 3, 3, 1]);
    let cumulative: Vec<&Value> = token_chunks
        .iter()
        .map(|c| &c["usage"]["completion_tokens"])
        .collect();
    assert_eq!(cumulative, [&json!(3), &json!(6), &json!(9), &json!(10)]);
    let finishes: Vec<&Value> = token_chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .collect();
    assert_eq!(
        finishes,
        [&Value::Null, &Value::Null, &Value::Null, &json!("length")]
    );
    assert_eq!(usage["usage"]["completion_tokens"], 10);
    // Chat with reasoning (request 1: odd, `reasoning`): a chunk never mixes reasoning and
    // answer.
    let r = raw(&sim, "/v1/chat/completions", chat(9, false, false)).await;
    let all = chunks(&events(&r.body));
    let shape: Vec<(&str, usize)> = all[1..]
        .iter()
        .map(|c| {
            let (kind, text) = text_of(c).expect("text");
            (kind, tokens(&text))
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("reasoning", 3),
            ("reasoning", 1),
            ("content", 3),
            ("content", 2)
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn content_type_option_relabels_the_stream_but_leaves_the_body_alone() {
    let sim = start(
        fast(),
        FaultConfig {
            content_type: Some("application/json".into()),
            ..FaultConfig::default()
        },
    )
    .await;
    let r = raw(&sim, "/v1/completions", completion(4, true, false)).await;
    assert_eq!(r.content_type, "application/json");
    let ev = events(&r.body);
    assert_eq!(ev.len(), 4 + 1 + 1);
    assert_eq!(ev.last().map(String::as_str), Some("[DONE]"));
    sim.shutdown().await;
    let sim = start(fast(), FaultConfig::default()).await;
    let r = raw(&sim, "/v1/completions", completion(2, false, false)).await;
    assert_eq!(r.content_type, "text/event-stream");
    sim.shutdown().await;
}

#[tokio::test]
async fn null_fields_are_healthy_streams_with_nulls_and_unknown_fields() {
    let sim = start(
        fast(),
        FaultConfig {
            null_fields: true,
            ..FaultConfig::default()
        },
    )
    .await;
    for path in ["/v1/completions", "/v1/chat/completions"] {
        let body = if path == "/v1/completions" {
            completion(5, true, false)
        } else {
            chat(5, true, false)
        };
        let r = raw(&sim, path, body).await;
        let ev = events(&r.body);
        assert_eq!(ev[0], r#"{"choices":null}"#, "{path}");
        let all = chunks(&ev);
        let (usage, rest) = all.split_last().expect("a usage chunk");
        let mut sent = 0;
        for c in &rest[1..] {
            assert_eq!(c["usage"], Value::Null, "{c}");
            assert!(c.get("usage").is_some(), "usage present as null: {c}");
            assert_eq!(c["system_fingerprint"], Value::Null);
            assert_eq!(c["x_extra"], json!({"a": 1}));
            sent += text_of(c).map_or(0, |(_, t)| tokens(&t));
        }
        assert_eq!(sent, 5, "{path}: every token is still there");
        assert_eq!(usage["choices"], Value::Null);
        assert!(usage.get("choices").is_some());
        assert_eq!(usage["usage"]["completion_tokens"], 5);
        assert_eq!(ev.last().map(String::as_str), Some("[DONE]"));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn ignore_eos_ignored_stops_at_end_of_sequence_with_stop() {
    let cfg = EngineConfig {
        eos_mean_tokens: 4.0,
        ..fast()
    };
    let body = json!({"prompt": "x", "max_tokens": 40, "min_tokens": 40, "ignore_eos": true});
    let sim = start(
        cfg.clone(),
        FaultConfig {
            ignore_eos_ignored: true,
            ..FaultConfig::default()
        },
    )
    .await;
    let mut short = 0;
    for _ in 0..12 {
        let r = raw(&sim, "/v1/completions", body.clone()).await;
        let v: Value = serde_json::from_str(&r.body).expect("JSON");
        let n = v["usage"]["completion_tokens"].as_u64().expect("a count");
        assert_eq!(
            tokens(v["choices"][0]["text"].as_str().unwrap_or("")) as u64,
            n
        );
        if n < 40 {
            short += 1;
            assert_eq!(v["choices"][0]["finish_reason"], "stop");
        }
    }
    // P(a geometric draw with mean 4 reaches 40) is about 2e-2 per request.
    assert!(short >= 10, "{short} of 12 stopped early");
    sim.shutdown().await;
    // Without the option the same requests run to max_tokens.
    let sim = start(cfg, FaultConfig::default()).await;
    for _ in 0..3 {
        let r = raw(&sim, "/v1/completions", body.clone()).await;
        let v: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(v["usage"]["completion_tokens"], 40);
        assert_eq!(v["choices"][0]["finish_reason"], "length");
    }
    sim.shutdown().await;
}
