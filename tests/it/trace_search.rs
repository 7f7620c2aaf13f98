//! `TRACE` in whole searches against the simulator: a search over the time scale of the
//! shipped synthetic trace ends with an MST in × trace, every iteration sent exactly the
//! trace window of its scale, and a search interrupted mid-way resumes to the same path and
//! answer (and refuses a changed trace).
//!
//! The engine is sized so the trace at 4 × is about half its capacity and 16 × twice it (the
//! synthetic trace is about 260 requests/minute of 18–598-token prompts; its capacity was
//! measured near 7.6 ×), and a
//! relative stop threshold of 0.8 ends the search after the first confirmed fail, so every
//! verdict is clear-cut and the path is known: 1 × pass, 4 × pass, 16 × fail, confirmed.

use super::support::Scenario;
use mst_search::config::Config;
use mst_search::error::Error;
use mst_search::experiment::{self, RunOptions};
use mst_search::output::SizeOutcome;
use mst_search::search::LoadUnit;
use mst_search::sim::EngineConfig;
use mst_search::workload::trace;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn synthetic() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/synthetic.csv")
}

fn scenario(trace_path: &Path) -> Scenario {
    Scenario::new()
        .engine(EngineConfig::small(16, 1.25))
        .keys(&[
            ("TRACE", trace_path.display().to_string()),
            ("SCALE", "1".into()),
            ("REQ_MIN_INCREASE_MULTIPLIER", "4".into()),
            ("STOP_THRESHOLD", "0.8".into()),
            ("CONFIRM", "fail".into()),
            ("DURATION", "3s".into()),
            ("FILTER_BUFFER", "0.5s".into()),
            ("QUEUE_GROWTH_MIN_MS", "1000".into()),
            ("QUEUE_GROWTH_WINDOW_PCT", "100".into()),
            ("THROUGHPUT_MIN_PCT", "50".into()),
            ("MAX_ITERATIONS", "8".into()),
            ("SEED", "5".into()),
            ("EARLY_ABORT", "false".into()),
        ])
}

/// (scale, stage, attempt, verdict) of each iteration.
fn path_of(o: &SizeOutcome) -> Vec<(f64, u8, u32, Option<bool>)> {
    o.iterations
        .iter()
        .map(|b| (b.level(), b.stage, b.attempt, b.sustainable))
        .collect()
}

fn expected_path() -> Vec<(f64, u8, u32, Option<bool>)> {
    vec![
        (1.0, 1, 1, Some(true)),
        (4.0, 1, 1, Some(true)),
        (16.0, 1, 1, Some(false)),
        (16.0, 1, 2, Some(false)),
    ]
}

fn size_dir(out: &Path, cfg: &Config) -> PathBuf {
    out.join(cfg.sizes[0].dir_name())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_over_the_trace_scale_ends_with_an_mst_in_x_trace() {
    let running = scenario(&synthetic()).start().await;
    let report = running.run().await;
    let outcome = &report.outcomes[0];
    assert_eq!(path_of(outcome), expected_path(), "{outcome:?}");
    assert_eq!(outcome.mst_load, Some(4.0), "{outcome:?}");
    assert_eq!(outcome.load_unit, LoadUnit::TraceScale);
    assert_eq!(
        (outcome.lower_load, outcome.upper_load),
        (Some(4.0), Some(16.0))
    );
    assert_eq!((outcome.lower_req_min, outcome.upper_req_min), (None, None));
    // The request rate at the answer is what the 4 x iteration completed in its steady
    // window, and each brief's req_min what it sent per minute.
    let at_mst = &outcome.iterations[1];
    assert_eq!(outcome.mst_req_min, Some(at_mst.steady_req_min));
    assert!(at_mst.steady_req_min > 0.0);
    let rows = |i: usize| {
        let folder =
            size_dir(running.out_dir(), running.config()).join(&outcome.iterations[i].folder);
        super::support::read_rows(&folder.join("output.csv")).len() as f64
    };
    assert!(
        (at_mst.req_min - rows(1) * 60.0 / 3.0).abs() < 1e-9,
        "{at_mst:?}"
    );

    // Every iteration sent exactly its scale's window of the trace: the records are the
    // trace's requests with its sizes, in order.
    let t = trace::read(&synthetic(), None).unwrap();
    let dir = size_dir(running.out_dir(), running.config());
    // One folder, named after the trace's size span like an ADDITIVE mix's.
    assert_eq!(dir.file_name().unwrap().to_str(), Some("18-598_4-32"));
    assert_eq!(t.size().dir_name(), "18-598_4-32");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert_eq!(folders.len(), 4);
    for (folder, (scale, ..)) in folders.iter().zip(expected_path()) {
        let (offsets, slots) = t.window(scale, Duration::from_secs(3));
        let rows = super::support::read_rows(&folder.join("output.csv"));
        assert_eq!(rows.len(), offsets.len(), "{}", folder.display());
        for (row, (offset, slot)) in rows.iter().zip(offsets.iter().zip(&slots)) {
            let r = &t.requests[slot.entry as usize];
            assert_eq!(row["requested_output_tokens"], r.output_tokens.to_string());
            let intended: f64 = row["intended_send_s"].parse().unwrap();
            assert!((intended - offset.as_secs_f64()).abs() < 1e-3, "{row:?}");
        }
    }
    assert!(dir.join("mst.json").is_file());
    let summary = super::support::read_rows(&running.out_dir().join("summary.csv"));
    assert_eq!(summary.len(), 1);
    assert_eq!(
        (
            summary[0]["LOAD_UNIT"].as_str(),
            summary[0]["MST_LOAD"].as_str()
        ),
        ("trace_scale", "4")
    );
    let results = super::support::read_rows(&folders[1].join("results.csv"));
    assert_eq!(
        (
            results[0]["LOAD_UNIT"].as_str(),
            results[0]["LOAD"].as_str()
        ),
        ("trace_scale", "4")
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_trace_search_resumes_to_the_same_path_and_refuses_a_changed_trace() {
    // A copy of the trace, so the test can change it afterwards.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("synthetic.csv");
    std::fs::copy(synthetic(), &copy).unwrap();
    let running = scenario(&copy).start().await;
    let cfg = running.config().clone();
    let dir = size_dir(running.out_dir(), &cfg);
    let token = CancellationToken::new();
    let cut = {
        let (token, dir) = (token.clone(), dir.clone());
        tokio::spawn(async move {
            super::resume::wait_recorded(&dir, 2, Duration::from_secs(60)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            token.cancel();
        })
    };
    let quiet = RunOptions { quiet: true };
    let err = experiment::run(cfg.clone(), quiet, token)
        .await
        .expect_err("interrupted");
    cut.await.unwrap();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert_eq!(super::resume::recorded(&dir), 2);

    let report = running.run().await;
    assert_eq!(path_of(&report.outcomes[0]), expected_path());
    assert_eq!(report.outcomes[0].mst_load, Some(4.0));

    // The same folder with a changed trace is refused: its content is in the fingerprint.
    std::fs::write(
        &copy,
        std::fs::read_to_string(&copy)
            .unwrap()
            .replacen(",29,", ",30,", 1),
    )
    .unwrap();
    let mut changed = cfg.clone();
    changed.trace = Config::from_pairs(&[
        ("URL", cfg.url.clone()),
        ("TRACE", copy.display().to_string()),
    ])
    .unwrap()
    .0
    .trace;
    let err = experiment::run(changed, quiet, CancellationToken::new())
        .await
        .expect_err("a changed trace is refused");
    assert!(err.to_string().contains("TRACE"), "{err}");
    running.shutdown().await;
}
