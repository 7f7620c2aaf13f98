//! One row per benchmark step, printed as a table and written as a CSV (columns documented in
//! `docs/design/client-performance.md`).

use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// What one step of `bench-client` measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    /// `rate` (fast server, short outputs) or `streams` (slow server, many open streams).
    pub step: &'static str,
    /// Offered send rate, requests/s.
    pub target_req_s: f64,
    /// Requests sent per second of sending.
    pub achieved_req_s: f64,
    /// 100 × achieved / the schedule's own rate (planned requests / duration).
    pub achieved_pct: f64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (any error kind).
    pub failed: u64,
    /// Output tokens per request.
    pub output_tokens: u32,
    /// Schedule lag (actual − intended send), ms.
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
    pub lag_max_ms: Option<f64>,
    /// Client first-token time minus the server's own first-token time (`sim_timing`), ms.
    pub ttft_err_p50_ms: Option<f64>,
    pub ttft_err_p99_ms: Option<f64>,
    /// Client CPU (user + system) per request sent, µs.
    pub cpu_us_per_req: Option<f64>,
    /// Client CPU over the step's wall time, % of one core.
    pub cpu_pct: Option<f64>,
    /// The simulator's CPU over the step's wall time, % of one core (child process only).
    pub server_cpu_pct: Option<f64>,
    /// Most requests in flight at once.
    pub max_in_flight: u64,
    /// Highest resident set sampled during the step, MB.
    pub rss_max_mb: Option<f64>,
    /// (highest RSS during the step − RSS before it) / most in flight, KB per open stream.
    pub rss_per_stream_kb: Option<f64>,
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.decimals$}"))
}

/// The rows as an aligned text table.
pub fn table(rows: &[BenchRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:>8} {:>9} {:>7} {:>7} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8}",
        "step",
        "target/s",
        "sent/s",
        "sent%",
        "reqs",
        "fail",
        "lag p50",
        "lag p99",
        "lag max",
        "ttftΔ p50",
        "ttftΔ p99",
        "cpu µs/r",
        "cpu%",
        "srv%",
        "inflight",
        "RSS MB",
        "KB/strm"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<7} {:>8.0} {:>9.1} {:>7.2} {:>7} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8}",
            r.step,
            r.target_req_s,
            r.achieved_req_s,
            r.achieved_pct,
            r.requests,
            r.failed,
            opt(r.lag_p50_ms, 3),
            opt(r.lag_p99_ms, 3),
            opt(r.lag_max_ms, 2),
            opt(r.ttft_err_p50_ms, 3),
            opt(r.ttft_err_p99_ms, 3),
            opt(r.cpu_us_per_req, 0),
            opt(r.cpu_pct, 0),
            opt(r.server_cpu_pct, 0),
            r.max_in_flight,
            opt(r.rss_max_mb, 1),
            opt(r.rss_per_stream_kb, 1),
        );
    }
    out
}

/// Write the rows as CSV (header from the field names).
pub fn write_csv(path: &Path, rows: &[BenchRow]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| anyhow::anyhow!("cannot write --csv {}: {e}", path.display()))?;
    for r in rows {
        w.serialize(r)
            .map_err(|e| anyhow::anyhow!("cannot write --csv {}: {e}", path.display()))?;
    }
    w.flush()
        .map_err(|e| anyhow::anyhow!("cannot write --csv {}: {e}", path.display()))?;
    Ok(())
}
