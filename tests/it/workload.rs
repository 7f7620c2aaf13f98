//! Workloads against the simulator: exact prompt lengths (token ids and chat text), distinct
//! prompts, ranges and mixes within statistical tolerance, SAMPLE_SIZE, shared prefixes,
//! datasets, a real tokenizer.json, and the errors raised before any traffic.

use super::support::{FreshDir, fresh_dir, sim_client};
use mst_search::client::Api;
use mst_search::client::{Cancel, LlmClient, OpenAiClient, Prompt, RequestSpec, Slot};
use mst_search::config::Config;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use mst_search::workload::Workload;
use mst_search::workload::tokens::{TokenSource, load_local};
use mst_search::workload::words::Words;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

async fn sim() -> SimServer {
    let cfg = EngineConfig {
        time_scale: 1000.0,
        ..EngineConfig::default()
    };
    SimServer::start(cfg, FaultConfig::default())
        .await
        .expect("simulator starts on 127.0.0.1:0")
}

fn config(server: Option<&SimServer>, pairs: &[(&str, &str)]) -> Config {
    let url = server.map_or("127.0.0.1:9".to_string(), |s| s.url());
    let mut all: Vec<(&str, String)> = vec![("URL", url)];
    all.extend(pairs.iter().map(|(k, v)| (*k, v.to_string())));
    Config::from_pairs(&all).expect("valid test config").0
}

/// Send `spec` and return the prompt tokens the server reported.
async fn server_prompt_tokens(c: &OpenAiClient, spec: &RequestSpec) -> Option<u32> {
    let slot = Slot {
        request_idx: 0,
        t0: Instant::now(),
        intended: Duration::ZERO,
    };
    let rec = c.send(spec, slot, &Cancel::new()).await;
    assert!(rec.success(), "{:?}", rec.error_detail);
    rec.server_prompt_tokens
}

/// Chi-square goodness of fit of `counts` to `expected` (same total); the p-value.
fn chi_square_p(counts: &[f64], expected: &[f64]) -> f64 {
    let stat: f64 = counts
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    let dist = ChiSquared::new((counts.len() - 1) as f64).unwrap();
    1.0 - dist.cdf(stat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_id_prompts_have_the_requested_length_up_to_32k() {
    let server = sim().await;
    let cfg = config(
        Some(&server),
        &[("TOKENS_LIST", "1:1,7:1,128:2,1000:1,4096:1,32000:8")],
    );
    let c = sim_client(&server, Api::Completions);
    let (w, warnings) = Workload::prepare(&c, &cfg.workload_settings())
        .await
        .unwrap();
    assert!(w.exact() && warnings.is_empty(), "{warnings:?}");
    for size in &cfg.sizes {
        for idx in 0..3 {
            let spec = w.request(11, idx, size);
            assert!(matches!(spec.prompt, Prompt::TokenIds(_)));
            assert_eq!(spec.input_tokens, size.input.min);
            assert_eq!(
                server_prompt_tokens(&c, &spec).await,
                Some(spec.input_tokens),
                "{size}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_text_prompts_count_the_template_and_hit_the_requested_length() {
    let server = sim().await;
    let cfg = config(
        Some(&server),
        &[
            ("API", "chat"),
            ("TOKENS_LIST", "40:1,333:1,5000:1,30000:4"),
        ],
    );
    let c = sim_client(&server, Api::Chat);
    let (w, warnings) = Workload::prepare(&c, &cfg.workload_settings())
        .await
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    for size in &cfg.sizes {
        for idx in 0..3 {
            let spec = w.request(5, idx, size);
            let Prompt::Chat(m) = &spec.prompt else {
                panic!("chat prompt expected")
            };
            assert_eq!((m[0].role.as_str(), m[1].role.as_str()), ("system", "user"));
            assert_eq!(
                server_prompt_tokens(&c, &spec).await,
                Some(spec.input_tokens),
                "{size}"
            );
        }
    }
}

/// Longest common prefix over all pairs: the maximum over neighbours in sorted order.
fn longest_shared_prefix(mut prompts: Vec<Vec<u32>>) -> usize {
    prompts.sort();
    prompts
        .windows(2)
        .map(|p| p[0].iter().zip(&p[1]).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0)
}

fn ids(p: Prompt) -> Vec<u32> {
    match p {
        Prompt::TokenIds(ids) => ids,
        other => panic!("token ids expected, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_prompts_share_no_prefix_beyond_a_few_tokens() {
    let server = sim().await;
    let cfg = config(Some(&server), &[("TOKENS_LIST", "512:8")]);
    let c = sim_client(&server, Api::Completions);
    let (w, _) = Workload::prepare(&c, &cfg.workload_settings())
        .await
        .unwrap();
    let prompts: Vec<Vec<u32>> = (0..1000)
        .map(|i| ids(w.request(77, i, &cfg.sizes[0]).prompt))
        .collect();
    assert!(prompts.iter().all(|p| p.len() == 512));
    let lcp = longest_shared_prefix(prompts);
    // Lead word (16 choices) plus up to one equal random word by chance: a handful of tokens.
    assert!(lcp <= 8, "two prompts share {lcp} leading tokens");
}

#[tokio::test]
async fn ranges_draw_uniformly_by_chi_square() {
    let cfg = config(None, &[("TOKENS_LIST", "100-199:300-349")]);
    let (w, _) = Workload::with_source(&cfg.workload_settings(), TokenSource::Approx)
        .await
        .unwrap();
    let (mut ins, mut outs) = (vec![0.0; 10], vec![0.0; 5]);
    let n = 5000;
    for i in 0..n {
        let s = w.request(3, i, &cfg.sizes[0]);
        assert!((100..=199).contains(&s.input_tokens) && (300..=349).contains(&s.output_tokens));
        let Prompt::Text(t) = &s.prompt else { panic!() };
        assert_eq!(t.split_whitespace().count(), s.input_tokens as usize);
        ins[((s.input_tokens - 100) / 10) as usize] += 1.0;
        outs[((s.output_tokens - 300) / 10) as usize] += 1.0;
    }
    assert!(
        chi_square_p(&ins, &[n as f64 / 10.0; 10]) > 0.001,
        "{ins:?}"
    );
    assert!(
        chi_square_p(&outs, &[n as f64 / 5.0; 5]) > 0.001,
        "{outs:?}"
    );
}

#[tokio::test]
async fn additive_mix_follows_the_weights_and_tags_each_class() {
    let cfg = config(
        None,
        &[
            ("TOKENS_LIST", "10:10,20-29:20,30:30"),
            ("ADDITIVE", "TRUE"),
            ("TOKENS_LIST_PROPORTION", "1,2,7"),
        ],
    );
    let (w, _) = Workload::with_source(&cfg.workload_settings(), TokenSource::Approx)
        .await
        .unwrap();
    assert_eq!(w.class_names(), ["10:10", "20-29:20", "30:30"]);
    let n = 6000;
    let mut counts = vec![0.0; 3];
    for i in 0..n {
        let s = w.request(9, i, &cfg.sizes[0]);
        let class = usize::from(s.class.expect("every request of a mix has a class"));
        let size = cfg.sizes[class];
        assert!((size.input.min..=size.input.max).contains(&s.input_tokens));
        assert_eq!(s.output_tokens, size.output.min);
        counts[class] += 1.0;
    }
    let expected: Vec<f64> = [0.1, 0.2, 0.7].iter().map(|p| p * n as f64).collect();
    assert!(chi_square_p(&counts, &expected) > 0.001, "{counts:?}");
    let units = mst_search::experiment::search_units(&cfg);
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].1.dir_name(), "10-30_10-30");
}

#[tokio::test]
async fn sample_size_reuses_exactly_n_prompts_across_iterations() {
    let cfg = config(None, &[("TOKENS_LIST", "64:8"), ("SAMPLE_SIZE", "3")]);
    let (w, _) = Workload::with_source(&cfg.workload_settings(), TokenSource::Approx)
        .await
        .unwrap();
    let distinct: HashSet<String> = (0..2u64)
        .flat_map(|it| (0..60).map(move |i| (it, i)))
        .map(|(it, i)| format!("{:?}", w.request(it, i, &cfg.sizes[0]).prompt))
        .collect();
    assert_eq!(distinct.len(), 3);
    let cfg = config(None, &[("TOKENS_LIST", "64:8")]);
    let (w, _) = Workload::with_source(&cfg.workload_settings(), TokenSource::Approx)
        .await
        .unwrap();
    let distinct: HashSet<String> = (0..120)
        .map(|i| format!("{:?}", w.request(1, i, &cfg.sizes[0]).prompt))
        .collect();
    assert_eq!(distinct.len(), 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_prefixes_come_in_groups_and_the_rest_is_distinct() {
    let server = sim().await;
    let cfg = config(
        Some(&server),
        &[
            ("TOKENS_LIST", "300:4"),
            ("SHARED_PREFIX_TOKENS", "100"),
            ("PREFIX_GROUPS", "4"),
        ],
    );
    let c = sim_client(&server, Api::Completions);
    let (w, _) = Workload::prepare(&c, &cfg.workload_settings())
        .await
        .unwrap();
    let prompts: Vec<Vec<u32>> = (0..400)
        .map(|i| ids(w.request(21, i, &cfg.sizes[0]).prompt))
        .collect();
    let mut groups: BTreeMap<Vec<u32>, usize> = BTreeMap::new();
    for p in &prompts {
        assert_eq!(p.len(), 300);
        *groups.entry(p[..100].to_vec()).or_default() += 1;
    }
    assert_eq!(groups.len(), 4, "four distinct prefixes");
    assert!(groups.values().all(|&n| n > 60), "{groups:?}");
    let rests: Vec<Vec<u32>> = prompts.iter().map(|p| p[100..].to_vec()).collect();
    assert!(longest_shared_prefix(rests) <= 8);
    let spec = w.request(21, 0, &cfg.sizes[0]);
    assert_eq!(server_prompt_tokens(&c, &spec).await, Some(300));
}

async fn run_quiet(cfg: Config) -> mst_search::error::Result<mst_search::experiment::RunReport> {
    mst_search::experiment::run(
        cfg,
        mst_search::experiment::RunOptions { quiet: true },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
}

/// A file `name` holding `content`, alone in a temporary folder removed when it is dropped.
fn temp_file(name: &str, content: &str) -> FreshDir {
    let file = fresh_dir(name);
    std::fs::write(&file, content).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_prompts_are_sorted_into_ranges_and_replayed_exactly() {
    let server = sim().await;
    let mut lines = String::new();
    for n in [5usize, 12, 30, 45, 60, 90] {
        let words: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
        lines
            .push_str(&serde_json::json!({"text": words.join(" "), "answer": "a b c"}).to_string());
        lines.push('\n');
    }
    lines.push_str(r#"{"conversations": [{"from": "human", "value": "one two three four five six seven eight nine ten"}, {"from": "gpt", "value": "ok then"}]}"#);
    let path = temp_file("ds.jsonl", &lines);
    let path_s = path.display().to_string();
    for api in ["completions", "chat"] {
        let cfg = config(
            Some(&server),
            &[
                ("API", api),
                ("TOKENS_LIST", "1-40:7,41-200:9"),
                ("PROMPTS_FILE", &path_s),
                ("OUTPUT_FROM_DATASET", "true"),
            ],
        );
        let c = sim_client(&server, cfg.api);
        let (w, _) = Workload::prepare(&c, &cfg.workload_settings())
            .await
            .unwrap();
        for size in &cfg.sizes {
            for i in 0..6 {
                let spec = w.request(4, i, size);
                assert!((size.input.min..=size.input.max).contains(&spec.input_tokens));
                assert!(
                    spec.output_tokens == 2 || spec.output_tokens == 3,
                    "{}",
                    spec.output_tokens
                );
                assert_eq!(
                    server_prompt_tokens(&c, &spec).await,
                    Some(spec.input_tokens)
                );
            }
        }
    }
    // No prompt in range: an error naming the entry before any traffic.
    let cfg = config(
        Some(&server),
        &[("TOKENS_LIST", "500-600:7"), ("PROMPTS_FILE", &path_s)],
    );
    let c = sim_client(&server, cfg.api);
    let e = Workload::prepare(&c, &cfg.workload_settings())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("PROMPTS_FILE") && e.contains("500-600:7"), "{e}");
    let bad = temp_file("bad.jsonl", "{\"text\": \"fine\"}\n{\"text\": oops}\n");
    let cfg = config(
        Some(&server),
        &[
            ("TOKENS_LIST", "1-10:7"),
            ("PROMPTS_FILE", &bad.display().to_string()),
        ],
    );
    let e = Workload::prepare(&c, &cfg.workload_settings())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("not JSON"), "{e}");
    assert_eq!(server.stats().total_requests, 2 * 2 * 6);
}

#[tokio::test]
async fn a_trained_tokenizer_json_gives_exact_counts_offline() {
    use tokenizers::Tokenizer;
    use tokenizers::models::TrainerWrapper;
    use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    let corpus = temp_file("train.txt", mst_search::workload::corpus::CORPUS);
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(600)
        .min_frequency(2)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default()));
    tok.with_decoder(Some(ByteLevel::default()));
    tok.train_from_files(&mut trainer, vec![corpus.display().to_string()])
        .unwrap();
    let path = corpus.with_file_name("tokenizer.json");
    tok.save(&path, false).unwrap();

    let loaded = load_local(&path).unwrap();
    let source = TokenSource::Local(std::sync::Arc::new(loaded.clone()));
    let words = Words::measure(&source).await.unwrap();
    for (seed, n) in [(1u64, 1usize), (2, 17), (3, 256), (4, 3000)] {
        let text = words.build_text(seed, n, false);
        assert_eq!(text.tokens, n);
        assert_eq!(loaded.encode(text.text.as_str(), false).unwrap().len(), n);
        let ids = words.build_ids(seed, n, false).ids;
        assert_eq!(ids.len(), n);
    }
    // Through the config: TOKENIZER is validated before any traffic.
    let cfg = config(
        None,
        &[
            ("TOKENS_LIST", "64:8"),
            ("TOKENIZER", &path.display().to_string()),
        ],
    );
    assert_eq!(cfg.workload.tokenizer.as_deref(), Some(path.as_path()));
    let (w, _) = Workload::with_source(&cfg.workload_settings(), source)
        .await
        .unwrap();
    assert_eq!(ids(w.request(1, 0, &cfg.sizes[0]).prompt).len(), 64);
    let e = Config::from_pairs(&[
        ("URL", "x:1".into()),
        ("TOKENS_LIST", "8:8".into()),
        ("TOKENIZER", corpus.display().to_string()),
    ]);
    assert!(e.is_ok(), "a path that exists passes the key check");
    let not_json = load_local(&corpus).unwrap_err().to_string();
    assert!(not_json.contains("TOKENIZER"), "{not_json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_inputs_fail_before_any_traffic() {
    let err = |pairs: &[(&str, &str)]| {
        let mut all: Vec<(&str, String)> = vec![("URL", "x:1".into())];
        all.extend(pairs.iter().map(|(k, v)| (*k, v.to_string())));
        Config::from_pairs(&all).unwrap_err().to_string()
    };
    let e = err(&[("TOKENS_LIST", "200-100:8")]);
    assert!(e.contains("TOKENS_LIST") && e.contains("200-100"), "{e}");
    let e = err(&[
        ("TOKENS_LIST", "8:8,16:16"),
        ("ADDITIVE", "TRUE"),
        ("TOKENS_LIST_PROPORTION", "1,2,3"),
    ]);
    assert!(e.contains("TOKENS_LIST_PROPORTION"), "{e}");
    let e = err(&[("TOKENS_LIST", "100:8"), ("SHARED_PREFIX_TOKENS", "100")]);
    assert!(e.contains("SHARED_PREFIX_TOKENS"), "{e}");

    // Longer than the server's max_model_len: refused by the run before any request.
    let server = sim().await;
    let limit = server.config().max_model_len;
    let too_long = format!("{}:16", limit);
    let out = fresh_dir("wl-long");
    let cfg = config(
        Some(&server),
        &[
            ("TOKENS_LIST", &too_long),
            ("OUTPUT_DIR", &out.display().to_string()),
        ],
    );
    let e = run_quiet(cfg).await.unwrap_err().to_string();
    assert!(e.contains("max_model_len") && e.contains(&too_long), "{e}");
    assert_eq!(server.stats().total_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_additive_run_writes_each_requests_class_and_per_class_figures() {
    let server = sim().await;
    let out = fresh_dir("wl-mix");
    let cfg = config(
        Some(&server),
        &[
            ("TOKENS_LIST", "32:4,100-200:8"),
            ("ADDITIVE", "TRUE"),
            ("TOKENS_LIST_PROPORTION", "1,3"),
            ("REQ_MIN_START", "600"),
            ("DURATION", "2s"),
            ("FILTER_BUFFER", "0.2s"),
            ("COOLDOWN", "0s"),
            ("MAX_ITERATIONS", "1"),
            ("OUTPUT_DIR", &out.display().to_string()),
        ],
    );
    let report = run_quiet(cfg).await.unwrap();
    assert_eq!(report.outcomes.len(), 1, "one mixed search");
    let size_dir = out.join("32-200_4-8");
    let iteration = std::fs::read_dir(&size_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
        .expect("an iteration folder");
    let rows = super::support::read_rows(&iteration.join("output.csv"));
    assert!(rows.len() > 5, "{} requests", rows.len());
    for r in &rows {
        let input: u32 = r["input_tokens"].parse().unwrap();
        match r["class"].as_str() {
            "32:4" => assert_eq!((input, r["requested_output_tokens"].as_str()), (32, "4")),
            "100-200:8" => {
                assert!((100..=200).contains(&input) && r["requested_output_tokens"] == "8")
            }
            other => panic!("unexpected class {other:?}"),
        }
        assert_eq!(r["server_prompt_tokens"], r["input_tokens"]);
    }
    let results = &super::support::read_rows(&iteration.join("results.csv"))[0];
    let small: usize = results["CLASS_32_4_REQUESTS"].parse().unwrap();
    let large: usize = results["CLASS_100_200_8_REQUESTS"].parse().unwrap();
    assert_eq!(small + large, rows.len());
    assert_eq!(results["PROMPT_LENGTHS"], "exact (vLLM /tokenize)");
    assert_eq!(results["PROMPT_TOKENS_MISMATCH"], "0");
    assert_eq!(results["INPUT_TOKENS_SENT_MIN"], "32");
    assert!(!results["CLASS_100_200_8_TTFT_P50_MS"].is_empty());
}
