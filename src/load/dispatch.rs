//! The dispatcher: a dedicated OS thread that sleeps to each request's absolute deadline and
//! hands the request to the async runtime at that instant.
//!
//! Why a thread and not a task: tokio's timer rounds every deadline up to its next 1 ms tick and
//! a woken task waits for a worker behind every other ready task, so a dispatch loop inside the
//! runtime showed p99 schedule lag of several ms. A thread sleeping on the OS's high-resolution
//! timer wakes within tens of µs of the deadline, the request's prompt is built before the
//! thread goes to sleep, and the spawn from outside the runtime wakes an idle worker at once.
//! Consequence: dispatch follows the real clock, so `tokio::time::pause()` does not apply to it.

use crate::client::{Cancel, LlmClient, RequestSpec, Slot};
use crate::load::runner::Progress;
use crate::record::{ErrorKind, RequestRecord};
use crate::size::SizeSpec;
use crate::workload::Workload;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Everything the dispatcher thread needs for one iteration.
pub(crate) struct Job<C> {
    pub schedule: Vec<Duration>,
    pub t0: Instant,
    pub seed: u64,
    pub size: SizeSpec,
    pub client: Arc<C>,
    pub workload: Arc<Workload>,
    pub cancel: Arc<Cancel>,
    pub progress: Arc<Progress>,
    /// Every dispatched request sends exactly one record here.
    pub records: mpsc::UnboundedSender<RequestRecord>,
    /// `TRACE`: which trace request each schedule entry is; None: the workload's requests.
    pub replay: Option<Replay>,
}

/// A trace replay's requests, one slot per schedule entry.
pub(crate) struct Replay {
    pub trace: Arc<crate::workload::trace::Trace>,
    pub slots: Vec<crate::workload::trace::Slot>,
}

/// What the thread did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dispatched {
    /// Requests handed to the runtime.
    pub sent: u64,
    /// When the thread stopped sending (after the last request, or when told to stop).
    pub stopped_at: Instant,
}

/// The running dispatcher thread.
pub(crate) struct Dispatcher {
    stop: Option<std_mpsc::Sender<()>>,
    /// Resolves when the thread has stopped sending.
    pub done: oneshot::Receiver<Dispatched>,
}

impl Dispatcher {
    /// Start sending `job`'s schedule on the current tokio runtime.
    pub fn start<C: LlmClient>(job: Job<C>) -> std::io::Result<Dispatcher> {
        let runtime = tokio::runtime::Handle::current();
        let (stop_tx, stop_rx) = std_mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("mst-dispatch".into())
            .spawn(move || {
                let dispatched = run(job, &runtime, &stop_rx);
                let _ = done_tx.send(dispatched);
            })?;
        Ok(Dispatcher {
            stop: Some(stop_tx),
            done: done_rx,
        })
    }

    /// Stop sending; requests already sent go on (cancel them through their [`Cancel`]).
    pub fn stop(&mut self) {
        // Dropping the sender wakes the thread from its sleep.
        self.stop = None;
    }
}

/// Sleep until `due` unless told to stop; true when it is time to send.
pub(super) fn wait_until(due: Instant, stop: &std_mpsc::Receiver<()>) -> bool {
    loop {
        let now = Instant::now();
        if now >= due {
            return true;
        }
        match stop.recv_timeout(due - now) {
            Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
            Ok(()) | Err(std_mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
}

fn run<C: LlmClient>(
    job: Job<C>,
    runtime: &tokio::runtime::Handle,
    stop: &std_mpsc::Receiver<()>,
) -> Dispatched {
    let mut sent = 0u64;
    for (i, offset) in job.schedule.iter().enumerate() {
        let idx = i as u64;
        // Built before the deadline, so its cost is not lag.
        let spec = match &job.replay {
            Some(r) => job
                .workload
                .trace_request(&r.trace, job.seed, idx, r.slots[i]),
            None => job.workload.request(job.seed, idx, &job.size),
        };
        if !wait_until(job.t0 + *offset, stop) {
            break;
        }
        let slot = Slot {
            request_idx: idx,
            t0: job.t0,
            intended: *offset,
        };
        runtime.spawn(request_task(
            job.client.clone(),
            spec,
            slot,
            job.cancel.clone(),
            job.records.clone(),
        ));
        sent += 1;
        job.progress.sent.fetch_add(1, Ordering::Relaxed);
    }
    Dispatched {
        sent,
        stopped_at: Instant::now(),
    }
}

/// One request, ending in exactly one record on `records` — a panicking client included.
async fn request_task<C: LlmClient>(
    client: Arc<C>,
    spec: RequestSpec,
    slot: Slot,
    cancel: Arc<Cancel>,
    records: mpsc::UnboundedSender<RequestRecord>,
) {
    let rec = send_caught(&*client, &spec, slot, &cancel).await;
    // The receiver is gone only when the iteration itself was dropped.
    let _ = records.send(rec);
}

/// Send one request and return its record, also when the client panics (then the record is a
/// [`ErrorKind::Cancelled`] failure saying so): every request sent has exactly one record. Used
/// by the open-loop dispatcher and by the closed loops ([`crate::load::users`]).
pub(crate) async fn send_caught<C: LlmClient>(
    client: &C,
    spec: &RequestSpec,
    slot: Slot,
    cancel: &Cancel,
) -> RequestRecord {
    let sent = AssertUnwindSafe(client.send(spec, slot, cancel))
        .catch_unwind()
        .await;
    sent.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let mut rec = slot.record(spec, slot.intended);
        rec.end = slot.t0.elapsed();
        rec.error = Some(ErrorKind::Cancelled);
        rec.error_detail = Some(format!("client task failed: {what}"));
        rec
    })
}
