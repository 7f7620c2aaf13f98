//! Server metrics: the simulator's `/metrics` scraped during a real, overloaded iteration.

use super::support::fresh_dir;
use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

fn engine() -> EngineConfig {
    EngineConfig::small(4, 10.0)
}

/// The only iteration folder of the only size.
fn iteration_dir(out: &Path) -> PathBuf {
    let size_dir = out.join("64_32");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&size_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

fn results_value(dir: &Path, column: &str) -> String {
    let mut r = csv::Reader::from_path(dir.join("results.csv")).unwrap();
    let header = r.headers().unwrap().clone();
    let row = r.records().next().unwrap().unwrap();
    let i = header.iter().position(|h| h == column).unwrap();
    row[i].to_string()
}

async fn one_iteration(url: String, req_min: f64, extra: &[(&str, String)], out: &Path) {
    let mut pairs = vec![
        ("URL", url),
        ("DURATION", "2s".into()),
        ("FILTER_BUFFER", "0.3s".into()),
        ("COOLDOWN", "0s".into()),
        ("DRAIN_TIMEOUT", "0.5s".into()),
        ("TOKENS_LIST", "64:32".into()),
        ("REQ_MIN_START", format!("{req_min:.0}")),
        ("MAX_ITERATIONS", "1".into()),
        ("CONFIRM", "none".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ];
    pairs.extend(extra.iter().cloned());
    let (cfg, _) = Config::from_pairs(&pairs).expect("valid config");
    experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new())
        .await
        .expect("the iteration runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraping_an_overloaded_simulator_records_the_waiting_queue_it_built() {
    let engine = engine();
    let server = SimServer::start(engine.clone(), FaultConfig::default())
        .await
        .unwrap();
    let cap = capacity(&engine, 64, 32).req_per_min;
    let offered = 4.0 * cap;
    let out = fresh_dir("scrape");
    one_iteration(
        server.url(),
        offered,
        // The queue must build for the whole 2 s: no early abort.
        &[
            ("SCRAPE_INTERVAL", "100ms".into()),
            ("EARLY_ABORT", "false".into()),
        ],
        &out,
    )
    .await;
    let dir = iteration_dir(&out);
    let mut r = csv::Reader::from_path(dir.join("server_metrics.csv")).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["time_s", "metric", "labels", "value"]
    );
    let mut waiting: Vec<(f64, f64)> = Vec::new();
    let mut metrics = std::collections::BTreeSet::new();
    for row in r.records() {
        let row = row.unwrap();
        metrics.insert(row[1].to_string());
        assert!(row[2].contains("model_name="), "labels kept: {:?}", &row[2]);
        if &row[1] == "vllm:num_requests_waiting" {
            waiting.push((row[0].parse().unwrap(), row[3].parse().unwrap()));
        }
    }
    for m in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:generation_tokens_total",
        "vllm:prompt_tokens_total",
        "vllm:request_success_total",
    ] {
        assert!(metrics.contains(m), "{m} missing from {metrics:?}");
    }
    // About ten scrapes a second over 2 s of sending plus the drain, each in time order.
    assert!(waiting.len() >= 12, "{} scrapes", waiting.len());
    assert!(waiting.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(waiting[0].0 < 0.2 && waiting[waiting.len() - 1].0 > 2.0);
    // Arrivals at 4x capacity for 2 s leave about (4 - 1) x capacity x 2 s requests waiting.
    let expected = (offered - cap) / 60.0 * 2.0;
    let max_waiting = waiting.iter().map(|w| w.1).fold(0.0, f64::max);
    assert!(
        max_waiting >= 0.5 * expected && max_waiting >= 5.0,
        "max waiting {max_waiting}, expected about {expected:.0}"
    );
    // The queue grows while sending: its peak comes after the first second.
    let peak_at = waiting.iter().find(|w| w.1 == max_waiting).unwrap().0;
    assert!(peak_at > 1.0, "peak at {peak_at} s");
    assert_eq!(
        results_value(&dir, "SERVER_MAX_WAITING")
            .parse::<f64>()
            .unwrap(),
        max_waiting
    );
    let tokens_s: f64 = results_value(&dir, "SERVER_GENERATION_TOKENS_S")
        .parse()
        .unwrap();
    let client_tokens_s: f64 = results_value(&dir, "OUTPUT_TOKENS_S").parse().unwrap();
    assert!(
        tokens_s > 0.5 * client_tokens_s && tokens_s < 2.0 * client_tokens_s,
        "server {tokens_s} tokens/s vs client {client_tokens_s}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_metrics_endpoint_is_a_warning_not_a_failure() {
    let engine = engine();
    let server = SimServer::start(engine.clone(), FaultConfig::default())
        .await
        .unwrap();
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = fresh_dir("scrape-down");
    one_iteration(
        server.url(),
        0.3 * capacity(&engine, 64, 32).req_per_min,
        &[
            ("SCRAPE_INTERVAL", "200ms".into()),
            ("SERVER_METRICS_URL", format!("http://{closed}/metrics")),
        ],
        &out,
    )
    .await;
    let dir = iteration_dir(&out);
    assert_eq!(results_value(&dir, "SERVER_SCRAPES"), "0");
    assert_eq!(results_value(&dir, "SERVER_MAX_WAITING"), "");
    assert_eq!(results_value(&dir, "COMPLETION"), "COMPLETE");
    let text = std::fs::read_to_string(dir.join("server_metrics.csv")).unwrap();
    assert_eq!(text.trim(), "time_s,metric,labels,value");
    server.shutdown().await;
}
