//! Closed-loop users (`LOAD=users`): N virtual users, each sending its next request only when
//! its previous one has ended (successfully or not) and it has waited `THINK_TIME`, as
//! fmperf's `number_users` workers and guidellm's `concurrent` profile do. Unlike the open loop
//! of [`crate::load::runner`], the server's pace sets the request rate: a slow answer delays
//! that user's next request, so no queue can build beyond the N requests in flight.
//!
//! Users send for `DURATION`; a request started before it ends may finish until
//! `DRAIN_TIMEOUT` has passed, then it is cut off ([`ErrorKind::DrainCutoff`]), as in the open
//! loop. A closed loop has no schedule: each request's intended send time is its actual send
//! time (schedule lag 0, so the queueing delay the open loop reads from the lag is not
//! applicable), and the iteration plans no requests (`planned_requests` 0).
//!
//! The user loop ([`user`]) is shared with the saturation probe
//! ([`crate::load::saturation::run`]), a closed loop of `PROBE_CONCURRENCY` users without
//! think time.

use crate::client::{Cancel, LlmClient, Slot};
use crate::iteration::Completion;
use crate::iteration::IterationMeta;
use crate::load::dispatch::send_caught;
use crate::load::runner::{Collector, Ended, IterationPlan, Progress, drain, finish};
use crate::load::usage;
use crate::record::{ErrorKind, RequestRecord};
use crate::size::SizeSpec;
use crate::workload::Workload;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The closed-loop part of an iteration's plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsersPlan {
    /// Virtual users, each with at most one request in flight (>= 1).
    pub users: u32,
    /// `THINK_TIME`: what a user waits after its previous request ended before sending again.
    pub think_time: Duration,
}

/// What every user of one closed loop shares.
pub(crate) struct Loop<C> {
    pub client: Arc<C>,
    pub workload: Arc<Workload>,
    pub size: SizeSpec,
    /// Seed of the prompts (request `i` gets prompt `i` of this seed).
    pub seed: u64,
    pub t0: Instant,
    /// Cancels the requests in flight (drain cut-off, interrupt, the probe's end).
    pub cancel: Arc<Cancel>,
    /// Stops users from sending and wakes those thinking; requests in flight go on.
    pub stop: CancellationToken,
    /// The next request's index, shared so indices are unique and in order of sending.
    pub next: AtomicU64,
    /// Counts requests as they are sent, when the console watches.
    pub progress: Option<Arc<Progress>>,
    /// Requests sent and not yet ended, and the most at once: counted by the users themselves,
    /// since a collector reading records from a channel may see a user's next request sent
    /// before it has taken the previous one's record.
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
}

impl<C> Loop<C> {
    fn sending(&self) -> bool {
        !self.stop.is_cancelled() && !self.cancel.is_cancelled()
    }
}

/// One user: while `go()` holds and the loop is not stopped, send a request, wait for its end,
/// hand its record to `done`, then think for `think`. The request's intended send time is when
/// it was sent (no schedule), so its schedule lag is 0.
pub(crate) async fn user<C: LlmClient>(
    shared: &Loop<C>,
    think: Duration,
    go: impl Fn() -> bool,
    mut done: impl FnMut(RequestRecord),
) {
    while go() && shared.sending() {
        let idx = shared.next.fetch_add(1, Ordering::Relaxed);
        let spec = shared.workload.request(shared.seed, idx, &shared.size);
        let slot = Slot {
            request_idx: idx,
            t0: shared.t0,
            intended: shared.t0.elapsed(),
        };
        if let Some(p) = &shared.progress {
            p.sent.fetch_add(1, Ordering::Relaxed);
        }
        let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::Relaxed);
        let mut record = send_caught(&*shared.client, &spec, slot, &shared.cancel).await;
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        // A closed loop sends when the user is ready, not at a deadline: nothing was late.
        record.intended_send = record.actual_send;
        done(record);
        if !think.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(think) => {}
                _ = shared.stop.cancelled() => break,
                _ = shared.cancel.cancelled() => break,
            }
        }
    }
}

/// Run one closed-loop iteration of `users` users (see the module header). `interrupt` stops
/// sending at once and cancels the requests in flight ([`Completion::Interrupted`]).
pub async fn run_iteration<C: LlmClient>(
    client: Arc<C>,
    workload: Arc<Workload>,
    plan: &IterationPlan,
    users: UsersPlan,
    interrupt: &CancellationToken,
    progress: Arc<Progress>,
) -> (IterationMeta, Vec<RequestRecord>) {
    let cpu_before = usage::process_cpu();
    let started_at = chrono::Local::now();
    let shared = Arc::new(Loop {
        client,
        workload: workload.clone(),
        size: plan.size,
        seed: plan.seed,
        t0: Instant::now(),
        cancel: Cancel::new(),
        stop: CancellationToken::new(),
        next: AtomicU64::new(0),
        progress: Some(progress.clone()),
        in_flight: AtomicU64::new(0),
        max_in_flight: AtomicU64::new(0),
    });
    let t0 = shared.t0;
    let (records_tx, mut records_rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..users.users.max(1) {
        let (shared, tx) = (shared.clone(), records_tx.clone());
        tasks.spawn(async move {
            user(
                &shared,
                users.think_time,
                || true,
                // The receiver is gone only when the iteration itself was dropped.
                |rec| drop(tx.send(rec)),
            )
            .await;
        });
    }
    // The users' clones are the only senders left: the channel closes when the last user ends.
    drop(records_tx);
    let mut col = Collector {
        records: Vec::new(),
        progress: &progress,
        max_in_flight: 0,
    };
    let mut completion = Completion::Complete;
    let sending_end = tokio::time::Instant::from_std(t0 + plan.duration);
    loop {
        tokio::select! {
            biased;
            _ = interrupt.cancelled() => {
                completion = Completion::Interrupted("interrupted while sending".into());
                shared.cancel.cancel(ErrorKind::Cancelled);
                break;
            }
            _ = tokio::time::sleep_until(sending_end) => break,
            Some(rec) = records_rx.recv() => col.take(rec),
        }
    }
    shared.stop.cancel();
    let sending_stopped = match completion {
        Completion::Complete => plan.duration,
        _ => t0.elapsed(),
    };
    drain(
        &mut col,
        &mut records_rx,
        u64::MAX,
        &shared.cancel,
        interrupt,
        plan.drain_timeout,
        &mut completion,
    )
    .await;
    // Every user has ended (its sender is gone); a panicked task lost no record, since each
    // record was handed on when its request ended.
    tasks.shutdown().await;
    col.max_in_flight = shared.max_in_flight.load(Ordering::Relaxed);
    finish(
        plan,
        &workload,
        Ended {
            started_at,
            planned_requests: 0,
            sending_stopped,
            ended: t0.elapsed(),
            completion,
            cpu_before,
        },
        col,
    )
}
