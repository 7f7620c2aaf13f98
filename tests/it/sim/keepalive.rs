//! Keep-alive connections the server closes on its own, without `Connection: close` (issue 14,
//! kind 5): after a connection's N-th response, or when it has been idle. Raw TCP shows the
//! exact moment; a pooled client shows the connections really are reused until then.

use std::time::{Duration, Instant};

use mst_search::sim::FaultConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::raw::raw_with;
use super::{client, fast, start};

const BODY: &str = r#"{"prompt":"x","max_tokens":1}"#;

async fn send(s: &mut TcpStream) -> std::io::Result<()> {
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    s.write_all(req.as_bytes()).await
}

/// One whole response (head and body), or what came before the connection ended.
enum Read {
    Response(String),
    Closed(String),
}

async fn read_response(s: &mut TcpStream) -> Read {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(text) = whole_response(&buf) {
            return Read::Response(text);
        }
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut chunk))
            .await
            .expect("the server answers or closes within 3 s")
            .unwrap_or(0); // a reset is a close too
        if n == 0 {
            return Read::Closed(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The response in `buf` once it is complete (chunked or with a length).
fn whole_response(buf: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let head_lc = head.to_ascii_lowercase();
    let complete = if head_lc.contains("transfer-encoding: chunked") {
        body.ends_with("0\r\n\r\n")
    } else {
        let len = head_lc
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())?;
        body.len() >= len
    };
    complete.then(|| text.into_owned())
}

#[tokio::test]
async fn close_every_n_closes_right_after_the_nth_response_without_saying_so() {
    let sim = start(
        fast(),
        FaultConfig {
            keepalive_close_every: 2,
            ..FaultConfig::default()
        },
    )
    .await;
    let mut s = TcpStream::connect(sim.addr()).await.expect("connects");
    for i in 1..=2 {
        send(&mut s).await.expect("the request is written");
        let Read::Response(r) = read_response(&mut s).await else {
            panic!("response {i} arrives");
        };
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(
            !r.to_ascii_lowercase().contains("connection: close"),
            "no warning in the headers: {r}"
        );
    }
    // The client does not know: it sends its next request on the same connection at once, and
    // the server, which closed it, never reads it.
    let _ = send(&mut s).await;
    match read_response(&mut s).await {
        Read::Closed(rest) => assert!(rest.is_empty(), "no answer: {rest:?}"),
        Read::Response(r) => panic!("a third response on a closed connection: {r}"),
    }
    let st = sim.stats();
    assert_eq!(st.faults.keepalive_closes, 1);
    assert_eq!(st.connections_accepted, 1);
    assert_eq!(st.max_requests_per_connection, 2);
    assert_eq!(
        st.total_requests, 2,
        "the third request never reached the server"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_limit_and_busy_ones_do_not() {
    let sim = start(
        fast(),
        FaultConfig {
            keepalive_idle_ms: 200,
            ..FaultConfig::default()
        },
    )
    .await;
    let mut s = TcpStream::connect(sim.addr()).await.expect("connects");
    for _ in 0..3 {
        // Within the limit each time: the connection stays open.
        tokio::time::sleep(Duration::from_millis(60)).await;
        send(&mut s).await.expect("the request is written");
        assert!(matches!(read_response(&mut s).await, Read::Response(_)));
    }
    let idle_since = Instant::now();
    match read_response(&mut s).await {
        Read::Closed(rest) => assert!(rest.is_empty()),
        Read::Response(r) => panic!("nothing was asked: {r}"),
    }
    let waited = idle_since.elapsed();
    assert!(
        (Duration::from_millis(150)..Duration::from_millis(1500)).contains(&waited),
        "closed after {waited:?} idle"
    );
    // A connection that never sends a request is idle from the start.
    let mut quiet = TcpStream::connect(sim.addr()).await.expect("connects");
    assert!(matches!(read_response(&mut quiet).await, Read::Closed(_)));
    let st = sim.stats();
    assert_eq!(st.faults.keepalive_closes, 2);
    assert_eq!(st.max_requests_per_connection, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_pooled_client_reuses_connections_until_the_server_closes_them() {
    let sim = start(
        fast(),
        FaultConfig {
            keepalive_close_every: 3,
            ..FaultConfig::default()
        },
    )
    .await;
    let c = client();
    for _ in 0..6 {
        // A pause lets the client see each close before it picks a pooled connection.
        tokio::time::sleep(Duration::from_millis(40)).await;
        let r = raw_with(
            &c,
            &sim,
            "/v1/completions",
            json!({"prompt": "x", "max_tokens": 2}),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let st = sim.stats();
    assert_eq!(st.connections_accepted, 2);
    assert_eq!(st.max_requests_per_connection, 3);
    assert_eq!(st.faults.keepalive_closes, 2);
    sim.shutdown().await;
    // Without the limit one connection serves them all.
    let sim = start(fast(), FaultConfig::default()).await;
    for _ in 0..6 {
        raw_with(
            &c,
            &sim,
            "/v1/completions",
            json!({"prompt": "x", "max_tokens": 2}),
        )
        .await;
    }
    let st = sim.stats();
    assert_eq!(
        (st.connections_accepted, st.max_requests_per_connection),
        (1, 6)
    );
    assert_eq!(st.faults.keepalive_closes, 0);
    sim.shutdown().await;
}
