//! SSE framing options on the wire: every line ending, `data:` without its space, comments
//! between events, and payloads split over two `data:` lines (issue 14, kind 2).

use mst_search::sim::{FaultConfig, LineEnding};
use serde_json::{Value, json};

use super::raw::{events, raw, text_of, tokens};
use super::{fast, start};

fn request() -> Value {
    json!({
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "ignore_eos": true,
        "stream": true, "stream_options": {"include_usage": true, "continuous_usage_stats": true},
    })
}

/// A body framed with `opts`, and the default-framed body of the same request (same seed,
/// same request number), to compare the events carried.
async fn framed_and_plain(opts: FaultConfig) -> (String, Vec<String>) {
    let sim = start(fast(), opts).await;
    let r = raw(&sim, "/v1/chat/completions", request()).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    sim.shutdown().await;
    let sim = start(fast(), FaultConfig::default()).await;
    let plain = raw(&sim, "/v1/chat/completions", request()).await;
    sim.shutdown().await;
    let plain = events(&plain.body)
        .into_iter()
        .map(|e| strip_clock(&e))
        .collect();
    (r.body, plain)
}

/// The event's data without the server's wall-clock figures (they differ between two runs).
fn strip_clock(data: &str) -> String {
    match serde_json::from_str::<Value>(data) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.remove("created");
                o.remove("sim_timing");
            }
            v.to_string()
        }
        Err(_) => data.to_string(),
    }
}

#[tokio::test]
async fn every_line_ending_frames_the_same_events() {
    for (ending, eol) in [(LineEnding::Crlf, "\r\n"), (LineEnding::Cr, "\r")] {
        let (body, plain) = framed_and_plain(FaultConfig {
            sse_line_ending: ending,
            ..FaultConfig::default()
        })
        .await;
        if ending == LineEnding::Cr {
            assert!(!body.contains('\n'), "bare CR only: {body:?}");
        }
        let blank = format!("{eol}{eol}");
        assert!(body.ends_with(&blank));
        let got: Vec<String> = body
            .split_terminator(blank.as_str())
            .map(|e| {
                let data = e.strip_prefix("data: ").expect("a data line");
                assert!(!data.contains(['\r', '\n']), "one line per event: {data:?}");
                strip_clock(data)
            })
            .collect();
        assert_eq!(got, plain, "{ending}");
    }
}

#[tokio::test]
async fn no_space_and_comments_change_only_their_bytes() {
    let (body, plain) = framed_and_plain(FaultConfig {
        sse_no_space: true,
        sse_comments: true,
        ..FaultConfig::default()
    })
    .await;
    assert!(body.starts_with("data:{"), "{body:?}");
    let blocks: Vec<&str> = body.split_terminator("\n\n").collect();
    let (comments, data): (Vec<&str>, Vec<&str>) = blocks.iter().partition(|b| b.starts_with(':'));
    assert!(comments.iter().all(|c| *c == ": ping"));
    assert_eq!(
        comments.len(),
        data.len() - 1,
        "one comment between each two events"
    );
    for pair in blocks.windows(2) {
        assert!(
            pair[0].starts_with(':') != pair[1].starts_with(':'),
            "comments alternate with events: {pair:?}"
        );
    }
    let got: Vec<String> = data
        .iter()
        .map(|d| strip_clock(d.strip_prefix("data:").expect("data without a space")))
        .collect();
    assert_eq!(got, plain);
}

#[tokio::test]
async fn split_data_sends_two_data_lines_that_join_into_the_same_json() {
    let (body, plain) = framed_and_plain(FaultConfig {
        sse_split_data: true,
        ..FaultConfig::default()
    })
    .await;
    let mut got = Vec::new();
    let mut tokens_seen = 0;
    for block in body.split_terminator("\n\n") {
        let lines: Vec<&str> = block
            .lines()
            .map(|l| l.strip_prefix("data: ").expect("data lines only"))
            .collect();
        if lines == ["[DONE]"] {
            got.push("[DONE]".to_string());
            continue;
        }
        assert_eq!(lines.len(), 2, "each JSON payload in two lines: {block:?}");
        assert!(lines[0].ends_with(','), "split after a comma: {block:?}");
        assert!(
            serde_json::from_str::<Value>(lines[0]).is_err(),
            "neither half is JSON alone"
        );
        // The SSE parser joins data lines with a newline.
        let joined = lines.join("\n");
        let v: Value = serde_json::from_str(&joined).expect("the joined payload is JSON");
        tokens_seen += text_of(&v).map_or(0, |(_, t)| tokens(&t));
        got.push(strip_clock(&joined));
    }
    assert_eq!(tokens_seen, 5);
    assert_eq!(got, plain);
}
