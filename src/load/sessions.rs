//! Multi-turn sessions (`SESSION_TURNS` > 1, chat API): sessions, not requests, arrive on the
//! iteration's arrival schedule, and each runs its turns in order. Turn 1 sends the workload's
//! chat prompt (system + user message of the size's input length); turn k sends the whole
//! conversation so far — every earlier message and the server's answers as the client received
//! them — plus a new user message of the size's input length, so a server's prefix cache sees
//! the reuse a chat user causes. This follows AIPerf's multi-turn mode (full history with the
//! assistant's actual answers, a delay before every turn after the first, conversations
//! started at the request rate).
//!
//! Timing: a session's first turn is due at its arrival; a later turn at the previous turn's end
//! plus `THINK_TIME`, which is its intended send time (so its schedule lag is the client's own
//! lateness, and its queueing delay counts from there). Session starts are sent by a dedicated
//! thread on the OS's timer, as the open-loop dispatcher does ([`super::dispatch`]); later turns
//! wait on the runtime's timer (about a millisecond of lag, recorded as such).
//!
//! Sending stops at `DURATION`: sessions start only before it, and a turn whose intended send
//! time comes at or after it is not sent. Turns in flight then drain like requests
//! (`DRAIN_TIMEOUT`). A failed turn ends its session (the next turn would have no answer to
//! send back). Each turn is one [`RequestRecord`] with its `session` and `turn`; request `idx`
//! of turn k of session s is `s × SESSION_TURNS + k − 1`, which also seeds its user message, so
//! every turn of every session has its own prompt and a rerun the same ones.

use crate::client::{Cancel, ChatMessage, LlmClient, Prompt, RequestSpec, SessionTurn, Slot};
use crate::iteration::{Completion, IterationMeta};
use crate::load::arrivals;
use crate::load::dispatch::wait_until;
use crate::load::runner::{Collector, Ended, IterationPlan, Progress, drain, finish};
use crate::load::usage;
use crate::load::watchdog::{Fired, Watchdog};
use crate::record::{ErrorKind, RequestRecord};
use crate::workload::Workload;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How the sessions of an iteration run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionsPlan {
    /// `SESSION_TURNS`: turns per session (> 1).
    pub turns: u32,
    /// `THINK_TIME`: pause between a turn's answer and the next turn's send.
    pub think_time: Duration,
}

impl SessionsPlan {
    /// Request index of turn `turn` (1-based) of session `session`.
    pub fn request_idx(&self, session: u64, turn: u32) -> u64 {
        session * u64::from(self.turns) + u64::from(turn.saturating_sub(1))
    }
}

/// What every session task shares.
struct Shared<C> {
    client: Arc<C>,
    workload: Arc<Workload>,
    plan: SessionsPlan,
    seed: u64,
    size: crate::size::SizeSpec,
    t0: Instant,
    /// `t0 + DURATION`: no turn is sent at or after it.
    send_until: Instant,
    cancel: Arc<Cancel>,
    /// Cancelled when sending stops (DURATION reached, interrupt, early abort).
    stop_sending: CancellationToken,
    progress: Arc<Progress>,
    records: mpsc::UnboundedSender<RequestRecord>,
}

/// Run one iteration of sessions; see the module header. Returns what
/// [`crate::load::runner::run_iteration`] returns: the meta and one record per turn sent.
pub async fn run_sessions<C: LlmClient>(
    client: Arc<C>,
    workload: Arc<Workload>,
    plan: &IterationPlan,
    sessions: SessionsPlan,
    interrupt: &CancellationToken,
    progress: Arc<Progress>,
) -> (IterationMeta, Vec<RequestRecord>) {
    let starts = arrivals::schedule(plan.arrival, plan.req_min, plan.duration, plan.seed);
    let scheduled = starts.len() as u64;
    let cancel = Cancel::new();
    let cpu_before = usage::process_cpu();
    let lead = Duration::from_millis(20);
    let t0 = Instant::now() + lead;
    let started_at = chrono::Local::now() + lead;
    let (records_tx, mut records_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        client,
        workload: workload.clone(),
        plan: sessions,
        seed: plan.seed,
        size: plan.size,
        t0,
        send_until: t0 + plan.duration,
        cancel: cancel.clone(),
        stop_sending: CancellationToken::new(),
        progress: progress.clone(),
        records: records_tx,
    });
    let mut col = Collector {
        records: Vec::new(),
        progress: &progress,
        max_in_flight: 0,
    };
    let mut completion = Completion::Complete;
    // Dropping `stop_tx` wakes the starter thread and stops it.
    let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
    let starter = {
        let shared = shared.clone();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("mst-sessions".into())
            .spawn(move || start_sessions(shared, &starts, &runtime, &stop_rx))
    };
    if let Err(e) = starter {
        completion = Completion::Interrupted(format!("cannot start the sessions thread: {e}"));
        shared.stop_sending.cancel();
    }
    // Early accept reads requests in index order as send order, which sessions do not keep.
    let mut watch_plan = plan.clone();
    watch_plan.early_accept = None;
    let watchdog = Watchdog::spawn(&watch_plan, t0, progress.clone());

    // Sending: until DURATION, a stop, or the end of every session.
    let sending_deadline = tokio::time::Instant::from_std(t0 + plan.duration);
    let stop_sending = shared.stop_sending.clone();
    let mut sending_ended = None;
    // This task's own handle would keep the channel open for ever.
    drop(shared);
    let mut channel_open = true;
    while sending_ended.is_none() && channel_open {
        tokio::select! {
            biased;
            _ = interrupt.cancelled() => {
                completion = Completion::Interrupted("interrupted while sending".into());
                sending_ended = Some(Instant::now());
            }
            _ = watchdog.fired().cancelled() => {
                completion = match watchdog.outcome() {
                    Some(Fired::Accept(why)) => Completion::AcceptedEarly(why),
                    Some(Fired::Abort(why)) => Completion::AbortedEarly(why),
                    None => Completion::AbortedEarly(String::new()),
                };
                sending_ended = Some(Instant::now());
            }
            _ = tokio::time::sleep_until(sending_deadline) => {
                sending_ended = Some(Instant::now());
            }
            rec = records_rx.recv() => match rec {
                Some(rec) => col.take(rec),
                None => channel_open = false,
            },
        }
    }
    let sending_ended = sending_ended.unwrap_or_else(Instant::now);
    stop_sending.cancel();
    drop(stop_tx);
    let sent_for = sending_ended.saturating_duration_since(t0);
    let sending_stopped = match completion {
        Completion::Complete => plan.duration.max(sent_for),
        _ => sent_for,
    };

    // Drain: turns in flight may finish until the limit; no new turn is sent.
    drop(watchdog);
    if !matches!(
        completion,
        Completion::Complete | Completion::AcceptedEarly(_)
    ) {
        cancel.cancel(ErrorKind::Cancelled);
    }
    // Every session task and the starter hold a sender until they end, so the drain takes
    // records until the channel closes.
    drain(
        &mut col,
        &mut records_rx,
        u64::MAX,
        &cancel,
        interrupt,
        plan.drain_timeout,
        &mut completion,
    )
    .await;
    let ended = t0.elapsed();
    let later_turns = col.records.iter().filter(|r| r.turn > Some(1)).count() as u64;
    let (mut meta, records) = finish(
        plan,
        &workload,
        Ended {
            started_at,
            // The schedule's sessions (their first turns) and the later turns that came due.
            planned_requests: scheduled + later_turns,
            sending_stopped,
            ended,
            completion,
            cpu_before,
        },
        col,
    );
    meta.session_turns = Some(sessions.turns);
    // A turn's length comes from the conversation, not from a dataset: nothing is clipped.
    meta.output_clipped = None;
    (meta, records)
}

/// The starter thread: start session i at `t0 + starts[i]`, its first turn's prompt built
/// before the deadline so its cost is not lag. Ends early when told to stop.
fn start_sessions<C: LlmClient>(
    shared: Arc<Shared<C>>,
    starts: &[Duration],
    runtime: &tokio::runtime::Handle,
    stop: &std_mpsc::Receiver<()>,
) {
    for (i, offset) in starts.iter().enumerate() {
        let session = i as u64;
        let first = first_turn(&shared, session);
        if !wait_until(shared.t0 + *offset, stop) || shared.stop_sending.is_cancelled() {
            break;
        }
        runtime.spawn(run_session(shared.clone(), session, *offset, first));
    }
}

/// Turn 1 of `session`: the workload's own chat prompt.
fn first_turn<C>(shared: &Shared<C>, session: u64) -> RequestSpec {
    let idx = shared.plan.request_idx(session, 1);
    let mut spec = shared.workload.request(shared.seed, idx, &shared.size);
    spec.session = Some(SessionTurn { session, turn: 1 });
    spec
}

/// One session: its turns in order, each sent with the conversation so far, until the last
/// turn, a failed turn, or the end of sending.
async fn run_session<C: LlmClient>(
    shared: Arc<Shared<C>>,
    session: u64,
    start: Duration,
    first: RequestSpec,
) {
    let plan = shared.plan;
    let mut spec = first;
    let mut intended = start;
    for turn in 1..=plan.turns {
        if turn > 1 {
            let due = shared.t0 + intended;
            if due >= shared.send_until {
                return;
            }
            tokio::select! {
                biased;
                _ = shared.stop_sending.cancelled() => return,
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
            }
            if shared.stop_sending.is_cancelled() {
                return;
            }
        }
        shared.progress.sent.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            request_idx: plan.request_idx(session, turn),
            t0: shared.t0,
            intended,
        };
        let mut rec = send(&shared, &spec, slot).await;
        let answer = rec.answer_text.take();
        let failed = !rec.success();
        let end = rec.end;
        let prompt_tokens = rec.server_prompt_tokens.unwrap_or(rec.input_tokens);
        let output_tokens = rec.output_tokens;
        // The receiver is gone only when the iteration itself was dropped.
        let _ = shared.records.send(rec);
        if failed || turn == plan.turns {
            return;
        }
        spec = next_turn(
            &shared,
            spec,
            session,
            turn + 1,
            answer.unwrap_or_default(),
            prompt_tokens.saturating_add(output_tokens),
        );
        intended = end + plan.think_time;
    }
}

/// Turn `turn` of `session`: the previous turn's messages, its answer as the assistant's
/// message, and the workload's user message of request `idx` (its own seed). Its input tokens
/// are the previous prompt and answer (`before`, the server's counts when it gave them) plus
/// the new message's: an estimate that leaves out the chat template's tokens around the two new
/// messages (`server_prompt_tokens` has the server's own count).
fn next_turn<C>(
    shared: &Shared<C>,
    previous: RequestSpec,
    session: u64,
    turn: u32,
    answer: String,
    before: u32,
) -> RequestSpec {
    let idx = shared.plan.request_idx(session, turn);
    let fresh = shared.workload.request(shared.seed, idx, &shared.size);
    let added = shared.workload.user_message_tokens(&fresh);
    let user = match fresh.prompt {
        Prompt::Chat(mut m) => m.pop(),
        _ => None,
    };
    let mut messages = match previous.prompt {
        Prompt::Chat(m) => m,
        _ => Vec::new(),
    };
    messages.push(ChatMessage {
        role: "assistant".into(),
        content: answer,
    });
    messages.extend(user);
    RequestSpec {
        prompt: Prompt::Chat(messages),
        input_tokens: before.saturating_add(added),
        // A session stays with the model its first turn drew.
        model: previous.model,
        session: Some(SessionTurn { session, turn }),
        ..fresh
    }
}

/// Send one turn; a panicking client still gives a record.
async fn send<C: LlmClient>(shared: &Shared<C>, spec: &RequestSpec, slot: Slot) -> RequestRecord {
    let sent = AssertUnwindSafe(shared.client.send(spec, slot, &shared.cancel))
        .catch_unwind()
        .await;
    sent.unwrap_or_else(|_| {
        let mut rec = slot.record(spec, slot.intended);
        rec.end = slot.t0.elapsed();
        rec.error = Some(ErrorKind::Cancelled);
        rec.error_detail = Some("client task failed: a panic".into());
        rec
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_indices_group_turns_by_session_and_never_collide() {
        let p = SessionsPlan {
            turns: 3,
            think_time: Duration::ZERO,
        };
        let idx: Vec<u64> = (0..4)
            .flat_map(|s| (1..=3).map(move |t| p.request_idx(s, t)))
            .collect();
        assert_eq!(idx, (0..12).collect::<Vec<u64>>());
    }
}
