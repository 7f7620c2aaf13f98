//! How many server-sent token events per second the simulator sustains on one core.
//!
//! The simulator runs on a current-thread tokio runtime in its own thread with zero step
//! times, so it is limited only by its own per-token path; a client on another thread keeps
//! many streams open and counts events. Run with
//! `cargo run --release --example sim_throughput [SECONDS] [STREAMS]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let streams: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let _ = rustls::crypto::ring::default_provider().install_default();

    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let cfg = EngineConfig {
                step_fixed_ms: 0.0,
                step_per_seq_ms: 0.0,
                step_per_prefill_token_ms: 0.0,
                max_num_seqs: streams as u32,
                ..EngineConfig::default()
            };
            let sim = SimServer::start(cfg, FaultConfig::default()).await?;
            let _ = url_tx.send(sim.url());
            let _ = stop_rx.await;
            sim.shutdown().await;
            Ok(())
        })
    });
    let url = url_rx.recv()?;

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let events = Arc::new(AtomicU64::new(0));
    let elapsed = client_rt.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(streams).build()?;
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let (client, url, events) = (client.clone(), url.clone(), events.clone());
            tasks.push(tokio::spawn(async move {
                let body = serde_json::json!({"prompt": "x", "max_tokens": 4000, "ignore_eos": true, "stream": true});
                while Instant::now() < deadline {
                    let Ok(resp) = client.post(format!("{url}/v1/completions")).json(&body).send().await else {
                        continue;
                    };
                    let mut body = resp.bytes_stream();
                    let mut last = 0u8;
                    while let Some(Ok(bytes)) = body.next().await {
                        // Events end with a blank line; count the "\n\n" pairs, across frames too.
                        let mut n = 0;
                        for &b in bytes.iter() {
                            if b == b'\n' && last == b'\n' {
                                n += 1;
                            }
                            last = b;
                        }
                        events.fetch_add(n, Ordering::Relaxed);
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        anyhow::Ok(start.elapsed())
    })?;
    let _ = stop_tx.send(());
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the simulator thread panicked"))??;
    let n = events.load(Ordering::Relaxed);
    println!(
        "{n} SSE events in {:.1} s over {streams} streams: {:.0} events/s (simulator on one core)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
