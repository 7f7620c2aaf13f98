//! Reader tests for the three trace shapes and their errors, the replay window, and the
//! prompts a trace request gets.

use super::*;
use crate::workload::tokens::TokenSource;

/// A temp file with `text`, removed when the guard drops.
fn file(text: &str, suffix: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .suffix(suffix)
        .tempfile()
        .expect("temp file");
    std::fs::write(f.path(), text).unwrap();
    f
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("traces")
        .join(name)
}

/// The error text of reading `text` (as a file with `suffix`) with `format`.
fn error(text: &str, format: Option<TraceFormat>) -> String {
    let f = file(text, ".trace");
    read(f.path(), format).unwrap_err().to_string()
}

fn assert_names(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "{err:?} should name {p:?}");
    }
}

#[test]
fn the_three_shapes_are_told_by_the_file_and_read_to_seconds_and_tokens() {
    let azure = file(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:15:46.6805900,374,44\n\
         2023-11-16 18:15:50.9951690,396,109\n\
         2023-11-16 18:15:50.9951690,12,1\n",
        ".csv",
    );
    let t = read(azure.path(), None).unwrap();
    assert_eq!(t.format, TraceFormat::Azure);
    assert_eq!(t.requests.len(), 3);
    assert_eq!(t.requests[0].arrival_s, 0.0);
    assert!(
        (t.requests[1].arrival_s - 4.314579).abs() < 1e-9,
        "{:?}",
        t.requests[1]
    );
    assert_eq!(
        (t.requests[1].input_tokens, t.requests[1].output_tokens),
        (396, 109)
    );
    assert!(t.requests.iter().all(|r| r.blocks.is_empty()));

    // Azure's 2024 traces carry an offset; the difference is what counts.
    let azure24 = file(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2024-05-10 00:00:00.009930+00:00,2048,28\n\
         2024-05-10 00:00:01.509930+00:00,100,3\n",
        ".csv",
    );
    let t = read(azure24.path(), None).unwrap();
    assert!((t.requests[1].arrival_s - 1.5).abs() < 1e-9);

    let mooncake = file(
        "{\"timestamp\": 100, \"input_length\": 1100, \"output_length\": 12, \"hash_ids\": [0, 1, 3]}\n\
         \n\
         {\"timestamp\": 2600, \"input_length\": 30, \"output_length\": 5, \"hash_ids\": [9]}\n",
        ".jsonl",
    );
    let t = read(mooncake.path(), None).unwrap();
    assert_eq!(t.format, TraceFormat::Mooncake);
    assert_eq!(t.requests[0].blocks, vec![0, 1, 3]);
    assert_eq!(t.requests[1].arrival_s, 2.5);
    assert_eq!(t.requests[1].input_tokens, 30);

    let plain = file(
        "arrival_s,input_tokens,output_tokens,session\n0.5,600,10,a\n1.0,1100,20,a\n1.0,90,9,\n",
        ".csv",
    );
    let t = read(plain.path(), None).unwrap();
    assert_eq!(t.format, TraceFormat::Plain);
    // Plain times are as written, not moved to the first.
    assert_eq!(t.requests[0].arrival_s, 0.5);
    // One session: 2 and 3 blocks of 512, the first two the same.
    assert_eq!(t.requests[0].blocks.len(), 2);
    assert_eq!(t.requests[1].blocks.len(), 3);
    assert_eq!(t.requests[0].blocks[..], t.requests[1].blocks[..2]);
    assert!(t.requests[2].blocks.is_empty());
}

#[test]
fn the_shipped_samples_read_and_the_content_hash_follows_the_bytes() {
    for (name, format, at_least) in [
        ("synthetic.csv", TraceFormat::Plain, 100),
        ("azure_sample.csv", TraceFormat::Azure, 10),
        ("mooncake_sample.jsonl", TraceFormat::Mooncake, 10),
    ] {
        let t = read(&shipped(name), None).unwrap();
        assert_eq!(t.format, format, "{name}");
        assert!(t.requests.len() >= at_least, "{name}: {}", t.requests.len());
    }
    let a = file(
        "arrival_s,input_tokens,output_tokens\n0,5,5\n1,5,5\n",
        ".csv",
    );
    let b = file(
        "arrival_s,input_tokens,output_tokens\n0,5,5\n1,5,6\n",
        ".csv",
    );
    let (ta, tb) = (read(a.path(), None).unwrap(), read(b.path(), None).unwrap());
    assert_ne!(ta.content_hash, tb.content_hash);
    assert_eq!(ta.content_hash, read(a.path(), None).unwrap().content_hash);
}

#[test]
fn a_bad_value_names_the_file_line_field_value_and_what_was_expected() {
    let cases: &[(&str, Option<TraceFormat>, &[&str])] = &[
        (
            "arrival_s,input_tokens,output_tokens\n0,5,5\n1,zero,5\n",
            None,
            &[
                "line 3",
                "input_tokens",
                "\"zero\"",
                "whole number of tokens",
            ],
        ),
        (
            "arrival_s,input_tokens,output_tokens\n0,5,5\n1,5,0\n",
            None,
            &["line 3", "output_tokens", "\"0\"", "from 1"],
        ),
        (
            "arrival_s,input_tokens,output_tokens\n-1,5,5\n1,5,5\n",
            None,
            &["line 2", "arrival_s", "\"-1\"", "seconds >= 0"],
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,5,5\n16/11/2023 18:15,5,5\n",
            None,
            &["line 3", "TIMESTAMP", "16/11/2023", "date and time"],
        ),
        (
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5}\n{\"timestamp\": \"soon\", \"input_length\": 5, \"output_length\": 5}\n",
            None,
            &["line 2", "timestamp", "soon", "milliseconds"],
        ),
        (
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5}\n{\"timestamp\": 1, \"output_length\": 5}\n",
            None,
            &["line 2", "input_length", "(missing)"],
        ),
        (
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5, \"hash_ids\": [1, -2]}\n",
            None,
            &["line 1", "hash_ids", "[1,-2]", "whole numbers"],
        ),
        (
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5}\nnot json\n",
            None,
            &["line 2", "JSON object"],
        ),
        (
            "arrival_s,input_tokens,output_tokens\n0,5,5\n1,5\n",
            None,
            &["line 3", "CSV"],
        ),
        (
            "arrival_s,input,output_tokens\n0,5,5\n",
            None,
            &["line 1", "header", "arrival_s,input_tokens,output_tokens"],
        ),
        (
            "arrival_s,input_tokens,output_tokens\n0,5,5\n",
            Some(TraceFormat::Azure),
            &[
                "line 1",
                "header",
                "TIMESTAMP,ContextTokens,GeneratedTokens",
            ],
        ),
        (
            "when,in,out\n0,5,5\n",
            None,
            &["TRACE", "first line", "TRACE_FORMAT"],
        ),
    ];
    for (text, format, parts) in cases {
        assert_names(&error(text, *format), parts);
    }
}

#[test]
fn an_empty_or_one_request_trace_is_refused() {
    assert_names(
        &error("", None),
        &["TRACE", "at least two requests", "none"],
    );
    assert_names(&error("\n  \n", None), &["at least two requests"]);
    assert_names(
        &error("arrival_s,input_tokens,output_tokens\n", None),
        &["at least two requests", "has 0"],
    );
    assert_names(
        &error("arrival_s,input_tokens,output_tokens\n3,5,5\n", None),
        &["has 1"],
    );
}

#[test]
fn times_going_backwards_are_refused_naming_the_line_and_equal_times_are_fine() {
    let err = error(
        "arrival_s,input_tokens,output_tokens\n0,5,5\n2,5,5\n2,5,5\n1.5,5,5\n",
        None,
    );
    assert_names(
        &err,
        &["line 5", "arrival_s", "1.5", "never go backwards", "sort"],
    );
    let err = error(
        "{\"timestamp\": 500, \"input_length\": 5, \"output_length\": 5}\n{\"timestamp\": 200, \"input_length\": 5, \"output_length\": 5}\n",
        None,
    );
    assert_names(&err, &["line 2", "timestamp", "-0.3"]);
}

fn trace(arrivals: &[f64]) -> Trace {
    Trace {
        path: PathBuf::from("t.csv"),
        format: TraceFormat::Plain,
        requests: arrivals
            .iter()
            .map(|&a| TraceRequest {
                arrival_s: a,
                input_tokens: 8,
                output_tokens: 4,
                blocks: Vec::new(),
            })
            .collect(),
        content_hash: String::new(),
    }
}

#[test]
fn the_window_divides_trace_time_by_the_scale_and_loops_a_short_trace() {
    // Span 3 s, 4 requests: period 4 s (one mean gap added), 60 req/min of trace time.
    let t = trace(&[0.0, 1.0, 2.0, 3.0]);
    assert_eq!(t.period_s(), 4.0);
    assert_eq!(t.req_min(), 60.0);
    let (offsets, slots) = t.window(2.0, Duration::from_secs(2));
    // 4 s of trace time at 2x in 2 s: one pass, each at half its time.
    let secs: Vec<f64> = offsets.iter().map(Duration::as_secs_f64).collect();
    assert_eq!(secs, vec![0.0, 0.5, 1.0, 1.5]);
    assert!(slots.iter().all(|s| s.pass == 0));
    // 10 s at 1x: two whole passes and half a third, the third's prompts in pass 2.
    let (offsets, slots) = t.window(1.0, Duration::from_secs(10));
    assert_eq!(offsets.len(), 10);
    assert_eq!(offsets[4], Duration::from_secs(4));
    assert_eq!(slots[9], Slot { entry: 1, pass: 2 });
    // Doubling the scale doubles the requests of an iteration: the rate scales.
    let (slow, _) = t.window(0.5, Duration::from_secs(40));
    let (fast, _) = t.window(1.0, Duration::from_secs(40));
    assert_eq!(fast.len(), 2 * slow.len());
    // Equal times still have a period.
    assert!(trace(&[2.0, 2.0]).period_s() > 0.0);
}

#[tokio::test]
async fn shared_hash_ids_make_shared_prompt_prefixes_of_the_trace_lengths() {
    let cfg = crate::config::Config::from_pairs(&[
        ("URL", "127.0.0.1:9".into()),
        ("TOKENS_LIST", "8:4".into()),
    ])
    .unwrap()
    .0;
    let (w, _) = Workload::with_source(&cfg.workload_settings(), TokenSource::Approx)
        .await
        .unwrap();
    let mooncake = read(&shipped("mooncake_sample.jsonl"), None).unwrap();
    let text = |idx: u64, entry: u32, pass: u32| {
        let spec = w.trace_request(&mooncake, 7, idx, Slot { entry, pass });
        let r = &mooncake.requests[entry as usize];
        assert_eq!(spec.input_tokens, r.input_tokens);
        assert_eq!(spec.output_tokens, r.output_tokens);
        match spec.prompt {
            Prompt::Text(t) => {
                // With the approximation one word is one token.
                assert_eq!(t.split_whitespace().count(), r.input_tokens as usize);
                t.split_whitespace().map(String::from).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        }
    };
    // Find two requests that share their first k blocks and differ at block k.
    let reqs = &mooncake.requests;
    let shared = |a: usize, b: usize| {
        let (x, y) = (&reqs[a].blocks, &reqs[b].blocks);
        let k = x.iter().zip(y).take_while(|(p, q)| p == q).count();
        let long = |r: &TraceRequest| r.input_tokens as usize > (k + 1) * 512;
        (k > 0 && k < x.len() && k < y.len() && long(&reqs[a]) && long(&reqs[b])).then_some(k)
    };
    let (a, b, k) = (0..reqs.len())
        .flat_map(|a| (a + 1..reqs.len()).map(move |b| (a, b)))
        .find_map(|(a, b)| shared(a, b).map(|k| (a, b, k)))
        .expect("the sample has two requests sharing leading blocks");
    let (ta, tb) = (text(0, a as u32, 0), text(1, b as u32, 0));
    let block = BLOCK_TOKENS as usize;
    assert_eq!(ta[..k * block], tb[..k * block], "the shared blocks");
    assert_ne!(
        ta[k * block..(k + 1) * block],
        tb[k * block..(k + 1) * block],
        "the first block that differs"
    );
    // The next pass of a looped trace shares nothing with the first.
    let again = text(2, a as u32, 1);
    assert_ne!(ta[..block], again[..block]);
    // No blocks: every prompt its own.
    let azure = read(&shipped("azure_sample.csv"), None).unwrap();
    let p = |idx| {
        w.trace_request(&azure, 7, idx, Slot { entry: 0, pass: 0 })
            .prompt
    };
    assert_ne!(p(0), p(1));
}
