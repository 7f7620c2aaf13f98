//! Exact prompt lengths through each server's `/tokenize` shape (vLLM's, llama.cpp's, TGI's),
//! against the simulator answering in that shape (`simulate --tokenize-api`): the tool finds
//! the shape, says which one gave the lengths, and the server's own prompt count equals the
//! length asked for on every request.

use super::support::{fresh_dir, read_rows, sim_client};
use mst_search::client::Api;
use mst_search::client::{ServerTokenizer, TokenizeApi};
use mst_search::config::Config;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, TokenizeShape};
use std::path::Path;

/// A simulator answering `/tokenize` as the server the client calls `api` does. The simulator
/// has its own enum of shapes; the client's server name parses into it, which also checks that
/// the two agree.
async fn sim(api: TokenizeApi, no_tokenize: bool) -> SimServer {
    let tokenize_api: TokenizeShape = api
        .server_name()
        .parse()
        .expect("the simulator imitates every shape the client speaks");
    let cfg = EngineConfig {
        time_scale: 1000.0,
        ..EngineConfig::default()
    };
    let faults = FaultConfig {
        tokenize_api,
        no_tokenize,
        ..FaultConfig::default()
    };
    SimServer::start(cfg, faults)
        .await
        .expect("simulator starts on 127.0.0.1:0")
}

/// One 2-s iteration of `tokens_list` through `api`; the iteration's folder.
async fn one_iteration(
    server: &SimServer,
    api: &str,
    tokens_list: &str,
    out: &Path,
) -> std::path::PathBuf {
    let pairs: Vec<(&str, String)> = vec![
        ("URL", server.url()),
        ("API", api.into()),
        ("TOKENS_LIST", tokens_list.into()),
        ("REQ_MIN_START", "600".into()),
        ("DURATION", "2s".into()),
        ("FILTER_BUFFER", "0.2s".into()),
        ("COOLDOWN", "0s".into()),
        ("MAX_ITERATIONS", "1".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ];
    let cfg = Config::from_pairs(&pairs).expect("valid test config").0;
    mst_search::experiment::run(
        cfg,
        mst_search::experiment::RunOptions { quiet: true },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("the search runs");
    let size_dir = out.join(tokens_list.replace(':', "_"));
    std::fs::read_dir(&size_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", size_dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
        .expect("an iteration folder")
}

/// Every request succeeded and the server counted exactly `input` prompt tokens for it.
fn assert_exact(iteration: &Path, input: u32, lengths: &str) {
    let rows = read_rows(&iteration.join("output.csv"));
    assert!(rows.len() > 5, "{} requests", rows.len());
    for r in &rows {
        assert_eq!(r["error_kind"], "", "{r:?}");
        assert_eq!(r["input_tokens"], input.to_string(), "{r:?}");
        assert_eq!(r["server_prompt_tokens"], input.to_string(), "{r:?}");
    }
    let results = &read_rows(&iteration.join("results.csv"))[0];
    assert_eq!(results["PROMPT_LENGTHS"], lengths);
    assert_eq!(results["PROMPT_TOKENS_MISMATCH"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tokenize_shape_is_detected_and_hidden_routes_give_none() {
    for api in TokenizeApi::ALL {
        let server = sim(api, false).await;
        let found = ServerTokenizer::detect(&sim_client(&server, Api::Completions))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{api:?} not detected"));
        assert_eq!(found.api(), api);
        // "Hello world" is two simulator tokens in every shape; TGI's BOS is not one of them.
        assert_eq!(
            found.encode("Hello world").await.unwrap().map(|t| t.len()),
            Some(2)
        );
        assert_eq!(found.text_specials(), usize::from(api == TokenizeApi::Tgi));
        server.shutdown().await;
    }
    let server = sim(TokenizeApi::LlamaCpp, true).await;
    assert!(
        ServerTokenizer::detect(&sim_client(&server, Api::Completions))
            .await
            .unwrap()
            .is_none()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llamacpp_tokenize_gives_exact_lengths_and_says_so() {
    // Before: a vLLM-shaped body got llama.cpp's `{"tokens": []}`, which was taken for a
    // tokenizer giving every word zero tokens.
    let server = sim(TokenizeApi::LlamaCpp, false).await;
    let out = fresh_dir("tokenize-llamacpp");
    let iteration = one_iteration(&server, "completions", "64:8", &out).await;
    assert_exact(&iteration, 64, "exact (llama.cpp /tokenize)");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tgi_tokenize_gives_exact_text_prompts_that_leave_room_for_bos() {
    // TGI's completions route refuses token ids (HTTP 422 in the simulator's TGI shape) and
    // adds BOS to text: prompts go as text one token shorter than the length asked for.
    let server = sim(TokenizeApi::Tgi, false).await;
    let out = fresh_dir("tokenize-tgi");
    let iteration = one_iteration(&server, "completions", "64:8", &out).await;
    assert_exact(&iteration, 64, "exact (TGI /tokenize)");
    let chat = one_iteration(&server, "chat", "80:8", &out.join("chat")).await;
    assert_exact(&chat, 80, "exact (TGI /tokenize)");
    assert_eq!(server.stats().rejected_requests, 0);
    server.shutdown().await;
}

#[test]
fn simulate_takes_the_tokenize_shape_by_name_and_names_a_bad_one() {
    use clap::Parser;
    use mst_search::cli::{Cli, Command};
    let parse = |v: &str| {
        Cli::try_parse_from(["mst-search", "simulate", "--tokenize-api", v]).map(|c| {
            match c.command {
                Some(Command::Simulate(args)) => args.faults().unwrap().tokenize_api,
                _ => panic!("simulate subcommand expected"),
            }
        })
    };
    assert_eq!(parse("llama.cpp").unwrap(), TokenizeShape::LlamaCpp);
    assert_eq!(parse("TGI").unwrap(), TokenizeShape::Tgi);
    assert_eq!(parse("vllm").unwrap(), TokenizeShape::Vllm);
    let err = parse("ollama").unwrap_err().to_string();
    assert!(
        err.contains("--tokenize-api") && err.contains("ollama") && err.contains("llama.cpp"),
        "{err}"
    );
}
