//! The engine under open-loop Poisson traffic: bounded queue below capacity, linear growth above.

use std::time::Duration;

use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use serde_json::json;

use super::{client, start};

/// Sends Poisson traffic at `rate` req/s for `secs`, samples `waiting` every 100 ms, and
/// returns the samples; requests are 20 prompt and `out` output tokens.
async fn open_loop(sim: &SimServer, rate: f64, secs: f64, out: u32) -> Vec<usize> {
    let c = client();
    let url = format!("{}/v1/completions", sim.url());
    let body = json!({"prompt": (1000..1020).collect::<Vec<u32>>(), "max_tokens": out, "ignore_eos": true});
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let gaps = Exp::new(rate).expect("positive rate");
    let t0 = tokio::time::Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let (mut next, mut next_sample) = (t0, t0);
    let mut samples = Vec::new();
    let mut tasks = Vec::new();
    while next < end {
        if next_sample <= next {
            tokio::time::sleep_until(next_sample).await;
            samples.push(sim.stats().waiting);
            next_sample += Duration::from_millis(100);
            continue;
        }
        tokio::time::sleep_until(next).await;
        let (c, url, body) = (c.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
        next += Duration::from_secs_f64(gaps.sample(&mut rng));
    }
    samples.push(sim.stats().waiting);
    for t in tasks {
        t.abort();
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_traffic_below_capacity_is_stable_and_above_it_queues_linearly() {
    // S = 4, O = 32: λ* = 1/(32·8/4 + 0.1·32 + 0.02·20) = 1/67.6 per model ms ≈ 14.8 req/s,
    // times 8 ≈ 118 req/s on the wall clock.
    let cfg = EngineConfig {
        max_num_seqs: 4,
        time_scale: 8.0,
        ..EngineConfig::default()
    };
    let cap = capacity(&cfg, 20, 32).req_per_s;
    assert!((cap - 8000.0 / 67.6).abs() < 1e-6, "{cap}");

    let sim = start(cfg.clone(), FaultConfig::default()).await;
    let under = open_loop(&sim, 0.7 * cap, 2.5, 32).await;
    sim.shutdown().await;
    println!("waiting at 0.7 x capacity, every 100 ms: {under:?}");
    let second_half = &under[under.len() / 2..];
    let worst = second_half.iter().copied().max().unwrap_or(0);
    assert!(
        worst < 25,
        "waiting at 0.7 x capacity should stay bounded: {under:?}"
    );

    let sim = start(cfg, FaultConfig::default()).await;
    let secs = 2.0;
    let over = open_loop(&sim, 1.3 * cap, secs, 32).await;
    let stats = sim.stats();
    sim.shutdown().await;
    println!("waiting at 1.3 x capacity, every 100 ms: {over:?}");
    // The queue grows by about 0.3 x capacity per second: ~70 after 2 s.
    let expected = 0.3 * cap * secs;
    let last = *over.last().unwrap_or(&0) as f64;
    assert!(
        last > 0.5 * expected && last < 2.0 * expected,
        "final waiting {last} vs ~{expected}: {over:?}"
    );
    let q = over.len() / 4;
    let mean = |s: &[usize]| s.iter().sum::<usize>() as f64 / s.len().max(1) as f64;
    let (m1, m2, m3) = (
        mean(&over[q..2 * q]),
        mean(&over[2 * q..3 * q]),
        mean(&over[3 * q..]),
    );
    assert!(m1 < m2 && m2 < m3, "waiting should grow steadily: {over:?}");
    assert!(stats.max_waiting_seen as f64 >= last);
}
