//! Writers against a temporary directory: files read back with the csv crate and serde_json.

use super::*;
use crate::error::Error;
use crate::evaluate::{Criterion, Verdict};
use crate::metrics::tests::{sample_meta, sample_records};
use crate::metrics::{halves, summarize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// An empty temporary folder, removed when the guard is dropped.
fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

fn verdict() -> Verdict {
    let figures: BTreeMap<String, f64> = [
        ("slope_ms_per_s".to_string(), 0.25),
        ("p_value".to_string(), 0.5),
    ]
    .into_iter()
    .collect();
    Verdict::from_criteria(vec![
        Criterion {
            name: "queue_delay_trend".to_string(),
            passed: true,
            figures,
            detail: "queueing delay is flat".to_string(),
        },
        Criterion {
            name: "success_rate".to_string(),
            passed: false,
            figures: [("success_rate_pct".to_string(), 50.0)]
                .into_iter()
                .collect(),
            detail: "only 50% of requests succeeded".to_string(),
        },
    ])
}

/// Writes the sample iteration into `dir` and returns the folder and the halves used.
fn write_sample(dir: &Path) -> Result<(PathBuf, crate::metrics::Halves)> {
    let meta = sample_meta();
    let records = sample_records();
    let summary = summarize(&meta, &records);
    let verdict = verdict();
    let h = halves(&records, meta.filter_buffer);
    let files = IterationFiles {
        meta: &meta,
        records: &records,
        summary: &summary,
        verdict: &verdict,
        halves: &h,
        judgement: Judgement::Fail,
        server: None,
        gpu: None,
    };
    write_iteration(dir, &files).map(|p| (p, h))
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut rdr = csv::Reader::from_path(path).expect("open csv");
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = rdr
        .records()
        .map(|r| {
            let r = r.expect("row");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

fn request_idxs(rows: &[BTreeMap<String, String>]) -> Vec<usize> {
    rows.iter()
        .map(|r| r["request_idx"].parse().expect("index"))
        .collect()
}

#[test]
fn output_csv_has_one_row_per_record_with_the_specified_columns() {
    let tmp = temp();
    let (folder, _) = write_sample(tmp.path()).expect("write");
    assert_eq!(
        folder,
        tmp.path().join("100_4").join("2024-06-11_14-30-05"),
        "folder named after size and start time"
    );
    let (header, rows) = read_csv(&folder.join("output.csv"));
    assert_eq!(header, OUTPUT_COLUMNS);
    assert_eq!(rows.len(), 6);
    assert_eq!(request_idxs(&rows), vec![0, 1, 2, 3, 4, 5]);

    let r0 = &rows[0];
    let t0_us = sample_meta().started_at.timestamp_micros();
    // Last token at 10 + 250 ms.
    let expected_received = (t0_us + 260_000) as f64 / 1e6;
    let received: f64 = r0["received_timestamp"].parse().expect("float");
    assert!((received - expected_received).abs() < 1e-6);
    assert_eq!(r0["complete_response_time"], "250.000");
    assert_eq!(r0["success_rate"], "50.0");
    assert_eq!(r0["success"], "True");
    assert_eq!(r0["worker_idx"], "0");
    assert_eq!(r0["global_request_id"], "3-0");
    assert_eq!(r0["actual_send_s"], "0.010000");
    assert_eq!(r0["tpot_ms"], "50.000");
    assert_eq!(r0["itl_max_ms"], "100.000");
    assert_eq!(r0["server_prompt_tokens"], "100");
    assert_eq!(r0["error_kind"], "");

    let failed = &rows[2];
    assert_eq!(failed["success"], "False");
    assert_eq!(failed["error_kind"], "timeout-itl");
    assert_eq!(failed["complete_response_time"], "330.000");
    assert_eq!(failed["server_prompt_tokens"], "");
    let connect = &rows[3];
    assert_eq!(connect["ttft_ms"], "");
    assert_eq!(connect["http_status"], "");
    assert_eq!(rows[5]["error_kind"], "rate-limited");
    assert_eq!(rows[5]["http_status"], "429");
}

#[test]
fn halves_files_are_disjoint_and_match_halves() {
    let tmp = temp();
    let (folder, h) = write_sample(tmp.path()).expect("write");
    let (h1, first) = read_csv(&folder.join("first_half.csv"));
    let (h2, second) = read_csv(&folder.join("second_half.csv"));
    assert_eq!(h1, OUTPUT_COLUMNS);
    assert_eq!(h2, OUTPUT_COLUMNS);
    let records = sample_records();
    let want = |idx: &[usize]| -> Vec<usize> {
        idx.iter()
            .map(|&i| records[i].request_idx as usize)
            .collect()
    };
    assert_eq!(request_idxs(&first), want(&h.first));
    assert_eq!(request_idxs(&second), want(&h.second));
    assert_eq!(request_idxs(&first), vec![1, 2]);
    assert_eq!(request_idxs(&second), vec![3, 4]);
}

#[test]
fn results_csv_has_one_row_and_opens_with_the_old_columns() {
    let tmp = temp();
    let (folder, _) = write_sample(tmp.path()).expect("write");
    let (header, rows) = read_csv(&folder.join("results.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(header[..RESULTS_OLD_COLUMNS.len()], RESULTS_OLD_COLUMNS);
    let mut unique = header.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), header.len(), "no duplicate column");
    let row = &rows[0];
    assert_eq!(row["MODEL_USED"], "test-model");
    assert_eq!(row["INPUT_TOKENS"], "100");
    assert_eq!(row["REQ_MIN"], "60");
    assert_eq!(
        (row["LOAD_UNIT"].as_str(), row["LOAD"].as_str()),
        ("req_min", "60")
    );
    assert_eq!(row["EVALUATION"], "FALSE");
    assert_eq!(row["DURATION"], "6");
    assert_eq!(row["TOTAL_REQUESTS"], "6");
    assert_eq!(row["PROMPT_TEXT"].chars().count(), 200);
    assert_eq!(row["MEDIAN_RESPONSE_TOKENS"], "1");
    assert_eq!(row["JOB_ID"], "job-42");
    assert_eq!(row["STAGE"], "2");
    assert_eq!(row["COMPLETION"], "COMPLETE");
    assert_eq!(row["ERRORS_RATE_LIMITED"], "1");
    assert_eq!(row["ERRORS_STREAM_CUT"], "0");
    assert_eq!(row["E2E_P50_MS"], "80.000");
    assert_eq!(row["LAG_MAX_MS"], "10.000");
    assert_eq!(row["QUEUE_DELAY_TREND_SLOPE_MS_PER_S"], "0.25");
    assert_eq!(row["QUEUE_DELAY_TREND_PASSED"], "TRUE");
    assert_eq!(row["SUCCESS_RATE_PASSED"], "FALSE");
    assert_eq!(row["GPUS"], "2");
    // Without GPU telemetry its columns are there, empty, and no gpu_metrics.csv is written.
    assert_eq!(row["GPU_ENERGY_J"], "");
    assert_eq!(row["GPU_J_PER_OUTPUT_TOKEN"], "");
    assert!(!folder.join("gpu_metrics.csv").exists());
    assert_eq!(row["VERDICT_REASON"], "only 50% of requests succeeded");
}

#[test]
fn results_json_parses_with_every_token_time() {
    let tmp = temp();
    let (folder, _) = write_sample(tmp.path()).expect("write");
    let text = fs::read_to_string(folder.join("results.json")).expect("read");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["meta"]["iteration"], 3);
    assert_eq!(v["summary"]["succeeded"], 3);
    assert_eq!(v["verdict"]["sustainable"], false);
    assert_eq!(v["halves"]["first"], 2);
    assert_eq!(v["halves"]["second"], 2);
    assert_eq!(v["halves"]["midpoint_s"], 2.6375);
    let requests = v["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 6);
    assert_eq!(
        requests[0]["token_times_s"],
        serde_json::json!([0.11, 0.16, 0.16, 0.26])
    );
    assert_eq!(requests[2]["error"], "timeout-itl");
    assert_eq!(requests[3]["first_token_s"], serde_json::Value::Null);
    // The whole meta deserialises back into its type.
    let meta: crate::iteration::IterationMeta =
        serde_json::from_value(v["meta"].clone()).expect("meta");
    assert_eq!(meta, sample_meta());
}

#[test]
fn no_partial_folder_remains_and_a_second_write_gets_a_suffix() {
    let tmp = temp();
    let (first, _) = write_sample(tmp.path()).expect("write");
    let before = fs::read(first.join("output.csv")).expect("read");
    fs::write(first.join("marker"), b"first").expect("marker");
    let (second, _) = write_sample(tmp.path()).expect("write again");
    assert_eq!(
        second,
        tmp.path().join("100_4").join("2024-06-11_14-30-05_2")
    );
    let (third, _) = write_sample(tmp.path()).expect("write a third time");
    assert_eq!(
        third,
        tmp.path().join("100_4").join("2024-06-11_14-30-05_3")
    );
    assert_eq!(fs::read(first.join("output.csv")).expect("read"), before);
    assert_eq!(fs::read(first.join("marker")).expect("marker"), b"first");
    let mut names: Vec<String> = fs::read_dir(tmp.path().join("100_4"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "2024-06-11_14-30-05",
            "2024-06-11_14-30-05_2",
            "2024-06-11_14-30-05_3"
        ]
    );
    for folder in [&first, &second] {
        let mut files: Vec<String> = fs::read_dir(folder)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n != "marker")
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "first_half.csv",
                "output.csv",
                "results.csv",
                "results.json",
                "second_half.csv"
            ]
        );
    }
}

#[test]
fn write_into_a_path_blocked_by_a_file_is_an_output_error() {
    let tmp = temp();
    // The size folder's name is taken by a plain file.
    fs::write(tmp.path().join("100_4"), b"not a directory").expect("block");
    match write_sample(tmp.path()) {
        Err(Error::Output { path, reason }) => {
            assert!(path.starts_with(tmp.path()), "{path:?}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected an output error, got {other:?}"),
    }
    let blocked = temp();
    let file = blocked.path().join("plain");
    fs::write(&file, b"x").expect("file");
    assert!(matches!(write_summary(&file), Err(Error::Output { .. })));
}

fn outcome(size: &str) -> SizeOutcome {
    SizeOutcome {
        size: size.to_string(),
        input_tokens: "100".to_string(),
        output_tokens: "4".to_string(),
        model: "test-model".to_string(),
        mst_req_min: Some(96.0),
        mst_req_s: Some(1.55),
        lower_req_min: Some(96.0),
        upper_req_min: Some(104.0),
        load_unit: Default::default(),
        mst_load: Some(96.0),
        lower_load: Some(96.0),
        upper_load: Some(104.0),
        stop: StopKind::Converged,
        reason: "gap 8 req/min, within 10%".to_string(),
        iterations: vec![IterationBrief {
            iteration: 1,
            load: None,
            stage: 1,
            req_min: 60.0,
            attempt: 1,
            sustainable: Some(true),
            reason: "all criteria passed".to_string(),
            folder: "2024-06-11_14-30-05".to_string(),
            achieved_req_s: 0.98,
            steady_req_min: 58.8,
            succeeded: 50,
            output_tokens_p50: Some(4.0),
            short_outputs: 0,
            time_s: 10.0,
            repeat: 1,
            gpu: None,
        }],
        started_at: "2024-06-11T14:30:05+00:00".to_string(),
        finished_at: "2024-06-11T15:30:05+00:00".to_string(),
        wall_time_s: 3600.0,
        job_id: None,
        evaluators: vec!["queue".to_string(), "success".to_string()],
        generated_output_tokens_p50: Some(4.0),
        short_outputs_pct: Some(0.0),
        iteration_time_s: 10.0,
        search: "classic".to_string(),
        capacity_estimate: None,
        probe_req_min: None,
        repeats: Vec::new(),
        repeat_stats: None,
        confidence: None,
        energy: None,
    }
}

#[test]
fn summary_csv_is_rebuilt_from_every_sizes_mst_json_in_token_order() {
    let tmp = temp();
    let mut big = outcome("200:8");
    big.input_tokens = "200".into();
    big.output_tokens = "8".into();
    big.mst_req_min = None;
    write_size_outcome(tmp.path(), "200_8", &big).expect("200:8");
    write_summary(tmp.path()).expect("first rebuild");
    write_size_outcome(tmp.path(), "100_4", &outcome("100:4")).expect("100:4");
    // A hidden folder (e.g. an iteration being assembled) and stray files are not sizes.
    fs::create_dir_all(tmp.path().join(".hidden")).expect("hidden");
    fs::write(tmp.path().join(".hidden").join("mst.json"), "{}").expect("hidden mst");
    fs::write(tmp.path().join("notes.txt"), "x").expect("stray");
    let path = write_summary(tmp.path()).expect("second rebuild");
    let (header, rows) = read_csv(&path);
    assert_eq!(header, SUMMARY_COLUMNS);
    assert_eq!(
        rows.len(),
        2,
        "one row per size, never duplicated: {rows:?}"
    );
    assert_eq!(rows[0]["SIZE"], "100:4");
    assert_eq!(rows[0]["MST_REQ_MIN"], "96");
    assert_eq!(
        (rows[0]["LOAD_UNIT"].as_str(), rows[0]["MST_LOAD"].as_str()),
        ("req_min", "96")
    );
    assert_eq!(rows[0]["EVALUATORS"], "queue+success");
    assert_eq!(rows[1]["SIZE"], "200:8");
    assert_eq!(rows[1]["MST_REQ_MIN"], "");
    let text = fs::read_to_string(&path).expect("read");
    assert_eq!(text.matches("SIZE,").count(), 1);
}

#[test]
fn summary_csv_with_a_foreign_header_is_left_alone() {
    let tmp = temp();
    let path = tmp.path().join("summary.csv");
    fs::write(&path, "A,B\n1,2\n").expect("write");
    write_size_outcome(tmp.path(), "1_1", &outcome("1:1")).expect("mst");
    assert!(matches!(
        write_summary(tmp.path()),
        Err(Error::Output { .. })
    ));
    assert_eq!(fs::read_to_string(&path).expect("read"), "A,B\n1,2\n");
}

#[test]
fn mst_json_round_trips() {
    let tmp = temp();
    let o = outcome("100:4");
    let path = write_size_outcome(tmp.path(), "100_4", &o).expect("write");
    assert_eq!(path, tmp.path().join("100_4").join("mst.json"));
    let back: SizeOutcome =
        serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("parse");
    assert_eq!(back, o);
    let leftovers: Vec<_> = fs::read_dir(tmp.path().join("100_4"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("mst.json")]);
}

fn with_confidence(size: &str) -> SizeOutcome {
    SizeOutcome {
        confidence: Some(mst_results::Confidence {
            level: 0.9,
            low_req_min: 90.5,
            high_req_min: 110.25,
            estimate_req_min: 99.0,
            method: "firth-logit-bootstrap".to_string(),
            curve_midpoint_req_min: 99.0,
            curve_log_scale: 0.05,
            iterations: 6,
            resamples: 1000,
            redrawn: 12,
        }),
        ..outcome(size)
    }
}

#[test]
fn summary_csv_lists_the_confidence_interval_and_leaves_it_empty_without_one() {
    let tmp = temp();
    write_size_outcome(tmp.path(), "100_4", &with_confidence("100:4")).expect("with");
    let mut none = outcome("200:4");
    none.input_tokens = "200".into();
    write_size_outcome(tmp.path(), "200_4", &none).expect("without");
    let (_, rows) = read_csv(&write_summary(tmp.path()).expect("summary"));
    assert_eq!(rows[0]["MST_CI_LOW_REQ_MIN"], "90.5");
    assert_eq!(rows[0]["MST_CI_HIGH_REQ_MIN"], "110.25");
    assert_eq!(rows[1]["MST_CI_LOW_REQ_MIN"], "");
    assert_eq!(rows[1]["MST_CI_HIGH_REQ_MIN"], "");
    assert_eq!(
        (
            rows[0]["MST_CI_LOW_LOAD"].as_str(),
            rows[1]["MST_CI_LOW_LOAD"].as_str()
        ),
        ("90.5", "")
    );
}

/// An interval over users is not a request rate: only the `_LOAD` columns carry it.
#[test]
fn outside_rate_searches_the_interval_is_written_in_the_searched_unit_only() {
    let tmp = temp();
    let users = SizeOutcome {
        load_unit: mst_results::LoadUnit::Users,
        ..with_confidence("100:4")
    };
    write_size_outcome(tmp.path(), "100_4", &users).expect("users");
    let (_, rows) = read_csv(&write_summary(tmp.path()).expect("summary"));
    assert_eq!(rows[0]["LOAD_UNIT"], "users");
    assert_eq!(rows[0]["MST_CI_LOW_REQ_MIN"], "");
    assert_eq!(rows[0]["MST_CI_HIGH_REQ_MIN"], "");
    assert_eq!(rows[0]["MST_CI_LOW_LOAD"], "90.5");
    assert_eq!(rows[0]["MST_CI_HIGH_LOAD"], "110.25");
}

#[test]
fn a_summary_csv_of_an_earlier_version_is_rebuilt_with_the_new_columns() {
    // The header before the interval's columns: everything up to ITERATION_TIME_S.
    let tmp = temp();
    let path = tmp.path().join("summary.csv");
    let before = SUMMARY_COLUMNS
        .iter()
        .position(|c| *c == "ITERATION_TIME_S")
        .unwrap();
    let old = &SUMMARY_COLUMNS[..=before];
    assert_eq!(old.last(), Some(&"ITERATION_TIME_S"));
    fs::write(&path, format!("{}\n", old.join(","))).expect("old summary");
    write_size_outcome(tmp.path(), "100_4", &with_confidence("100:4")).expect("mst");
    let (header, rows) = read_csv(&write_summary(tmp.path()).expect("rebuild"));
    assert_eq!(header, SUMMARY_COLUMNS);
    assert_eq!(rows[0]["MST_CI_HIGH_REQ_MIN"], "110.25");
}

#[test]
fn mst_json_writes_the_confidence_block_only_when_there_is_one() {
    let tmp = temp();
    let path = write_size_outcome(tmp.path(), "100_4", &with_confidence("100:4")).expect("with");
    let text = fs::read_to_string(&path).expect("read");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["confidence"]["level"], 0.9);
    assert_eq!(json["confidence"]["method"], "firth-logit-bootstrap");
    let back: SizeOutcome = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, with_confidence("100:4"));
    // Without one the key is absent, and a file without it (an older version's) still reads.
    let path = write_size_outcome(tmp.path(), "100_4", &outcome("100:4")).expect("without");
    let text = fs::read_to_string(&path).expect("read");
    assert!(!text.contains("confidence"), "{text}");
    let back: SizeOutcome = serde_json::from_str(&text).expect("older file");
    assert_eq!(back.confidence, None);
}

#[test]
fn summary_csv_lists_the_search_its_estimate_and_the_repeats_spread() {
    let tmp = temp();
    let adaptive = SizeOutcome {
        search: "adaptive".into(),
        capacity_estimate: Some(mst_results::CapacityEstimate {
            req_min: 1179.5,
            source: "overloaded-iterations".into(),
            measurements: 1,
        }),
        repeats: vec![],
        repeat_stats: mst_results::RepeatStats::of(&[90.0, 110.0, 100.0]),
        ..outcome("100:4")
    };
    write_size_outcome(tmp.path(), "100_4", &adaptive).expect("adaptive");
    let mut classic = outcome("200:4");
    classic.input_tokens = "200".into();
    write_size_outcome(tmp.path(), "200_4", &classic).expect("classic");
    let (_, rows) = read_csv(&write_summary(tmp.path()).expect("summary"));
    assert_eq!(rows[0]["SEARCH"], "adaptive");
    assert_eq!(rows[0]["CAPACITY_ESTIMATE_REQ_MIN"], "1179.5");
    assert_eq!(rows[0]["MST_SD_REQ_MIN"], "10");
    assert_eq!(rows[0]["MST_CV"], "0.1");
    assert_eq!(rows[1]["SEARCH"], "classic");
    assert_eq!(rows[1]["CAPACITY_ESTIMATE_REQ_MIN"], "");
    assert_eq!(rows[1]["REPEATS"], "1");
    assert_eq!(rows[1]["MST_CV"], "");
}

#[test]
fn outside_rate_searches_req_min_is_what_was_sent_per_minute() {
    let mut meta = crate::metrics::tests::sample_meta();
    meta.duration = std::time::Duration::from_secs(60);
    // Stopped early: 45 requests in 30 s of sending are 90 per minute, not 45.
    meta.sending_stopped = std::time::Duration::from_secs(30);
    meta.req_min = 8.0;
    assert_eq!(meta.sent_req_min(45), 8.0, "a rate is the rate offered");
    meta.load_unit = crate::search::LoadUnit::Users;
    assert_eq!(meta.sent_req_min(45), 90.0, "45 sent in 30 s of sending");
}

#[test]
fn summary_csv_lists_the_energy_at_the_mst_and_leaves_it_empty_without() {
    let tmp = temp();
    let with = SizeOutcome {
        energy: Some(mst_results::EnergyAtMst {
            gpus: 2,
            power_w: 500.0,
            joules_per_output_token: Some(0.25),
            output_tokens_per_joule: Some(4.0),
            output_tokens_s: 2000.0,
            gpu_hourly_cost: Some(3.6),
            cost_per_million_output_tokens: Some(1.0),
        }),
        ..outcome("100:4")
    };
    write_size_outcome(tmp.path(), "100_4", &with).expect("with energy");
    let mut without = outcome("200:4");
    without.input_tokens = "200".into();
    write_size_outcome(tmp.path(), "200_4", &without).expect("without");
    let (header, rows) = read_csv(&write_summary(tmp.path()).expect("summary"));
    let energy = header
        .iter()
        .position(|c| c == "GPU_COUNT")
        .expect("GPU_COUNT");
    assert_eq!(
        header[energy..energy + 5],
        [
            "GPU_COUNT",
            "MST_POWER_W",
            "MST_J_PER_OUTPUT_TOKEN",
            "MST_OUTPUT_TOKENS_PER_J",
            "MST_COST_PER_M_OUTPUT_TOKENS"
        ]
    );
    assert_eq!(rows[0]["MST_POWER_W"], "500");
    assert_eq!(rows[0]["MST_COST_PER_M_OUTPUT_TOKENS"], "1");
    assert_eq!(rows[1]["GPU_COUNT"], "");
    assert_eq!(rows[1]["MST_J_PER_OUTPUT_TOKEN"], "");
}
