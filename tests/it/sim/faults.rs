//! Every fault shows up as configured: error statuses at their rates, cuts, malformed chunks,
//! stalls and refused connections.

use std::time::Duration;

use mst_search::sim::FaultConfig;
use serde_json::{Value, json};

use super::{Event, client, fast, post, read_sse, start};

#[tokio::test]
async fn error_status_faults_follow_their_rates() {
    let faults = FaultConfig {
        http_500_rate: 0.2,
        http_429_rate: 0.1,
        ..FaultConfig::default()
    };
    let sim = start(fast(), faults).await;
    let c = client();
    let (mut n500, mut n429, mut ok) = (0, 0, 0);
    for _ in 0..200 {
        let r = post(
            &c,
            format!("{}/v1/completions", sim.url()),
            json!({"prompt": "x", "max_tokens": 1}),
        )
        .await;
        match r.status().as_u16() {
            500 => n500 += 1,
            429 => n429 += 1,
            200 => ok += 1,
            s => panic!("unexpected status {s}"),
        }
        if r.status() != 200 {
            let v: Value = r.json().await.unwrap_or_default();
            assert_eq!(v["object"], "error");
        }
    }
    // Expected 40 and 16; binomial standard deviations ~5.7 and ~3.8.
    assert!((25..=55).contains(&n500), "500s: {n500}");
    assert!((6..=28).contains(&n429), "429s: {n429}");
    assert_eq!(n500 + n429 + ok, 200);
    // Faults can be switched off at run time.
    sim.set_faults(FaultConfig::default());
    for _ in 0..20 {
        assert_eq!(
            post(
                &c,
                format!("{}/v1/completions", sim.url()),
                json!({"prompt": "x", "max_tokens": 1})
            )
            .await
            .status(),
            200
        );
    }
    sim.shutdown().await;
}

async fn stream_with(faults: FaultConfig, max_tokens: u32) -> (Vec<Event>, Option<String>) {
    let sim = start(fast(), faults).await;
    let body = json!({"prompt": "x", "max_tokens": max_tokens, "ignore_eos": true, "stream": true});
    let out = read_sse(post(&client(), format!("{}/v1/completions", sim.url()), body).await).await;
    sim.shutdown().await;
    out
}

#[tokio::test]
async fn cut_fault_ends_the_stream_after_k_tokens_without_done() {
    let (events, err) = stream_with(
        FaultConfig {
            cut_rate: 1.0,
            cut_after_tokens: 3,
            ..FaultConfig::default()
        },
        10,
    )
    .await;
    assert!(err.is_some(), "a cut is an abnormal end of the body");
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
}

#[tokio::test]
async fn malformed_fault_sends_one_chunk_that_is_not_json_then_continues() {
    let (events, err) = stream_with(
        FaultConfig {
            malformed_rate: 1.0,
            ..FaultConfig::default()
        },
        6,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let bad: Vec<&Event> = events
        .iter()
        .filter(|e| e.data != "[DONE]" && serde_json::from_str::<Value>(&e.data).is_err())
        .collect();
    assert_eq!(bad.len(), 1, "{events:?}");
    assert_eq!(events.len(), 6 + 1 + 1);
    assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
}

#[tokio::test]
async fn stall_fault_pauses_the_stream_then_finishes_it() {
    let faults = FaultConfig {
        stall_rate: 1.0,
        stall_secs: 0.6,
        ..FaultConfig::default()
    };
    let (events, err) = stream_with(faults, 6).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events.len(), 6 + 1);
    let longest = events
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    assert!(
        longest >= Duration::from_millis(550),
        "longest gap {longest:?}"
    );
    // Without the fault the same stream has no such gap.
    let (events, _) = stream_with(FaultConfig::default(), 6).await;
    let longest = events
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    assert!(
        longest < Duration::from_millis(300),
        "longest gap {longest:?}"
    );
}

#[tokio::test]
async fn refused_connections_then_accepted_again() {
    let sim = start(fast(), FaultConfig::default()).await;
    let pooled = client();
    let url = format!("{}/v1/completions", sim.url());
    let req = json!({"prompt": "x", "max_tokens": 1});
    assert_eq!(post(&pooled, url.clone(), req.clone()).await.status(), 200);
    sim.refuse_connections_for(Duration::from_millis(800));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = client();
    let e = fresh
        .post(&url)
        .json(&req)
        .send()
        .await
        .expect_err("connections are refused");
    assert!(e.is_connect(), "{e:?}");
    // The pooled keep-alive connection was closed too, so the outage is not hidden.
    assert!(pooled.post(&url).json(&req).send().await.is_err());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(post(&fresh, url.clone(), req.clone()).await.status(), 200);
    assert_eq!(post(&pooled, url, req).await.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn refuse_schedule_in_the_fault_config_runs_once() {
    let faults = FaultConfig {
        refuse: Some((0.2, 0.5)),
        ..FaultConfig::default()
    };
    let sim = start(fast(), faults).await;
    let url = format!("{}/health", sim.url());
    assert!(client().get(&url).send().await.is_ok());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(client().get(&url).send().await.is_err());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(client().get(&url).send().await.is_ok());
    sim.shutdown().await;
}
