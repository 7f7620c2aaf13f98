//! The server's saturated rate, the capacity the adaptive search aims from, measured two ways:
//! over an open-loop iteration ([`iteration_throughput`]: successful completions from the first
//! one to the end of sending, which under an overload run at the server's full rate), and by
//! the saturation probe before a size's first iteration ([`run`]), so the first iteration can
//! start near the capacity instead of ramping up to it from `REQ_MIN_START`.
//!
//! # The probe
//!
//! A closed loop of `PROBE_CONCURRENCY` users, each sending the size's next request as soon as
//! its previous one ends, for `PROBE_DURATION`; then every request still in flight is cancelled.
//! With more users than the server's batch limit the server is saturated throughout, admitting
//! a new request whenever one finishes, as it is under an open-loop overload.
//!
//! Completions of a closed loop come in waves (the first batch starts together and ends
//! together), so counting them over a window is off by up to one wave. The probe counts
//! generated **tokens** instead, stamped by the chunks that carried them: tokens in the steady
//! part of the probe (see [`measure`]) divided by the mean output tokens of the probe's
//! successful requests give request-equivalents completed, and over the window's length the
//! saturated rate ([`Throughput`]). Without a successful request, or without a steady part,
//! it measured nothing.

use crate::client::{Cancel, LlmClient, Slot};
use crate::record::{ErrorKind, RequestRecord};
use crate::search::Throughput;
use crate::size::SizeSpec;
use crate::workload::Workload;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How the probe runs (`PROBE_DURATION`, `PROBE_CONCURRENCY`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProbeSettings {
    /// How long the server is kept full.
    #[serde(rename = "PROBE_DURATION", serialize_with = "secs")]
    pub duration: Duration,
    /// Requests kept in flight.
    #[serde(rename = "PROBE_CONCURRENCY")]
    pub concurrency: u32,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}s", d.as_secs_f64()))
}

/// What the probe saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// The saturated rate as request-equivalents over the measured window; None when no token
    /// came in it.
    pub throughput: Option<Throughput>,
    /// Requests sent, and of them those that ended successfully.
    pub sent: u64,
    pub succeeded: u64,
    /// Generated tokens stamped inside the measured window.
    pub tokens_in_window: u64,
    /// Wall time the probe took, drain of the cancelled requests included.
    pub elapsed: Duration,
}

/// Runs the probe for `size` (prompts drawn with `seed`); a cancelled `interrupt` ends it early
/// and measures nothing.
pub async fn run<C: LlmClient>(
    client: Arc<C>,
    workload: Arc<Workload>,
    size: SizeSpec,
    settings: ProbeSettings,
    seed: u64,
    interrupt: &CancellationToken,
) -> ProbeReport {
    let t0 = Instant::now();
    let cancel = Cancel::new();
    let next = Arc::new(AtomicU64::new(0));
    let deadline = t0 + settings.duration;
    let mut users = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency.max(1) {
        let (client, workload, cancel, next) = (
            client.clone(),
            workload.clone(),
            cancel.clone(),
            next.clone(),
        );
        users.spawn(async move {
            let mut records = Vec::new();
            while Instant::now() < deadline && !cancel.is_cancelled() {
                let idx = next.fetch_add(1, Ordering::Relaxed);
                let spec = workload.request(seed, idx, &size);
                let slot = Slot {
                    request_idx: idx,
                    t0,
                    intended: t0.elapsed(),
                };
                records.push(client.send(&spec, slot, &cancel).await);
            }
            records
        });
    }
    let interrupted = tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => false,
        _ = interrupt.cancelled() => true,
    };
    cancel.cancel(ErrorKind::Cancelled);
    let mut records = Vec::new();
    while let Some(done) = users.join_next().await {
        // A user task that panicked lost its records; the rest still measure.
        if let Ok(mut r) = done {
            records.append(&mut r);
        }
    }
    let mut report = measure(&records, settings.duration);
    if interrupted {
        report.throughput = None;
    }
    report.elapsed = t0.elapsed();
    report
}

/// The probe's measurement over its records (see the module's method): tokens stamped in the
/// steady part of the probe, over the mean output tokens of the successful requests. The steady
/// part starts at half the probe or at twice the first request's end, whichever is later: by
/// then every batch slot has been recycled at least once, so admissions (and their prefill)
/// run at the pace of completions, as in an overloaded open loop. Before that the batch only
/// decodes, which would over-measure a prefill-heavy size. It measures nothing when the steady
/// part is shorter than a fifth of the probe (`PROBE_DURATION` too short for the size).
pub fn measure(records: &[RequestRecord], duration: Duration) -> ProbeReport {
    let ok: Vec<&RequestRecord> = records.iter().filter(|r| r.success()).collect();
    let first_end = ok.iter().map(|r| r.end).min();
    let w0 = (duration / 2).max(first_end.map_or(duration, |e| e * 2));
    let w1 = duration;
    let mut tokens = 0u64;
    for r in records {
        for &us in &r.token_offsets_us {
            let at = r.actual_send + Duration::from_micros(u64::from(us));
            if at >= w0 && at < w1 {
                tokens += 1;
            }
        }
    }
    let mean_out = if ok.is_empty() {
        0.0
    } else {
        ok.iter().map(|r| f64::from(r.output_tokens)).sum::<f64>() / ok.len() as f64
    };
    let window_s = w1.saturating_sub(w0).as_secs_f64();
    let steady = window_s >= duration.as_secs_f64() / 5.0;
    let throughput = (steady && tokens > 0 && mean_out >= 1.0).then(|| Throughput {
        completions: (tokens as f64 / mean_out).round() as u64,
        window_s,
        saturated: true,
    });
    ProbeReport {
        throughput,
        sent: records.len() as u64,
        succeeded: ok.len() as u64,
        tokens_in_window: tokens,
        elapsed: Duration::ZERO,
    }
}

/// What an open-loop iteration says about the capacity. It is **saturated** when the
/// watchdog aborted it as overloaded, or when its successful completions over the steady
/// window's start (`FILTER_BUFFER`, or the first completion if later) to the end of sending fell
/// short of the offered count by more than
/// [`SATURATION_SIGMAS`](crate::search::estimate::SATURATION_SIGMAS) Poisson σ
/// ([`Throughput::saturated_at`]); the steady window leaves out the start, where completions
/// lag the sends while the batch fills. A saturated iteration's rate is taken over its **busy
/// period**, from the first successful completion to the last, the drain included (the server
/// keeps working through its backlog at full rate after sending stops). An unsaturated one
/// reports its completions over the steady window. None for an unaborted iteration with fewer
/// than two successes; an aborted one is always saturated, its rate possibly empty.
pub fn iteration_throughput(
    meta: &crate::iteration::IterationMeta,
    records: &[RequestRecord],
) -> Option<Throughput> {
    let mut ends: Vec<Duration> = records
        .iter()
        .filter(|r| r.success())
        .map(|r| r.end)
        .collect();
    ends.sort();
    let busy = match (ends.first(), ends.last()) {
        (Some(&first), Some(&last)) if last > first => Throughput {
            // n completions span n - 1 gaps.
            completions: ends.len() as u64 - 1,
            window_s: (last - first).as_secs_f64(),
            saturated: true,
        },
        _ => Throughput {
            completions: 0,
            window_s: 0.0,
            saturated: true,
        },
    };
    if matches!(
        meta.completion,
        crate::iteration::Completion::AbortedEarly(_)
    ) {
        return Some(busy);
    }
    let stop = meta.sending_stopped;
    let w0 = meta.filter_buffer.max(*ends.first()?);
    if w0 >= stop || ends.len() < 2 {
        return None;
    }
    let steady = Throughput {
        completions: ends.iter().filter(|&&e| e >= w0 && e < stop).count() as u64,
        window_s: (stop - w0).as_secs_f64(),
        saturated: false,
    };
    Some(if steady.saturated_at(meta.req_min) {
        busy
    } else {
        steady
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(send_s: f64, first_s: f64, tokens: u32, out: u32, ok: bool) -> RequestRecord {
        let spec = crate::client::RequestSpec {
            prompt: crate::client::Prompt::Text("x".into()),
            input_tokens: 1,
            class: None,
            output_tokens: out,
            temperature: 0.0,
        };
        let slot = Slot {
            request_idx: 0,
            t0: Instant::now(),
            intended: Duration::from_secs_f64(send_s),
        };
        let mut r = slot.record(&spec, Duration::from_secs_f64(send_s));
        // One token every 0.1 s from the first.
        r.token_offsets_us = (0..tokens)
            .map(|i| ((first_s - send_s + 0.1 * f64::from(i)) * 1e6) as u32)
            .collect();
        r.output_tokens = tokens;
        r.end = Duration::from_secs_f64(first_s + 0.1 * f64::from(tokens));
        if !ok {
            r.error = Some(ErrorKind::Cancelled);
        }
        r
    }

    #[test]
    fn tokens_in_the_second_half_over_the_mean_output_give_request_equivalents() {
        // Probe of 10 s; the first request ends at 2.1 s, so the window is [5, 10). Two more
        // requests of 20 tokens each lie wholly in it (tokens at 5.0..6.9 and 6.0..7.9): 40
        // tokens = 2 requests over 5 s.
        let records = vec![
            rec(0.0, 0.1, 20, 20, true),
            rec(4.0, 5.0, 20, 20, true),
            rec(5.5, 6.0, 20, 20, true),
        ];
        let m = measure(&records, Duration::from_secs(10));
        assert_eq!(m.tokens_in_window, 40);
        let t = m.throughput.unwrap();
        assert_eq!((t.completions, t.window_s), (2, 5.0));
        assert_eq!(t.req_min(), Some(24.0));
    }

    #[test]
    fn tokens_before_the_window_and_of_cancelled_requests_count_by_their_stamps() {
        // 10 tokens at 4.0..4.9 (before the window), then a cancelled one with 10 tokens at
        // 9.5..10.4 of which 5 fall before 10 s. Mean output from the successful one: 10.
        let records = vec![
            rec(0.0, 0.5, 10, 10, true),
            rec(3.0, 4.0, 10, 10, true),
            rec(9.0, 9.5, 10, 50, false),
        ];
        let m = measure(&records, Duration::from_secs(10));
        assert_eq!(m.tokens_in_window, 5);
        assert_eq!(m.succeeded, 2);
        assert_eq!(m.throughput.unwrap().completions, 1); // 5 / 10 rounds to 1 (0.5 up)
    }

    #[test]
    fn a_slow_first_request_moves_the_window_and_too_slow_a_one_measures_nothing() {
        // The first request ends at 4.0 s: the window is [8, 10), a fifth of the probe.
        let slow = |end_first: f64| {
            vec![
                rec(0.0, end_first - 1.0, 10, 10, true),
                rec(7.0, 8.5, 10, 10, true),
            ]
        };
        let m = measure(&slow(4.0), Duration::from_secs(10));
        assert_eq!(m.tokens_in_window, 10);
        assert_eq!(m.throughput.map(|t| t.window_s), Some(2.0));
        // Ending at 4.5 s leaves [9, 10): shorter than a fifth, no steady part.
        assert_eq!(
            measure(&slow(4.5), Duration::from_secs(10)).throughput,
            None
        );
    }

    /// Successful requests ending every `gap_s` from `first_s` to `last_s`.
    fn ends(first_s: f64, last_s: f64, gap_s: f64) -> Vec<RequestRecord> {
        let mut out = Vec::new();
        let mut t = first_s;
        while t <= last_s + 1e-9 {
            out.push(rec(t - 0.2, t - 0.1, 1, 1, true));
            t += gap_s;
        }
        out
    }

    fn meta(
        req_min: f64,
        completion: crate::iteration::Completion,
    ) -> crate::iteration::IterationMeta {
        crate::iteration::IterationMeta {
            req_min,
            duration: Duration::from_secs(60),
            filter_buffer: Duration::from_secs(10),
            sending_stopped: Duration::from_secs(60),
            completion,
            ..crate::metrics::tests::sample_meta()
        }
    }

    #[test]
    fn an_iteration_that_kept_up_reports_its_steady_window_unsaturated() {
        // 600 req/min offered, one completion every 0.1 s from 1 s to 59.9 s: 500 in [10, 60).
        let t = iteration_throughput(
            &meta(600.0, crate::iteration::Completion::Complete),
            &ends(1.0, 59.95, 0.1),
        )
        .unwrap();
        assert!(!t.saturated);
        assert_eq!((t.completions, t.window_s), (500, 50.0));
    }

    #[test]
    fn a_shortfall_beyond_three_sigma_reports_the_busy_period_saturated() {
        // 600 req/min offered (500 expected in the steady window, 3 sigma = 67); one
        // completion every 0.15 s (400/min) from 1 s through a drain to 80 s.
        let records = ends(1.0, 80.0, 0.15);
        let t = iteration_throughput(
            &meta(600.0, crate::iteration::Completion::Complete),
            &records,
        )
        .unwrap();
        assert!(t.saturated);
        assert_eq!(t.completions, records.len() as u64 - 1);
        let rate = t.req_min().unwrap();
        assert!((rate - 400.0).abs() < 1.0, "{rate}");
    }

    #[test]
    fn an_aborted_iteration_is_saturated_even_with_no_rate_to_read() {
        let aborted = || crate::iteration::Completion::AbortedEarly("backlog".into());
        let t = iteration_throughput(&meta(600.0, aborted()), &[]).unwrap();
        assert!(t.saturated);
        assert_eq!(t.req_min(), None);
        // Unaborted with a single success says nothing.
        let one = ends(1.0, 1.0, 1.0);
        assert_eq!(
            iteration_throughput(&meta(600.0, crate::iteration::Completion::Complete), &one),
            None
        );
    }

    #[test]
    fn no_token_in_the_window_measures_nothing() {
        let records = vec![rec(0.0, 1.0, 10, 10, true)];
        assert_eq!(measure(&records, Duration::from_secs(10)).throughput, None);
        assert_eq!(measure(&[], Duration::from_secs(10)).throughput, None);
    }
}
