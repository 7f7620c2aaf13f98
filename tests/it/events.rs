//! The driver reports what happens as events to an observer: a recorder sees a whole search in
//! order, one `IterationJudged` per iteration the size's `mst.json` lists, and a resumed run of a
//! finished size says so instead of sending load.

use mst_search::config::Config;
use mst_search::experiment::events::Recorder;
use mst_search::experiment::{self, Start};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_sees_every_step_of_a_search_in_order() {
    let engine = EngineConfig::small(16, 10.0);
    let server = SimServer::start(engine.clone(), FaultConfig::default())
        .await
        .unwrap();
    let cap = capacity(&engine, 64, 16).req_per_min;
    let out = tempfile::tempdir().expect("temp dir");
    let cfg = Config::from_pairs(&[
        ("URL", server.url()),
        ("DURATION", "1.5s".into()),
        ("COOLDOWN", "0s".into()),
        ("SETTLE_TIMEOUT", "0s".into()),
        ("DRAIN_TIMEOUT", "1s".into()),
        ("TOKENS_LIST", "64:16".into()),
        ("REQ_MIN_START", format!("{:.0}", cap * 0.4)),
        ("MAX_ITERATIONS", "3".into()),
        ("CLIENT_LAG_LIMIT_MS", "1000".into()),
        ("OUTPUT_DIR", out.path().display().to_string()),
    ])
    .expect("valid config")
    .0;
    let recorder = Recorder::default();
    let report = experiment::run_observed(
        cfg.clone(),
        Start::Resume,
        &recorder,
        CancellationToken::new(),
    )
    .await
    .expect("search runs");
    let events = recorder.events();
    let iterations = report.outcomes[0].iterations.len();
    assert!((1..=3).contains(&iterations), "{events:#?}");
    let kind = |e: &String| e.split(':').next().unwrap_or("").to_string();
    let kinds: Vec<String> = events.iter().map(kind).collect();
    let mut expected = vec!["RunStarted".to_string(), "SizeOpened".to_string()];
    for _ in 0..iterations {
        expected.extend(["IterationRunning", "IterationSent", "IterationJudged"].map(String::from));
    }
    expected.extend(["SizeFinished", "RunFinished"].map(String::from));
    assert_eq!(kinds, expected, "{events:#?}");
    assert_eq!(events[1], "SizeOpened: 64:16 New");
    assert_eq!(events.last().map(String::as_str), Some("RunFinished: 1"));

    // The same command again: the size is finished, nothing runs, and the observer is told.
    let again = Recorder::default();
    experiment::run_observed(cfg, Start::Resume, &again, CancellationToken::new())
        .await
        .expect("resumed run");
    let kinds: Vec<String> = again.events().iter().map(kind).collect();
    assert_eq!(
        kinds,
        ["RunStarted", "SizeOpened", "SizeFinished", "RunFinished"].map(String::from),
        "{:#?}",
        again.events()
    );
    assert_eq!(again.events()[1], "SizeOpened: 64:16 Finished");
    server.shutdown().await;
}
