//! Good and bad values of every key, defaults, and the value syntaxes.

use super::*;
use crate::evaluate::EvaluatorSpec;
use crate::evaluate::queue::QueueSettings;

/// The queue evaluator's settings (the test configurations use the default `EVALUATOR`).
fn queue(c: &Config) -> &QueueSettings {
    match &c.evaluators[..] {
        [EvaluatorSpec::Queue(q), ..] => q,
        other => panic!("queue first, not {other:?}"),
    }
}

#[test]
fn defaults_when_absent() {
    let c = ok(&[]);
    assert_eq!(c.url, "http://gpu06:9000");
    assert_eq!(c.api, Api::Completions);
    assert!(c.api_key.is_none());
    assert!(c.models.is_empty() && c.traffic_split.is_empty());
    assert_eq!(c.duration, Duration::from_secs(1800));
    assert_eq!(c.req_min_start, vec![60.0]);
    assert_eq!(c.multiplier, 2.0);
    assert_eq!(c.threshold, Threshold::Relative(0.1));
    assert_eq!(c.cooldown, Duration::from_secs(180));
    assert_eq!(c.filter_buffer, Duration::from_secs(300));
    assert_eq!(c.success_rate_pct, 95.0);
    assert!(!c.additive);
    assert_eq!(c.tokens_list_proportion, vec![1.0, 1.0]);
    assert!(c.prompts_file.is_none());
    assert_eq!(c.experiment_type, ExperimentType::Mst);
    assert_eq!(c.frac_greedy, 1.0);
    assert_eq!(c.sample_size, None);
    assert_eq!(c.request_timeout, Duration::from_secs(300));
    assert_eq!(c.ttft_timeout, Duration::from_secs(60));
    assert_eq!(c.tpot_timeout, Duration::from_secs(30));
    assert_eq!(c.arrival, ArrivalKind::Poisson);
    assert_eq!(c.seed, 0);
    assert_eq!(
        c.evaluators,
        vec![EvaluatorSpec::Queue(QueueSettings {
            growth_window_pct: 2.0,
            growth_min_ms: 250.0,
            throughput_min_pct: 95.0,
        })]
    );
    assert_eq!(c.confirm, ConfirmPolicy::Fail);
    assert_eq!(c.max_iterations, 30);
    assert_eq!(c.req_min_floor, 1.0);
    assert_eq!(c.drain_timeout, Duration::from_secs(60));
    assert_eq!(c.output_dir, PathBuf::from("requests"));
    assert_eq!(c.job_id, None);
    assert!(c.metadata.is_empty());
    assert_eq!(
        c.sizes,
        vec![
            SizeSpec {
                input: TokenRange { min: 16, max: 16 },
                output: TokenRange { min: 16, max: 16 },
            },
            SizeSpec {
                input: TokenRange { min: 32, max: 32 },
                output: TokenRange { min: 64, max: 64 },
            },
        ]
    );
}

#[test]
fn good_values_of_every_key() {
    type Check = fn(&Config) -> bool;
    let prompts = temp_file("prompts.jsonl", "{\"prompt\": \"hi\"}\n");
    let prompts_str = prompts.path().display().to_string();
    let cases: Vec<(&str, &str, Check)> = vec![
        ("URL", "https://h.example:8443/", |c| {
            c.url == "https://h.example:8443"
        }),
        ("URL", "localhost:8000/v1/", |c| {
            c.url == "http://localhost:8000"
        }),
        ("URL", "http://h/prefix/v1", |c| c.url == "http://h/prefix"),
        ("URL", "  h:1  ", |c| c.url == "http://h:1"),
        ("API", "Chat", |c| c.api == Api::Chat),
        ("API", "completions", |c| c.api == Api::Completions),
        ("MODEL", " llama ", |c| c.models == ["llama"]),
        ("DURATION", "12.5m", |c| {
            c.duration == Duration::from_secs(750)
        }),
        ("DURATION", "2h", |c| {
            c.duration == Duration::from_secs(7200)
        }),
        ("TOKENS_LIST", "100-200:300", |c| {
            c.sizes[0].dir_name() == "100-200_300" && c.sizes.len() == 1
        }),
        ("TOKENS_LIST", " 1:1 , 2-2:3-4 ", |c| {
            c.sizes.len() == 2 && c.sizes[1].output == TokenRange { min: 3, max: 4 }
        }),
        ("REQ_MIN_START", "2048, 1024,0.5", |c| {
            c.req_min_start == vec![2048.0, 1024.0, 0.5] && c.start_req_min(9) == 0.5
        }),
        ("REQ_MIN_INCREASE_MULTIPLIER", "1.5", |c| {
            c.multiplier == 1.5
        }),
        ("THRESHOLD_TYPE", "ABSOLUTE", |c| {
            c.threshold == Threshold::Absolute(10.0)
        }),
        ("STOP_THRESHOLD", "0.05", |c| {
            c.threshold == Threshold::Relative(0.05)
        }),
        ("CI_STOP_WIDTH", "0.05", |c| c.ci_stop_width == Some(0.05)),
        ("CI_STOP_WIDTH", "", |c| c.ci_stop_width.is_none()),
        ("COOLDOWN", "0", |c| c.cooldown.is_zero()),
        ("FILTER_BUFFER", "250ms", |c| {
            c.filter_buffer == Duration::from_millis(250)
        }),
        ("SUCCESS_RATE", "100", |c| c.success_rate_pct == 100.0),
        ("SUCCESS_RATE", "0", |c| c.success_rate_pct == 0.0),
        ("ADDITIVE", "TRUE", |c| c.additive),
        ("ADDITIVE", "no", |c| !c.additive),
        ("TOKENS_LIST_PROPORTION", "0,3", |c| {
            c.tokens_list_proportion == vec![0.0, 3.0]
        }),
        ("EXPERIMENT_TYPE", "mit", |c| {
            c.experiment_type == ExperimentType::Mit
        }),
        ("FRAC_GREEDY", "0", |c| c.frac_greedy == 0.0),
        ("SAMPLE_SIZE", "1", |c| c.sample_size == Some(1)),
        ("REQUEST_TIMEOUT", "10m", |c| {
            c.request_timeout == Duration::from_secs(600)
        }),
        ("TTFT_TIMEOUT", "5s", |c| {
            c.ttft_timeout == Duration::from_secs(5)
        }),
        ("TPOT_TIMEOUT", "1500ms", |c| {
            c.tpot_timeout == Duration::from_millis(1500)
        }),
        ("ARRIVAL", "Jitter", |c| c.arrival == ArrivalKind::Jitter),
        ("ARRIVAL", "constant", |c| {
            c.arrival == ArrivalKind::Constant
        }),
        ("SEED", "18446744073709551615", |c| c.seed == u64::MAX),
        ("EVALUATOR", " Queue , fmperf ", |c| {
            c.evaluator_names() == ["queue", "fmperf"]
        }),
        ("QUEUE_GROWTH_WINDOW_PCT", "5", |c| {
            queue(c).growth_window_pct == 5.0
        }),
        ("QUEUE_GROWTH_MIN_MS", "0", |c| {
            queue(c).growth_min_ms == 0.0
        }),
        ("THROUGHPUT_MIN_PCT", "90.5", |c| {
            queue(c).throughput_min_pct == 90.5
        }),
        ("CONFIRM", "BOTH", |c| c.confirm == ConfirmPolicy::Both),
        ("CONFIRM_FAIL", "FALSE", |c| {
            c.confirm == ConfirmPolicy::None
        }),
        ("CONFIRM_FAIL", "1", |c| c.confirm == ConfirmPolicy::Fail),
        ("MAX_ITERATIONS", "1", |c| c.max_iterations == 1),
        ("REQ_MIN_FLOOR", "0.25", |c| c.req_min_floor == 0.25),
        ("DRAIN_TIMEOUT", "0", |c| c.drain_timeout.is_zero()),
        ("OUTPUT_DIR", "out/dir", |c| {
            c.output_dir == Path::new("out/dir")
        }),
        ("JOB_ID", "job-7", |c| c.job_id.as_deref() == Some("job-7")),
        ("SLURM_JOB_ID", "4242", |c| {
            c.job_id.as_deref() == Some("4242")
        }),
        ("GPUS", "4xA100", |c| {
            c.metadata.get("GPUS").map(String::as_str) == Some("4xA100")
        }),
        ("CPUS", "64", |c| {
            c.metadata.get("CPUS").map(String::as_str) == Some("64")
        }),
        ("NODE", "gpu06", |c| {
            c.metadata.get("NODE").map(String::as_str) == Some("gpu06")
        }),
        ("OPENAI_API_KEY", SECRET, |c| {
            c.api_key.as_ref().map(Secret::expose) == Some(SECRET)
        }),
        ("API_KEY", SECRET, |c| {
            c.api_key.as_ref().map(Secret::expose) == Some(SECRET)
        }),
        ("OPENAI_API_KEY", "   ", |c| c.api_key.is_none()),
    ];
    for (key, value, check) in cases {
        let c = ok(&[(key, value)]);
        assert!(check(&c), "{key}={value:?} gave {c:?}");
    }
    let c = ok(&[("PROMPTS_FILE", &prompts_str)]);
    assert_eq!(c.prompts_file.as_deref(), Some(prompts.path()));
}

#[test]
fn bad_values_name_key_value_and_expectation() {
    let cases: &[(&str, &str, &str)] = &[
        ("URL", "ftp://h:21", "http"),
        ("URL", "http://", "URL"),
        ("URL", "h:notaport", "host:port"),
        ("URL", "http://h:1/?q=1", "query"),
        ("API", "embeddings", "completions, chat"),
        (
            "DURATION",
            "abc",
            "a duration like 30s, 5m or 1800 (seconds)",
        ),
        ("DURATION", "-5", "a duration like"),
        ("DURATION", "0", "positive duration"),
        ("DURATION", "5d", "a duration like"),
        ("DURATION", "NaN", "a duration like"),
        ("TOKENS_LIST", "16", "no ':'"),
        ("TOKENS_LIST", "0:16", "1 <= a <= b"),
        ("TOKENS_LIST", "20-10:16", "1 <= a <= b"),
        ("TOKENS_LIST", "16:16,", "empty entry"),
        ("TOKENS_LIST", "a:b", "in:out"),
        ("REQ_MIN_START", "60,0", "positive numbers"),
        ("REQ_MIN_START", "60,,30", "positive numbers"),
        ("REQ_MIN_START", "inf", "positive numbers"),
        ("REQ_MIN_INCREASE_MULTIPLIER", "1", "greater than 1"),
        ("REQ_MIN_INCREASE_MULTIPLIER", "NaN", "greater than 1"),
        ("THRESHOLD_TYPE", "percent", "relative, absolute"),
        ("STOP_THRESHOLD", "1", "< 1 when THRESHOLD_TYPE is relative"),
        ("STOP_THRESHOLD", "0", "> 0"),
        ("CI_STOP_WIDTH", "1", "> 0 and < 1"),
        ("CI_STOP_WIDTH", "0", "> 0 and < 1"),
        ("CI_STOP_WIDTH", "5%", "> 0 and < 1"),
        ("COOLDOWN", "3 weeks", "a duration like"),
        ("FILTER_BUFFER", "-1s", "a duration like"),
        ("EVALUATOR", "old", "one of queue, fmperf"),
        ("SUCCESS_RATE", "101", "0 to 100"),
        ("SUCCESS_RATE", "-1", "0 to 100"),
        ("ADDITIVE", "maybe", "a boolean"),
        ("TOKENS_LIST_PROPORTION", "0,0", "not all zero"),
        ("TOKENS_LIST_PROPORTION", "1,-1", "non-negative"),
        ("PROMPTS_FILE", "/definitely/not/here.jsonl", "existing"),
        ("EXPERIMENT_TYPE", "MXT", "MST, MIT"),
        ("FRAC_GREEDY", "1.5", "0 to 1"),
        ("SAMPLE_SIZE", "0", ">= 1"),
        ("SAMPLE_SIZE", "2.5", ">= 1"),
        ("REQUEST_TIMEOUT", "0s", "positive duration"),
        ("TTFT_TIMEOUT", "x", "a duration like"),
        ("TPOT_TIMEOUT", "0ms", "positive duration"),
        ("ARRIVAL", "burst", "poisson, constant, jitter"),
        ("SEED", "-1", "whole number"),
        ("EVALUATOR", "queue,", "no empty entry"),
        ("EVALUATOR", "queue, QUEUE", "repeated"),
        ("QUEUE_GROWTH_WINDOW_PCT", "0", "greater than 0"),
        ("QUEUE_GROWTH_WINDOW_PCT", "150", "at most 100"),
        ("QUEUE_GROWTH_MIN_MS", "-1", ">= 0"),
        ("THROUGHPUT_MIN_PCT", "100.1", "0 to 100"),
        ("CONFIRM", "always", "none, fail, both"),
        ("CONFIRM_FAIL", "sometimes", "a boolean"),
        ("MAX_ITERATIONS", "0", ">= 1"),
        ("REQ_MIN_FLOOR", "0", "greater than 0"),
        ("DRAIN_TIMEOUT", "soon", "a duration like"),
    ];
    for (key, value, expected) in cases {
        match with_file(&[(key, value), ("OPENAI_API_KEY", SECRET)]) {
            Err(e @ Error::Config { .. }) => {
                let msg = e.to_string();
                let Error::Config {
                    key: k, value: v, ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((k.as_str(), v.as_str()), (*key, value.trim()), "{msg}");
                assert!(msg.starts_with(&format!("{key}=")), "{msg}");
                assert!(msg.contains(expected), "{key}={value:?}: {msg}");
                assert!(!msg.contains(SECRET) && !format!("{e:?}").contains(SECRET));
            }
            other => panic!("{key}={value:?} should be a Config error, got {other:?}"),
        }
    }
}

#[test]
fn duration_syntax() {
    let good = [
        ("1800", Duration::from_secs(1800)),
        ("1800s", Duration::from_secs(1800)),
        ("250ms", Duration::from_millis(250)),
        ("1.5s", Duration::from_millis(1500)),
        ("5m", Duration::from_secs(300)),
        ("2h", Duration::from_secs(7200)),
        (" 30S ", Duration::from_secs(30)),
        ("0.5", Duration::from_millis(500)),
    ];
    for (text, want) in good {
        assert_eq!(parse_duration("K", text).ok(), Some(want), "{text}");
    }
    for bad in [
        "",
        "s",
        "-1",
        "abc",
        "1.2.3s",
        "10 minutes",
        "inf",
        "1e3",
        "99999999999999999999h",
    ] {
        let err = parse_duration("DURATION", bad).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(format!(
                "DURATION={bad:?} is invalid: expected a duration like 30s, 5m or 1800 (seconds)"
            )),
        );
    }
}

#[test]
fn booleans_and_numbers() {
    for t in ["TRUE", "true", "1", "yes", "Yes"] {
        assert_eq!(parse_bool("B", t).ok(), Some(true), "{t}");
    }
    for f in ["FALSE", "false", "0", "no", "NO"] {
        assert_eq!(parse_bool("B", f).ok(), Some(false), "{f}");
    }
    assert!(parse_bool("B", "2").is_err());
    for bad in ["NaN", "inf", "-inf", "x", ""] {
        assert!(parse_f64("X", bad).is_err(), "{bad}");
    }
    assert_eq!(parse_f64("X", " -2.5 ").ok(), Some(-2.5));
}

#[test]
fn size_index_comes_from_the_flag_or_a_slurm_array_task_and_must_name_an_entry() {
    let base = [("URL", "gpu06:9000"), ("TOKENS_LIST", "16:16,32:64")];
    assert_eq!(ok(&[]).size_index, None);
    assert_eq!(ok(&[("SIZE_INDEX", "1")]).size_index, Some(1));
    let (c, _) = resolve_with(&base, &[("SLURM_ARRAY_TASK_ID", "1")], &[]).expect("array");
    assert_eq!(c.size_index, Some(1));
    // An explicit index beats the array task's.
    let (c, _) = resolve_with(
        &base,
        &[("SLURM_ARRAY_TASK_ID", "1")],
        &[("SIZE_INDEX", "0")],
    )
    .expect("flag");
    assert_eq!(c.size_index, Some(0));
    for (key, value) in [("SIZE_INDEX", "2"), ("SIZE_INDEX", "-1")] {
        let err = with_file(&[(key, value)])
            .expect_err("out of range")
            .to_string();
        assert!(
            err.contains("SIZE_INDEX") && err.contains("from 0 to 1"),
            "{err}"
        );
    }
    let err = resolve_with(&base, &[("SLURM_ARRAY_TASK_ID", "5")], &[])
        .expect_err("array task beyond TOKENS_LIST")
        .to_string();
    assert!(
        err.contains("SLURM_ARRAY_TASK_ID") && err.contains("5"),
        "{err}"
    );
}

#[test]
fn the_probe_follows_search_unless_set_and_is_refused_with_classic() {
    use crate::search::Strategy;
    let c = ok(&[]);
    assert_eq!((c.search, c.probe), (Strategy::Classic, None));
    let c = ok(&[("SEARCH", "adaptive")]);
    let p = c.probe.expect("on with adaptive");
    // DURATION 1800 s: half is 900 s, capped at 60 s.
    assert_eq!((p.duration, p.concurrency), (Duration::from_secs(60), 256));
    let c = ok(&[
        ("SEARCH", "adaptive"),
        ("DURATION", "40s"),
        ("FILTER_BUFFER", "5s"),
    ]);
    assert_eq!(c.probe.unwrap().duration, Duration::from_secs(20));
    let c = ok(&[("SEARCH", "adaptive"), ("SATURATION_PROBE", "false")]);
    assert_eq!(c.probe, None);
    let e = with_file(&[("SATURATION_PROBE", "true")])
        .expect_err("a probe with the classic search")
        .to_string();
    assert!(
        e.contains("SATURATION_PROBE") && e.contains("SEARCH=classic"),
        "{e}"
    );
    assert_eq!(ok(&[("REPEATS", "3")]).repeats, 3);
}
