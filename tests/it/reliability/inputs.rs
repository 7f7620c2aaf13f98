//! Faults of the surroundings rather than the server: bad `.env` values, a server that is not
//! there, an output directory that cannot be written, and a secret that must not leak.

use super::*;
use mst_search::config::KEYS;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs the binary off the async runtime, so an in-process simulator keeps serving.
async fn mst(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mst-search"))
            .args(&args)
            .envs(env)
            .env_remove("RUST_LOG")
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the blocking task ends")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn env_file(dir: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("test.env");
    std::fs::write(&p, body).unwrap();
    p
}

/// Keys whose value is free text (names, secrets, paths, labels): no value is wrong in itself.
const FREE_TEXT: &[&str] = &[
    "OPENAI_API_KEY",
    "API_KEY",
    "OUTPUT_DIR",
    "JOB_ID",
    "SLURM_JOB_ID",
    "GPUS",
    "CPUS",
    "NODE",
    "PROMPTS_FIELD",
];

/// One wrong value per key that has a grammar.
const BAD: &[(&str, &str)] = &[
    ("URL", "http://"),
    ("API", "grpc"),
    ("DURATION", "ten minutes"),
    ("TOKENS_LIST", "200:abc"),
    ("REQ_MIN_START", "-5"),
    ("REQ_MIN_INCREASE_MULTIPLIER", "0.5"),
    ("THRESHOLD_TYPE", "sideways"),
    ("STOP_THRESHOLD", "-1"),
    ("CI_STOP_WIDTH", "1.5"),
    ("COOLDOWN", "soon"),
    ("FILTER_BUFFER", "-3s"),
    ("SUCCESS_RATE", "120"),
    ("ADDITIVE", "maybe"),
    ("TOKENS_LIST_PROPORTION", "0.5,x"),
    ("PROMPTS_FILE", "/nonexistent/prompts.jsonl"),
    ("EXPERIMENT_TYPE", "MAX"),
    ("FRAC_GREEDY", "1.5"),
    ("SAMPLE_SIZE", "-2"),
    ("REQUEST_TIMEOUT", "0s"),
    ("TTFT_TIMEOUT", "never"),
    ("TPOT_TIMEOUT", "-1s"),
    ("ARRIVAL", "burst"),
    ("BURSTINESS", "0"),
    ("SESSION_TURNS", "0"),
    ("THINK_TIME", "soon"),
    ("LOAD", "closed"),
    ("USERS_START", "0"),
    ("MODEL", "base,,adapter"),
    ("TRAFFIC_SPLIT", "0.5,x"),
    ("SEED", "seven"),
    ("EVALUATOR", "vibes"),
    ("QUEUE_GROWTH_WINDOW_PCT", "-10"),
    ("QUEUE_GROWTH_MIN_MS", "x"),
    ("THROUGHPUT_MIN_PCT", "101"),
    ("CONFIRM", "always"),
    ("CONFIRM_FAIL", "perhaps"),
    ("MAX_ITERATIONS", "0"),
    ("SEARCH", "clever"),
    ("SATURATION_PROBE", "probably"),
    ("PROBE_DURATION", "0s"),
    ("PROBE_CONCURRENCY", "0"),
    ("REPEATS", "0"),
    ("REQ_MIN_FLOOR", "-1"),
    ("DRAIN_TIMEOUT", "forever"),
    ("RETRY_ON_OUTAGE", "-1"),
    ("OUTAGE_WAIT", "later"),
    ("SETTLE_TIMEOUT", "until idle"),
    ("TOKENIZER", "/nonexistent/tokenizer.json"),
    ("SHARED_PREFIX_TOKENS", "-1"),
    ("PREFIX_GROUPS", "0"),
    ("OUTPUT_FROM_DATASET", "perhaps"),
    ("SIZE_INDEX", "7"),
    ("CLIENT_LAG_LIMIT_MS", "0"),
    ("SERVER_METRICS_URL", "http://"),
    ("SCRAPE_INTERVAL", "0s"),
    ("SLURM_ARRAY_TASK_ID", "first"),
    ("DRIFT_MIN_PCT", "-5"),
    ("SLO_TTFT_P50_MS", "fast"),
    ("SLO_TTFT_P90_MS", "-1"),
    ("SLO_TTFT_P99_MS", "0"),
    ("SLO_TPOT_P50_MS", "x"),
    ("SLO_TPOT_P90_MS", "-50"),
    ("SLO_TPOT_P99_MS", "inf"),
    ("SLO_ITL_P50_MS", "NaN"),
    ("SLO_ITL_P90_MS", "-2"),
    ("SLO_ITL_P99_MS", "ms"),
    ("SLO_E2E_P50_MS", "-3"),
    ("SLO_E2E_P90_MS", "soon"),
    ("SLO_E2E_P99_MS", "-4"),
    ("SLO_GOODPUT_PCT", "150"),
    ("PLATEAU_MIN_GAIN_PCT", "-1"),
    ("PLATEAU_MIN_GAIN_REQ_MIN", "-1"),
    ("EARLY_ABORT", "sometimes"),
    ("EARLY_ABORT_AFTER_PCT", "120"),
    ("EARLY_ABORT_DELAY_FACTOR", "0"),
    ("EARLY_ABORT_DELAY_MIN_MS", "-1"),
    ("EARLY_ACCEPT", "perhaps"),
    ("EARLY_ACCEPT_AFTER_PCT", "0"),
    ("TRACE", "/nonexistent/trace.csv"),
    ("TRACE_FORMAT", "parquet"),
    ("SCALE", "-2"),
    ("GPU_METRICS_URL", "http://"),
    ("GPU_SMI", "sometimes"),
    ("GPU_HOURLY_COST", "-2"),
];

/// Every key either has a wrong value tested here or is declared free text, so a key added
/// later cannot skip validation unnoticed.
#[test]
fn every_key_rejects_a_bad_value_naming_key_value_and_expectation() {
    for key in KEYS.iter().map(|k| &k.name) {
        assert!(
            FREE_TEXT.contains(key) || BAD.iter().any(|(k, _)| k == key),
            "{key}: add a wrong value to BAD or declare it free text"
        );
    }
    for (key, value) in BAD {
        let mut pairs = vec![
            ("URL", "127.0.0.1:8000".to_string()),
            ("TOKENS_LIST", "16:16".to_string()),
        ];
        pairs.retain(|(k, _)| k != key);
        pairs.push((key, value.to_string()));
        let checked = Config::from_pairs(&pairs).map(|_| ());
        let err = match checked {
            Ok(()) => panic!("{key}={value} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(key) && err.contains(value) && err.contains("expected"),
            "{key}={value}: the message must name key, value and expectation: {err}"
        );
    }
}

/// A wrong value in the env file: exit 2 with the key named, and not one request sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_env_file_exits_2_and_sends_nothing() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let dir = fresh_dir("bad-env");
    let out_dir = dir.join("requests");
    // The second is a line dotenvy itself cannot parse (an unquoted space).
    for (key, value) in [("SUCCESS_RATE", "120"), ("DURATION", "ten minutes")] {
        let f = env_file(
            &dir,
            &format!(
                "URL={}\nTOKENS_LIST=16:16\nOUTPUT_DIR={}\n{key}={value}\n",
                server.url(),
                out_dir.display()
            ),
        );
        let out = mst(vec!["--env".into(), f.display().to_string()], vec![]).await;
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(key), "{}", text(&out));
    }
    assert_eq!(received(&server.stats()), 0, "nothing may be sent");
    assert!(!out_dir.exists(), "nothing may be written");
    server.shutdown().await;
}

/// A trace with a bad line: exit 2 naming the file, line, field and value, and not one
/// request sent (the whole trace is read before any traffic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_trace_line_exits_2_naming_it_and_sends_nothing() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let dir = fresh_dir("bad-trace");
    let out_dir = dir.join("requests");
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("bad.csv");
    std::fs::write(
        &trace,
        "arrival_s,input_tokens,output_tokens\n0,16,4\n0.5,16,4\n1.0,sixteen,4\n",
    )
    .unwrap();
    let f = env_file(
        &dir,
        &format!(
            "URL={}\nTRACE={}\nOUTPUT_DIR={}\n",
            server.url(),
            trace.display(),
            out_dir.display()
        ),
    );
    let out = mst(vec!["--env".into(), f.display().to_string()], vec![]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    for part in [
        "bad.csv line 4",
        "input_tokens",
        "\"sixteen\"",
        "whole number of tokens",
    ] {
        assert!(text(&out).contains(part), "{part}: {}", text(&out));
    }
    assert_eq!(received(&server.stats()), 0, "nothing may be sent");
    assert!(!out_dir.exists(), "nothing may be written");
    server.shutdown().await;
}

/// No server at the URL: exit 3 naming the URL within seconds, and no iteration files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_not_listening_exits_3_within_seconds_without_files() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = fresh_dir("down");
    let out_dir = dir.join("requests");
    let f = env_file(
        &dir,
        &format!(
            "URL=127.0.0.1:{port}\nTOKENS_LIST=16:16\nOUTPUT_DIR={}\n",
            out_dir.display()
        ),
    );
    let clock = Instant::now();
    let out = mst(vec!["--env".into(), f.display().to_string()], vec![]).await;
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("127.0.0.1:{port}")),
        "{}",
        text(&out)
    );
    assert!(iteration_dirs(&out_dir).is_empty());
}

/// `OUTPUT_DIR` is a file: exit 5 naming the path, before any traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_dir_blocked_by_a_file_exits_5_before_traffic() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let dir = fresh_dir("blocked");
    std::fs::create_dir_all(&dir).unwrap();
    let blocker = dir.join("requests");
    std::fs::write(&blocker, "a file in the way\n").unwrap();
    let f = env_file(
        &dir,
        &format!(
            "URL={}\nTOKENS_LIST=16:16\nOUTPUT_DIR={}\n",
            server.url(),
            blocker.display()
        ),
    );
    let out = mst(vec!["--env".into(), f.display().to_string()], vec![]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains(&blocker.display().to_string()),
        "{}",
        text(&out)
    );
    assert_eq!(
        received(&server.stats()),
        0,
        "no traffic before the output is writable"
    );
    assert_eq!(
        std::fs::read_to_string(&blocker).unwrap(),
        "a file in the way\n",
        "the file in the way is left alone"
    );
    server.shutdown().await;
}

/// The disk fills while an iteration is written (a 64 KiB tmpfs): exit 5 naming the path, and
/// nothing half-written that looks complete. Needs root to mount; CI sets MST_REQUIRE_TMPFS=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_exits_5_and_leaves_nothing_that_looks_complete() {
    let dir = fresh_dir("full");
    let mnt = dir.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        super::super::support::skip_or_require(
            "MST_REQUIRE_TMPFS",
            "a_full_disk_exits_5_and_leaves_nothing_that_looks_complete",
            "cannot mount a tmpfs (needs root)",
        );
        return;
    }
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let out_dir = mnt.join("requests");
    let cap = capacity(server.config(), SIZE.0, SIZE.1).req_per_min;
    let f = env_file(
        &dir,
        &format!(
            "URL={}\nTOKENS_LIST={}:{}\nREQ_MIN_START={:.0}\nDURATION=3s\nFILTER_BUFFER=0.5s\n\
             DRAIN_TIMEOUT=1s\nCOOLDOWN=0s\nMAX_ITERATIONS=2\nOUTPUT_DIR={}\n",
            server.url(),
            SIZE.0,
            SIZE.1,
            cap * 0.5,
            out_dir.display()
        ),
    );
    let out = mst(vec!["--env".into(), f.display().to_string()], vec![]).await;
    // Look before unmounting: the tmpfs takes its contents with it.
    let complete = iteration_dirs(&out_dir);
    let outcome_written = out_dir
        .join(format!("{}_{}", SIZE.0, SIZE.1))
        .join("mst.json")
        .exists();
    let _ = Command::new("umount").arg(&mnt).output();
    server.shutdown().await;
    eprintln!("{}", text(&out));
    assert!(
        complete.is_empty(),
        "folders that look complete: {complete:?}"
    );
    assert!(
        !outcome_written,
        "no outcome for a search that could not write"
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains(&out_dir.display().to_string()),
        "{}",
        text(&out)
    );
}

/// The API key never appears in a log line or in any file of the output tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_in_no_log_line_and_no_file() {
    const SECRET: &str = "sk-reliability-secret-7f3a9c";
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let dir = fresh_dir("secret");
    let out_dir = dir.join("requests");
    let cap = capacity(server.config(), SIZE.0, SIZE.1).req_per_min;
    let f = env_file(
        &dir,
        &format!(
            "URL={}\nTOKENS_LIST={}:{}\nREQ_MIN_START={:.0}\nDURATION=2s\nFILTER_BUFFER=0.4s\n\
             DRAIN_TIMEOUT=1s\nCOOLDOWN=0s\nMAX_ITERATIONS=2\nOUTPUT_DIR={}\nAPI_KEY={SECRET}\n",
            server.url(),
            SIZE.0,
            SIZE.1,
            cap * 0.3,
            out_dir.display()
        ),
    );
    let out = mst(
        vec!["--env".into(), f.display().to_string()],
        vec![
            ("OPENAI_API_KEY", SECRET.to_string()),
            ("RUST_LOG", "debug".into()),
        ],
    )
    .await;
    server.shutdown().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(SECRET), "the key was printed");
    let mut files = 0;
    let mut stack = vec![out_dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
                let bytes = std::fs::read(e.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(SECRET),
                    "{} holds the key",
                    e.path().display()
                );
            }
        }
    }
    assert!(files >= 7, "the run wrote its files ({files})");
}

/// `LOAD=users` with what a closed loop cannot work with: exit 2 naming the key and why, and
/// not one request sent (the binary, from the env file, with the .env.example-style defaults
/// of the other keys written out, which contradict nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_users_refuses_what_a_closed_loop_cannot_work_with() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let dir = fresh_dir("bad-users");
    let out_dir = dir.join("requests");
    let base = format!(
        "URL={}\nTOKENS_LIST=16:16\nOUTPUT_DIR={}\nLOAD=users\nARRIVAL=poisson\n\
         REQ_MIN_START=60\nEARLY_ABORT=true\n",
        server.url(),
        out_dir.display()
    );
    for (extra, named, why) in [
        ("", "LOAD", "cannot build a queue"),
        ("EXPERIMENT_TYPE=MIT\n", "EXPERIMENT_TYPE", "plateau"),
        (
            "SLO_TTFT_P90_MS=500\nEVALUATOR=queue\n",
            "EVALUATOR",
            "cannot build",
        ),
        (
            "SLO_TTFT_P90_MS=500\nSEARCH=adaptive\n",
            "SEARCH",
            "request rates",
        ),
        (
            "SLO_TTFT_P90_MS=500\nARRIVAL=gamma\n",
            "ARRIVAL",
            "arrival schedule",
        ),
        (
            "SLO_TTFT_P90_MS=500\nREQ_MIN_START=120\n",
            "REQ_MIN_START",
            "USERS_START",
        ),
        (
            "SLO_TTFT_P90_MS=500\nUSERS_START=1.5\n",
            "USERS_START",
            "whole number",
        ),
    ] {
        let f = env_file(&dir, &format!("{base}{extra}"));
        let out = mst(vec!["--env".into(), f.display().to_string()], vec![]).await;
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{extra}: {said}");
        assert!(
            said.contains(named) && said.contains(why),
            "{extra}: {said}"
        );
    }
    // USERS_START without LOAD=users.
    let f = env_file(
        &dir,
        &format!(
            "URL={}\nTOKENS_LIST=16:16\nOUTPUT_DIR={}\nUSERS_START=8\n",
            server.url(),
            out_dir.display()
        ),
    );
    let out = mst(vec!["--env".into(), f.display().to_string()], vec![]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unset unless LOAD=users"),
        "{}",
        text(&out)
    );
    assert_eq!(received(&server.stats()), 0, "nothing may be sent");
    assert!(!out_dir.exists(), "nothing may be written");
    server.shutdown().await;
}
