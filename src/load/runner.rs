//! One iteration of open-loop load: ask the arrival process for deadlines, send request i at
//! `t0 + offset_i` whatever the server is doing, collect exactly one record per request sent,
//! then drain in-flight requests up to a limit. The runner never judges sustainability.

use crate::client::{Cancel, LlmClient};
use crate::iteration::ClientUsage;
use crate::iteration::{Completion, IterationMeta};
use crate::load::arrivals::{self, ArrivalKind};
use crate::load::dispatch::{Dispatched, Dispatcher, Job};
use crate::load::usage;
use crate::load::watchdog::{Fired, Watchdog};
use crate::record::{ErrorKind, RequestRecord};
use crate::search::Stage;
use crate::size::SizeSpec;
use crate::workload::Workload;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What to run.
#[derive(Debug, Clone)]
pub struct IterationPlan {
    pub size: SizeSpec,
    /// The level to run at, in `unit` (requests/minute for open-loop rates).
    pub req_min: f64,
    /// The unit of `req_min`.
    pub unit: crate::search::LoadUnit,
    pub stage: Stage,
    /// 1-based iteration number within the size's search.
    pub iteration: u32,
    pub duration: Duration,
    pub filter_buffer: Duration,
    pub drain_timeout: Duration,
    pub arrival: ArrivalKind,
    /// Seed of this iteration (arrivals and prompts); derive it with [`iteration_seed`].
    pub seed: u64,
    pub model: String,
    pub labels: BTreeMap<String, String>,
    /// When the watchdog may stop the iteration early (`EARLY_ABORT*`).
    pub early_abort: crate::load::watchdog::AbortSettings,
    /// When the iteration may end early as sustainable; None never (the search decides where
    /// early accept is allowed, [`crate::load::accept`] when it fires).
    pub early_accept: Option<crate::load::accept::AcceptSettings>,
    /// `TRACE`: replay this trace with `req_min` as its time scale instead of arrivals at a
    /// rate ([`crate::workload::trace::Trace::window`]); None: `arrival` at `req_min`.
    pub trace: Option<Arc<crate::workload::trace::Trace>>,
    /// `LOAD=users`: a closed loop of this many users instead of the open-loop schedule
    /// ([`crate::load::users`]); `req_min` is then the number of users. None: open loop.
    pub users: Option<crate::load::users::UsersPlan>,
    /// Multi-turn sessions (`SESSION_TURNS` > 1): `req_min` is then sessions per minute and
    /// [`crate::load::sessions`] runs the iteration; None sends independent requests.
    pub sessions: Option<crate::load::sessions::SessionsPlan>,
}

/// The seed of one iteration from the run's `SEED`, the size's index and the iteration number,
/// so a resumed search replays the same traffic.
pub fn iteration_seed(seed: u64, size_index: usize, iteration: u32) -> u64 {
    let size_key = crate::seed::mix(seed, size_index as u64);
    crate::seed::mix(size_key, u64::from(iteration))
}

/// Live counters, read by the console while the iteration runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    /// Queueing delays of finished requests, for the early-abort watchdog.
    pub watch: crate::load::watchdog::Feed,
    /// Finished requests as the early-accept rule needs them.
    pub accept: crate::load::accept::Feed,
    /// TTFT of the latest successful requests (ms), for the live median; bounded.
    recent_ttft_ms: std::sync::Mutex<std::collections::VecDeque<f64>>,
}

/// How many recent TTFTs the live median is taken over.
const RECENT_TTFT: usize = 200;

impl Progress {
    /// Remember the TTFT of a request that just finished.
    pub fn record_ttft(&self, ttft: Duration) {
        // A poisoned lock only means a panicking reader; the numbers are still fine to show.
        let mut recent = self
            .recent_ttft_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT_TTFT {
            recent.pop_front();
        }
        recent.push_back(ttft.as_secs_f64() * 1e3);
    }

    /// Median TTFT of the latest successful requests, ms; None before the first one.
    pub fn recent_ttft_p50_ms(&self) -> Option<f64> {
        let mut recent = self
            .recent_ttft_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::stats::percentile(recent.make_contiguous(), 50.0)
    }

    /// Requests sent and not yet finished.
    pub fn in_flight(&self) -> u64 {
        let done = self.succeeded.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(done)
    }
}

/// Takes each finished request's record as it arrives, updating the live counters and the
/// most requests seen in flight at once (the open-loop and the closed-loop runners share it).
pub(crate) struct Collector<'a> {
    pub records: Vec<RequestRecord>,
    pub progress: &'a Progress,
    pub max_in_flight: u64,
}

impl Collector<'_> {
    pub(crate) fn take(&mut self, rec: RequestRecord) {
        // This record's request was still in flight until now.
        let in_flight = self
            .progress
            .sent
            .load(Ordering::Relaxed)
            .saturating_sub(self.records.len() as u64);
        self.max_in_flight = self.max_in_flight.max(in_flight);
        self.progress.watch.observe(&rec);
        self.progress.accept.observe(&rec);
        if rec.success() {
            if let Some(first) = rec.first_token {
                self.progress
                    .record_ttft(first.saturating_sub(rec.actual_send));
            }
            self.progress.succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.progress.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.records.push(rec);
    }
}

/// Run one iteration. `interrupt` stops sending at once and cancels in-flight requests (the
/// iteration is then marked [`Completion::Interrupted`]); so does the early-abort watchdog when
/// it fires ([`Completion::AbortedEarly`]). Early accept ([`Completion::AcceptedEarly`]) stops
/// sending too, but drains in-flight requests as a complete iteration does.
///
/// Requests are sent by a dispatcher thread ([`crate::load::dispatch`]) at their deadlines; this
/// task collects one record per request sent, then drains in-flight requests up to the limit.
pub async fn run_iteration<C: LlmClient>(
    client: Arc<C>,
    workload: Arc<Workload>,
    plan: &IterationPlan,
    interrupt: &CancellationToken,
    progress: Arc<Progress>,
) -> (IterationMeta, Vec<RequestRecord>) {
    if let Some(sessions) = plan.sessions {
        return crate::load::sessions::run_sessions(
            client, workload, plan, sessions, interrupt, progress,
        )
        .await;
    }
    if let Some(users) = plan.users {
        return crate::load::users::run_iteration(
            client, workload, plan, users, interrupt, progress,
        )
        .await;
    }
    let (schedule, replay) = match &plan.trace {
        Some(trace) => {
            let (offsets, slots) = trace.window(plan.req_min, plan.duration);
            let replay = crate::load::dispatch::Replay {
                trace: trace.clone(),
                slots,
            };
            (offsets, Some(replay))
        }
        None => (
            arrivals::schedule(plan.arrival, plan.req_min, plan.duration, plan.seed),
            None,
        ),
    };
    let planned_requests = schedule.len() as u64;
    let cancel = Cancel::new();
    let cpu_before = usage::process_cpu();
    // A short lead so the first deadline is not already late when the thread starts.
    let lead = Duration::from_millis(20);
    let t0 = Instant::now() + lead;
    let started_at = chrono::Local::now() + lead;
    let (records_tx, mut records_rx) = mpsc::unbounded_channel();
    let mut col = Collector {
        records: Vec::with_capacity(schedule.len()),
        progress: &progress,
        max_in_flight: 0,
    };
    let mut completion = Completion::Complete;
    let job = Job {
        schedule,
        t0,
        seed: plan.seed,
        size: plan.size,
        client,
        workload: workload.clone(),
        cancel: cancel.clone(),
        progress: progress.clone(),
        records: records_tx,
        replay,
    };
    let mut dispatcher = match Dispatcher::start(job) {
        Ok(d) => Some(d),
        Err(e) => {
            completion =
                Completion::Interrupted(format!("cannot start the dispatcher thread: {e}"));
            None
        }
    };

    let watchdog = Watchdog::spawn(plan, t0, progress.clone());

    // Sending: take records as they come until the dispatcher has sent the whole schedule. A
    // stop (signal or watchdog) is asked once; the loop then waits for the thread to report.
    let mut sent = 0;
    let mut sending_ended = t0;
    if let Some(d) = dispatcher.as_mut() {
        let mut stopping = false;
        loop {
            tokio::select! {
                biased;
                _ = interrupt.cancelled(), if !stopping => {
                    completion = Completion::Interrupted("interrupted while sending".into());
                    stopping = true;
                    d.stop();
                }
                _ = watchdog.fired().cancelled(), if !stopping => {
                    completion = match watchdog.outcome() {
                        Some(Fired::Accept(why)) => Completion::AcceptedEarly(why),
                        Some(Fired::Abort(why)) => Completion::AbortedEarly(why),
                        None => Completion::AbortedEarly(String::new()),
                    };
                    stopping = true;
                    d.stop();
                }
                done = &mut d.done => {
                    // A dispatcher that died without reporting sent what the counter says.
                    let done = done.unwrap_or(Dispatched {
                        sent: progress.sent.load(Ordering::Relaxed),
                        stopped_at: Instant::now(),
                    });
                    (sent, sending_ended) = (done.sent, done.stopped_at);
                    break;
                }
                Some(rec) = records_rx.recv() => col.take(rec),
            }
        }
    }
    // The schedule covers [0, DURATION): a complete iteration's sending period is DURATION even
    // when its last arrival came a little earlier.
    let sent_for = sending_ended.saturating_duration_since(t0);
    let sending_stopped = match completion {
        Completion::Complete => plan.duration.max(sent_for),
        _ => sent_for,
    };

    // Drain: in-flight requests may finish until the limit; then they are cut off and recorded.
    // An aborted or interrupted iteration cancels its in-flight requests at once; an accepted
    // one drains them like a complete one.
    drop(watchdog);
    if !matches!(
        completion,
        Completion::Complete | Completion::AcceptedEarly(_)
    ) {
        cancel.cancel(ErrorKind::Cancelled);
    }
    drain(
        &mut col,
        &mut records_rx,
        sent,
        &cancel,
        interrupt,
        plan.drain_timeout,
        &mut completion,
    )
    .await;
    let ended = t0.elapsed();
    finish(
        plan,
        &workload,
        Ended {
            started_at,
            planned_requests,
            sending_stopped,
            ended,
            completion,
            cpu_before,
        },
        col,
    )
}

/// Drain: take records until `sent` of them have come (`u64::MAX`: until every sender is
/// gone); in-flight requests may finish until `drain_timeout` has passed, then they are cut off
/// ([`ErrorKind::DrainCutoff`]) and recorded. A signal meanwhile cancels them at once and marks
/// the iteration interrupted.
pub(crate) async fn drain(
    col: &mut Collector<'_>,
    records_rx: &mut mpsc::UnboundedReceiver<RequestRecord>,
    sent: u64,
    cancel: &Cancel,
    interrupt: &CancellationToken,
    drain_timeout: Duration,
    completion: &mut Completion,
) {
    let drain_deadline = tokio::time::Instant::now() + drain_timeout;
    while (col.records.len() as u64) < sent {
        tokio::select! {
            rec = records_rx.recv() => match rec {
                Some(rec) => col.take(rec),
                // Every request task holds a sender until it has sent its record.
                None => break,
            },
            _ = tokio::time::sleep_until(drain_deadline), if !cancel.is_cancelled() => {
                cancel.cancel(ErrorKind::DrainCutoff);
            }
            _ = interrupt.cancelled(), if !cancel.is_cancelled() => {
                *completion = Completion::Interrupted("interrupted while draining".into());
                cancel.cancel(ErrorKind::Cancelled);
            }
        }
    }
}

/// How an iteration went, for [`finish`].
pub(crate) struct Ended {
    pub started_at: chrono::DateTime<chrono::Local>,
    /// Requests the schedule held (0 for a closed loop, which has none).
    pub planned_requests: u64,
    pub sending_stopped: Duration,
    pub ended: Duration,
    pub completion: Completion,
    /// The process's CPU time when the iteration started.
    pub cpu_before: Option<Duration>,
}

/// The iteration's metadata and its records in request order.
pub(crate) fn finish(
    plan: &IterationPlan,
    workload: &Workload,
    end: Ended,
    col: Collector<'_>,
) -> (IterationMeta, Vec<RequestRecord>) {
    let client_usage = ClientUsage {
        cpu_s: usage::process_cpu()
            .zip(end.cpu_before)
            .map(|(after, before)| after.saturating_sub(before).as_secs_f64()),
        peak_rss_bytes: usage::process_memory().map(|m| m.peak_rss_bytes),
        max_in_flight: col.max_in_flight,
    };
    let mut records = col.records;
    records.sort_by_key(|r| r.request_idx);

    let meta = IterationMeta {
        size: plan.size,
        req_min: plan.req_min,
        load_unit: plan.unit,
        stage: plan.stage,
        iteration: plan.iteration,
        model: plan.model.clone(),
        started_at: end.started_at,
        duration: plan.duration,
        filter_buffer: plan.filter_buffer,
        planned_requests: end.planned_requests,
        sending_stopped: end.sending_stopped,
        ended: end.ended,
        completion: end.completion,
        sample_prompt: workload.sample_text(200),
        prompt_token_count: plan.size.input.min,
        prompt_lengths: workload.lengths_note(),
        classes: workload.class_names(),
        models: workload.model_names(),
        session_turns: None,
        output_clipped: workload.clipped_outputs(
            plan.seed,
            &plan.size,
            records.iter().map(|r| r.request_idx),
        ),
        labels: plan.labels.clone(),
        client: client_usage,
        settle: None,
    };
    (meta, records)
}
