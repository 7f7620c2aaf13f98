//! Unit tests of the checkpoint: saving, resuming, refusing changed settings or foreign
//! results, setting folders aside, `--fresh` moves.

use super::*;
use crate::search::{ConfirmPolicy, StopKind, Threshold};

/// An empty temporary folder, removed when the guard is dropped.
fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn cfg(extra: &[(&str, &str)]) -> Config {
    let mut pairs = vec![
        ("URL", "127.0.0.1:9".to_string()),
        ("TOKENS_LIST", "16:16,32:32".to_string()),
        ("DURATION", "30s".to_string()),
        ("FILTER_BUFFER", "5s".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Config::from_pairs(&pairs).expect("valid config").0
}

fn search_cfg() -> SearchConfig {
    SearchConfig {
        start_req_min: 60.0,
        multiplier: 2.0,
        threshold: Threshold::Relative(0.5),
        confirm: ConfirmPolicy::None,
        max_iterations: 10,
        min_req_min: 1.0,
        outage_retries: 2,
        strategy: crate::search::Strategy::Classic,
        probe: false,
        ci_stop_width: None,
        unit: Default::default(),
    }
}

fn stamp() -> RunStamp {
    RunStamp {
        started_at: "now".into(),
        pid: 1,
        job_id: Some("42".into()),
        node: None,
    }
}

fn brief(iteration: u32, req_min: f64, pass: bool) -> IterationBrief {
    IterationBrief {
        load: None,
        iteration,
        stage: 1,
        req_min,
        attempt: 1,
        sustainable: Some(pass),
        reason: "r".into(),
        folder: format!("it{iteration}"),
        achieved_req_s: 1.0,
        steady_req_min: 60.0,
        succeeded: 10,
        output_tokens_p50: Some(16.0),
        short_outputs: 0,
        time_s: 10.0,
        repeat: 1,
        gpu: None,
    }
}

fn open(dir: &Path, settings: BTreeMap<String, String>) -> Result<(Checkpoint, Opened)> {
    Checkpoint::open(dir, "16:16", settings, search_cfg(), stamp())
}

#[test]
fn settings_leave_out_what_does_not_change_a_measurement() {
    let a = settings(&cfg(&[]), 0, "m");
    let moved = settings(
        &cfg(&[
            ("URL", "otherhost:8000"),
            ("COOLDOWN", "1s"),
            ("OUTPUT_DIR", "/elsewhere"),
            ("JOB_ID", "7"),
            ("NODE", "gpu01"),
        ]),
        0,
        "m",
    );
    assert_eq!(a, moved);
    assert_eq!(fingerprint(&a), fingerprint(&moved));
    let longer = settings(&cfg(&[("DURATION", "60s")]), 0, "m");
    assert_ne!(fingerprint(&a), fingerprint(&longer));
    assert_eq!(
        differences(&a, &longer),
        vec!["DURATION was 30s and is now 60s".to_string()]
    );
    // Another position in TOKENS_LIST means other iteration seeds.
    assert_ne!(settings(&cfg(&[]), 1, "m"), settings(&cfg(&[]), 0, "m"));
    assert_ne!(settings(&cfg(&[]), 0, "other-model"), a);
}

#[test]
fn a_checkpoint_saves_after_every_iteration_and_resumes_where_it_was() {
    let tmp = temp();
    let dir = tmp.path().join("16_16");
    let s = settings(&cfg(&[]), 0, "m");
    let (mut cp, opened) = open(&dir, s.clone()).expect("new");
    assert_eq!(opened, Opened::New);
    assert!(
        dir.join(STATE_FILE).is_file(),
        "saved before the first iteration"
    );
    fs::create_dir_all(dir.join("it1")).expect("folder 1");
    cp.record(brief(1, 60.0, true), Observation::Sustainable, None)
        .expect("record 1");
    fs::create_dir_all(dir.join("it2")).expect("folder 2");
    let step = cp
        .record(brief(2, 120.0, true), Observation::Sustainable, None)
        .expect("record 2");
    assert!(
        matches!(step, Step::Run(ref r) if r.req_min == 240.0),
        "{step:?}"
    );
    let saved = cp.state.clone();
    drop(cp);

    let (cp, opened) = open(&dir, s).expect("resume");
    assert_eq!(opened, Opened::Resumed);
    assert_eq!(
        cp.state.search, saved.search,
        "the state machine is restored exactly"
    );
    assert_eq!(cp.state.iterations, saved.iterations);
    assert_eq!(cp.state.runs.len(), 2, "each run is stamped");
    assert_eq!(cp.state.search.current(), step);
    assert!(cp.state.set_aside.is_empty(), "recorded folders stay put");
}

#[test]
fn changed_settings_are_refused_naming_each_difference() {
    let tmp = temp();
    let dir = tmp.path().join("16_16");
    let (cp, _) = open(&dir, settings(&cfg(&[]), 0, "m")).expect("new");
    drop(cp);
    let changed = settings(&cfg(&[("DURATION", "60s"), ("SEED", "3")]), 0, "m");
    match open(&dir, changed) {
        Err(Error::Checkpoint { path, reason }) => {
            assert_eq!(path, dir.join(STATE_FILE));
            assert!(
                reason.contains("DURATION was 30s and is now 60s"),
                "{reason}"
            );
            assert!(reason.contains("SEED was 0 and is now 3"), "{reason}");
            assert!(reason.contains("--fresh"), "{reason}");
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
    assert_eq!(
        Error::Checkpoint {
            path: dir.clone(),
            reason: String::new()
        }
        .exit_code(),
        crate::error::exit_code::USAGE
    );
}

/// A checkpoint of layout version 1 (settings as `Debug` text) cannot be compared with today's
/// typed settings: it is refused as another version, not as a list of spurious differences.
#[test]
fn a_version_1_checkpoint_is_refused_as_another_layout() {
    let tmp = temp();
    let dir = tmp.path().join("16_16");
    let (cp, _) = open(&dir, settings(&cfg(&[]), 0, "m")).expect("new");
    drop(cp);
    let path = dir.join(STATE_FILE);
    let mut state: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("state.json")).expect("json");
    state["version"] = serde_json::json!(1);
    fs::write(&path, serde_json::to_vec(&state).expect("json")).expect("write");
    match open(&dir, settings(&cfg(&[]), 0, "m")) {
        Err(Error::Checkpoint { reason, .. }) => {
            assert!(reason.contains("layout version 1"), "{reason}");
            assert!(reason.contains("--fresh"), "{reason}");
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

#[test]
fn results_without_a_checkpoint_and_a_broken_checkpoint_are_refused() {
    let tmp = temp();
    let dir = tmp.path().join("16_16");
    fs::create_dir_all(dir.join("2024-01-01_00-00-00")).expect("old folder");
    match open(&dir, settings(&cfg(&[]), 0, "m")) {
        Err(Error::Checkpoint { reason, .. }) => {
            assert!(reason.contains("2024-01-01_00-00-00"), "{reason}");
            assert!(reason.contains("--fresh"), "{reason}");
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
    let tmp_broken = temp();
    let broken = tmp_broken.path().join("16_16");
    fs::create_dir_all(&broken).expect("dir");
    fs::write(broken.join(STATE_FILE), "{ not json").expect("write");
    assert!(matches!(
        open(&broken, settings(&cfg(&[]), 0, "m")),
        Err(Error::Checkpoint { .. })
    ));
}

#[test]
fn interrupted_and_unrecorded_folders_are_moved_aside_and_marked() {
    let tmp = temp();
    let dir = tmp.path().join("16_16");
    let s = settings(&cfg(&[]), 0, "m");
    let (mut cp, _) = open(&dir, s.clone()).expect("new");
    fs::create_dir_all(dir.join("it1")).expect("it1");
    cp.record(brief(1, 60.0, true), Observation::Sustainable, None)
        .expect("record");
    let partial = dir.join("2024-01-01_00-00-01");
    fs::create_dir_all(&partial).expect("partial");
    fs::write(partial.join("output.csv"), "x").expect("file");
    let aside = cp
        .set_aside_interrupted(&partial, 2, 120.0, "interrupted while sending")
        .expect("aside");
    assert_eq!(aside, dir.join(INTERRUPTED_DIR).join("2024-01-01_00-00-01"));
    assert!(!partial.exists());
    assert!(aside.join("output.csv").is_file(), "partial files are kept");
    let marker = fs::read_to_string(aside.join(MARKER_FILE)).expect("marker");
    assert!(marker.contains("interrupted while sending") && marker.contains("iteration 2"));
    drop(cp);

    // A folder written before a crash but never recorded in state.json.
    let orphan = dir.join("2024-01-01_00-00-02");
    fs::create_dir_all(&orphan).expect("orphan");
    let (cp, _) = open(&dir, s).expect("resume");
    assert!(!orphan.exists());
    assert!(
        dir.join(INTERRUPTED_DIR)
            .join("2024-01-01_00-00-02")
            .join(MARKER_FILE)
            .is_file()
    );
    assert!(
        dir.join("it1").is_dir(),
        "recorded iterations stay in place"
    );
    let folders: Vec<&str> = cp
        .state
        .set_aside
        .iter()
        .map(|a| a.folder.as_str())
        .collect();
    assert_eq!(
        folders,
        [
            "interrupted/2024-01-01_00-00-01",
            "interrupted/2024-01-01_00-00-02"
        ]
    );
    assert_eq!(cp.state.set_aside[0].iteration, Some(2));
}

#[test]
fn a_finished_checkpoint_is_reported_as_it_was() {
    let tmp = temp();
    let dir = tmp.path().join("16_16");
    let s = settings(&cfg(&[]), 0, "m");
    let (mut cp, _) = open(&dir, s.clone()).expect("new");
    let step = cp
        .record(
            brief(1, 60.0, false),
            Observation::Unusable {
                reason: "down".into(),
            },
            None,
        )
        .expect("record");
    assert!(matches!(step, Step::Done(ref o) if o.stop == StopKind::Unusable));
    cp.finish().expect("finish");
    let before = fs::read(dir.join(STATE_FILE)).expect("read");
    let wall = cp.wall_time_s();
    drop(cp);
    let (cp, opened) = open(&dir, s).expect("reopen");
    assert_eq!(opened, Opened::Finished);
    assert_eq!(cp.wall_time_s(), wall);
    assert_eq!(
        fs::read(dir.join(STATE_FILE)).expect("read"),
        before,
        "untouched"
    );
}

#[test]
fn fresh_moves_old_size_folders_aside_without_deleting_them() {
    let tmp = temp();
    let out = tmp.path();
    fs::create_dir_all(out.join("16_16").join("it1")).expect("16");
    fs::create_dir_all(out.join("64_64")).expect("64");
    let names = ["16_16".to_string(), "32_32".to_string()];
    let to = move_previous(out, &names).expect("move").expect("moved");
    assert!(to.starts_with(out.join(PREVIOUS_DIR)));
    assert!(to.join("16_16").join("it1").is_dir());
    assert!(!out.join("16_16").exists());
    assert!(out.join("64_64").is_dir(), "other sizes are not touched");
    // Twice in the same second: a second folder, never a merge or an overwrite.
    fs::create_dir_all(out.join("16_16")).expect("again");
    let again = move_previous(out, &names).expect("move").expect("moved");
    assert_ne!(again, to);
    assert!(move_previous(out, &names).expect("nothing").is_none());
}
