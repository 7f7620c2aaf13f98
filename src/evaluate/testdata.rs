//! Constructed iterations for the evaluators' unit tests: a steady stream of requests whose
//! queueing delay and decode time follow a formula of the send time, so each test states the
//! shape of the load it judges (flat, growing, slower second half, failing) in one line.

use super::{EvalInput, PastIteration, Verdict};
use crate::iteration::IterationMeta;
use crate::metrics::{self, IterationSummary};
use crate::record::{ErrorKind, RequestRecord};
use std::time::Duration;

/// One iteration built from a formula.
pub(crate) struct Synth {
    pub meta: IterationMeta,
    pub records: Vec<RequestRecord>,
    pub summary: IterationSummary,
}

/// `n` requests evenly spaced over `duration_s` at `req_min`; request i sent at `t` waits
/// `delay_ms(i, t)` for its first token, then produces 10 tokens `step_ms(i, t)` apart. Every
/// `fail_every`-th request (if any) fails with HTTP 500 at once.
pub(crate) fn synth(
    duration_s: f64,
    buffer_s: f64,
    n: usize,
    delay_ms: impl Fn(usize, f64) -> f64,
    step_ms: impl Fn(usize, f64) -> f64,
    fail_every: Option<usize>,
) -> Synth {
    let mut meta = crate::metrics::tests::sample_meta();
    meta.duration = Duration::from_secs_f64(duration_s);
    meta.sending_stopped = meta.duration;
    meta.filter_buffer = Duration::from_secs_f64(buffer_s);
    meta.req_min = n as f64 / duration_s * 60.0;
    meta.planned_requests = n as u64;
    let records: Vec<RequestRecord> = (0..n)
        .map(|i| {
            let t = duration_s * i as f64 / n as f64;
            let idx = i as u64;
            if fail_every.is_some_and(|k| i % k == k - 1) {
                let mut r = crate::metrics::tests::record(
                    idx,
                    0,
                    0,
                    &[],
                    1,
                    0,
                    Some(ErrorKind::HttpStatus),
                );
                r.intended_send = Duration::from_secs_f64(t);
                r.actual_send = r.intended_send;
                r.end = r.intended_send + Duration::from_millis(1);
                r.http_status = Some(500);
                return r;
            }
            let first_ms = delay_ms(i, t);
            let step = step_ms(i, t);
            let offsets_us: Vec<u32> = (0..10)
                .map(|k| ((first_ms + step * k as f64) * 1000.0) as u32)
                .collect();
            let send = Duration::from_secs_f64(t);
            let last = Duration::from_micros(u64::from(offsets_us[9]));
            let mut r = RequestRecord::new(idx, send, send, 100, 10);
            r.first_token = Some(send + Duration::from_micros(u64::from(offsets_us[0])));
            r.first_answer_token = r.first_token;
            r.token_offsets_us = offsets_us;
            r.end = send + last;
            r.server_prompt_tokens = Some(100);
            r.output_tokens = 10;
            r.http_status = Some(200);
            r
        })
        .collect();
    meta.ended = records
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or(meta.duration)
        .max(meta.duration);
    let summary = metrics::summarize(&meta, &records);
    Synth {
        meta,
        records,
        summary,
    }
}

impl Synth {
    /// Judge with `e` and no history.
    pub(crate) fn judge(&self, e: &dyn super::Evaluator) -> Verdict {
        self.judge_after(e, &[])
    }

    /// Judge with `e` after the given earlier iterations.
    pub(crate) fn judge_after(
        &self,
        e: &dyn super::Evaluator,
        history: &[PastIteration],
    ) -> Verdict {
        e.evaluate(&EvalInput {
            meta: &self.meta,
            records: &self.records,
            summary: &self.summary,
            history,
        })
    }
}

/// 20k requests over 10 minutes, the second half 1% slower: significant, not material.
pub(crate) fn one_percent_drift() -> Synth {
    synth(
        600.0,
        30.0,
        20_000,
        |i, _| 50.0 + 5.0 * wobble(i),
        |_, t| if t < 300.0 { 20.0 } else { 20.2 },
        None,
    )
}

/// A deterministic wobble in `[-1, 1]` of request `i`, so constructed latencies are not all equal.
pub(crate) fn wobble(i: usize) -> f64 {
    let x = (i as u64).wrapping_mul(2_654_435_761) % 1000;
    x as f64 / 500.0 - 1.0
}

/// The criterion called `name` in `v`.
/// `e` behind the success-rate gate at `SUCCESS_RATE=95`, as [`super::build`] wraps it.
pub(crate) fn gated(e: impl super::Evaluator + 'static) -> super::gate::Gated {
    super::gate::Gated {
        success_rate_pct: 95.0,
        inner: Box::new(e),
    }
}

pub(crate) fn criterion<'v>(v: &'v Verdict, name: &str) -> &'v super::Criterion {
    v.criteria
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no criterion {name} in {:?}", v.criteria))
}
