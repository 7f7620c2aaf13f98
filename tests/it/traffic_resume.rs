//! Resume in the traffic modes that keep the request rate as the search's level: gamma bursts
//! (`ARRIVAL=gamma`, `BURSTINESS`) and several models (`MODEL=a,b`, `TRAFFIC_SPLIT`). A search
//! interrupted while iteration 4 is sending and run again ends with the uninterrupted run's
//! path and MST, and the re-run iteration sends the same traffic: the same bursty schedule, and
//! each request to the same model. The clear-cut search of `resume.rs` (rates far from
//! capacity, loose thresholds) keeps the verdicts independent of timing.

use super::resume::{counted_folders, engine, pairs, path_of, recorded, wait_recorded};
use super::support::{fresh_dir, read_rows};
use mst_search::config::Config;
use mst_search::error::Error;
use mst_search::experiment::{self, RunOptions};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const QUIET: RunOptions = RunOptions { quiet: true };

fn config(url: &str, out: &Path, extra: &[(&'static str, &str)]) -> Config {
    let mut p = pairs(url, out);
    p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Config::from_pairs(&p).expect("valid test config").0
}

/// Runs the search uninterrupted, then cut while iteration 4 sends and again; checks the path,
/// the answer and that iteration 4's `output.csv` columns `columns` are the reference's.
async fn resumes_like_the_uninterrupted_run(
    engine: EngineConfig,
    name: &str,
    extra: &[(&'static str, &str)],
    columns: &[&str],
) {
    let server = SimServer::start(engine, FaultConfig::default())
        .await
        .unwrap();
    let ref_dir = fresh_dir(&format!("{name}-ref"));
    let reference = experiment::run(
        config(&server.url(), &ref_dir, extra),
        QUIET,
        CancellationToken::new(),
    )
    .await
    .expect("uninterrupted search");
    let reference = &reference.outcomes[0];
    assert!(reference.iterations.len() >= 4, "{reference:?}");

    let out = fresh_dir(&format!("{name}-cut"));
    let size_dir = out.join("64_32");
    let token = CancellationToken::new();
    let cut = {
        let (token, size_dir) = (token.clone(), size_dir.clone());
        tokio::spawn(async move {
            wait_recorded(&size_dir, 3, Duration::from_secs(60)).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            token.cancel();
        })
    };
    let err = experiment::run(config(&server.url(), &out, extra), QUIET, token)
        .await
        .expect_err("interrupted");
    cut.await.unwrap();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert_eq!(recorded(&size_dir), 3);

    let resumed = experiment::run(
        config(&server.url(), &out, extra),
        QUIET,
        CancellationToken::new(),
    )
    .await
    .expect("resumed search");
    let resumed = &resumed.outcomes[0];
    assert_eq!(path_of(resumed), path_of(reference), "same iterations");
    assert_eq!(resumed.mst_req_min, reference.mst_req_min);
    assert_eq!(counted_folders(&size_dir).len(), reference.iterations.len());
    let rows = |dir: &Path, folder: &str| read_rows(&dir.join(folder).join("output.csv"));
    let fourth_ref = rows(&ref_dir.join("64_32"), &reference.iterations[3].folder);
    let fourth = rows(&size_dir, &resumed.iterations[3].folder);
    assert_eq!(fourth.len(), fourth_ref.len());
    for c in columns {
        let of = |rs: &[std::collections::BTreeMap<String, String>]| {
            rs.iter().map(|r| r[*c].clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            of(&fourth),
            of(&fourth_ref),
            "{c} of the re-run iteration 4"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_search_with_gamma_bursts_resumes_to_the_same_path_and_schedule() {
    resumes_like_the_uninterrupted_run(
        engine(),
        "resume-gamma",
        &[("ARRIVAL", "gamma"), ("BURSTINESS", "0.5")],
        &["intended_send_s"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_search_over_several_models_resumes_with_the_same_split() {
    let engine = EngineConfig {
        adapters: vec!["lora-a".into()],
        ..engine()
    };
    resumes_like_the_uninterrupted_run(
        engine,
        "resume-models",
        &[("MODEL", "sim-model,lora-a"), ("TRAFFIC_SPLIT", "0.7,0.3")],
        &["intended_send_s", "model"],
    )
    .await;
}
