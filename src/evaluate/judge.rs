//! What the search makes of one finished iteration: a verdict on the server's capacity, an
//! outage (no server to measure), or a client that measured itself. Kept apart from the driver
//! so the rules that decide between them are read — and tested — in one place.
//!
//! Only the server's own behaviour decides a verdict. An outage is a server that was not there:
//! connections refused, or every request failed while nothing answered HTTP and `/v1/models`
//! did not answer either. A server that accepted the connections and was alive but produced no
//! token before the watchdog or the timeouts stopped the requests is *overloaded*: that is a
//! capacity verdict (`FAIL`), never an outage.

use super::{Criterion, EvalInput, Evaluator, PastIteration, Verdict};
use crate::iteration::{Completion, IterationMeta};
use crate::metrics::{self, IterationSummary};
use crate::record::{ErrorKind, RequestRecord};
use crate::search::Observation;
use mst_results::Judgement;

/// One judged iteration.
pub struct Judged {
    pub summary: IterationSummary,
    pub halves: metrics::Halves,
    pub verdict: Verdict,
    pub observation: Observation,
}

impl Judged {
    /// What the search made of the iteration (console and `JUDGEMENT`).
    pub fn judgement(&self) -> Judgement {
        match self.observation {
            Observation::Sustainable => Judgement::Pass,
            Observation::Unsustainable => Judgement::Fail,
            Observation::Unusable { .. } => Judgement::Unusable,
            Observation::Outage { .. } => Judgement::Outage,
            Observation::ClientLimited { .. } => Judgement::ClientLimited,
        }
    }
}

/// What the judge needs besides the records.
pub struct Context<'a> {
    pub evaluator: &'a dyn Evaluator,
    /// `CLIENT_LAG_LIMIT_MS`.
    pub client_lag_limit_ms: f64,
    /// Earlier judged iterations of this size.
    pub history: &'a [PastIteration],
    /// The server was alive during the iteration: some request got an HTTP answer, or
    /// `/v1/models` answered right after it.
    pub server_alive: bool,
}

/// Summary, halves and verdict of one iteration. An outage (see [`outage`]) says nothing about
/// capacity: it is run again within `RETRY_ON_OUTAGE`. An overload that produced no token is
/// unsustainable (criterion `overload`); an iteration the watchdog stopped early is
/// unsustainable (criterion `early_abort`); one early accept stopped is judged by the evaluators
/// on what was sent, with a passed criterion `early_accept` saying when and what it saved.
pub fn judge(ctx: &Context, meta: &IterationMeta, records: &[RequestRecord]) -> Judged {
    let summary = IterationSummary {
        client_limited: crate::load::certify::client_limit(meta, records, ctx.client_lag_limit_ms),
        ..metrics::summarize(meta, records)
    };
    let halves = metrics::halves(records, meta.filter_buffer);
    let (verdict, observation) =
        if let Some(what) = outage(meta, records, &summary, ctx.server_alive) {
            let reason = format!(
                "{what} ({}); this says nothing about capacity",
                error_breakdown(&summary)
            );
            (
                Verdict {
                    sustainable: false,
                    criteria: Vec::new(),
                    reason: reason.clone(),
                },
                Observation::Outage { reason },
            )
        } else {
            let mut verdict = ctx.evaluator.evaluate(&EvalInput {
                meta,
                records,
                summary: &summary,
                history: ctx.history,
            });
            let ours: Vec<Criterion> = [
                abort_criterion(meta),
                accept_criterion(meta),
                overload_criterion(records, &summary),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !ours.is_empty() {
                let mut criteria = ours;
                criteria.append(&mut verdict.criteria);
                verdict = Verdict::from_criteria(criteria);
            }
            if let (true, Some(c)) = (verdict.sustainable, accept_criterion(meta)) {
                // Say it in the reason too: "all criteria passed" alone hides a shortened iteration.
                verdict.reason = format!("{}; {}", verdict.reason, c.detail);
            }
            let obs = if verdict.sustainable {
                Observation::Sustainable
            } else {
                Observation::Unsustainable
            };
            (verdict, obs)
        };
    // A client that fell behind measured itself: whatever the evaluators saw, the iteration
    // is not the server's verdict. An outage stays an outage (it is retried).
    let is_outage = matches!(observation, Observation::Outage { .. });
    let (verdict, observation) = match &summary.client_limited {
        Some(why) if !is_outage => (
            Verdict {
                reason: format!("CLIENT_LIMITED: {why} (evaluators: {})", verdict.reason),
                ..verdict
            },
            Observation::ClientLimited {
                reason: why.clone(),
            },
        ),
        _ => (verdict, observation),
    };
    Judged {
        summary,
        halves,
        verdict,
        observation,
    }
}

/// Share of requests refused at connect from which an iteration is an outage: a live server,
/// however overloaded, accepts connections; one that refuses them is down or restarting.
const OUTAGE_CONNECT_SHARE: f64 = 0.01;

/// Failures of a request that waited for an overloaded server: stopped (watchdog, drain, signal)
/// or timed out before its first token, or turned away with 429.
fn waited(r: &RequestRecord) -> bool {
    r.first_token.is_none()
        && matches!(
            r.error,
            Some(
                ErrorKind::Cancelled
                    | ErrorKind::DrainCutoff
                    | ErrorKind::TimeoutTtft
                    | ErrorKind::TimeoutTotal
                    | ErrorKind::RateLimited
            )
        )
}

/// Why an iteration is an outage, if it is one: at least [`OUTAGE_CONNECT_SHARE`] of its
/// connections refused, or every request failed with no sign of a live server. A server that
/// was alive is not in an outage when its requests produced tokens before the early abort
/// cancelled them, or when they all waited for a first token in vain (an overload, judged
/// `FAIL` by [`overload_criterion`]). Every request failing otherwise on a live server (HTTP 500
/// to all, say) is still an outage: that server is broken, not slow, and the size stops as
/// `unusable` after `RETRY_ON_OUTAGE`.
pub fn outage(
    meta: &IterationMeta,
    records: &[RequestRecord],
    summary: &IterationSummary,
    server_alive: bool,
) -> Option<String> {
    if records.is_empty() {
        return None;
    }
    let refused = summary
        .errors_by_kind
        .get(&ErrorKind::Connect)
        .copied()
        .unwrap_or(0);
    if refused as f64 >= OUTAGE_CONNECT_SHARE * records.len() as f64 {
        return Some(format!(
            "the server refused {refused} of {} connections",
            records.len()
        ));
    }
    if summary.succeeded > 0 {
        return None;
    }
    let aborted = matches!(meta.completion, Completion::AbortedEarly(_));
    let tokens_flowed = records.iter().any(|r| r.first_token.is_some());
    let overloaded = server_alive && records.iter().all(waited);
    if (aborted && tokens_flowed && server_alive) || overloaded {
        return None;
    }
    Some(if server_alive {
        format!("every one of the {} requests failed", records.len())
    } else {
        format!(
            "every one of the {} requests failed and the server gave no HTTP answer",
            records.len()
        )
    })
}

/// `overload`: failed when not one request got a token while the server was alive and held
/// them (an overload, e.g. an iteration started behind a queue), so the reason says what
/// happened instead of a bare success rate.
fn overload_criterion(records: &[RequestRecord], summary: &IterationSummary) -> Option<Criterion> {
    if records.is_empty()
        || summary.succeeded > 0
        || records.iter().any(|r| r.first_token.is_some())
    {
        return None;
    }
    let n = records.len();
    Some(Criterion {
        name: "overload".into(),
        passed: false,
        figures: [("requests".to_string(), n as f64)].into_iter().collect(),
        detail: format!(
            "the server accepted the connections and was alive, but none of the {n} requests \
             got a first token before it was stopped ({}): overloaded, not down",
            error_breakdown(summary)
        ),
    })
}

/// `early_abort`: failed, with the time the watchdog saved, when the iteration was stopped early.
fn abort_criterion(meta: &IterationMeta) -> Option<Criterion> {
    let Completion::AbortedEarly(why) = &meta.completion else {
        return None;
    };
    Some(stopped_criterion(
        meta,
        "early_abort",
        "aborted",
        false,
        why,
    ))
}

/// `early_accept`: passed, with the time saved, when early accept ended the iteration. It
/// decides nothing: the evaluators judge the shortened iteration as usual.
fn accept_criterion(meta: &IterationMeta) -> Option<Criterion> {
    let Completion::AcceptedEarly(why) = &meta.completion else {
        return None;
    };
    Some(stopped_criterion(
        meta,
        "early_accept",
        "accepted",
        true,
        why,
    ))
}

/// A criterion for an iteration stopped before `DURATION`, with `elapsed_s` and `time_saved_s`.
fn stopped_criterion(
    meta: &IterationMeta,
    name: &str,
    how: &str,
    passed: bool,
    why: &str,
) -> Criterion {
    let elapsed = meta.sending_stopped.as_secs_f64();
    let saved = meta
        .duration
        .saturating_sub(meta.sending_stopped)
        .as_secs_f64();
    Criterion {
        name: name.into(),
        passed,
        figures: [("elapsed_s", elapsed), ("time_saved_s", saved)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        detail: format!("{how} early after {elapsed:.1} s (saved {saved:.1} s): {why}"),
    }
}

/// The failures by kind in alphabetical order of the kinds' names, e.g.
/// `30 cancelled, 2 timeout-ttft`.
fn error_breakdown(summary: &IterationSummary) -> String {
    let mut counts: Vec<(&str, u64)> = summary
        .errors_by_kind
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    counts.sort_unstable();
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{record, sample_meta};
    use std::time::Duration;

    /// `n` requests that all failed with `kind` before any token, with HTTP `status`.
    fn all_failed(n: u64, kind: ErrorKind, status: Option<u16>) -> Vec<RequestRecord> {
        (0..n)
            .map(|i| {
                let mut r = record(i, i * 100, i * 100, &[], i * 100 + 50, 0, Some(kind));
                r.http_status = status;
                r
            })
            .collect()
    }

    fn aborted() -> IterationMeta {
        let mut meta = sample_meta();
        meta.completion = Completion::AbortedEarly("queueing delay grew".into());
        meta.sending_stopped = Duration::from_secs(2);
        meta
    }

    fn outage_of(meta: &IterationMeta, records: &[RequestRecord], alive: bool) -> Option<String> {
        outage(meta, records, &metrics::summarize(meta, records), alive)
    }

    #[test]
    fn an_aborted_overload_without_a_token_on_a_live_server_is_no_outage() {
        // Issue 14: the re-run started behind the queue the aborted iteration left; the
        // watchdog cancelled every request before its first token. The server was there.
        let meta = aborted();
        let records = all_failed(30, ErrorKind::Cancelled, Some(200));
        assert_eq!(outage_of(&meta, &records, true), None);
        let summary = metrics::summarize(&meta, &records);
        let c = overload_criterion(&records, &summary).expect("named");
        assert!(!c.passed);
        assert!(c.detail.contains("overloaded, not down"), "{}", c.detail);
        assert!(c.detail.contains("30 cancelled"), "{}", c.detail);
        // Timed out at TTFT in a complete iteration: the same.
        let meta = sample_meta();
        let records = all_failed(6, ErrorKind::TimeoutTtft, Some(200));
        assert_eq!(outage_of(&meta, &records, true), None);
    }

    #[test]
    fn no_server_or_refused_connections_are_outages() {
        let meta = aborted();
        let records = all_failed(30, ErrorKind::Cancelled, None);
        let why = outage_of(&meta, &records, false).expect("nobody answered");
        assert!(why.contains("no HTTP answer"), "{why}");
        let mut records = all_failed(30, ErrorKind::Cancelled, Some(200));
        records[3].error = Some(ErrorKind::Connect);
        let why = outage_of(&meta, &records, true).expect("refused");
        assert!(why.contains("refused 1 of 30"), "{why}");
    }

    #[test]
    fn a_live_server_failing_every_request_with_errors_is_still_an_outage() {
        let meta = sample_meta();
        let records = all_failed(6, ErrorKind::HttpStatus, Some(500));
        let why = outage_of(&meta, &records, true).expect("broken server");
        assert!(why.contains("every one of the 6"), "{why}");
    }

    #[test]
    fn an_aborted_iteration_whose_tokens_flowed_is_judged_not_an_outage() {
        let meta = aborted();
        let mut records = all_failed(5, ErrorKind::Cancelled, Some(200));
        records[0].first_token = Some(Duration::from_millis(30));
        assert_eq!(outage_of(&meta, &records, true), None);
        let summary = metrics::summarize(&meta, &records);
        assert!(overload_criterion(&records, &summary).is_none());
    }

    #[test]
    fn an_accepted_iteration_gets_a_passed_early_accept_criterion_with_the_time_saved() {
        let mut meta = sample_meta();
        meta.duration = Duration::from_secs(10);
        meta.sending_stopped = Duration::from_secs(6);
        meta.completion = Completion::AcceptedEarly("queueing delay shows no trend".into());
        let c = accept_criterion(&meta).expect("named");
        assert!(c.passed);
        assert_eq!(c.figures["elapsed_s"], 6.0);
        assert_eq!(c.figures["time_saved_s"], 4.0);
        assert!(
            c.detail
                .starts_with("accepted early after 6.0 s (saved 4.0 s)")
        );
        assert!(abort_criterion(&meta).is_none());
        assert!(accept_criterion(&aborted()).is_none());
    }
}
