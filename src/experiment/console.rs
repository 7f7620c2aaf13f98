//! What a person watching the run sees: a progress bar during each iteration (only when stderr
//! is a terminal; a plain log line every few seconds otherwise), one line per finished
//! iteration, and the final MST table. Results go to stdout, progress and logs to stderr.

use crate::load::runner::Progress;
use crate::output::SizeOutcome;
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

/// The final table, one row per size.
pub fn table(outcomes: &[SizeOutcome]) -> String {
    let mut s = String::from(
        "size            MST req/min   MST req/s   bounds [lower, upper] req/min   iterations  stop\n",
    );
    for o in outcomes {
        s.push_str(&format!(
            "{:<15} {:>11} {:>11}   [{:>10}, {:>10}]             {:>10}  {}\n",
            o.size,
            opt(o.mst_req_min, 1),
            opt(o.mst_req_s, 2),
            opt(o.lower_req_min, 1),
            opt(o.upper_req_min, 1),
            o.iterations.len(),
            o.stop,
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
