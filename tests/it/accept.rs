//! Early accept over real HTTP against the simulator (scaled time): an iteration far below
//! capacity ends before `DURATION`, is judged sustainable by the evaluators on what it sent,
//! and its files say it was accepted early; an overload is never accepted (early abort off, so
//! the accept rule is what is tested).

use super::support::{fresh_dir, read_rows, sim_client};
use mst_search::client::Api;
use mst_search::config::Config;
use mst_search::evaluate::{self, judge};
use mst_search::iteration::{Completion, IterationMeta};
use mst_search::load::accept::AcceptSettings;
use mst_search::load::runner::{IterationPlan, Progress, run_iteration};
use mst_search::output::{IterationFiles, write_iteration};
use mst_search::record::RequestRecord;
use mst_search::search::Stage;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use mst_search::workload::Workload;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SIZE: (u32, u32) = (64, 32);

/// The keys both tests share (`URL` aside): 6-s iterations; early accept may look from 3 s.
fn config(url: &str) -> Config {
    let pairs: Vec<(&str, String)> = vec![
        ("URL", url.to_string()),
        ("TOKENS_LIST", format!("{}:{}", SIZE.0, SIZE.1)),
        ("DURATION", "6s".into()),
        ("FILTER_BUFFER", "0.5s".into()),
        ("DRAIN_TIMEOUT", "4s".into()),
        // The growth bound, scaled for 6-s iterations at 4x time.
        ("QUEUE_GROWTH_MIN_MS", "50".into()),
        ("EARLY_ABORT", "false".into()),
        ("EVALUATOR", "queue,halves".into()),
        // Debug build on shared cores: client certification is tested elsewhere.
        ("CLIENT_LAG_LIMIT_MS", "1000".into()),
    ];
    Config::from_pairs(&pairs).expect("valid test config").0
}

/// One iteration at `share` × capacity with early accept allowed.
async fn iteration(
    server: &SimServer,
    cfg: &Config,
    share: f64,
) -> (IterationMeta, Vec<RequestRecord>) {
    let client = Arc::new(sim_client(server, Api::Completions));
    let (workload, _) = Workload::prepare(&client, &cfg.workload_settings())
        .await
        .expect("workload");
    let accept: AcceptSettings = cfg.evaluator_settings.early_accept;
    assert_eq!((accept.after_pct, accept.growth_max_ms), (50.0, 50.0));
    let plan = IterationPlan {
        early_accept: Some(accept),
        ..cfg.iteration_plan(
            cfg.sizes[0],
            share * capacity(server.config(), SIZE.0, SIZE.1).req_per_min,
            Stage::Ramp,
            1,
            7,
            &server.config().model,
        )
    };
    run_iteration(
        client,
        Arc::new(workload),
        &plan,
        &CancellationToken::new(),
        Arc::new(Progress::default()),
    )
    .await
}

async fn start() -> SimServer {
    SimServer::start(EngineConfig::small(16, 4.0), FaultConfig::default())
        .await
        .expect("simulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_capacity_is_accepted_early_judged_sustainable_and_written_so() {
    let server = start().await;
    let cfg = config(&server.url());
    let (meta, records) = iteration(&server, &cfg, 0.5).await;
    let Completion::AcceptedEarly(why) = &meta.completion else {
        panic!("not accepted early: {:?}", meta.completion);
    };
    let stopped = meta.sending_stopped.as_secs_f64();
    assert!(
        (3.0..5.5).contains(&stopped),
        "stopped at {stopped} s: {why}"
    );
    // Drained like a complete iteration: nothing cancelled, every request sent is recorded.
    assert!(records.iter().all(|r| r.success()), "{why}");
    assert!(records.len() as u64 <= meta.planned_requests);

    let evaluator = evaluate::build(cfg.success_rate_pct, &cfg.evaluators);
    let judged = judge::judge(
        &judge::Context {
            evaluator: evaluator.as_ref(),
            client_lag_limit_ms: cfg.client_lag_limit_ms,
            history: &[],
            server_alive: true,
        },
        &meta,
        &records,
    );
    let v = &judged.verdict;
    assert!(v.sustainable, "{}", v.reason);
    assert!(v.reason.contains("accepted early after"), "{}", v.reason);
    let c = v
        .criteria
        .iter()
        .find(|c| c.name == "early_accept")
        .expect("an early_accept criterion");
    assert!(c.passed);
    assert!((c.figures["elapsed_s"] + c.figures["time_saved_s"] - 6.0).abs() < 1e-6);

    let out = fresh_dir("out");
    let dir = write_iteration(
        &out,
        &IterationFiles {
            meta: &meta,
            records: &records,
            summary: &judged.summary,
            verdict: v,
            halves: &judged.halves,
            judgement: judged.judgement(),
            server: None,
            gpu: None,
        },
    )
    .expect("files written");
    let row = &read_rows(&dir.join("results.csv"))[0];
    assert_eq!(row["COMPLETION"], "ACCEPTED_EARLY", "{row:?}");
    assert_eq!(row["COMPLETION_REASON"], *why);
    let saved: f64 = row["EARLY_ACCEPT_TIME_SAVED_S"].parse().expect("a number");
    assert!(saved > 0.5, "saved {saved} s");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).expect("results.json"))
            .expect("json");
    let text = json.to_string();
    assert!(text.contains("ACCEPTED_EARLY"), "{text:.400}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overload_is_never_accepted_early() {
    let server = start().await;
    let cfg = config(&server.url());
    let (meta, records) = iteration(&server, &cfg, 1.3).await;
    assert_eq!(
        meta.completion,
        Completion::Complete,
        "{} requests",
        records.len()
    );
    assert!(meta.sending_stopped >= Duration::from_secs(6));
    server.shutdown().await;
}
