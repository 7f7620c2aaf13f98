//! What the driver tells the outside world, as events to an [`Observer`], so the driver never
//! prints: the console (lines, a progress bar, the final table), a quiet console (the table
//! only), and a [`Recorder`] that tests read. The arrangement follows criterion's `Report` and
//! hyperfine's exporters: one trait, several sinks, the measuring code unaware of which.

use super::console;
use super::state::Opened;
use crate::iteration::IterationMeta;
use crate::load::runner::Progress;
use crate::output::SizeOutcome;
use crate::search::LoadUnit;
use crate::size::SizeSpec;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One thing that happened during a run, in the order it happened.
#[derive(Debug)]
pub enum Event<'a> {
    /// The pre-flight passed: the server answered, the model is known, the workload is ready.
    RunStarted {
        /// The server's base URL.
        url: &'a str,
        /// The served model requested.
        model: &'a str,
        /// Sizes this run searches.
        sizes: usize,
        /// `DURATION`.
        duration: Duration,
        /// `EVALUATOR`'s names, comma-joined.
        evaluators: &'a str,
    },
    /// Prompt lengths are not exact (no `/tokenize`, no `TOKENIZER`): what they are instead.
    LengthsApproximate {
        /// The source of lengths, in words.
        note: &'a str,
    },
    /// `--fresh` moved the old results of this run's sizes here.
    MovedPrevious {
        /// The folder they went to.
        to: &'a Path,
    },
    /// A size's checkpoint was opened.
    SizeOpened {
        /// The size.
        size: SizeSpec,
        /// New, resumed or already finished.
        opened: &'a Opened,
        /// Iterations already recorded.
        done: usize,
        /// The next rate to run, requests/minute (None when the search has ended).
        next_req_min: Option<f64>,
    },
    /// An iteration is sending; `progress` counts its requests live.
    IterationRunning {
        /// The size.
        size: SizeSpec,
        /// 1-based iteration number within the size.
        iteration: u32,
        /// Offered rate, requests/minute.
        req_min: f64,
        /// `DURATION`.
        duration: Duration,
        /// Live counters of the iteration.
        progress: Arc<Progress>,
    },
    /// One of a size's `REPEATS` searches ended and the next starts.
    RepeatFinished {
        /// The size.
        size: SizeSpec,
        /// Which repeat ended, from 1.
        repeat: u32,
        /// `REPEATS`.
        of: u32,
        /// How it ended.
        outcome: &'a crate::search::SearchOutcome,
    },
    /// The saturation probe is keeping the server full.
    ProbeRunning {
        /// The size.
        size: SizeSpec,
        /// Requests kept in flight.
        concurrency: u32,
        /// How long.
        duration: Duration,
    },
    /// The saturation probe ended.
    ProbeDone {
        /// The size.
        size: SizeSpec,
        /// What it measured.
        report: &'a crate::load::saturation::ProbeReport,
        /// The rate the search runs next, requests/minute (None when it has ended).
        next_req_min: Option<f64>,
    },
    /// The iteration's requests have all ended (judging and writing follow).
    IterationSent,
    /// An iteration was judged and its files written.
    IterationJudged {
        /// What was asked and how it ended.
        meta: &'a IterationMeta,
        /// 1 for the first run at this rate, 2 or 3 for confirmations.
        attempt: u32,
        /// The console line for it (size, rate, figures, judgement, criteria, reason).
        line: String,
    },
    /// A size's search ended and its `mst.json` was written.
    SizeFinished {
        /// The answer for the size.
        outcome: &'a SizeOutcome,
    },
    /// Every size of the run ended.
    RunFinished {
        /// One outcome per size, in order.
        outcomes: &'a [SizeOutcome],
    },
}

/// Receives the driver's events. Implementations must not block for long: the driver calls
/// them between (never during) the timed parts of an iteration, except `IterationRunning`,
/// which only starts a display.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// The terminal: a line per iteration and per size, a live progress bar (or log lines when
/// stderr is not a terminal), and the final table on stdout. `quiet` keeps only the table.
#[derive(Default)]
pub struct Console {
    /// What the search varies, so levels are shown in their unit.
    unit: LoadUnit,
    /// Only the final table.
    pub quiet: bool,
    live: Mutex<Option<console::LiveProgress>>,
}

impl Console {
    /// A console observer.
    pub fn new(quiet: bool, unit: LoadUnit) -> Console {
        Console {
            quiet,
            unit,
            live: Mutex::new(None),
        }
    }

    fn set_live(&self, live: Option<console::LiveProgress>) {
        if let Ok(mut slot) = self.live.lock() {
            *slot = live;
        }
    }
}

impl Observer for Console {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::RunFinished { outcomes } => print!("{}", console::table(outcomes)),
            _ if self.quiet => {}
            Event::RunStarted {
                url,
                model,
                sizes,
                duration,
                evaluators,
            } => println!(
                "mst-search: {url} model {model} ({sizes} sizes, {} s iterations, evaluator {evaluators})",
                duration.as_secs_f64()
            ),
            Event::LengthsApproximate { note } => {
                println!("WARNING: prompt lengths are {note}")
            }
            Event::MovedPrevious { to } => {
                println!("--fresh: moved the old results into {}", to.display())
            }
            Event::SizeOpened {
                size,
                opened,
                done,
                next_req_min,
            } => match (opened, next_req_min) {
                (Opened::Finished, _) => println!(
                    "{size}: already finished after {done} iterations (state.json); skipped"
                ),
                (Opened::Resumed, Some(next)) => println!(
                    "{size}: resuming from state.json after {done} iterations; next {} {}",
                    console::level(*next, self.unit),
                    self.unit.label()
                ),
                _ => {}
            },
            Event::IterationRunning {
                size,
                iteration,
                req_min,
                duration,
                progress,
            } => self.set_live(Some(console::LiveProgress::start(
                format!(
                    "{size} #{iteration} {} {}",
                    console::level(*req_min, self.unit),
                    self.unit.label()
                ),
                *duration,
                progress.clone(),
            ))),
            Event::IterationSent => self.set_live(None),
            Event::RepeatFinished {
                size,
                repeat,
                of,
                outcome,
            } => println!(
                "{size}: repeat {repeat} of {of}: MST {} {}: {}",
                outcome
                    .mst_req_min
                    .map_or("-".into(), |m| console::level(m, self.unit)),
                self.unit.label(),
                outcome.reason
            ),
            Event::ProbeRunning {
                size,
                concurrency,
                duration,
            } => println!(
                "{size}: saturation probe, {concurrency} requests in flight for {:.0} s",
                duration.as_secs_f64()
            ),
            Event::ProbeDone {
                size,
                report,
                next_req_min,
            } => println!(
                "{size}: saturation probe measured {} req/min ({} completions in its steady part, {} of {} requests done); next {} req/min",
                console::opt(report.throughput.and_then(|t| t.req_min()), 1),
                report.completions_in_window,
                report.succeeded,
                report.sent,
                console::opt(*next_req_min, 1)
            ),
            Event::IterationJudged { line, .. } => println!("{line}"),
            Event::SizeFinished { outcome } if outcome.load_unit != LoadUnit::ReqMin => println!(
                "{}: MST {} {} ({} req/min completed there) after {} iterations: {}",
                outcome.size,
                outcome
                    .mst_load
                    .map_or("-".into(), |m| console::level(m, outcome.load_unit)),
                outcome.load_unit.label(),
                console::opt(outcome.mst_req_min, 1),
                outcome.iterations.len(),
                outcome.reason
            ),
            Event::SizeFinished { outcome } => println!(
                "{}: MST {} req/min ({} req/s) after {} iterations: {}",
                outcome.size,
                console::opt(outcome.mst_req_min, 1),
                console::opt(outcome.mst_req_s, 2),
                outcome.iterations.len(),
                outcome.reason
            ),
        }
    }
}

/// Keeps a one-line summary of every event, for tests and embedders.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl Recorder {
    /// The events so far, one line each (`Kind` or `Kind: detail`).
    pub fn events(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Observer for Recorder {
    fn event(&self, event: &Event<'_>) {
        let line = match event {
            Event::RunStarted { sizes, model, .. } => format!("RunStarted: {sizes} sizes, {model}"),
            Event::LengthsApproximate { .. } => "LengthsApproximate".into(),
            Event::MovedPrevious { .. } => "MovedPrevious".into(),
            Event::SizeOpened { size, opened, .. } => format!("SizeOpened: {size} {opened:?}"),
            Event::IterationRunning {
                size,
                iteration,
                req_min,
                ..
            } => format!("IterationRunning: {size} #{iteration} {req_min}"),
            Event::IterationSent => "IterationSent".into(),
            Event::ProbeRunning { size, .. } => format!("ProbeRunning: {size}"),
            Event::RepeatFinished {
                size, repeat, of, ..
            } => format!("RepeatFinished: {size} {repeat}/{of}"),
            Event::ProbeDone { size, report, .. } => format!(
                "ProbeDone: {size} {:?}",
                report
                    .throughput
                    .and_then(|t| t.req_min())
                    .map(|r| r.round())
            ),
            Event::IterationJudged { meta, attempt, .. } => format!(
                "IterationJudged: {} #{} attempt {attempt}",
                meta.size, meta.iteration
            ),
            Event::SizeFinished { outcome } => {
                format!("SizeFinished: {} {:?}", outcome.size, outcome.mst_req_min)
            }
            Event::RunFinished { outcomes } => format!("RunFinished: {}", outcomes.len()),
        };
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(line);
        }
    }
}
