//! The client certifies itself: did the load generator keep its own schedule? An iteration in
//! which it did not measured the client, not the server (`CLIENT_LIMITED`), and must count
//! neither way.
//!
//! The check looks for *systematic* lateness, not for one hiccup. On a busy machine a single
//! scheduler stall delays one or two sends by tens of milliseconds; the p99 of 100 samples is
//! nearly their maximum, so a p99 rule let one stall end a whole search. A client that really
//! falls behind shows it in many requests, and its lag grows through the iteration (an
//! open-loop dispatcher with absolute deadlines accumulates it), so:
//!
//! - **many late sends**: at least [`LATE_MIN_COUNT`] requests, and at least [`LATE_MIN_SHARE`]
//!   of all requests, were sent more than `CLIENT_LAG_LIMIT_MS` after their intended time. A
//!   lag that grows through the iteration makes every later send late, so it is caught as soon
//!   as it has lasted 5% of the requests; a stall of a few hundred milliseconds at 5 req/s
//!   delays one or two; or
//! - **sends missing**: an iteration that ran its whole schedule sent fewer than
//!   [`CLIENT_MIN_SEND_FRACTION`] of the schedule's requests. Sends are compared with the
//!   schedule's own count, not with the wall time to the last send (one late last send used to
//!   look like a low rate).

use crate::iteration::{Completion, IterationMeta};
use crate::record::RequestRecord;

/// Late sends needed before lateness is systematic (and the smallest tail judged).
pub const LATE_MIN_COUNT: usize = 5;
/// Share of all requests that must be late (5%).
pub const LATE_MIN_SHARE: f64 = 0.05;
/// Share of the schedule's requests a complete iteration must have sent (99%).
pub const CLIENT_MIN_SEND_FRACTION: f64 = 0.99;

/// Whether the client fell behind its own schedule, and why (a sentence with the numbers);
/// None when it kept up. `lag_limit_ms` is `CLIENT_LAG_LIMIT_MS`; the rules are in the module
/// header.
pub fn client_limit(
    meta: &IterationMeta,
    records: &[RequestRecord],
    lag_limit_ms: f64,
) -> Option<String> {
    let lags: Vec<f64> = records
        .iter()
        .map(|r| r.schedule_lag().as_secs_f64() * 1e3)
        .collect();
    let n = lags.len();
    let mut why = Vec::new();

    let late = lags.iter().filter(|&&l| l > lag_limit_ms).count();
    let needed = LATE_MIN_COUNT.max((LATE_MIN_SHARE * n as f64).ceil() as usize);
    if late >= needed {
        let max = lags.iter().copied().fold(0.0, f64::max);
        why.push(format!(
            "{late} of {n} requests were sent more than CLIENT_LAG_LIMIT_MS={lag_limit_ms} ms \
             late (at least {needed} make it systematic; max lag {max:.1} ms)"
        ));
    }
    // An aborted or interrupted iteration stopped sending early on purpose.
    let planned = meta.planned_requests;
    if matches!(meta.completion, Completion::Complete)
        && planned > 0
        && (n as f64) < CLIENT_MIN_SEND_FRACTION * planned as f64
    {
        why.push(format!(
            "it sent {n} of the schedule's {planned} requests ({:.1}%, at least {:.0}% needed)",
            100.0 * n as f64 / planned as f64,
            100.0 * CLIENT_MIN_SEND_FRACTION
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{record, sample_meta};

    /// `n` requests 200 ms apart (5 req/s), each sent with the lag `lag_ms(i)`.
    fn sends(n: u64, lag_ms: impl Fn(u64) -> u64) -> (IterationMeta, Vec<RequestRecord>) {
        let mut meta = sample_meta();
        meta.planned_requests = n;
        meta.duration = std::time::Duration::from_millis(200 * n);
        meta.sending_stopped = meta.duration;
        let records = (0..n)
            .map(|i| {
                let at = 200 * i;
                let sent = at + lag_ms(i);
                record(i, at, sent, &[50], sent + 60, 1, None)
            })
            .collect();
        (meta, records)
    }

    #[test]
    fn one_hiccup_in_a_hundred_requests_is_not_client_limited() {
        // A 300-ms stall at request 40 delays it and the next one; p99 would be ~100 ms.
        let (meta, records) = sends(100, |i| match i {
            40 => 300,
            41 => 120,
            _ => 1,
        });
        assert_eq!(client_limit(&meta, &records, 50.0), None);
    }

    #[test]
    fn a_hiccup_as_the_very_last_send_is_not_a_low_send_rate() {
        // The old rule divided by the wall time to the last send: 1.5 s late on a 20-s
        // schedule read as 93% of its rate.
        let (mut meta, records) = sends(100, |i| if i == 99 { 1500 } else { 1 });
        meta.sending_stopped = std::time::Duration::from_millis(19_800 + 1500);
        assert_eq!(client_limit(&meta, &records, 50.0), None);
    }

    #[test]
    fn many_late_sends_are_client_limited() {
        // Every tenth request 80 ms late: 10 of 100, above 5 and 5%.
        let (meta, records) = sends(100, |i| if i % 10 == 0 { 80 } else { 1 });
        let why = client_limit(&meta, &records, 50.0).expect("systematic");
        assert!(why.contains("10 of 100 requests"), "{why}");
        // Four late sends are below the minimum count.
        let (meta, records) = sends(100, |i| if i % 25 == 0 { 80 } else { 1 });
        assert_eq!(client_limit(&meta, &records, 50.0), None);
    }

    #[test]
    fn a_lag_that_grows_is_client_limited() {
        // Falling behind by 5 ms per request over the last tenth: late from request 911 on.
        let (meta, records) = sends(1000, |i| if i >= 900 { (i - 900) * 5 } else { 1 });
        let why = client_limit(&meta, &records, 50.0).expect("behind");
        assert!(why.contains("89 of 1000 requests"), "{why}");
    }

    #[test]
    fn missing_sends_count_only_when_the_whole_schedule_ran() {
        let (mut meta, mut records) = sends(100, |_| 1);
        records.truncate(98);
        let why = client_limit(&meta, &records, 50.0).expect("98 of 100 sent");
        assert!(why.contains("98 of the schedule's 100"), "{why}");
        meta.completion = Completion::AbortedEarly("queue grew".into());
        assert_eq!(client_limit(&meta, &records, 50.0), None);
    }
}
