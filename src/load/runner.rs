//! One iteration of open-loop load: ask the arrival process for deadlines, send request i at
//! `t0 + offset_i` whatever the server is doing, collect exactly one record per request sent,
//! then drain in-flight requests up to a limit. The runner never judges sustainability.

use crate::client::{Cancel, LlmClient, Slot};
use crate::config::SizeSpec;
use crate::load::arrivals::{self, ArrivalKind};
use crate::load::iteration::{Completion, IterationMeta};
use crate::load::record::{ErrorKind, RequestRecord};
use crate::search::Stage;
use crate::workload::Workload;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

/// What to run.
#[derive(Debug, Clone)]
pub struct IterationPlan {
    pub size: SizeSpec,
    pub req_min: f64,
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
}

/// The seed of one iteration from the run's `SEED`, the size's index and the iteration number,
/// so a resumed search replays the same traffic.
pub fn iteration_seed(seed: u64, size_index: usize, iteration: u32) -> u64 {
    let size_key = crate::workload::corpus::mix(seed, size_index as u64);
    crate::workload::corpus::mix(size_key, u64::from(iteration))
}

/// Live counters, read by the console while the iteration runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    /// TTFT of the latest successful requests (µs), for the live median; bounded.
    recent_ttft_us: std::sync::Mutex<std::collections::VecDeque<u64>>,
}

/// How many recent TTFTs the live median is taken over.
const RECENT_TTFT: usize = 200;

impl Progress {
    /// Remember the TTFT of a request that just finished.
    pub fn record_ttft(&self, ttft: Duration) {
        // A poisoned lock only means a panicking reader; the numbers are still fine to show.
        let mut recent = self
            .recent_ttft_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT_TTFT {
            recent.pop_front();
        }
        recent.push_back(ttft.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    /// Median TTFT of the latest successful requests, ms; None before the first one.
    pub fn recent_ttft_p50_ms(&self) -> Option<f64> {
        let mut v: Vec<u64> = self
            .recent_ttft_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(v[v.len() / 2] as f64 / 1000.0)
    }

    /// Requests sent and not yet finished.
    pub fn in_flight(&self) -> u64 {
        let done = self.succeeded.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(done)
    }
}

struct Collector<'a> {
    records: Vec<RequestRecord>,
    owners: HashMap<tokio::task::Id, (u64, Duration, u32, u32)>,
    progress: &'a Progress,
    t0: Instant,
}

impl Collector<'_> {
    fn take(&mut self, joined: Result<(tokio::task::Id, RequestRecord), JoinError>) {
        let rec = match joined {
            Ok((id, rec)) => {
                self.owners.remove(&id);
                rec
            }
            // A request task that panicked still gets its row: the invariant is one record per
            // request sent.
            Err(e) => {
                let (idx, intended, input, output) =
                    self.owners
                        .remove(&e.id())
                        .unwrap_or((u64::MAX, Duration::ZERO, 0, 0));
                let now = self.t0.elapsed();
                RequestRecord {
                    request_idx: idx,
                    intended_send: intended,
                    actual_send: intended,
                    first_token: None,
                    token_offsets_us: Vec::new(),
                    end: now,
                    input_tokens: input,
                    requested_output_tokens: output,
                    server_prompt_tokens: None,
                    output_tokens: 0,
                    http_status: None,
                    error: Some(ErrorKind::Cancelled),
                    error_detail: Some(format!("client task failed: {e}")),
                }
            }
        };
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
/// iteration is then marked [`Completion::Interrupted`]).
pub async fn run_iteration<C: LlmClient>(
    client: Arc<C>,
    workload: Arc<Workload>,
    plan: &IterationPlan,
    interrupt: &CancellationToken,
    progress: Arc<Progress>,
) -> (IterationMeta, Vec<RequestRecord>) {
    let schedule = arrivals::schedule(plan.arrival, plan.req_min, plan.duration, plan.seed);
    let cancel = Cancel::new();
    // A short lead so the first deadline is not already late when the loop starts.
    let lead = Duration::from_millis(20);
    let t0 = Instant::now() + lead;
    let started_at = chrono::Local::now() + lead;
    let mut set: JoinSet<(tokio::task::Id, RequestRecord)> = JoinSet::new();
    let mut col = Collector {
        records: Vec::with_capacity(schedule.len()),
        owners: HashMap::with_capacity(schedule.len()),
        progress: &progress,
        t0,
    };
    let mut completion = Completion::Complete;

    for (i, offset) in schedule.iter().enumerate() {
        let due = tokio::time::Instant::from_std(t0 + *offset);
        tokio::select! {
            biased;
            _ = interrupt.cancelled() => {
                completion = Completion::Interrupted("interrupted while sending".into());
                break;
            }
            _ = tokio::time::sleep_until(due) => {}
        }
        let idx = i as u64;
        let spec = workload.request(plan.seed, idx, &plan.size);
        let (input, output) = (spec.input_tokens, spec.output_tokens);
        let slot = Slot {
            request_idx: idx,
            t0,
            intended: *offset,
        };
        let (client, cancel) = (client.clone(), cancel.clone());
        let handle = set.spawn(async move {
            let rec = client.send(&spec, slot, &cancel).await;
            (tokio::task::id(), rec)
        });
        col.owners
            .insert(handle.id(), (idx, *offset, input, output));
        progress.sent.fetch_add(1, Ordering::Relaxed);
        while let Some(joined) = set.try_join_next() {
            col.take(joined);
        }
    }
    // The schedule covers [0, DURATION): a complete iteration's sending period is DURATION even
    // when its last arrival came a little earlier.
    let sending_stopped = match completion {
        Completion::Complete => plan.duration.max(t0.elapsed()),
        _ => t0.elapsed(),
    };

    // Drain: in-flight requests may finish until the limit; then they are cut off and recorded.
    if matches!(completion, Completion::Interrupted(_)) {
        cancel.cancel(ErrorKind::Cancelled);
    }
    let drain_deadline = tokio::time::Instant::now() + plan.drain_timeout;
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                Some(j) => col.take(j),
                None => break,
            },
            _ = tokio::time::sleep_until(drain_deadline), if !cancel.is_cancelled() => {
                cancel.cancel(ErrorKind::DrainCutoff);
            }
            _ = interrupt.cancelled(), if !cancel.is_cancelled() => {
                completion = Completion::Interrupted("interrupted while draining".into());
                cancel.cancel(ErrorKind::Cancelled);
            }
        }
    }
    let ended = t0.elapsed();
    let mut records = col.records;
    records.sort_by_key(|r| r.request_idx);

    let meta = IterationMeta {
        size: plan.size,
        req_min: plan.req_min,
        stage: plan.stage,
        iteration: plan.iteration,
        model: plan.model.clone(),
        started_at,
        duration: plan.duration,
        filter_buffer: plan.filter_buffer,
        planned_requests: schedule.len() as u64,
        sending_stopped,
        ended,
        completion,
        sample_prompt: workload.sample_text(200),
        prompt_token_count: plan.size.input.min,
        labels: plan.labels.clone(),
    };
    (meta, records)
}
