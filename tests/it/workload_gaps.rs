//! Two workload paths the simulator could not reach before: dataset answers longer than the
//! server's `max_model_len` (clipped, counted, never an HTTP 400), and a server without
//! `/tokenize` (`simulate --no-tokenize`), where prompt lengths are approximated and said so.

use super::support::{Scenario, read_rows, sim_client};
use mst_search::client::Api;
use mst_search::sim::{EngineConfig, FaultConfig};
use std::path::{Path, PathBuf};

/// A one-iteration search of `tokens_list` against an engine 1000x faster than real time with
/// `max_model_len` tokens of context and the given faults.
fn one_iteration(max_model_len: u32, faults: FaultConfig, tokens_list: &str) -> Scenario {
    Scenario::new()
        .engine(EngineConfig {
            time_scale: 1000.0,
            max_model_len,
            ..EngineConfig::default()
        })
        .faults(faults)
        .key("TOKENS_LIST", tokens_list)
        .key("REQ_MIN_START", "600")
        .key("DURATION", "2s")
        .key("FILTER_BUFFER", "0.2s")
        .key("MAX_ITERATIONS", "1")
}

/// The only iteration folder of a size.
fn iteration_dir(size_dir: &Path) -> PathBuf {
    std::fs::read_dir(size_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", size_dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
        .expect("an iteration folder")
}

fn num(row: &std::collections::BTreeMap<String, String>, col: &str) -> u32 {
    row[col]
        .parse()
        .unwrap_or_else(|e| panic!("{col} = {:?}: {e}", row[col]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_answers_longer_than_max_model_len_are_clipped_not_refused() {
    const LIMIT: u32 = 256;
    let prompts = tempfile::tempdir().expect("temp dir");
    // Two-letter words are one simulator token each: prompts of 12 and 20 tokens; answers of
    // 30 tokens (fit) and 400 tokens (do not fit in 256 with any prompt).
    let words = |n: usize| vec!["ab"; n].join(" ");
    let lines: String = [(12, 30), (20, 400), (12, 400), (20, 30)]
        .iter()
        .map(|&(p, a)| serde_json::json!({"text": words(p), "answer": words(a)}).to_string() + "\n")
        .collect();
    let file = prompts.path().join("prompts.jsonl");
    std::fs::write(&file, lines).unwrap();
    let scenario = one_iteration(LIMIT, FaultConfig::default(), "1-100:8")
        .key("PROMPTS_FILE", file.display().to_string())
        .key("OUTPUT_FROM_DATASET", "true")
        .start()
        .await;
    let report = scenario.run().await;
    let warned: Vec<&String> = report
        .warnings
        .iter()
        .map(|w| &w.0)
        .filter(|w| w.contains("OUTPUT_FROM_DATASET"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", report.warnings);
    assert!(
        warned[0].contains("2 of the 4") && warned[0].contains(&LIMIT.to_string()),
        "{}",
        warned[0]
    );

    let iteration = iteration_dir(&scenario.out_dir().join("1-100_8"));
    let rows = read_rows(&iteration.join("output.csv"));
    assert!(rows.len() > 5, "{} requests", rows.len());
    let mut clipped = 0;
    for r in &rows {
        assert_eq!(r["error_kind"], "", "no request may fail: {r:?}");
        let (input, output) = (num(r, "input_tokens"), num(r, "requested_output_tokens"));
        assert!(input + output <= LIMIT, "{r:?}");
        match output {
            30 => {}
            o if input + o == LIMIT => clipped += 1,
            o => panic!("max_tokens {o} is neither an answer's 30 nor clipped to fit: {r:?}"),
        }
    }
    assert!(
        clipped > 0 && clipped < rows.len(),
        "{clipped} of {}",
        rows.len()
    );
    assert_eq!(scenario.server().stats().rejected_requests, 0);
    let results = &read_rows(&iteration.join("results.csv"))[0];
    assert_eq!(results["OUTPUT_TOKENS_CLIPPED"], clipped.to_string());
    let longest = rows.iter().map(|r| num(r, "requested_output_tokens")).max();
    assert_eq!(Some(num(results, "OUTPUT_TOKENS_REQUESTED_MAX")), longest);
    scenario.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokenize_a_search_approximates_lengths_and_says_so() {
    use clap::Parser;
    use mst_search::cli::{Cli, Command};
    let cli = Cli::try_parse_from(["mst-search", "simulate", "--no-tokenize"]).unwrap();
    let Some(Command::Simulate(args)) = cli.command else {
        panic!("simulate subcommand expected");
    };
    let faults = args.faults().unwrap();
    assert!(
        faults.no_tokenize,
        "--no-tokenize sets FaultConfig::no_tokenize"
    );

    const WORDS: u32 = 200;
    let scenario = one_iteration(32_768, faults, "200:8").start().await;
    let server = scenario.server();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tokenize = reqwest::Client::new()
        .post(format!("{}/tokenize", server.url()))
        .json(&serde_json::json!({"prompt": "Hello world"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tokenize.status(), 404, "answered as a missing route");
    let client = sim_client(server, Api::Completions);
    assert_eq!(client.tokenize("Hello world").await.unwrap(), None);

    let report = scenario.run().await;
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.0.starts_with("prompt lengths are approximate")),
        "{:?}",
        report.warnings
    );
    let iteration = iteration_dir(&scenario.out_dir().join("200_8"));
    let results = &read_rows(&iteration.join("results.csv"))[0];
    assert!(
        results["PROMPT_LENGTHS"].starts_with("approximate (one word taken as one token"),
        "{}",
        results["PROMPT_LENGTHS"]
    );
    // Each prompt is WORDS corpus words. The simulator makes every word at least one token and
    // splits words over five letters and punctuation off, which over the corpus gives about 1.54
    // tokens per word (1.47 to 1.61 over 200-word windows); the lead-in's words are ordinary
    // words. So each request's server count lies in [1, 2] x WORDS, and their mean near 1.54 x.
    let rows = read_rows(&iteration.join("output.csv"));
    assert!(rows.len() > 5, "{} requests", rows.len());
    let mut ratios = Vec::new();
    for r in &rows {
        assert_eq!(r["error_kind"], "", "{r:?}");
        assert_eq!(num(r, "input_tokens"), WORDS);
        let counted = num(r, "server_prompt_tokens");
        assert!((WORDS..=2 * WORDS).contains(&counted), "{counted}: {r:?}");
        ratios.push(f64::from(counted) / f64::from(WORDS));
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!((1.35..=1.75).contains(&mean), "mean tokens per word {mean}");
    scenario.shutdown().await;
}
