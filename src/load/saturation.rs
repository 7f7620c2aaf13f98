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
//! A size whose first requests take long (long prompts queued behind one another, long
//! outputs) has no steady part in that time, so the probe is **extended** once its first
//! request ends at `e`: it runs until `2e + max(PROBE_DURATION / 2, 3e)`, but never past
//! `DURATION` (see [`probe_end`]).
//! With more users than the server's batch limit the server is saturated throughout, admitting
//! a new request whenever one finishes, as it is under an open-loop overload.
//!
//! The probe's rate is its successful completions over the steady part of the probe (see
//! [`measure`]), counted **from one completion to another** ([`full_rate`]): from the first
//! completion in the steady part up to, not including, the last one. Completions of a
//! saturated server can come in waves — a batch admitted together is prefilled together and
//! ends together, and with equal output lengths it stays in step — and a window with fixed
//! ends cuts a wave anywhere, off by up to a wave (22% under the capacity on a 2048:64 size
//! whose window held a wave and a half, when the probe counted generated tokens over a fixed
//! window). Counted from the start of one wave to the start of another, the window holds
//! whole waves; without waves, the count over the span between two completions is the usual
//! rate estimate. Without enough completions in the steady part it measured nothing.

#[cfg(test)]
use crate::client::Slot;
use crate::client::{Cancel, LlmClient};
use crate::record::{ErrorKind, RequestRecord};
use crate::search::Throughput;
use crate::size::SizeSpec;
use crate::workload::Workload;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// The longest the probe may be extended to (`DURATION`, or `duration` if that is
    /// longer); not a key of its own, so not in the resume fingerprint twice.
    #[serde(skip)]
    pub max_duration: Duration,
}

/// When the probe ends, given when its first successful request ended (`first_end`, from the
/// probe's start): `duration`, or later if that leaves less than half of it or three first-end
/// times (about three waves of completions when the first batch keeps in step) after
/// `2·first_end`: `2·first_end + max(duration / 2, 3·first_end)`, at most `max_duration`.
pub fn probe_end(settings: &ProbeSettings, first_end: Option<Duration>) -> Duration {
    let wanted = first_end.map_or(settings.duration, |e| {
        e * 2 + (settings.duration / 2).max(e * 3)
    });
    wanted.min(settings.max_duration).max(settings.duration)
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
    /// Successful completions counted in the measured window.
    pub completions_in_window: u64,
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
    let shared = Arc::new(crate::load::users::Loop {
        client,
        workload,
        size,
        seed,
        t0,
        cancel: Cancel::new(),
        stop: CancellationToken::new(),
        next: AtomicU64::new(0),
        progress: None,
        in_flight: AtomicU64::new(0),
        max_in_flight: AtomicU64::new(0),
    });
    // The probe's end in microseconds from t0: PROBE_DURATION until the first request ends.
    let end_us = Arc::new(AtomicU64::new(settings.duration.as_micros() as u64));
    let first_seen = Arc::new(AtomicBool::new(false));
    let mut users = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency.max(1) {
        let (shared, end_us, first_seen) = (shared.clone(), end_us.clone(), first_seen.clone());
        users.spawn(async move {
            let mut records = Vec::new();
            let before_end =
                || t0.elapsed() < Duration::from_micros(end_us.load(Ordering::Relaxed));
            crate::load::users::user(&shared, Duration::ZERO, before_end, |record| {
                if record.success() && !first_seen.swap(true, Ordering::Relaxed) {
                    // The first success fixes the end; later ones move nothing.
                    let end = probe_end(&settings, Some(record.end));
                    end_us.store(end.as_micros() as u64, Ordering::Relaxed);
                }
                records.push(record);
            })
            .await;
            records
        });
    }
    let interrupted = loop {
        let end = Duration::from_micros(end_us.load(Ordering::Relaxed));
        tokio::select! {
            _ = tokio::time::sleep_until((t0 + end).into()) => {
                if Duration::from_micros(end_us.load(Ordering::Relaxed)) <= end {
                    break false;
                }
            }
            _ = interrupt.cancelled() => break true,
        }
    };
    let end = Duration::from_micros(end_us.load(Ordering::Relaxed));
    shared.cancel.cancel(ErrorKind::Cancelled);
    let mut records = Vec::new();
    while let Some(done) = users.join_next().await {
        // A user task that panicked lost its records; the rest still measure.
        if let Ok(mut r) = done {
            records.append(&mut r);
        }
    }
    let mut report = measure(&records, settings.duration, end);
    if interrupted {
        report.throughput = None;
    }
    report.elapsed = t0.elapsed();
    report
}

/// The probe's measurement over its records (see the module's method). The steady part starts
/// at half of `duration` (`PROBE_DURATION`) or at twice the first request's end, whichever is
/// later: by then every batch slot has been recycled at least once, so admissions (and their
/// prefill) run at the pace of completions, as in an overloaded open loop. Before that the
/// batch only decodes, which would over-measure a prefill-heavy size. It ends at `end`, when
/// the probe stopped ([`probe_end`]). It measures nothing when the completions counted span
/// less than a fifth of `duration` or number fewer than [`SATURATED_MIN_COMPLETIONS`].
pub fn measure(records: &[RequestRecord], duration: Duration, end: Duration) -> ProbeReport {
    let ends = success_ends(records);
    let w0 = ends.first().map_or(end, |&e| (duration / 2).max(e * 2));
    let counted = full_rate(&ends, w0, end);
    ProbeReport {
        throughput: counted.filter(|t| t.window_s >= duration.as_secs_f64() / 5.0),
        sent: records.len() as u64,
        succeeded: ends.len() as u64,
        completions_in_window: counted.map_or(0, |t| t.completions),
        elapsed: Duration::ZERO,
    }
}

/// The ends of the successful requests, sorted.
fn success_ends(records: &[RequestRecord]) -> Vec<Duration> {
    let mut ends: Vec<Duration> = records
        .iter()
        .filter(|r| r.success())
        .map(|r| r.end)
        .collect();
    ends.sort();
    ends
}

/// A saturated server's rate from sorted completion times `ends`, between `from` and `to`,
/// counted over whole **clusters** of completions: a cluster starts at a completion that
/// follows the one before it by at least a quarter of the widest gap between the completions
/// in `[from, to)`. A wave that ends together reaches the client spread over a few
/// milliseconds (tens in a debug build under load), far less than the gap between waves;
/// without waves many completions start a cluster, and which ones does not matter. From the
/// start of the cluster the first completion at or after `from` belongs to (`t_a`, possibly a
/// few milliseconds before `from`) to the last cluster start before `to` (`t_b`), the
/// completions in `[t_a, t_b)` over `t_b − t_a`: the wave at `t_a` counts whole, the one at
/// `t_b` not at all. None with fewer than [`SATURATED_MIN_COMPLETIONS`] counted.
pub fn full_rate(ends: &[Duration], from: Duration, to: Duration) -> Option<Throughput> {
    let i0 = ends.partition_point(|&e| e < from);
    let i1 = ends.partition_point(|&e| e < to);
    if i1 < i0 + 2 {
        return None;
    }
    let widest = (i0 + 1..i1).map(|i| ends[i] - ends[i - 1]).max()?;
    let starts = |i: &usize| *i == 0 || ends[*i] - ends[*i - 1] >= widest / 4;
    // The cluster `from` falls in counts whole: its start may lie a little before `from`.
    let a = (0..=i0).rev().find(starts)?;
    let b = (i0..i1).rev().find(starts)?;
    let n = (b - a) as u64;
    (n >= SATURATED_MIN_COMPLETIONS).then(|| Throughput {
        completions: n,
        window_s: (ends[b] - ends[a]).as_secs_f64(),
        saturated: true,
    })
}

/// Completions a saturated iteration's full-rate window needs before its rate is read there
/// rather than over the busy period (a relative error of about 1/√10 from counting alone).
pub const SATURATED_MIN_COMPLETIONS: u64 = 10;

/// What an open-loop iteration says about the capacity. It is **saturated** when the
/// watchdog aborted it as overloaded, or when its successful completions over the steady
/// window's start (`FILTER_BUFFER`, or the first completion if later) to the end of sending fell
/// short of the offered count by more than
/// [`SATURATION_SIGMAS`](crate::search::estimate::SATURATION_SIGMAS) Poisson σ
/// ([`Throughput::saturated_at`]); the steady window leaves out the start, where completions
/// lag the sends while the batch fills.
///
/// A saturated iteration's rate is its completions over the **second half of sending**, or from
/// twice the first completion's end if later, to the end of sending ([`full_rate`], at least
/// [`SATURATED_MIN_COMPLETIONS`]). Arrivals faster than the server fill its batch, and once the
/// batch has been full for one E2E every slot has turned over and the server runs at its full
/// rate until sending stops. The first completion alone does not date that: at a small batch
/// a decode-heavy engine's steps are several times faster, so the first request ends well
/// before the batch fills (from twice its end, an iteration at 1.2 × capacity read 0.92 ×).
/// The drain after sending ends with the batch emptying, which would under-measure too. Over
/// the whole busy period (first to last success) the fill and that tail count as well (0.89 ×
/// on a decode-heavy size); it is the fallback when the window holds too few completions.
///
/// An iteration the watchdog aborted is saturated unless its completions kept pace with the
/// offered rate (a point comparison: the abort already says the run was in trouble); one with
/// no rate to read is saturated. An unsaturated iteration reports its completions over the
/// steady window. None for an unaborted iteration with fewer than two successes.
pub fn iteration_throughput(
    meta: &crate::iteration::IterationMeta,
    records: &[RequestRecord],
) -> Option<Throughput> {
    let ends = success_ends(records);
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
    let stop = meta.sending_stopped;
    let full = ends
        .first()
        .and_then(|&e| full_rate(&ends, (e * 2).max(stop / 2), stop));
    let busy = full.unwrap_or(busy);
    if matches!(
        meta.completion,
        crate::iteration::Completion::AbortedEarly(_)
    ) {
        // The watchdog stops a run whose queueing delay climbs, which a run near capacity can
        // do for a while without falling behind: one whose completions kept pace with the
        // offered rate measured that rate, not the capacity (at 0.925 × capacity such runs
        // completed at 0.98–1.04 ×).
        let kept_pace = busy.req_min().is_some_and(|r| r >= meta.req_min);
        return Some(Throughput {
            saturated: !kept_pace,
            ..busy
        });
    }
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
            model: None,
            output_tokens: out,
            temperature: 0.0,
            session: None,
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

    /// Successful requests ending in waves: `size` completions `jitter_s` apart at every
    /// `period_s` from `first_s` through `last_s`.
    fn waves(
        first_s: f64,
        last_s: f64,
        period_s: f64,
        size: u32,
        jitter_s: f64,
    ) -> Vec<RequestRecord> {
        let mut out = Vec::new();
        let mut t = first_s;
        while t <= last_s + 1e-9 {
            for k in 0..size {
                let end = t + jitter_s * f64::from(k);
                out.push(rec(end - 0.2, end - 0.1, 1, 1, true));
            }
            t += period_s;
        }
        out
    }

    #[test]
    fn waves_count_whole_however_the_window_cuts_them() {
        // 8 completions (1 ms apart) every 2 s from 3 s: 4 per second. The probe of 20 s ran
        // to 19.5 s; the steady part starts at 10 s (half the probe; twice the first end is
        // 6 s). Waves start at 11, 13, ..., 19: four whole waves from 11 to 19.
        let records = waves(3.0, 19.0, 2.0, 8, 0.001);
        let m = measure(
            &records,
            Duration::from_secs(20),
            Duration::from_secs_f64(19.5),
        );
        let t = m.throughput.unwrap();
        assert_eq!((t.completions, t.window_s), (32, 8.0));
        assert_eq!(t.req_min(), Some(240.0));
        // A fixed window [10, 19.5) would count five waves in 9.5 s: 253 req/min.
        assert_eq!(m.completions_in_window, 32);
        assert_eq!(m.succeeded, 72);
        // A steady start inside a wave (11.003 s, half of a 22.006-s probe) counts that wave
        // whole from its start at 11.000 s.
        let m = measure(
            &records,
            Duration::from_secs_f64(22.006),
            Duration::from_secs_f64(19.5),
        );
        let t = m.throughput.unwrap();
        assert_eq!(t.completions, 32);
        assert!((t.window_s - 8.0).abs() < 1e-9, "{}", t.window_s);
    }

    #[test]
    fn a_steady_stream_is_counted_between_two_completions() {
        // One completion every 0.1 s from 0.5 s; probe of 10 s: steady from 5 s, counted from
        // the completion at 5.0 s to the one at 9.9 s.
        let records = ends(0.5, 9.95, 0.1);
        let t = measure(&records, Duration::from_secs(10), Duration::from_secs(10))
            .throughput
            .unwrap();
        assert_eq!(t.completions, 49);
        assert!((t.window_s - 4.9).abs() < 1e-6, "{}", t.window_s);
        assert!((t.req_min().unwrap() - 600.0).abs() < 1e-6);
    }

    #[test]
    fn cancelled_requests_count_for_nothing() {
        let mut records = ends(0.5, 9.95, 0.1);
        for r in records.iter_mut().skip(60).step_by(2) {
            r.error = Some(ErrorKind::Cancelled);
        }
        let m = measure(&records, Duration::from_secs(10), Duration::from_secs(10));
        assert!(m.succeeded < records.len() as u64);
        let rate = m.throughput.unwrap().req_min().unwrap();
        assert!(rate < 500.0, "{rate}");
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
            load_unit: Default::default(),
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
    fn a_shortfall_beyond_three_sigma_reports_the_full_rate_window_saturated() {
        // 600 req/min offered (500 expected in the steady window, 3 sigma = 67); one
        // completion every 0.15 s (400/min) from 5 s through a drain to 80 s. The full-rate
        // window is [30, 60): the second half of sending.
        let records = ends(5.0, 80.0, 0.15);
        let t = iteration_throughput(
            &meta(600.0, crate::iteration::Completion::Complete),
            &records,
        )
        .unwrap();
        assert!(t.saturated);
        // From the completion at 30.05 s to the last before 60 s, at 59.9 s.
        assert!((t.window_s - 29.85).abs() < 0.01, "{}", t.window_s);
        let rate = t.req_min().unwrap();
        assert!((rate - 400.0).abs() < 2.0, "{rate}");
    }

    #[test]
    fn the_batch_filling_and_the_drain_tail_do_not_lower_a_saturated_rate() {
        // The first request ends at 1 s (a small batch steps fast), completions ramp up while
        // the batch fills (one per 0.6 s to 15 s), then run at 400/min (one per 0.15 s) until
        // 60 s, then thin out as the batch empties (one per 0.6 s to 70 s): the full-rate
        // window reads 400; from twice the first end (2 s) it would read 378, the busy period
        // less.
        let mut records = ends(1.0, 14.9, 0.6);
        records.extend(ends(15.0, 60.0, 0.15));
        records.extend(ends(60.6, 70.0, 0.6));
        let t = iteration_throughput(
            &meta(600.0, crate::iteration::Completion::Complete),
            &records,
        )
        .unwrap();
        let rate = t.req_min().unwrap();
        assert!((rate - 400.0).abs() < 2.0, "{rate}");
        let busy = (records.len() - 1) as f64 / 69.0 * 60.0;
        assert!(busy < 370.0, "{busy}");
        let from_2e = full_rate(
            &success_ends(&records),
            Duration::from_secs(2),
            Duration::from_secs(60),
        );
        assert!(from_2e.unwrap().req_min().unwrap() < 385.0);
        // Aborted at 40 s: the window [20, 40) still reads the full rate.
        let aborted: Vec<_> = records
            .iter()
            .filter(|r| r.end.as_secs_f64() < 40.0)
            .cloned()
            .collect();
        let t = iteration_throughput(
            &crate::iteration::IterationMeta {
                sending_stopped: Duration::from_secs(40),
                ..meta(
                    600.0,
                    crate::iteration::Completion::AbortedEarly("backlog".into()),
                )
            },
            &aborted,
        )
        .unwrap();
        let rate = t.req_min().unwrap();
        assert!(t.saturated && (rate - 400.0).abs() < 10.0, "{rate}");
    }

    #[test]
    fn too_few_completions_after_the_fill_fall_back_to_the_busy_period() {
        // Aborted at 3 s with the first end at 1 s: [2, 3) (twice the first end, later than
        // half of sending) holds 5 completions, fewer than SATURATED_MIN_COMPLETIONS, so the
        // rate is over the busy period 1..2.8 s.
        let records = ends(1.0, 2.8, 0.2);
        let t = iteration_throughput(
            &crate::iteration::IterationMeta {
                sending_stopped: Duration::from_secs(3),
                ..meta(
                    600.0,
                    crate::iteration::Completion::AbortedEarly("backlog".into()),
                )
            },
            &records,
        )
        .unwrap();
        assert_eq!(t.completions, records.len() as u64 - 1);
    }

    #[test]
    fn an_aborted_iteration_whose_completions_kept_pace_is_not_saturated() {
        // Offered 600/min, aborted at 40 s; completions every 0.09 s (667/min) kept pace: the
        // watchdog saw a queueing spike, not an overload. At one per 0.15 s (400/min) it fell
        // behind.
        let aborted = |gap: f64| {
            iteration_throughput(
                &crate::iteration::IterationMeta {
                    sending_stopped: Duration::from_secs(40),
                    ..meta(
                        600.0,
                        crate::iteration::Completion::AbortedEarly("delay".into()),
                    )
                },
                &ends(1.0, 40.0, gap),
            )
            .unwrap()
        };
        assert!(!aborted(0.09).saturated);
        assert!(aborted(0.15).saturated);
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
    fn a_slow_first_request_extends_the_probe_up_to_duration() {
        let s = ProbeSettings {
            duration: Duration::from_secs(10),
            concurrency: 8,
            max_duration: Duration::from_secs(30),
        };
        let at = |e: f64| probe_end(&s, Some(Duration::from_secs_f64(e))).as_secs_f64();
        // A first end by 2 s leaves [5, 10) steady, three first ends long: no extension.
        assert_eq!(at(1.0), 10.0);
        assert_eq!(at(2.0), 10.0);
        // Later, the probe runs three first ends past twice the first end...
        assert_eq!(at(2.5), 12.5);
        assert_eq!(at(4.0), 20.0);
        // ...but never past DURATION; without any success it keeps PROBE_DURATION.
        assert_eq!(at(10.0), 30.0);
        assert_eq!(probe_end(&s, None).as_secs_f64(), 10.0);
        // Waves of 4 every second from 6 s (the first end): the probe ran to 17 s, steady from
        // 12 s.
        let records = waves(6.0, 16.9, 1.0, 4, 0.001);
        let m = measure(&records, s.duration, Duration::from_secs(17));
        // Waves at 12..16 from the steady start 12 s: four whole waves over 4 s.
        let t = m.throughput.unwrap();
        assert_eq!((t.completions, t.window_s), (16, 4.0));
    }

    #[test]
    fn too_short_a_steady_part_measures_nothing() {
        // The first request ends at 4.5 s: steady from 9 s in a 10-s probe, under a fifth.
        let records = ends(4.5, 9.99, 0.05);
        let m = measure(&records, Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(m.throughput, None);
        // Ending at 3.5 s, steady from 7 s: 59 completions from 7.0 to 9.95 s.
        let records = ends(3.5, 9.99, 0.05);
        let m = measure(&records, Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(m.throughput.map(|t| t.completions), Some(59));
    }

    #[test]
    fn no_completion_in_the_window_measures_nothing() {
        let records = vec![rec(0.0, 1.0, 10, 10, true)];
        assert_eq!(
            measure(&records, Duration::from_secs(10), Duration::from_secs(10)).throughput,
            None
        );
        assert_eq!(
            measure(&[], Duration::from_secs(10), Duration::from_secs(10)).throughput,
            None
        );
    }
}
