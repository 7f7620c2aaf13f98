//! Raw HTTP against the simulator for the wire-shape tests: the whole body as text, its
//! headers, and whether it ended cleanly, without any SSE parser in between (the client's is
//! being rewritten against these shapes).

use mst_search::sim::SimServer;
use serde_json::Value;

use super::client;
use futures_util::StreamExt;

/// One answer as it came off the wire.
pub struct Raw {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// Set when the body ended abnormally (a cut connection).
    pub error: Option<String>,
}

/// POSTs `body` to `path` and reads the whole answer.
pub async fn raw(sim: &SimServer, path: &str, body: Value) -> Raw {
    raw_with(&client(), sim, path, body).await
}

/// [`raw`] over a given client (connection pool).
pub async fn raw_with(c: &reqwest::Client, sim: &SimServer, path: &str, body: Value) -> Raw {
    let resp = c
        .post(format!("{}{path}", sim.url()))
        .json(&body)
        .send()
        .await
        .expect("the request reaches the simulator");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut bytes = Vec::new();
    let mut error = None;
    let mut stream = resp.bytes_stream();
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(b) => bytes.extend_from_slice(&b),
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Raw {
        status,
        content_type,
        body: String::from_utf8(bytes).expect("the body is UTF-8"),
        error,
    }
}

/// The data of each `data: …\n\n` event of a default-framed body.
pub fn events(body: &str) -> Vec<String> {
    assert!(
        body.is_empty() || body.ends_with("\n\n"),
        "the body ends with a whole event: {body:?}"
    );
    body.split_terminator("\n\n")
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                .to_string()
        })
        .collect()
}

/// The JSON of every event but `[DONE]`.
pub fn chunks(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap_or_else(|err| panic!("not JSON: {e:?}: {err}")))
        .collect()
}

/// The non-empty text a chunk carries, of any kind (`text`, `delta.content`, reasoning), and
/// its kind.
pub fn text_of(chunk: &Value) -> Option<(&'static str, String)> {
    let choice = &chunk["choices"][0];
    if let Some(t) = choice["text"].as_str() {
        return (!t.is_empty()).then(|| ("text", t.to_string()));
    }
    for field in ["reasoning_content", "reasoning", "content"] {
        if let Some(t) = choice["delta"][field].as_str()
            && !t.is_empty()
        {
            return Some((field, t.to_string()));
        }
    }
    None
}

/// Output tokens in `text` (each generated word is one token).
pub fn tokens(text: &str) -> usize {
    mst_search::sim::tokenizer::count(text)
}

/// `text` with the wall-clock figures (`"created"`, `*_unix_ns`) set to 0.
pub fn without_clock(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = ["\"created\":", "_unix_ns\":"]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| i + k.len()))
        .min()
    {
        out.push_str(&rest[..i]);
        out.push('0');
        rest = rest[i..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}
