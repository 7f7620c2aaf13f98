//! What real servers send (issue 14), each behaviour learnt by the simulator as an option: the
//! files must hold the right value — the server's own count of what it did — not merely show
//! that nothing crashed. `../shared/field-cases/` holds one fake server per kind; these are the
//! project's own tests of the same kinds.

use super::*;
use mst_search::sim::{ErrorEventStyle, LineEnding};

/// Model time on the wall clock: steps of 20–36 ms, so a token gap is large next to a loaded
/// machine's scheduling noise and timing differences can be asserted.
fn slow_engine() -> EngineConfig {
    EngineConfig::small(16, 1.0)
}

/// One iteration at 0.4 × capacity against `engine` with `faults`; returns the rows of every
/// iteration, the first results row and the simulator's counts.
struct Ran {
    rows: Vec<BTreeMap<String, String>>,
    results: BTreeMap<String, String>,
    stats: SimStats,
    report: RunReport,
    out: super::super::support::FreshDir,
}

async fn run_with(
    name: &str,
    engine: EngineConfig,
    faults: FaultConfig,
    extra: &[(&str, String)],
) -> Ran {
    let server = SimServer::start(engine, faults).await.unwrap();
    let out = fresh_dir(&format!("real-{name}"));
    let report = run(one_iteration(&server, &out, 0.4, extra)).await;
    let stats = server.stats();
    server.shutdown().await;
    reconcile_rows(&out);
    let dirs = iteration_dirs(&out);
    let rows = dirs
        .iter()
        .flat_map(|d| read_rows(&d.join("output.csv")))
        .collect();
    let results = read_rows(&dirs[0].join("results.csv")).remove(0);
    Ran {
        rows,
        results,
        stats,
        report,
        out,
    }
}

fn num(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|e| panic!("{col}={:?}: {e}", row[col]))
}

fn ok(rows: &[BTreeMap<String, String>]) -> Vec<&BTreeMap<String, String>> {
    rows.iter().filter(|r| r["success"] == "True").collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn count_kind(rows: &[BTreeMap<String, String>], kind: &str) -> u64 {
    rows.iter().filter(|r| r["error_kind"] == kind).count() as u64
}

/// Field case 01 (guidellm#737): a reasoning model's thinking deltas are tokens. TTFT runs to
/// the first of them, TTFO to the first answer token; the usage total that arrives only at the
/// end corrects nothing here and stamps no token, so TPOT is the real per-token time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_deltas_are_tokens_and_ttft_runs_to_the_first_of_them() {
    let faults = FaultConfig {
        reasoning_tokens: 8,
        usage_at_end_only: true,
        ..FaultConfig::default()
    };
    let ran = run_with(
        "reasoning",
        slow_engine(),
        faults,
        &[("API", "chat".into())],
    )
    .await;
    let ok = ok(&ran.rows);
    assert_eq!(ok.len(), ran.rows.len(), "every request succeeds");
    assert!(ok.len() >= 8, "{} requests", ok.len());
    for r in &ok {
        assert_eq!(r["output_tokens"], "32", "{r:?}");
        assert_eq!(r["reasoning_tokens"], "8", "{r:?}");
        assert_eq!(r["output_tokens_from"], "usage");
        let (ttft, ttfo, tpot) = (num(r, "ttft_ms"), num(r, "ttfo_ms"), num(r, "tpot_ms"));
        // Eight reasoning tokens come between the first token and the first answer token.
        let gap = ttfo - ttft;
        assert!(
            gap > 5.0 * tpot && gap < 12.0 * tpot,
            "TTFO - TTFT = {gap:.1} ms for 8 reasoning tokens at TPOT {tpot:.1} ms: {r:?}"
        );
        // No token stamped at the usage chunk: the mean gap is the per-token time.
        let itl = num(r, "itl_mean_ms");
        assert!(
            (itl - tpot).abs() < 0.2 * tpot,
            "ITL mean {itl:.1} vs TPOT {tpot:.1}"
        );
    }
    assert_eq!(num(&ran.results, "REASONING_TOKENS_P50"), 8.0);
    assert!(num(&ran.results, "TTFO_P50_MS") > num(&ran.results, "TTFT_P50_MS"));
    assert_eq!(
        ran.results["JUDGEMENT"], "PASS",
        "{:?}",
        ran.report.outcomes
    );
}

/// Field case 02 (vllm#57519): an error reported inside a 200 stream, in each of the three
/// shapes servers use, is a failed request with the server's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_inside_a_200_stream_fail_the_request_in_every_style() {
    for style in [
        ErrorEventStyle::Json,
        ErrorEventStyle::Event,
        ErrorEventStyle::Field,
    ] {
        let faults = FaultConfig {
            fault_error_event_rate: 0.25,
            error_event_style: style,
            cut_after_tokens: 5,
            ..FaultConfig::default()
        };
        let ran = run_with(&format!("error-{style}"), engine(), faults, &[]).await;
        let injected = ran.stats.faults.error_event;
        assert!(injected > 0, "{style}: nothing injected");
        assert_eq!(count_kind(&ran.rows, "server-error"), injected, "{style}");
        assert_eq!(ok(&ran.rows).len() as u64 + injected, ran.rows.len() as u64);
        for r in ran
            .rows
            .iter()
            .filter(|r| r["error_kind"] == "server-error")
        {
            assert!(
                r["error_detail"].contains("simulated engine failure"),
                "{style}: {r:?}"
            );
        }
        assert!(ok(&ran.rows).iter().all(|r| r["output_tokens"] == "32"));
        assert_eq!(
            num(&ran.results, "ERRORS_SERVER_ERROR") as u64,
            injected,
            "{style}"
        );
    }
}

/// `finish_reason: "abort"` (SGLang, vLLM) and a generation with no token at all are failures
/// of their own kinds, counted one to one with what the server did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_and_empty_generations_fail_by_kind() {
    let faults = FaultConfig {
        fault_abort_rate: 0.15,
        fault_empty_rate: 0.15,
        cut_after_tokens: 5,
        ..FaultConfig::default()
    };
    let ran = run_with("abort-empty", engine(), faults, &[]).await;
    let abort = ran.stats.faults.abort;
    let empty = ran.stats.faults.empty;
    assert!(abort > 0 && empty > 0, "abort {abort}, empty {empty}");
    assert_eq!(count_kind(&ran.rows, "aborted"), abort);
    assert_eq!(count_kind(&ran.rows, "empty-output"), empty);
    assert_eq!(
        ok(&ran.rows).len() as u64 + abort + empty,
        ran.rows.len() as u64
    );
    assert_eq!(num(&ran.results, "ERRORS_ABORTED") as u64, abort);
    assert_eq!(num(&ran.results, "ERRORS_EMPTY_OUTPUT") as u64, empty);
}

/// Field case 08 (sglang#3912, ollama#4357): `"finish_reason": ""` on every chunk is no
/// finish, so a body that ends cleanly after a few tokens is a cut stream, not a short success.
/// A 200 body that is an error object is the server's error too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_early_end_with_empty_finish_reasons_is_a_cut_stream() {
    let faults = FaultConfig {
        empty_finish_reason: true,
        fault_clean_end_rate: 0.2,
        fault_error_body_rate: 0.1,
        cut_after_tokens: 6,
        ..FaultConfig::default()
    };
    let ran = run_with("clean-end", engine(), faults, &[]).await;
    let cut = ran.stats.faults.clean_end;
    let body = ran.stats.faults.error_body;
    assert!(cut > 0 && body > 0, "clean ends {cut}, error bodies {body}");
    assert_eq!(count_kind(&ran.rows, "stream-cut"), cut);
    assert_eq!(count_kind(&ran.rows, "server-error"), body);
    let ok = ok(&ran.rows);
    assert_eq!(ok.len() as u64 + cut + body, ran.rows.len() as u64);
    assert!(ok.iter().all(|r| r["output_tokens"] == "32"));
    // Error bodies never reach the engine; every other request is one row.
    assert_eq!(ran.rows.len() as u64, ran.stats.total_requests + body);
}

/// Every SSE framing the standard allows, and an SSE body under a wrong `Content-Type`, give
/// the same measurement as plain LF framing: all requests succeed with all their tokens, and a
/// CR-framed event is timed at its own arrival (the old parser dispatched it a token late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sse_framing_and_a_wrong_content_type_measure_the_same() {
    let base = run_with("frame-lf", slow_engine(), FaultConfig::default(), &[]).await;
    let ttft = |ran: &Ran| median(ok(&ran.rows).iter().map(|r| num(r, "ttft_ms")).collect());
    let tpot = median(ok(&base.rows).iter().map(|r| num(r, "tpot_ms")).collect());
    let variants: [(&str, FaultConfig); 5] = [
        (
            "crlf",
            FaultConfig {
                sse_line_ending: LineEnding::Crlf,
                ..FaultConfig::default()
            },
        ),
        (
            "cr",
            FaultConfig {
                sse_line_ending: LineEnding::Cr,
                ..FaultConfig::default()
            },
        ),
        (
            "nospace-comments-split",
            FaultConfig {
                sse_no_space: true,
                sse_comments: true,
                sse_split_data: true,
                ..FaultConfig::default()
            },
        ),
        (
            "json-content-type",
            FaultConfig {
                content_type: Some("application/json".into()),
                ..FaultConfig::default()
            },
        ),
        (
            "null-fields",
            FaultConfig {
                null_fields: true,
                ..FaultConfig::default()
            },
        ),
    ];
    for (name, faults) in variants {
        let ran = run_with(&format!("frame-{name}"), slow_engine(), faults, &[]).await;
        let ok = ok(&ran.rows);
        assert_eq!(ok.len(), ran.rows.len(), "{name}: {:?}", ran.rows.first());
        assert!(ok.iter().all(|r| r["output_tokens"] == "32"), "{name}");
        assert_eq!(num(&ran.results, "NOT_STREAMED"), 0.0, "{name}");
        let diff = ttft(&ran) - ttft(&base);
        assert!(
            diff.abs() < 0.5 * tpot,
            "{name}: median TTFT {:.1} ms vs {:.1} ms with LF (TPOT {tpot:.1} ms)",
            ttft(&ran),
            ttft(&base)
        );
    }
}

/// Field case 10 (inference-perf#410): without usage, chunks are not tokens. Two tokens per
/// chunk and `finish_reason: "length"` give `max_tokens`; an early stop is counted with the
/// server's tokenizer after the iteration; without any tokenizer the chunk count stays and is
/// flagged as a lower bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_usage_tokens_come_from_a_length_finish_or_the_tokenizer() {
    let two = FaultConfig {
        omit_usage: true,
        tokens_per_chunk: 2,
        ..FaultConfig::default()
    };
    let ran = run_with("nousage-length", slow_engine(), two.clone(), &[]).await;
    for r in ok(&ran.rows) {
        assert_eq!(r["output_tokens"], "32", "{r:?}");
        assert_eq!(r["output_tokens_from"], "finish-length");
        // 16 chunks of 2 tokens: the chunk gap is two token times.
        let (tpot, itl) = (num(r, "tpot_ms"), num(r, "itl_mean_ms"));
        assert!(
            (itl / tpot - 2.0).abs() < 0.3,
            "ITL {itl:.1} vs TPOT {tpot:.1}"
        );
    }
    assert_eq!(num(&ran.results, "USAGE_MISSING") as usize, ran.rows.len());
    assert_eq!(num(&ran.results, "OUTPUT_TOKENS_APPROX"), 0.0);

    let mut short = EngineConfig::small(16, 10.0);
    short.eos_mean_tokens = 10.0;
    let early = FaultConfig {
        ignore_eos_ignored: true,
        ..two.clone()
    };
    let ran = run_with("nousage-tokenizer", short.clone(), early.clone(), &[]).await;
    let ok_rows = ok(&ran.rows);
    assert_eq!(ok_rows.len(), ran.rows.len());
    let by: BTreeSet<&str> = ok_rows
        .iter()
        .map(|r| r["output_tokens_from"].as_str())
        .collect();
    assert!(by.contains("tokenizer"), "{by:?}");
    let total: f64 = ok_rows.iter().map(|r| num(r, "output_tokens")).sum();
    assert_eq!(
        total as u64, ran.stats.tokens_generated,
        "the tokenizer's counts add up to what the server generated"
    );
    assert_eq!(num(&ran.results, "OUTPUT_TOKENS_APPROX"), 0.0);

    let no_tok = FaultConfig {
        no_tokenize: true,
        ..early
    };
    let ran = run_with("nousage-chunks", short, no_tok, &[]).await;
    let chunks = ok(&ran.rows)
        .iter()
        .filter(|r| r["output_tokens_from"] == "chunks")
        .count();
    assert!(chunks > 0);
    assert_eq!(num(&ran.results, "OUTPUT_TOKENS_APPROX") as usize, chunks);
}

/// Field case 11 (aprender#2818): a server that ignores `ignore_eos` answers short. The short
/// answers are counted, and the length actually generated stands next to the MST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_answers_are_counted_and_their_length_stands_next_to_the_mst() {
    let mut engine = engine();
    engine.eos_mean_tokens = 10.0;
    let faults = FaultConfig {
        ignore_eos_ignored: true,
        ..FaultConfig::default()
    };
    let ran = run_with("short", engine, faults, &[]).await;
    let ok = ok(&ran.rows);
    let short = ok.iter().filter(|r| num(r, "output_tokens") < 32.0).count();
    assert!(short > ok.len() / 2, "{short} of {}", ok.len());
    assert_eq!(num(&ran.results, "SHORT_OUTPUTS") as usize, short);
    assert_eq!(ran.results["JUDGEMENT"], "PASS");
    let outcome = &ran.report.outcomes[0];
    let generated = outcome
        .generated_output_tokens_p50
        .expect("an MST was found");
    assert_eq!(generated, num(&ran.results, "MEDIAN_RESPONSE_TOKENS"));
    assert!(generated < 32.0);
    let pct = outcome.short_outputs_pct.unwrap();
    assert!((pct - 100.0 * short as f64 / ok.len() as f64).abs() < 1e-9);
    let summary = read_rows(&ran.out.join("summary.csv"));
    assert_eq!(num(&summary[0], "GENERATED_OUTPUT_TOKENS_P50"), generated);
}

/// Field case 13 (aiohttp#9138): a server that closes keep-alive connections on its own. A
/// request that died on a pooled connection the server had just closed never reached the
/// server: it is retried once, never a failure and never an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_the_server_closed_are_retried_not_failed() {
    let faults = FaultConfig {
        keepalive_close_every: 3,
        keepalive_idle_ms: 30,
        ..FaultConfig::default()
    };
    let ran = run_with("keepalive", engine(), faults, &[]).await;
    let closes = ran.stats.faults.keepalive_closes;
    assert!(closes > 0, "the server closed no connection");
    let ok = ok(&ran.rows);
    assert_eq!(
        ok.len(),
        ran.rows.len(),
        "{:?}",
        ran.rows.iter().find(|r| r["success"] != "True")
    );
    assert_eq!(ran.rows.len() as u64, ran.stats.total_requests);
    let retried: u64 = ran
        .rows
        .iter()
        .map(|r| num(r, "transport_retries") as u64)
        .sum();
    eprintln!("keep-alive: {closes} closes by the server, {retried} requests retried");
    assert!(retried <= closes, "{retried} retries, {closes} closes");
    assert_eq!(num(&ran.results, "TRANSPORT_RETRIES") as u64, retried);
    assert_ne!(ran.results["JUDGEMENT"], "OUTAGE");
}

/// The retry itself, made deterministic: a raw HTTP/1.1 server answers the first request and
/// keeps the connection; when the client reuses it for the second, the server reads the request
/// and closes without a response, as when its keep-alive close crosses the client's reuse. The
/// second request is sent again on a fresh connection and succeeds, and its row says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_a_connection_closed_before_any_response_is_sent_again() {
    send_into_closes(1).await;
}

/// The retry can meet another closed connection (field case 13 saw it once in 360 requests):
/// the second request's first two sends are closed without a response, the third succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_meets_a_second_close_is_sent_again() {
    send_into_closes(2).await;
}

/// Two requests against a raw server that answers the first and closes the next `closes`
/// sends (each read in full) without a byte of response; checks the second request succeeded
/// after `closes` retries, each on a fresh connection.
async fn send_into_closes(closes: u64) {
    use mst_search::client::Api;
    use mst_search::client::{
        Cancel, ClientConfig, LlmClient, OpenAiClient, Prompt, RequestSpec, Slot,
    };
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let (seen2, conns2) = (seen.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            conns2.fetch_add(1, Ordering::SeqCst);
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: headers, then Content-Length bytes of body.
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    if (1..=closes).contains(&seen.fetch_add(1, Ordering::SeqCst)) {
                        return; // the second request's sends: close without a byte of response
                    }
                    let body = "data: {\"choices\":[{\"text\":\" a\",\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });

    let client = OpenAiClient::new(ClientConfig {
        base_url: url,
        api: Api::Completions,
        api_key: None,
        model: "m".into(),
        request_timeout: Duration::from_secs(10),
        ttft_timeout: Duration::from_secs(5),
        tpot_timeout: Duration::from_secs(5),
    })
    .unwrap();
    let spec = RequestSpec {
        prompt: Prompt::Text("hi".into()),
        input_tokens: 1,
        class: None,
        model: None,
        output_tokens: 1,
        temperature: 0.0,
        session: None,
    };
    let t0 = Instant::now();
    let cancel = Cancel::new();
    let mut records = Vec::new();
    for i in 0..2 {
        let slot = Slot {
            request_idx: i,
            t0,
            intended: t0.elapsed(),
        };
        records.push(client.send(&spec, slot, &cancel).await);
    }
    assert!(records[0].success() && records[0].transport_retries == 0);
    let second = &records[1];
    assert!(second.success(), "{:?}", second.error_detail);
    assert_eq!(u64::from(second.transport_retries), closes);
    assert_eq!(second.output_tokens, 1);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2 + closes,
        "1 + closes attempts of the second request"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1 + closes,
        "every retry used a fresh connection"
    );
}
