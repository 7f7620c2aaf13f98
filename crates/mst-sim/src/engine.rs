//! The engine: one task that owns the batch and advances it step by step on a virtual clock.
//!
//! It behaves like a continuous-batching server (vLLM): a FIFO waiting queue, at most
//! `max_num_seqs` running sequences, each reserving `prompt + max_tokens` tokens of a KV budget
//! while it runs. Each step admits from the head of the queue while both limits allow, lasts
//! `fixed + per_seq·running + per_prefill_token·admitted prompt tokens` model milliseconds, and
//! at its end gives every running sequence one token. The pure part ([`Core`]) is separate from
//! the task so the capacity formula can be checked against it in virtual time.
//!
//! A request whose client has gone is dropped (queued) or aborted (running), as vLLM does;
//! with [`EngineConfig::keep_abandoned`] it is generated to its end instead, as behind a
//! gateway that does not pass disconnects on, so an aborted overload leaves its queue behind.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::EngineConfig;

/// One sequence in the queue or the batch.
#[derive(Debug)]
pub(crate) struct Seq<T> {
    prompt_tokens: u32,
    reserve: u64,
    remaining: u32,
    stops_early: bool,
    payload: T,
}

/// What an admission pass did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Admitted {
    /// Sequences moved from the queue to the batch.
    pub count: u32,
    /// Their prompt tokens (prefilled in this step).
    pub prompt_tokens: u64,
    /// Queued sequences whose client had gone, dropped without running.
    pub dropped: u32,
}

/// What the end of a step did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StepEnd {
    /// Tokens handed out.
    pub tokens: u64,
    /// Sequences finished by end-of-sequence before `max_tokens`.
    pub finished_stop: u64,
    /// Sequences finished at `max_tokens`.
    pub finished_length: u64,
    /// Running sequences whose client had gone.
    pub aborted: u64,
}

impl StepEnd {
    /// Sequences finished normally.
    #[cfg(test)]
    pub fn finished(&self) -> u64 {
        self.finished_stop + self.finished_length
    }
}

/// The batch state machine, without time or I/O.
#[derive(Debug)]
pub(crate) struct Core<T> {
    waiting: VecDeque<Seq<T>>,
    running: Vec<Seq<T>>,
    kv_used: u64,
    max_num_seqs: usize,
    kv_budget: u64,
}

impl<T> Core<T> {
    pub fn new(max_num_seqs: u32, kv_budget: u64) -> Self {
        Core {
            waiting: VecDeque::new(),
            running: Vec::new(),
            kv_used: 0,
            max_num_seqs: max_num_seqs as usize,
            kv_budget,
        }
    }

    /// Queues a sequence that will produce `output_len` (at most `max_tokens`) tokens.
    pub fn push(&mut self, prompt_tokens: u32, max_tokens: u32, output_len: u32, payload: T) {
        self.waiting.push_back(Seq {
            prompt_tokens,
            reserve: u64::from(prompt_tokens) + u64::from(max_tokens),
            remaining: output_len.clamp(1, max_tokens.max(1)),
            stops_early: output_len < max_tokens,
            payload,
        });
    }

    #[cfg(test)]
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub fn running_len(&self) -> usize {
        self.running.len()
    }

    pub fn kv_used(&self) -> u64 {
        self.kv_used
    }

    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Admits from the head of the queue while the batch and the KV budget allow; head-of-line
    /// blocking is intended (FIFO). Sequences for which `gone` is true are dropped.
    pub fn admit(&mut self, gone: impl Fn(&T) -> bool) -> Admitted {
        let mut a = Admitted::default();
        while let Some(head) = self.waiting.front() {
            if gone(&head.payload) {
                self.waiting.pop_front();
                a.dropped += 1;
                continue;
            }
            if self.running.len() >= self.max_num_seqs
                || self.kv_used + head.reserve > self.kv_budget
            {
                break;
            }
            if let Some(seq) = self.waiting.pop_front() {
                self.kv_used += seq.reserve;
                a.count += 1;
                a.prompt_tokens += u64::from(seq.prompt_tokens);
                self.running.push(seq);
            }
        }
        a
    }

    /// Duration of a step with the current batch, model milliseconds.
    pub fn step_ms(&self, cfg: &EngineConfig, prefill_tokens: u64) -> f64 {
        cfg.step_fixed_ms
            + cfg.step_per_seq_ms * self.running.len() as f64
            + cfg.step_per_prefill_token_ms * prefill_tokens as f64
    }

    /// Gives every running sequence one token through `emit` (false: its client is gone, so it
    /// is aborted) and removes the finished ones. `emit`'s second argument says the token is
    /// the sequence's last.
    pub fn end_step(&mut self, mut emit: impl FnMut(&T, bool) -> bool) -> StepEnd {
        let mut e = StepEnd::default();
        let kv_used = &mut self.kv_used;
        self.running.retain_mut(|seq| {
            if !emit(&seq.payload, seq.remaining == 1) {
                e.aborted += 1;
                *kv_used -= seq.reserve;
                return false;
            }
            e.tokens += 1;
            seq.remaining -= 1;
            if seq.remaining > 0 {
                return true;
            }
            if seq.stops_early {
                e.finished_stop += 1;
            } else {
                e.finished_length += 1;
            }
            *kv_used -= seq.reserve;
            false
        });
        e
    }
}

/// A request handed to the engine.
#[derive(Debug)]
pub(crate) struct Submit {
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub output_len: u32,
    /// One `()` per generated token; dropping the receiver aborts the sequence.
    pub tx: mpsc::UnboundedSender<()>,
}

/// ∫ running dt since the server started: what the simulated GPUs' energy counters integrate.
#[derive(Debug)]
pub(crate) struct Occupancy {
    start: Instant,
    last: Instant,
    running: u32,
    seq_seconds: f64,
}

impl Default for Occupancy {
    fn default() -> Self {
        let now = Instant::now();
        Occupancy {
            start: now,
            last: now,
            running: 0,
            seq_seconds: 0.0,
        }
    }
}

impl Occupancy {
    /// The batch holds `running` sequences from `now` on.
    fn set(&mut self, now: Instant, running: u32) {
        self.seq_seconds += f64::from(self.running) * (now - self.last).as_secs_f64();
        self.last = now;
        self.running = running;
    }

    /// (seconds since start, ∫ running dt in sequence-seconds) at `now`, and the batch now.
    pub fn at(&self, now: Instant) -> (f64, f64, u32) {
        let since = now.saturating_duration_since(self.last).as_secs_f64();
        (
            now.saturating_duration_since(self.start).as_secs_f64(),
            self.seq_seconds + f64::from(self.running) * since,
            self.running,
        )
    }
}

/// Counters shared between the engine, the HTTP handlers and `stats()`/`/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub running: AtomicU32,
    /// The batch's occupancy over time, updated with `running` (see [`Shared::set_running`]).
    pub occupancy: std::sync::Mutex<Occupancy>,
    /// Queued, including requests still in the channel to the engine.
    pub waiting: AtomicUsize,
    pub max_waiting_seen: AtomicUsize,
    /// Requests handed to the engine and not yet finished, aborted or dropped.
    pub in_flight: AtomicU64,
    /// Largest `in_flight` since start.
    pub max_in_flight: AtomicU64,
    pub kv_used: AtomicU64,
    /// Requests handed to the engine.
    pub total_requests: AtomicU64,
    /// Requests answered with an error status (validation, faults, full queue).
    pub rejected_requests: AtomicU64,
    pub tokens_generated: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub finished_stop: AtomicU64,
    pub finished_length: AtomicU64,
    pub aborted: AtomicU64,
    /// Requests whose drawn faults included each kind (see [`super::FaultCounts`]).
    pub fault_500: AtomicU64,
    pub fault_429: AtomicU64,
    pub fault_cut: AtomicU64,
    pub fault_malformed: AtomicU64,
    pub fault_stall: AtomicU64,
    pub dropped_by_refusal: AtomicU64,
    /// Requests admitted per model name (see `SimServer::requests_by_model`).
    pub by_model: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// The received requests, when a test asked for them (see `SimServer::record_requests`).
    pub received: crate::received::RequestLog,
}

impl Shared {
    /// The batch holds `running` sequences from now on.
    fn set_running(&self, running: u32) {
        self.running.store(running, Ordering::Relaxed);
        if let Ok(mut o) = self.occupancy.lock() {
            o.set(Instant::now(), running);
        }
    }
}

/// Runs the engine until `cancel` fires or every sender of `rx` is gone.
pub(crate) async fn run(
    cfg: EngineConfig,
    mut rx: mpsc::UnboundedReceiver<Submit>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut core: Core<mpsc::UnboundedSender<()>> =
        Core::new(cfg.max_num_seqs, cfg.kv_cache_tokens);
    // The virtual clock: the instant the current step ends. Steps are laid end to end on it, so
    // sleeping to absolute instants never accumulates timer rounding.
    let mut clock = Instant::now();
    let push = |core: &mut Core<_>, s: Submit| {
        core.push(s.prompt_tokens, s.max_tokens, s.output_len, s.tx)
    };
    loop {
        while let Ok(s) = rx.try_recv() {
            push(&mut core, s);
        }
        if core.is_idle() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                m = rx.recv() => match m {
                    Some(s) => push(&mut core, s),
                    None => return,
                },
            }
            clock = Instant::now();
            continue;
        }
        // With `keep_abandoned` (a gateway that does not pass disconnects on) a request whose
        // client has gone is still admitted and generated to its end.
        let keep = cfg.keep_abandoned;
        let admitted = core.admit(|tx| !keep && tx.is_closed());
        let left_queue = (admitted.count + admitted.dropped) as usize;
        shared.waiting.fetch_sub(left_queue, Ordering::Relaxed);
        shared
            .in_flight
            .fetch_sub(u64::from(admitted.dropped), Ordering::Relaxed);
        shared
            .prompt_tokens
            .fetch_add(admitted.prompt_tokens, Ordering::Relaxed);
        if core.running_len() == 0 {
            continue;
        }
        shared.set_running(core.running_len() as u32);
        shared.kv_used.store(core.kv_used(), Ordering::Relaxed);

        let step_ms = core.step_ms(&cfg, admitted.prompt_tokens);
        clock += Duration::from_secs_f64(step_ms / 1000.0 / cfg.time_scale);
        if clock > Instant::now() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(clock) => {}
            }
        } else {
            // Behind the virtual clock: catch up without sleeping, but let other tasks run.
            tokio::task::yield_now().await;
            if cancel.is_cancelled() {
                return;
            }
        }

        let end = core.end_step(|tx, last| {
            // Out of flight before its client can see the last token, so a closed-loop client
            // that sends its next request at once is never counted with two.
            if last {
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
            let sent = tx.send(()).is_ok() || keep;
            if !sent && !last {
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
            sent
        });
        shared
            .tokens_generated
            .fetch_add(end.tokens, Ordering::Relaxed);
        shared
            .finished_stop
            .fetch_add(end.finished_stop, Ordering::Relaxed);
        shared
            .finished_length
            .fetch_add(end.finished_length, Ordering::Relaxed);
        shared.aborted.fetch_add(end.aborted, Ordering::Relaxed);
        shared.set_running(core.running_len() as u32);
        shared.kv_used.store(core.kv_used(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_is_fifo_and_bounded_by_seqs_and_kv() {
        let mut core: Core<u32> = Core::new(3, 100);
        core.push(10, 10, 10, 0); // 20 KV
        core.push(60, 10, 10, 1); // 70 KV
        core.push(5, 5, 5, 2); // 10 KV: exactly fills the budget
        core.push(1, 1, 1, 3);
        let a = core.admit(|_| false);
        assert_eq!((a.count, a.prompt_tokens), (3, 75));
        assert_eq!(core.kv_used(), 100);
        assert_eq!(core.waiting_len(), 1); // seq limit
    }

    #[test]
    fn first_token_after_prefill_step_and_exact_lengths() {
        let cfg = EngineConfig::default();
        let mut core: Core<u32> = Core::new(8, 1000);
        core.push(100, 3, 3, 0);
        core.push(100, 5, 2, 1); // stops early at 2 tokens
        let a = core.admit(|_| false);
        assert!((core.step_ms(&cfg, a.prompt_tokens) - (8.0 + 0.2 + 4.0)).abs() < 1e-12);
        let mut got = [0u32; 2];
        let mut ends = Vec::new();
        for _ in 0..3 {
            ends.push(core.end_step(|&id, _| {
                got[id as usize] += 1;
                true
            }));
        }
        assert_eq!(got, [3, 2]);
        assert_eq!(ends[1].finished_stop, 1);
        assert_eq!(ends[2].finished_length, 1);
        assert!(core.is_idle());
        assert_eq!(core.kv_used(), 0);
    }

    #[test]
    fn gone_clients_free_their_slot() {
        let mut core: Core<u32> = Core::new(1, 1000);
        core.push(1, 10, 10, 0);
        core.push(1, 10, 10, 1);
        core.admit(|_| false);
        let e = core.end_step(|&id, _| id != 0);
        assert_eq!(e.aborted, 1);
        assert_eq!(core.kv_used(), 0);
        let a = core.admit(|_| false);
        assert_eq!(a.count, 1);
    }
}
