//! Unit tests of the workload: dataset answers against the server's context length, and the
//! model drawn per request with several models.

use super::*;
use crate::config::Config;

/// A PROMPTS_FILE whose prompts have 10, 10 and 30 words and answers of 50, 5 and 100 words
/// (with the approximation, one word is one token).
/// The file is removed when the returned guard is dropped.
fn dataset_file() -> tempfile::NamedTempFile {
    let words = |n: usize| vec!["word"; n].join(" ");
    let lines: Vec<String> = [(10, 50), (10, 5), (30, 100)]
        .iter()
        .map(|&(p, a)| serde_json::json!({"text": words(p), "answer": words(a)}).to_string() + "\n")
        .collect();
    let file = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), lines.concat()).unwrap();
    file
}

async fn dataset_workload(path: &std::path::Path) -> (Workload, Config) {
    let path = path.display().to_string();
    workload(&[
        ("TOKENS_LIST", "1-40:8"),
        ("PROMPTS_FILE", &path),
        ("OUTPUT_FROM_DATASET", "true"),
    ])
    .await
}

/// The workload of `TOKENS_LIST=8:4` and `pairs` (which may set it again), with prompt
/// lengths approximated (no server).
async fn workload(pairs: &[(&str, &str)]) -> (Workload, Config) {
    let mut all: Vec<(&str, String)> =
        vec![("URL", "127.0.0.1:9".into()), ("TOKENS_LIST", "8:4".into())];
    all.extend(pairs.iter().map(|(k, v)| (*k, v.to_string())));
    let cfg = Config::from_pairs(&all).unwrap().0;
    let (w, _) = Workload::with_source(&cfg.workload_settings(), TokenSource::Approx)
        .await
        .unwrap();
    (w, cfg)
}

#[tokio::test]
async fn dataset_answers_are_clipped_to_fit_max_model_len_and_counted() {
    let file = dataset_file();
    let (w, cfg) = dataset_workload(file.path()).await;
    let size = cfg.sizes[0];
    let n = 300;
    // Unknown context: answers are sent as they are and nothing counts as clipped.
    let raw: Vec<RequestSpec> = (0..n).map(|i| w.request(5, i, &size)).collect();
    assert!(raw.iter().any(|r| r.output_tokens == 100));
    assert_eq!(w.clipped_outputs(5, &size, 0..n), None);
    let (same, warning) = w.clone().within_context(None);
    assert!(warning.is_none());
    assert_eq!(same.request(5, 7, &size), w.request(5, 7, &size));

    // max_model_len 64: only the 30-token prompt's 100-token answer (room 34) is too long.
    let (fitted, warning) = w.within_context(Some(64));
    let warning = warning.expect("a warning about the clipped answers").0;
    assert!(
        warning.contains("1 of the 3") && warning.contains("64"),
        "{warning}"
    );
    let mut long_prompts = 0;
    for (i, before) in (0..n).zip(&raw) {
        let r = fitted.request(5, i, &size);
        assert_eq!(r.prompt, before.prompt, "clipping never changes the prompt");
        assert!(r.input_tokens + r.output_tokens <= 64, "{r:?}");
        if r.input_tokens == 30 {
            long_prompts += 1;
            assert_eq!(r.output_tokens, 34);
        } else {
            assert_eq!(r.output_tokens, before.output_tokens);
        }
    }
    assert!(long_prompts > 0, "the seed never drew the long prompt");
    assert_eq!(fitted.clipped_outputs(5, &size, 0..n), Some(long_prompts));

    // A context every answer fits: counted as zero clipped, no warning.
    let (w, _) = dataset_workload(file.path()).await;
    let (roomy, warning) = w.within_context(Some(1000));
    assert!(warning.is_none());
    assert_eq!(roomy.clipped_outputs(5, &size, 0..n), Some(0));
}

/// Each request's model follows TRAFFIC_SPLIT, is the same for the same seed and index, and
/// leaves every other draw of the request as it was without several models.
#[tokio::test]
async fn models_are_drawn_per_request_by_the_split_and_the_seed() {
    let (w, cfg) = workload(&[("MODEL", "a,b,c"), ("TRAFFIC_SPLIT", "0.8,0.2,0")]).await;
    let (single, _) = workload(&[("MODEL", "a")]).await;
    assert_eq!(w.model_names(), ["a", "b", "c"]);
    assert!(single.model_names().is_empty());
    let size = cfg.sizes[0];
    let n = 4000;
    let mut counts = [0u32; 3];
    for i in 0..n {
        let r = w.request(11, i, &size);
        let m = r
            .model
            .clone()
            .expect("several models: every request has one");
        assert_eq!(&*m.name, ["a", "b", "c"][usize::from(m.index)]);
        counts[usize::from(m.index)] += 1;
        assert_eq!(
            w.request(11, i, &size).model,
            Some(m),
            "same seed, same model"
        );
        let plain = single.request(11, i, &size);
        assert!(plain.model.is_none());
        assert_eq!((r.prompt, r.temperature), (plain.prompt, plain.temperature));
    }
    // 0.8 of 4000: sd sqrt(4000 x 0.8 x 0.2) = 25 requests; five of them allowed.
    assert!((counts[0] as f64 - 3200.0).abs() < 5.0 * 25.3, "{counts:?}");
    assert_eq!(counts[2], 0, "a share of 0 is never drawn: {counts:?}");
    let other_seed: Vec<_> = (0..50).map(|i| w.request(12, i, &size).model).collect();
    let this_seed: Vec<_> = (0..50).map(|i| w.request(11, i, &size).model).collect();
    assert_ne!(other_seed, this_seed);
}
