//! Benchmark (not a test): how often early accept would end an iteration, and what it saves.
//! Runs iterations against the simulator at fixed shares of its analytic capacity with early
//! accept and early abort off, so every iteration runs its whole `DURATION`, then replays the
//! accept rule (defaults) on each as the live loop would have seen it:
//!
//! - at 1.1 × capacity an accept is a **false accept** (it would make the MST too high);
//! - at 0.5 × and 0.7 × it counts how often the rule accepts, when, and whether the `queue`
//!   verdict on the shortened iteration (the requests sent before the accept) still passes.
//!
//! Time is simulated (see `evaluator_pass_rates.rs`): the engine runs `TIME_SCALE` times faster
//! than model time, and `QUEUE_GROWTH_MIN_MS` (the accept rule's bound) is scaled alike.
//! `FILTER_BUFFER` is 1/6 of `DURATION`, the old defaults' ratio.
//!
//! Run: `cargo run --release --example early_accept [N_11 N_05 N_07 MODEL_DURATION_S]`
//! (defaults 30, 12, 12 and 60: about 15 minutes). `MST_BENCH_SEED` moves the arrival seeds
//! (default 5000, where the rule was designed).

use mst_search::client::{ClientConfig, OpenAiClient};
use mst_search::config::Config;
use mst_search::demo::demo_engine;
use mst_search::evaluate::{self, EvalInput};
use mst_search::iteration::Completion;
use mst_search::load::accept;
use mst_search::load::runner::{Progress, run_iteration};
use mst_search::metrics;
use mst_search::search::Stage;
use mst_search::sim::{FaultConfig, SimServer, capacity};
use mst_search::workload::Workload;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TIME_SCALE: f64 = 4.0;
const SIZE: (u32, u32) = (128, 64);

#[derive(Default)]
struct Tally {
    runs: u32,
    full_queue_passes: u32,
    accepts: u32,
    /// Share of DURATION at which each accept fired.
    accept_at: Vec<f64>,
    /// Accepted iterations whose shortened `queue` verdict still passes.
    short_passes: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, default: f64| args.get(i).copied().unwrap_or(default);
    let (n11, n05, n07) = (
        arg(0, 30.0) as u32,
        arg(1, 12.0) as u32,
        arg(2, 12.0) as u32,
    );
    let model_duration_s = arg(3, 60.0);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let engine = demo_engine(TIME_SCALE);
    let server = SimServer::start(engine.clone(), FaultConfig::default()).await?;
    let cap = capacity(&engine, SIZE.0, SIZE.1).req_per_min;
    println!(
        "simulator: {}:{}, capacity {cap:.0} req/min wall ({:.0} model), time_scale \
         {TIME_SCALE}, DURATION {model_duration_s} model s ({} s wall)",
        SIZE.0,
        SIZE.1,
        cap / TIME_SCALE,
        model_duration_s / TIME_SCALE
    );
    let mut rows = Vec::new();
    for (share, n) in [(1.1, n11), (0.5, n05), (0.7, n07)] {
        let t = bench(&server, cap, share, model_duration_s, n).await?;
        rows.push((share, t));
    }
    println!(
        "\n| share of capacity | iterations | full `queue` verdict passes | accepted early | \
         accepted at (share of DURATION) | DURATION saved | shortened `queue` verdict passes |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (share, t) in &rows {
        let mean_at = if t.accept_at.is_empty() {
            f64::NAN
        } else {
            t.accept_at.iter().sum::<f64>() / t.accept_at.len() as f64
        };
        let (lo, hi) = t
            .accept_at
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        // `+ 0.0`: an empty sum is -0.0.
        let saved =
            t.accept_at.iter().map(|a| 1.0 - a).sum::<f64>() / f64::from(t.runs.max(1)) + 0.0;
        println!(
            "| {share} × | {} | {}/{} | {}/{} | {} | {:.0}% | {}/{} |",
            t.runs,
            t.full_queue_passes,
            t.runs,
            t.accepts,
            t.runs,
            if t.accept_at.is_empty() {
                "–".to_string()
            } else {
                format!(
                    "{:.0}% ({:.0}–{:.0}%)",
                    100.0 * mean_at,
                    100.0 * lo,
                    100.0 * hi
                )
            },
            100.0 * saved,
            t.short_passes,
            t.accepts,
        );
    }
    server.shutdown().await;
    Ok(())
}

/// First arrival seed (5000, where the rule was designed); `MST_BENCH_SEED` moves it so the
/// rule can be checked on traffic it has never seen.
fn seed_base() -> u64 {
    std::env::var("MST_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000)
}

async fn bench(
    server: &SimServer,
    cap: f64,
    share: f64,
    model_duration_s: f64,
    n: u32,
) -> anyhow::Result<Tally> {
    let wall = model_duration_s / TIME_SCALE;
    let pairs: Vec<(&str, String)> = vec![
        ("URL", server.url()),
        ("TOKENS_LIST", format!("{}:{}", SIZE.0, SIZE.1)),
        ("DURATION", format!("{wall}s")),
        ("FILTER_BUFFER", format!("{}s", wall / 6.0)),
        ("DRAIN_TIMEOUT", format!("{wall}s")),
        ("QUEUE_GROWTH_MIN_MS", format!("{}", 250.0 / TIME_SCALE)),
        ("EARLY_ABORT", "false".into()),
    ];
    let (cfg, _) = Config::from_pairs(&pairs)?;
    let judge = evaluate::build(cfg.success_rate_pct, &cfg.evaluators);
    let settings = cfg.evaluator_settings.early_accept;
    let client = Arc::new(OpenAiClient::new(ClientConfig {
        model: "sim-model".into(),
        ..cfg.client_config()
    })?);
    let (workload, _) = Workload::prepare(&client, &cfg.workload_settings()).await?;
    let workload = Arc::new(workload);
    let mut tally = Tally::default();
    for i in 0..n {
        let plan = cfg.iteration_plan(
            cfg.sizes[0],
            share * cap,
            Stage::Ramp,
            i + 1,
            seed_base() + u64::from(i),
            "sim-model",
        );
        let (meta, records) = run_iteration(
            client.clone(),
            workload.clone(),
            &plan,
            &CancellationToken::new(),
            Arc::new(Progress::default()),
        )
        .await;
        let verdict = |meta: &_, records: &[_]| {
            let summary = metrics::summarize(meta, records);
            judge.evaluate(&EvalInput {
                meta,
                records,
                summary: &summary,
                history: &[],
            })
        };
        let full = verdict(&meta, &records);
        tally.runs += 1;
        tally.full_queue_passes += u32::from(full.sustainable);
        let mut line = format!(
            "  {share}x #{:<2} {} requests: queue={}",
            i + 1,
            records.len(),
            if full.sustainable { "pass" } else { "FAIL" }
        );
        if let Some((at, why)) = accept::replay(&settings, &meta, &records) {
            tally.accepts += 1;
            tally
                .accept_at
                .push(at.as_secs_f64() / meta.duration.as_secs_f64());
            // The iteration as early accept would have left it: sent until `at`, drained.
            let short_records: Vec<_> = records
                .iter()
                .filter(|r| r.actual_send < at)
                .cloned()
                .collect();
            let mut short = meta.clone();
            short.sending_stopped = at;
            short.completion = Completion::AcceptedEarly(why.clone());
            let v = verdict(&short, &short_records);
            tally.short_passes += u32::from(v.sustainable);
            line.push_str(&format!(
                " accepted at {:.2} s ({}), shortened queue={} [{why}]",
                at.as_secs_f64(),
                if share > 1.0 { "FALSE ACCEPT" } else { "ok" },
                if v.sustainable { "pass" } else { "FAIL" },
            ));
        }
        eprintln!("{line}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(tally)
}
