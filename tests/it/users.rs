//! Closed-loop users (`LOAD=users`) over real HTTP against the simulator: what the server saw.
//! N users never have more than N requests at the server at once and do reach N; a user's think
//! time holds its next request back; every request sent is recorded once, with no schedule lag.

use super::support::sim_client;
use mst_search::client::Api;
use mst_search::config::Config;
use mst_search::iteration::{Completion, IterationMeta};
use mst_search::load::runner::{Progress, run_iteration};
use mst_search::record::RequestRecord;
use mst_search::search::Stage;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};
use mst_search::workload::Workload;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// 3-s iterations of 64:16 as closed-loop users judged by a TPOT SLO.
fn config(url: &str) -> Config {
    let pairs: Vec<(&str, String)> = vec![
        ("URL", url.to_string()),
        ("TOKENS_LIST", "64:16".into()),
        ("LOAD", "users".into()),
        ("SLO_TPOT_P90_MS", "100".into()),
        ("DURATION", "3s".into()),
        ("FILTER_BUFFER", "0.5s".into()),
        ("DRAIN_TIMEOUT", "5s".into()),
    ];
    Config::from_pairs(&pairs).expect("valid test config").0
}

/// One iteration of `users` users thinking `think` between requests.
async fn iteration(
    server: &SimServer,
    users: u32,
    think: Duration,
) -> (IterationMeta, Vec<RequestRecord>) {
    let cfg = config(&server.url());
    let client = Arc::new(sim_client(server, Api::Completions));
    let (workload, _) = Workload::prepare(&client, &cfg.workload_settings())
        .await
        .expect("workload");
    let mut plan = cfg.iteration_plan(
        cfg.sizes[0],
        f64::from(users),
        Stage::Ramp,
        1,
        5,
        &server.config().model,
    );
    let closed = plan.users.as_mut().expect("LOAD=users plans users");
    assert_eq!(closed.users, users);
    closed.think_time = think;
    run_iteration(
        client,
        Arc::new(workload),
        &plan,
        &CancellationToken::new(),
        Arc::new(Progress::default()),
    )
    .await
}

/// Every request index from 0 appears once, every request ended successfully, nothing was
/// scheduled and nothing was late.
fn check_records(meta: &IterationMeta, records: &[RequestRecord]) {
    assert_eq!(meta.completion, Completion::Complete);
    assert_eq!(meta.planned_requests, 0);
    let idx: Vec<u64> = records.iter().map(|r| r.request_idx).collect();
    assert_eq!(idx, (0..records.len() as u64).collect::<Vec<_>>());
    assert!(records.iter().all(|r| r.success()), "{records:?}");
    assert!(records.iter().all(|r| r.schedule_lag().is_zero()));
    // Users stop sending at DURATION.
    assert!(records.iter().all(|r| r.actual_send < meta.duration));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_users_never_have_more_than_n_requests_at_the_server_and_reach_n() {
    // A batch of 4: six users keep two waiting at the server, and never send a seventh.
    let server = SimServer::start(EngineConfig::small(4, 4.0), FaultConfig::default())
        .await
        .expect("simulator starts");
    let (meta, records) = iteration(&server, 6, Duration::ZERO).await;
    check_records(&meta, &records);
    let stats = server.stats();
    assert_eq!(stats.max_in_flight, 6, "{stats:?}");
    assert_eq!(meta.client.max_in_flight, 6);
    assert_eq!(stats.total_requests, records.len() as u64);
    // Each user sent many requests one after another: far more than six.
    assert!(records.len() > 30, "{}", records.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_thinks_before_its_next_request() {
    let server = SimServer::start(EngineConfig::small(16, 4.0), FaultConfig::default())
        .await
        .expect("simulator starts");
    // Three users thinking 1.2 s over 3 s: each sends at 0, after 1.2 s + E2E and after
    // 2.4 s + 2 E2E — at most three requests each, nine in all (without thinking, about a
    // hundred).
    let (meta, records) = iteration(&server, 3, Duration::from_millis(1200)).await;
    check_records(&meta, &records);
    assert!(
        (4..=9).contains(&records.len()),
        "{} requests",
        records.len()
    );
    let stats = server.stats();
    assert_eq!(stats.max_in_flight, 3, "{stats:?}");
    // The first three went out at once; none of the others within the think time.
    let mut sends: Vec<f64> = records
        .iter()
        .map(|r| r.actual_send.as_secs_f64())
        .collect();
    sends.sort_by(f64::total_cmp);
    assert!(sends[..3].iter().all(|&s| s < 0.5), "{sends:?}");
    assert!(sends[3..].iter().all(|&s| s >= 1.2), "{sends:?}");
}
