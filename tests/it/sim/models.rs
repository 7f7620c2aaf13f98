//! Several model names on one simulator (`adapters`, as LoRA adapters on a vLLM server):
//! listed by `/v1/models`, served, counted per name, and a name not served gets vLLM's 404.

use mst_search::sim::{EngineConfig, FaultConfig};
use serde_json::{Value, json};

use super::{client, fast, models, post, start};

#[tokio::test]
async fn adapters_are_listed_served_and_counted_and_unknown_models_get_404() {
    let cfg = EngineConfig {
        adapters: vec!["lora-a".into(), "lora-b".into()],
        ..fast()
    };
    let sim = start(cfg, FaultConfig::default()).await;
    let c = client();
    let models = models(&c, &sim).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["sim-model", "lora-a", "lora-b"]);
    assert_eq!(models["data"][1]["parent"], "sim-model");
    assert_eq!(models["data"][0]["parent"], Value::Null);

    let completion = |model: Option<&str>| {
        let mut body = json!({"prompt": "one two three", "max_tokens": 2, "ignore_eos": true});
        if let Some(m) = model {
            body["model"] = json!(m);
        }
        post(&c, format!("{}/v1/completions", sim.url()), body)
    };
    for model in [Some("lora-a"), Some("lora-a"), Some("lora-b"), None] {
        let resp = completion(model).await;
        assert_eq!(resp.status(), 200, "{model:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["usage"]["completion_tokens"], 2);
    }
    let unknown = completion(Some("lora-c")).await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert!(
        body.to_string()
            .contains("The model `lora-c` does not exist."),
        "{body}"
    );

    let counts = sim.requests_by_model();
    let counts: Vec<(&str, u64)> = counts.iter().map(|(m, n)| (m.as_str(), *n)).collect();
    assert_eq!(counts, [("lora-a", 2), ("lora-b", 1), ("sim-model", 1)]);
    sim.shutdown().await;
}

#[test]
fn adapter_names_must_be_distinct_and_not_empty() {
    for adapters in [vec![""], vec!["a", "a"], vec!["sim-model"]] {
        let cfg = EngineConfig {
            adapters: adapters.iter().map(|a| a.to_string()).collect(),
            ..EngineConfig::default()
        };
        let err = cfg.validate().expect_err("invalid adapters");
        assert!(err.contains("adapters"), "{err}");
    }
}

/// The request log a load-mode test reads: off until asked for, then every accepted request in
/// arrival order with its size and body; a refused request is not in it.
#[tokio::test]
async fn the_request_log_keeps_accepted_requests_in_order_once_asked() {
    let sim = start(fast(), FaultConfig::default()).await;
    let c = client();
    let send = |body: Value, path: &'static str| post(&c, format!("{}{path}", sim.url()), body);
    let before = send(
        json!({"prompt": "not logged", "max_tokens": 1}),
        "/v1/completions",
    )
    .await;
    assert_eq!(before.status(), 200);
    assert!(sim.received().is_empty(), "the log is off until asked for");

    sim.record_requests();
    let first = json!({"prompt": "one two three", "max_tokens": 2, "ignore_eos": true});
    assert_eq!(send(first, "/v1/completions").await.status(), 200);
    let refused = json!({"prompt": "x", "max_tokens": 0});
    assert_eq!(send(refused, "/v1/completions").await.status(), 400);
    let chat = json!({"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 3});
    assert_eq!(send(chat, "/v1/chat/completions").await.status(), 200);

    let seen = sim.received();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].endpoint, seen[0].max_tokens, seen[0].prompt_tokens),
        ("completions", 2, 3)
    );
    assert!(seen[0].body.contains("one two three"));
    assert_eq!((seen[1].endpoint, seen[1].max_tokens), ("chat", 3));
    assert!(seen[1].body.contains("hello there"));
    assert_eq!(seen[1].model, "sim-model");
    assert!(seen[0].at <= seen[1].at);
    sim.shutdown().await;
}
