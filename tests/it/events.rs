//! The driver reports what happens as events to an observer: a recorder sees a whole search in
//! order, one `IterationJudged` per iteration the size's `mst.json` lists, and a resumed run of a
//! finished size says so instead of sending load.

use super::support::Scenario;
use mst_search::experiment::events::Recorder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_sees_every_step_of_a_search_in_order() {
    let scenario = Scenario::new();
    let cap = scenario.capacity(64, 16);
    let scenario = scenario
        .key("DURATION", "1.5s")
        .key("TOKENS_LIST", "64:16")
        .key("REQ_MIN_START", format!("{:.0}", cap * 0.4))
        .key("MAX_ITERATIONS", "3")
        .start()
        .await;
    let recorder = Recorder::default();
    let report = scenario.run_observed(&recorder).await;
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
    scenario.run_observed(&again).await;
    let kinds: Vec<String> = again.events().iter().map(kind).collect();
    assert_eq!(
        kinds,
        ["RunStarted", "SizeOpened", "SizeFinished", "RunFinished"].map(String::from),
        "{:#?}",
        again.events()
    );
    assert_eq!(again.events()[1], "SizeOpened: 64:16 Finished");
    scenario.shutdown().await;
}
