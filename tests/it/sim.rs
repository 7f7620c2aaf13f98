//! The simulator over real HTTP on loopback: wire shapes, token counts, the engine's capacity
//! under open-loop load, every fault, and the official Python client.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use serde_json::{Value, json};

mod ends;
mod faults;
mod flags;
mod framing;
mod keepalive;
mod load;
mod models;
mod raw;
mod shapes;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .expect("a reqwest client without TLS options builds")
}

/// A fast engine: steps of ~0.1 ms wall clock.
fn fast() -> EngineConfig {
    EngineConfig {
        time_scale: 80.0,
        ..EngineConfig::default()
    }
}

async fn start(cfg: EngineConfig, faults: FaultConfig) -> SimServer {
    SimServer::start(cfg, faults)
        .await
        .expect("simulator starts on 127.0.0.1:0")
}

/// One server-sent event's data, with when its frame arrived.
#[derive(Debug)]
struct Event {
    at: Instant,
    data: String,
}

/// Reads a whole SSE body; the error is set when the body ended abnormally.
async fn read_sse(resp: reqwest::Response) -> (Vec<Event>, Option<String>) {
    let mut events = Vec::new();
    let mut pending = String::new();
    let mut body = resp.bytes_stream();
    let mut error = None;
    while let Some(frame) = body.next().await {
        match frame {
            Ok(bytes) => {
                let at = Instant::now();
                pending.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = pending.find("\n\n") {
                    let raw: String = pending.drain(..end + 2).collect();
                    let data = raw
                        .trim_end()
                        .strip_prefix("data: ")
                        .unwrap_or(&raw)
                        .to_string();
                    events.push(Event { at, data });
                }
            }
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    (events, error)
}

fn json_of(e: &Event) -> Value {
    serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("not JSON: {:?}: {err}", e.data))
}

/// The simulator's `/v1/models` answer (null when it is not JSON).
async fn models(c: &reqwest::Client, sim: &SimServer) -> Value {
    c.get(format!("{}/v1/models", sim.url()))
        .send()
        .await
        .expect("models")
        .json()
        .await
        .unwrap_or_default()
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    c.post(url)
        .json(&body)
        .send()
        .await
        .expect("request reaches the simulator")
}

#[tokio::test]
async fn streamed_completion_has_one_chunk_per_token_and_exact_usage() {
    let sim = start(fast(), FaultConfig::default()).await;
    let c = client();
    let body = json!({
        "model": "sim-model", "prompt": "The quick brown fox jumps", "max_tokens": 25,
        "ignore_eos": true, "stream": true,
        "stream_options": {"include_usage": true, "continuous_usage_stats": true},
    });
    let resp = post(&c, format!("{}/v1/completions", sim.url()), body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    let (events, err) = read_sse(resp).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(json_of).collect();
    let (tokens, usage_only) = chunks.split_at(chunks.len() - 1);
    assert_eq!(tokens.len(), 25);
    for (i, ch) in tokens.iter().enumerate() {
        assert_eq!(ch["object"], "text_completion");
        let text = ch["choices"][0]["text"].as_str().unwrap_or("");
        assert_eq!(mst_search::sim::tokenizer::count(text), 1, "{text:?}");
        assert_eq!(ch["usage"]["prompt_tokens"], 5);
        assert_eq!(ch["usage"]["completion_tokens"], i + 1);
        let finish = &ch["choices"][0]["finish_reason"];
        if i == 24 {
            assert_eq!(finish, "length")
        } else {
            assert!(finish.is_null())
        }
    }
    let last = &usage_only[0];
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 25, "total_tokens": 30})
    );
    let t = &last["sim_timing"];
    let (a, f, e) = (
        t["arrival_unix_ns"].as_u64(),
        t["first_token_unix_ns"].as_u64(),
        t["end_unix_ns"].as_u64(),
    );
    assert!(
        matches!((a, f, e), (Some(a), Some(f), Some(e)) if a > 0 && a <= f && f <= e),
        "{t}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn tokenize_and_token_id_prompts_give_exact_prompt_counts() {
    let sim = start(fast(), FaultConfig::default()).await;
    let c = client();
    let text =
        "Lorem ipsum, dolor sit amet; consectetur adipiscing elit.\nSed do eiusmod 12345678!";
    let tok: Value = post(
        &c,
        format!("{}/tokenize", sim.url()),
        json!({"prompt": text}),
    )
    .await
    .json()
    .await
    .unwrap_or_default();
    let count = tok["count"].as_u64().unwrap_or(0);
    assert_eq!(count as usize, mst_search::sim::tokenizer::count(text));
    assert_eq!(tok["tokens"].as_array().map(Vec::len), Some(count as usize));
    assert_eq!(tok["max_model_len"], 32768);

    let usage = |v: Value| v["usage"]["prompt_tokens"].as_u64();
    let r = post(
        &c,
        format!("{}/v1/completions", sim.url()),
        json!({"prompt": text, "max_tokens": 2}),
    )
    .await;
    assert_eq!(usage(r.json().await.unwrap_or_default()), Some(count));
    let ids: Vec<u32> = (100..157).collect();
    for prompt in [json!(ids), json!([ids])] {
        let r = post(
            &c,
            format!("{}/v1/completions", sim.url()),
            json!({"prompt": prompt, "max_tokens": 2}),
        )
        .await;
        assert_eq!(usage(r.json().await.unwrap_or_default()), Some(57));
    }

    let messages = json!([{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": [{"type": "text", "text": "Hello there, pal"}]}]);
    let tok: Value = post(
        &c,
        format!("{}/tokenize", sim.url()),
        json!({"messages": messages}),
    )
    .await
    .json()
    .await
    .unwrap_or_default();
    let chat_count = tok["count"].as_u64();
    // content tokens (3 + 4) + 3 per message + 1 for the generation prompt
    assert_eq!(chat_count, Some(3 + 4 + 2 * 3 + 1));
    let r = post(
        &c,
        format!("{}/v1/chat/completions", sim.url()),
        json!({"messages": messages, "max_tokens": 3}),
    )
    .await;
    assert_eq!(usage(r.json().await.unwrap_or_default()), chat_count);

    let back: Value = post(
        &c,
        format!("{}/detokenize", sim.url()),
        json!({"tokens": ids}),
    )
    .await
    .json()
    .await
    .unwrap_or_default();
    assert_eq!(
        back["prompt"]
            .as_str()
            .map(mst_search::sim::tokenizer::count),
        Some(57)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn chat_streams_a_role_chunk_then_one_content_chunk_per_token() {
    let sim = start(fast(), FaultConfig::default()).await;
    let c = client();
    let body = json!({"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 7,
                      "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true}});
    let (events, err) =
        read_sse(post(&c, format!("{}/v1/chat/completions", sim.url()), body).await).await;
    assert!(err.is_none(), "{err:?}");
    let chunks: Vec<Value> = events
        .iter()
        .take_while(|e| e.data != "[DONE]")
        .map(json_of)
        .collect();
    assert_eq!(chunks.len(), 1 + 7 + 1);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    for ch in &chunks[1..8] {
        assert_eq!(ch["object"], "chat.completion.chunk");
        assert!(
            ch["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert!(ch.get("usage").is_none());
    }
    assert_eq!(chunks[7]["choices"][0]["finish_reason"], "length");
    assert_eq!(chunks[8]["usage"]["completion_tokens"], 7);
    assert_eq!(chunks[8]["usage"]["prompt_tokens"], 1 + 3 + 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn lengths_without_ignore_eos_respect_min_and_max_tokens() {
    let cfg = EngineConfig {
        eos_mean_tokens: 10.0,
        ..fast()
    };
    let sim = start(cfg, FaultConfig::default()).await;
    let c = client();
    let (mut stops, mut lengths) = (0, 0);
    for _ in 0..40 {
        let v: Value = post(
            &c,
            format!("{}/v1/completions", sim.url()),
            json!({"prompt": "x", "max_tokens": 20, "min_tokens": 4}),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
        let n = v["usage"]["completion_tokens"].as_u64().unwrap_or(0);
        assert!((4..=20).contains(&n), "{v}");
        let text = v["choices"][0]["text"].as_str().unwrap_or("");
        assert_eq!(mst_search::sim::tokenizer::count(text) as u64, n);
        match v["choices"][0]["finish_reason"].as_str() {
            Some("stop") => {
                stops += 1;
                assert!(n < 20)
            }
            Some("length") => {
                lengths += 1;
                assert_eq!(n, 20)
            }
            other => panic!("finish_reason {other:?}"),
        }
    }
    // Mean 10 of a geometric: most stop early, some (about e^-2 of them) reach 20.
    assert!(stops > 20 && lengths > 0, "stops {stops} lengths {lengths}");
    // Absent max_tokens means vLLM's default of 16.
    let v: Value = post(
        &c,
        format!("{}/v1/completions", sim.url()),
        json!({"prompt": "x", "ignore_eos": true}),
    )
    .await
    .json()
    .await
    .unwrap_or_default();
    assert_eq!(v["usage"]["completion_tokens"], 16);
    sim.shutdown().await;
}

/// One Prometheus sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Every non-comment line must be `name{labels} value`.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP") | Some(&"TYPE")),
                "bad comment {line:?}"
            );
            continue;
        }
        let (name, rest) = line
            .split_once('{')
            .unwrap_or_else(|| panic!("no labels: {line:?}"));
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line:?}"
        );
        let (labels, value) = rest
            .rsplit_once("} ")
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let labels = labels
            .split(',')
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label {kv:?}"));
                assert!(v.starts_with('"') && v.ends_with('"'), "{kv:?}");
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line:?}"));
        out.push((name.to_string(), labels, value));
    }
    out
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_requests() {
    let sim = start(fast(), FaultConfig::default()).await;
    let c = client();
    for _ in 0..3 {
        post(
            &c,
            format!("{}/v1/completions", sim.url()),
            json!({"prompt": "a b c", "max_tokens": 4, "ignore_eos": true}),
        )
        .await;
    }
    let text = c
        .get(format!("{}/metrics", sim.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    let samples = parse_prometheus(&text);
    let get = |name: &str, reason: Option<&str>| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.iter().any(|(k, v)| k == "model_name" && v == "sim-model")
                    && reason
                        .is_none_or(|r| l.iter().any(|(k, v)| k == "finished_reason" && v == r))
            })
            .map(|s| s.2)
    };
    assert_eq!(get("vllm:request_success_total", Some("length")), Some(3.0));
    assert_eq!(get("vllm:generation_tokens_total", None), Some(12.0));
    assert_eq!(get("vllm:prompt_tokens_total", None), Some(9.0));
    assert_eq!(get("vllm:num_requests_running", None), Some(0.0));
    assert_eq!(get("vllm:num_requests_waiting", None), Some(0.0));
    assert!(get("vllm:kv_cache_usage_perc", None).is_some_and(|v| (0.0..=1.0).contains(&v)));
    let models = models(&c, &sim).await;
    assert_eq!(models["data"][0]["id"], "sim-model");
    assert_eq!(models["data"][0]["max_model_len"], 32768);
    assert_eq!(
        c.get(format!("{}/health", sim.url()))
            .send()
            .await
            .expect("health")
            .status(),
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_and_oversized_requests_get_400_json() {
    let cfg = EngineConfig {
        max_model_len: 100,
        ..fast()
    };
    let sim = start(cfg, FaultConfig::default()).await;
    let c = client();
    let url = format!("{}/v1/completions", sim.url());
    let bad: [&str; 8] = [
        "not json",
        "[1,2]",
        r#"{"max_tokens": 3}"#,
        r#"{"prompt": 5}"#,
        r#"{"prompt": "x", "max_tokens": -1}"#,
        r#"{"prompt": "x", "max_tokens": "ten"}"#,
        r#"{"prompt": "x", "stream": 1}"#,
        r#"{"prompt": ["a", "b"]}"#,
    ];
    for body in bad {
        let r = c
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap_or_default();
        assert_eq!(
            (v["object"].as_str(), v["type"].as_str(), v["code"].as_u64()),
            (Some("error"), Some("BadRequestError"), Some(400)),
            "{body}: {v}"
        );
    }
    let r = post(
        &c,
        format!("{}/v1/chat/completions", sim.url()),
        json!({"messages": [{"content": "no role"}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        &c,
        url.clone(),
        json!({"prompt": (0..90).collect::<Vec<u32>>(), "max_tokens": 11}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap_or_default();
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("maximum context length is 100")),
        "{v}"
    );
    assert_eq!(
        post(
            &c,
            url.clone(),
            json!({"prompt": (0..90).collect::<Vec<u32>>(), "max_tokens": 10})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        post(&c, url, json!({"prompt": "x", "model": "other"}))
            .await
            .status(),
        404
    );
    assert_eq!(
        c.get(format!("{}/v2/nothing", sim.url()))
            .send()
            .await
            .expect("sent")
            .status(),
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_client_that_disconnects_frees_its_slot() {
    let cfg = EngineConfig {
        max_num_seqs: 1,
        time_scale: 10.0,
        ..EngineConfig::default()
    };
    let sim = start(cfg, FaultConfig::default()).await;
    let c = client();
    let resp = post(
        &c,
        format!("{}/v1/completions", sim.url()),
        json!({"prompt": "x", "max_tokens": 10000, "ignore_eos": true, "stream": true}),
    )
    .await;
    let mut body = resp.bytes_stream();
    assert!(body.next().await.is_some());
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(3);
    while sim.stats().aborted_requests == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = sim.stats();
    assert_eq!(
        (s.aborted_requests, s.running, s.kv_used_tokens),
        (1, 0, 0),
        "{s:?}"
    );
    // The single slot serves the next request.
    let r = post(
        &c,
        format!("{}/v1/completions", sim.url()),
        json!({"prompt": "x", "max_tokens": 2}),
    )
    .await;
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_client_streams_both_endpoints() {
    let python = match std::env::var("MST_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            super::support::skip_or_require(
                "MST_REQUIRE_PYTHON",
                "official_openai_python_client_streams_both_endpoints",
                "MST_TEST_PYTHON is not set (a Python with the `openai` package; .ci/run makes one)",
            );
            return;
        }
    };
    let sim = start(fast(), FaultConfig::default()).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/openai_client_check.py"
    );
    let url = sim.url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(url)
            .output()
    })
    .await
    .expect("the python runner thread finishes")
    .expect("MST_TEST_PYTHON runs");
    sim.shutdown().await;
    assert!(
        out.status.success(),
        "python check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
