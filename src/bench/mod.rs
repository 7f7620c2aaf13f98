//! `mst-search bench-client`: how much load this client can generate, and how exactly. A load
//! generator that cannot keep up reports its own limit as the server's, so this measures the
//! real dispatcher ([`run_iteration`]) and the real client ([`OpenAiClient`]) against the
//! simulator at rising rates (fast server, short streamed outputs) and rising numbers of open
//! streams (slow server, long outputs), and reports send rate, schedule lag, TTFT error against
//! the server's own timestamps, CPU per request and memory per open stream.

mod args;
mod server;
mod table;

pub use server::{BenchServer, fast_engine, slow_engine};
pub use table::{BenchRow, table, write_csv};

use crate::client::Api;
use crate::client::{ClientConfig, OpenAiClient, ServerTimings};
use crate::config::Config;
use crate::iteration::Completion;
use crate::load::arrivals::ArrivalKind;
use crate::load::runner::{IterationPlan, Progress, run_iteration};
use crate::load::usage;
use crate::metrics;
use crate::record::RequestRecord;
use crate::search::Stage;
use crate::size::{SizeSpec, TokenRange};
use crate::stats::percentile;
use crate::workload::Workload;
use anyhow::{Context, bail};
pub use args::BenchArgs;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Run every step the flags ask for, print the table, write the CSV; returns the rows.
pub async fn run(args: BenchArgs, interrupt: CancellationToken) -> anyhow::Result<Vec<BenchRow>> {
    check_args(&args)?;
    let arrival = arrival_kind(&args.arrival, args.burstiness)?;
    let rate_steps: Vec<Step> = args
        .rates
        .iter()
        .filter(|r| **r > 0.0)
        .map(|&rate| Step {
            kind: "rate",
            rate,
            duration: Duration::from_secs_f64(args.step_secs),
            output_tokens: args.output_tokens,
            arrival,
            drain: Duration::from_secs(30),
        })
        .collect();
    // One token a second for twice the ramp: the first stream is still open when the last one
    // opens.
    let stream_steps: Vec<Step> = args
        .streams
        .iter()
        .filter(|n| **n > 0)
        .map(|&n| Step {
            kind: "streams",
            rate: f64::from(n) / args.ramp_secs,
            duration: Duration::from_secs_f64(args.ramp_secs),
            output_tokens: (2.0 * args.ramp_secs).ceil() as u32,
            arrival: ArrivalKind::Constant,
            drain: Duration::from_secs_f64(3.0 * args.ramp_secs + 30.0),
        })
        .collect();
    let mut rows = Vec::new();
    // Open-stream steps first: their memory figures then start from a process that has not yet
    // grown its heap for thousands of requests per second.
    for (engine, steps) in [(slow_engine(), stream_steps), (fast_engine(), rate_steps)] {
        if steps.is_empty() || interrupt.is_cancelled() {
            continue;
        }
        let server = BenchServer::start(&engine, args.in_process).await?;
        let bench = Bench::connect(server.url(), args.input_tokens, server.pid()).await?;
        for step in &steps {
            let Some(row) = bench.step(step, &interrupt).await? else {
                break;
            };
            let line = table(std::slice::from_ref(&row));
            eprintln!("{}", line.lines().nth(1).unwrap_or(""));
            rows.push(row);
        }
        server.stop().await;
    }
    print!("{}", table(&rows));
    write_csv(&args.csv, &rows)?;
    println!("CSV: {}", args.csv.display());
    for line in verdicts(&rows) {
        println!("{line}");
    }
    Ok(rows)
}

fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(bad) = args.rates.iter().find(|r| !(r.is_finite() && **r >= 0.0)) {
        bail!("--rates {bad}: expected request rates per second, e.g. 100,500,1000 (0 skips)");
    }
    for (flag, v) in [
        ("--step-secs", args.step_secs),
        ("--ramp-secs", args.ramp_secs),
    ] {
        if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
            bail!("{flag} {v}: expected a number of seconds above 0 and at most 3600");
        }
    }
    if args.output_tokens == 0 {
        bail!("--output-tokens 0: expected at least 1 token");
    }
    Ok(())
}

/// `--arrival` with `--burstiness`, read as `ARRIVAL` with `BURSTINESS` are: the shape only
/// with gamma, and positive.
fn arrival_kind(name: &str, burstiness: f64) -> anyhow::Result<ArrivalKind> {
    match crate::config::parse_arrival("--arrival", name)? {
        ArrivalKind::Gamma { .. } if burstiness > 0.0 && burstiness.is_finite() => {
            Ok(ArrivalKind::Gamma { burstiness })
        }
        ArrivalKind::Gamma { .. } => {
            bail!("--burstiness {burstiness}: expected a positive number, the gamma shape")
        }
        other if burstiness == 1.0 => Ok(other),
        _ => bail!("--burstiness {burstiness}: expected 1 (the default) unless --arrival gamma"),
    }
}

/// The headline findings against the targets in `docs/design/client-performance.md`.
pub fn verdicts(rows: &[BenchRow]) -> Vec<String> {
    let mut out = Vec::new();
    let rate_rows = || rows.iter().filter(|r| r.step == "rate");
    let best = rate_rows()
        .filter(|r| r.lag_p99_ms.is_some_and(|l| l <= 5.0) && r.achieved_pct >= 99.5)
        .map(|r| r.target_req_s)
        .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    if rate_rows().next().is_some() {
        out.push(match best {
            Some(r) => format!(
                "highest rate with p99 schedule lag <= 5 ms and >= 99.5% sent: {r:.0} req/s"
            ),
            None => "no rate step had p99 schedule lag <= 5 ms and >= 99.5% sent".to_string(),
        });
    }
    if let Some(peak) = rows
        .iter()
        .filter(|r| r.step == "streams")
        .max_by_key(|r| r.max_in_flight)
    {
        out.push(format!(
            "most open streams: {} with {} MB resident ({} KB per stream)",
            peak.max_in_flight,
            opt0(peak.rss_max_mb),
            opt0(peak.rss_per_stream_kb)
        ));
    }
    out
}

fn opt0(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.0}"))
}

/// One step: a rate, how long, what each request asks for.
struct Step {
    kind: &'static str,
    rate: f64,
    duration: Duration,
    output_tokens: u32,
    arrival: ArrivalKind,
    drain: Duration,
}

/// The client side of the benchmark: the real client and workload, plus the sink for the
/// simulator's timestamps.
struct Bench {
    client: Arc<OpenAiClient>,
    timings: Arc<ServerTimings>,
    workload: Arc<Workload>,
    model: String,
    input_tokens: u32,
    server_pid: Option<u32>,
}

impl Bench {
    async fn connect(
        url: &str,
        input_tokens: u32,
        server_pid: Option<u32>,
    ) -> anyhow::Result<Bench> {
        let client_cfg = ClientConfig {
            base_url: url.to_string(),
            api: Api::Completions,
            api_key: None,
            model: String::new(),
            request_timeout: Duration::from_secs(600),
            ttft_timeout: Duration::from_secs(60),
            tpot_timeout: Duration::from_secs(60),
        };
        let info = OpenAiClient::new(client_cfg.clone())?
            .probe(Duration::from_secs(10))
            .await?;
        let model = info.models.first().cloned().unwrap_or_default();
        let timings = Arc::new(ServerTimings::default());
        let client = OpenAiClient::new(ClientConfig {
            model: model.clone(),
            ..client_cfg
        })?
        .with_server_timings(timings.clone());
        let pairs = [
            ("URL", url.to_string()),
            ("TOKENS_LIST", format!("{input_tokens}:1")),
        ];
        let (cfg, _) = Config::from_pairs(&pairs).context("bench workload")?;
        let (workload, _) = Workload::prepare(&client, &cfg.workload_settings()).await?;
        Ok(Bench {
            client: Arc::new(client),
            timings,
            workload: Arc::new(workload),
            model,
            input_tokens,
            server_pid,
        })
    }

    /// Run one step; `None` when interrupted.
    async fn step(
        &self,
        step: &Step,
        interrupt: &CancellationToken,
    ) -> anyhow::Result<Option<BenchRow>> {
        let exact = |n: u32| TokenRange { min: n, max: n };
        let plan = IterationPlan {
            size: SizeSpec {
                input: exact(self.input_tokens),
                output: exact(step.output_tokens),
            },
            req_min: step.rate * 60.0,
            unit: Default::default(),
            stage: Stage::Ramp,
            iteration: 1,
            duration: step.duration,
            filter_buffer: Duration::ZERO,
            drain_timeout: step.drain,
            arrival: step.arrival,
            seed: step.rate.to_bits(),
            model: self.model.clone(),
            labels: Default::default(),
            // The bench measures the client at every rate, overloaded server included.
            early_abort: crate::load::watchdog::AbortSettings {
                enabled: false,
                ..Default::default()
            },
            early_accept: None,
            trace: None,
            users: None,
            sessions: None,
        };
        self.timings.take();
        let rss_before = usage::process_memory().map(|m| m.rss_bytes);
        let progress = Arc::new(Progress::default());
        let stop = CancellationToken::new();
        let sampler = tokio::spawn(sample(progress.clone(), stop.clone()));
        let server_cpu = || self.server_pid.and_then(usage::pid_cpu);
        let server_before = server_cpu();
        let (meta, records) = run_iteration(
            self.client.clone(),
            self.workload.clone(),
            &plan,
            interrupt,
            progress,
        )
        .await;
        let server_used = server_cpu()
            .zip(server_before)
            .map(|(after, before)| after.saturating_sub(before).as_secs_f64());
        stop.cancel();
        let (rss_max, sampled_in_flight) = sampler.await.unwrap_or((None, 0));
        if matches!(meta.completion, Completion::Interrupted(_)) {
            return Ok(None);
        }
        let summary = metrics::summarize(&meta, &records);
        let ttft_err = ttft_errors_ms(&meta.started_at, &records, self.timings.take());
        let max_in_flight = sampled_in_flight.max(meta.client.max_in_flight);
        let planned_rate = meta.planned_requests as f64 / meta.duration.as_secs_f64();
        let lag = summary.schedule_lag_ms;
        let cpu = meta.client.cpu_s;
        let mb = |b: u64| b as f64 / 1_048_576.0;
        Ok(Some(BenchRow {
            step: step.kind,
            target_req_s: step.rate,
            achieved_req_s: summary.achieved_send_rate_req_s,
            achieved_pct: 100.0 * summary.achieved_send_rate_req_s
                / planned_rate.max(f64::MIN_POSITIVE),
            requests: summary.requests,
            failed: summary.failed,
            output_tokens: step.output_tokens,
            lag_p50_ms: lag.map(|d| d.p50),
            lag_p99_ms: lag.map(|d| d.p99),
            lag_max_ms: lag.map(|d| d.max),
            ttft_err_p50_ms: percentile(&ttft_err, 50.0),
            ttft_err_p99_ms: percentile(&ttft_err, 99.0),
            cpu_us_per_req: cpu
                .filter(|_| summary.requests > 0)
                .map(|c| c * 1e6 / summary.requests as f64),
            cpu_pct: cpu.map(|c| 100.0 * c / meta.ended.as_secs_f64().max(1e-9)),
            server_cpu_pct: server_used.map(|c| 100.0 * c / meta.ended.as_secs_f64().max(1e-9)),
            max_in_flight,
            rss_max_mb: rss_max.map(mb),
            rss_per_stream_kb: rss_max.zip(rss_before).filter(|_| max_in_flight > 0).map(
                |(max, before)| max.saturating_sub(before) as f64 / 1024.0 / max_in_flight as f64,
            ),
        }))
    }
}

/// Highest RSS and most requests in flight, sampled every 50 ms until `stop`.
async fn sample(progress: Arc<Progress>, stop: CancellationToken) -> (Option<u64>, u64) {
    let (mut rss, mut in_flight) = (None::<u64>, 0u64);
    loop {
        if let Some(m) = usage::process_memory() {
            rss = Some(rss.map_or(m.rss_bytes, |r| r.max(m.rss_bytes)));
        }
        in_flight = in_flight.max(progress.in_flight());
        tokio::select! {
            _ = stop.cancelled() => return (rss, in_flight),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// For every request the server stamped: when the client saw its first token minus when the
/// server says it sent it, ms (both on this machine's wall clock).
fn ttft_errors_ms(
    started_at: &chrono::DateTime<chrono::Local>,
    records: &[RequestRecord],
    timings: Vec<(u64, crate::client::ServerTiming)>,
) -> Vec<f64> {
    let Some(t0_ns) = started_at.timestamp_nanos_opt() else {
        return Vec::new();
    };
    let by_idx: HashMap<u64, u64> = timings
        .into_iter()
        .map(|(idx, t)| (idx, t.first_token_unix_ns))
        .collect();
    records
        .iter()
        .filter_map(|r| {
            let server = *by_idx.get(&r.request_idx)?;
            let client = t0_ns + i64::try_from(r.first_token?.as_nanos()).ok()?;
            Some((client as f64 - server as f64) / 1e6)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_flags_read_as_the_arrival_keys() {
        assert_eq!(arrival_kind("Poisson", 1.0).unwrap(), ArrivalKind::Poisson);
        assert_eq!(
            arrival_kind("gamma", 0.25).unwrap(),
            ArrivalKind::Gamma { burstiness: 0.25 }
        );
        for (name, b, said) in [
            ("bursty", 1.0, "--arrival"),
            ("gamma", 0.0, "positive"),
            ("poisson", 0.5, "unless --arrival gamma"),
        ] {
            let err = arrival_kind(name, b).expect_err(name).to_string();
            assert!(err.contains(said), "{name} {b}: {err}");
        }
    }
}
