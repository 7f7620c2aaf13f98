//! Soak benchmark (issue 9): a long search against the simulator with faults injected all the
//! time, then a reconciliation of every file against what the simulator saw and injected.
//!
//! Time is scaled: at `--time-scale 12` the simulated server runs 12× faster than the wall
//! clock, so a 10-minute run is a two-hour-equivalent search. Faults rotate in phases, one kind
//! at a time (so each request carries at most one and each error kind can be matched one to
//! one): HTTP 500 + 429, cut streams, malformed chunks, stalls beyond `TPOT_TIMEOUT`, and
//! bursts of refused connections (an outage). Run with
//! `cargo run --release --example soak [MINUTES] [TIME_SCALE]` (defaults 10 and 12); it exits
//! 1 when anything fails to reconcile.

use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const PHASE: Duration = Duration::from_secs(7);

fn phases() -> Vec<(&'static str, FaultConfig)> {
    let none = FaultConfig::default;
    vec![
        ("clean", none()),
        (
            "http 500 + 429",
            FaultConfig {
                http_500_rate: 0.03,
                http_429_rate: 0.03,
                ..none()
            },
        ),
        (
            "cut streams",
            FaultConfig {
                cut_rate: 0.03,
                cut_after_tokens: 4,
                ..none()
            },
        ),
        (
            "malformed chunks",
            FaultConfig {
                malformed_rate: 0.03,
                ..none()
            },
        ),
        (
            "stalls",
            FaultConfig {
                stall_rate: 0.02,
                stall_secs: 4.0,
                ..none()
            },
        ),
        // A clean phase first, so no stalled or cut stream is still open when the connections
        // are dropped: each cut is then either injected or caused by the refusal, never both.
        ("clean", none()),
        ("refused connections (2 s)", none()),
    ]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let minutes: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let scale: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(12.0);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let engine = EngineConfig::small(16, scale);
    let server = SimServer::start(engine.clone(), FaultConfig::default()).await?;
    let sizes = [(64u32, 32u32), (256, 64)];
    // Iterations of 20 s wall; enough of them per size to fill the requested minutes.
    let per_iteration_s = 22.0;
    let max_iterations = ((minutes * 60.0 / per_iteration_s) / sizes.len() as f64).ceil() as u32;
    let starts: Vec<String> = sizes
        .iter()
        .map(|&(i, o)| format!("{:.0}", 0.3 * capacity(&engine, i, o).req_per_min))
        .collect();
    let out = std::env::temp_dir().join(format!("mst-soak-{}", std::process::id()));
    let pairs: Vec<(&str, String)> = vec![
        ("URL", server.url()),
        (
            "TOKENS_LIST",
            sizes.map(|(i, o)| format!("{i}:{o}")).join(","),
        ),
        ("REQ_MIN_START", starts.join(",")),
        ("DURATION", "20s".into()),
        ("FILTER_BUFFER", "3s".into()),
        ("COOLDOWN", "1s".into()),
        ("DRAIN_TIMEOUT", "8s".into()),
        ("TPOT_TIMEOUT", "2s".into()),
        ("SUCCESS_RATE", "90".into()),
        ("STOP_THRESHOLD", "0.02".into()),
        ("MAX_ITERATIONS", max_iterations.to_string()),
        ("RETRY_ON_OUTAGE", "3".into()),
        ("OUTAGE_WAIT", "30s".into()),
        ("OUTPUT_DIR", out.display().to_string()),
    ];
    let cfg = Config::from_pairs(&pairs)?.0;

    let clock = Instant::now();
    let search = tokio::spawn(experiment::run(
        cfg,
        RunOptions { quiet: true },
        CancellationToken::new(),
    ));
    let mut phase_log: BTreeMap<&str, u32> = BTreeMap::new();
    let all = phases();
    let mut k = 0usize;
    while !search.is_finished() {
        let (name, faults) = &all[k % all.len()];
        server.set_faults(faults.clone());
        if name.starts_with("refused") {
            server.refuse_connections_for(Duration::from_secs(2));
        }
        *phase_log.entry(name).or_default() += 1;
        k += 1;
        let until = Instant::now() + PHASE;
        while Instant::now() < until && !search.is_finished() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let report = search.await??;
    let wall = clock.elapsed();
    let stats = server.stats();
    server.shutdown().await;

    let (rows, kinds, partial) = read_tree(&out)?;
    println!(
        "soak: {:.1} min wall at time scale {scale} = {:.1} h simulated; output in {}",
        wall.as_secs_f64() / 60.0,
        wall.as_secs_f64() * scale / 3600.0,
        out.display()
    );
    println!("fault phases run: {phase_log:?}");
    for o in &report.outcomes {
        println!(
            "  {}: MST {:?} req/min, {} iterations, stop {}: {}",
            o.size,
            o.mst_req_min,
            o.iterations.len(),
            o.stop,
            o.reason
        );
    }
    println!("rows by error kind: {kinds:?}");
    let k = |name: &str| kinds.get(name).copied().unwrap_or(0);
    let received = stats.total_requests + stats.faults.http_500 + stats.faults.http_429;
    // Exact: every request is one row, and error statuses (answered at once) match one to one.
    let exact = [
        (
            "rows = requests the server received + connections refused",
            rows,
            received + k("connect"),
        ),
        (
            "http-status rows = 500s injected",
            k("http-status"),
            stats.faults.http_500,
        ),
        (
            "rate-limited rows = 429s injected",
            k("rate-limited"),
            stats.faults.http_429,
        ),
        ("partial (dot) folders left", partial, 0),
    ];
    // Stream faults show only if the request lives to its fault point: one cut off first by the
    // drain limit or cancelled by an early abort is recorded as such. So each kind is at most
    // what was injected, and together they fall short by no more than the rows cut short.
    let streamed = [
        (
            "stream-cut rows <= cuts injected + streams open at a refusal",
            k("stream-cut"),
            stats.faults.cut + stats.faults.dropped_by_refusal,
        ),
        (
            "bad-chunk rows <= malformed chunks injected",
            k("bad-chunk"),
            stats.faults.malformed,
        ),
        (
            "timeout-itl rows <= stalls injected",
            k("timeout-itl"),
            stats.faults.stall,
        ),
    ];
    let mut ok = true;
    println!("{:<62} {:>9} {:>9}", "check", "files", "server");
    for (what, got, want) in exact {
        let mark = if got == want { "ok" } else { "MISMATCH" };
        ok &= got == want;
        println!("{what:<62} {got:>9} {want:>9} {mark}");
    }
    let mut shortfall = 0;
    for (what, got, injected) in streamed {
        let mark = if got <= injected { "ok" } else { "MISMATCH" };
        ok &= got <= injected;
        shortfall += injected.saturating_sub(got);
        println!("{what:<62} {got:>9} {injected:>9} {mark}");
    }
    let cut_short = k("drain-cutoff") + k("cancelled");
    let mark = if shortfall <= cut_short {
        "ok"
    } else {
        "MISMATCH"
    };
    ok &= shortfall <= cut_short;
    println!(
        "{:<62} {shortfall:>9} {cut_short:>9} {mark}",
        "stream faults not seen <= rows cut short (drain-cutoff, cancelled)"
    );
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// Rows of every `output.csv`, counted by error kind; also checks request indices are unique
/// per iteration and counts dot-folders (partial iterations).
fn read_tree(out: &Path) -> anyhow::Result<(u64, BTreeMap<String, u64>, u64)> {
    let (mut rows, mut partial) = (0u64, 0u64);
    let mut kinds = BTreeMap::new();
    for size in std::fs::read_dir(out)?
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        for it in std::fs::read_dir(size.path())?.flatten() {
            if !it.path().is_dir() {
                continue;
            }
            if it.file_name().to_string_lossy().starts_with('.') {
                partial += 1;
                continue;
            }
            let mut r = csv::Reader::from_path(it.path().join("output.csv"))?;
            let h = r.headers()?.clone();
            let idx = h.iter().position(|c| c == "request_idx").unwrap_or(0);
            let kind = h.iter().position(|c| c == "error_kind").unwrap_or(0);
            let mut seen = std::collections::BTreeSet::new();
            for rec in r.records() {
                let rec = rec?;
                anyhow::ensure!(
                    seen.insert(rec[idx].to_string()),
                    "request {} twice in {}",
                    &rec[idx],
                    it.path().display()
                );
                rows += 1;
                *kinds.entry(rec[kind].to_string()).or_insert(0) += 1;
            }
        }
    }
    Ok((rows, kinds, partial))
}
