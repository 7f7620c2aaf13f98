//! What a person watching the run sees: a progress bar during each iteration (only when stderr
//! is a terminal; a plain log line every few seconds otherwise), one line per finished
//! iteration, and the final MST table. Results go to stdout, progress and logs to stderr.

use crate::evaluate::Verdict;
use crate::evaluate::judge::Judged;
use crate::iteration::IterationMeta;
use crate::load::runner::Progress;
use crate::output::SizeOutcome;
use crate::search::LoadUnit;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Shows live progress of one iteration until dropped.
pub struct LiveProgress {
    task: JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl LiveProgress {
    /// Start showing `progress` for an iteration of `duration` labelled `label`.
    pub fn start(label: String, duration: Duration, progress: Arc<Progress>) -> LiveProgress {
        let started = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(duration.as_millis() as u64),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed}/{len_s} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.clone());
            bar
        });
        let tick_bar = bar.clone();
        let task = tokio::spawn(async move {
            let mut last_log = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let elapsed = started.elapsed();
                let sent = progress.sent.load(Ordering::Relaxed);
                let ok = progress.succeeded.load(Ordering::Relaxed);
                let failed = progress.failed.load(Ordering::Relaxed);
                let secs = elapsed.as_secs_f64().max(1e-3);
                let msg = format!(
                    "sent {sent} ({:.1}/s) in flight {} done {ok} ({:.1}/s) errors {failed} TTFT p50 {} ms",
                    sent as f64 / secs,
                    progress.in_flight(),
                    ok as f64 / secs,
                    opt(progress.recent_ttft_p50_ms(), 0),
                );
                match &tick_bar {
                    Some(bar) => {
                        bar.set_position(elapsed.as_millis().min(u128::from(u64::MAX)) as u64);
                        bar.set_message(msg);
                    }
                    None if last_log.elapsed() >= Duration::from_secs(10) => {
                        last_log = Instant::now();
                        tracing::info!("{label} {:.0}s: {msg}", elapsed.as_secs_f64());
                    }
                    None => {}
                }
            }
        });
        LiveProgress { task, bar }
    }
}

impl Drop for LiveProgress {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Format an optional number with a fixed precision, `-` when absent.
pub fn opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "-".into(),
    }
}

/// The final table, one row per size: the MST in the unit its search varied, the request
/// rate there, and the bounds in that unit.
pub fn table(outcomes: &[SizeOutcome]) -> String {
    // The header with the rows' own widths, so the columns line up.
    let mut s = format!(
        "{:<15} {:>12}  {:<12} {:>12} {:>11}   {:<24}   {:>10}  stop\n",
        "size", "MST", "unit", "MST req/min", "MST req/s", "bounds [lower, upper]", "iterations"
    );
    for o in outcomes {
        let u = o.load_unit;
        let shown = |x: Option<f64>| x.map_or("-".to_string(), |x| level(x, u));
        s.push_str(&format!(
            "{:<15} {:>12}  {:<12} {:>12} {:>11}   [{:>10}, {:>10}]   {:>10}  {}\n",
            o.size,
            shown(o.mst_load),
            u.label(),
            opt(o.mst_req_min, 1),
            opt(o.mst_req_s, 2),
            shown(o.lower_load),
            shown(o.upper_load),
            o.iterations.len(),
            o.stop,
        ));
    }
    s
}

/// A search level as the console shows it: whole users without decimals, a rate with one, a
/// session rate or a trace's scale with two.
pub fn level(x: f64, unit: LoadUnit) -> String {
    match unit {
        _ if unit.is_whole() => format!("{x:.0}"),
        LoadUnit::ReqMin => format!("{x:.1}"),
        _ => format!("{x:.2}"),
    }
}

/// Every criterion as `name=ok` or `name=FAIL`, for the console line.
fn criteria_brief(v: &Verdict) -> String {
    v.criteria
        .iter()
        .map(|c| format!("{}={}", c.name, if c.passed { "ok" } else { "FAIL" }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line printed when an iteration has been judged: its level in its unit, what it
/// achieved, and the verdict with each criterion.
pub(super) fn iteration_line(meta: &IterationMeta, attempt: u32, j: &Judged) -> String {
    let s = &j.summary;
    let verdict = j.judgement();
    format!(
        "{} stage {} #{}{} {:>9} {}: achieved {:.2} req/s, TTFT p50 {} ms, TPOT p50 {} ms, failed {}/{} -> {verdict} [{}]: {}",
        meta.size,
        meta.stage.number(),
        meta.iteration,
        if attempt > 1 {
            format!(" (confirm {attempt})")
        } else {
            String::new()
        },
        level(meta.req_min, meta.load_unit),
        meta.load_unit.label(),
        s.req_per_s,
        opt(s.ttft_ms.as_ref().map(|d| d.p50), 1),
        opt(s.tpot_ms.as_ref().map(|d| d.p50), 2),
        s.failed,
        s.requests,
        criteria_brief(&j.verdict),
        j.verdict.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(unit: &str, mst: f64, req_min: f64) -> SizeOutcome {
        serde_json::from_value(serde_json::json!({
            "size": "64:32", "input_tokens": "64", "output_tokens": "32", "model": "m",
            "mst_req_min": req_min, "mst_req_s": req_min / 60.0,
            "lower_req_min": null, "upper_req_min": null,
            "load_unit": unit, "mst_load": mst, "lower_load": mst, "upper_load": mst + 1.0,
            "stop": "converged", "reason": "r", "iterations": [], "started_at": "",
            "finished_at": "", "wall_time_s": 1.0, "job_id": null, "evaluators": ["slo"],
        }))
        .expect("an outcome")
    }

    #[test]
    fn the_table_shows_each_answer_in_its_unit_with_the_rate_measured_there() {
        let t = table(&[
            outcome("users", 8.0, 1013.4),
            outcome("trace_scale", 1.7, 441.0),
        ]);
        let rows: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows[1][..4], ["64:32", "8", "users", "1013.4"], "{t}");
        assert_eq!(rows[1][6..8], ["8,", "9]"], "{t}");
        assert_eq!(
            rows[2][..5],
            ["64:32", "1.70", "x", "trace", "441.0"],
            "{t}"
        );
        assert_eq!(level(5096.25, LoadUnit::ReqMin), "5096.2");
        assert_eq!(level(12.0, LoadUnit::Users), "12");
    }

    #[test]
    fn live_ttft_median_covers_only_the_latest_completions() {
        let p = Progress::default();
        assert_eq!(p.recent_ttft_p50_ms(), None);
        for ms in 1..=3 {
            p.record_ttft(Duration::from_millis(ms));
        }
        assert_eq!(p.recent_ttft_p50_ms(), Some(2.0));
        // A long run of slow requests pushes the early fast ones out of the window.
        for _ in 0..1000 {
            p.record_ttft(Duration::from_millis(500));
        }
        assert_eq!(p.recent_ttft_p50_ms(), Some(500.0));
    }
}
