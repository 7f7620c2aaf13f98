//! `REPEATS`: a size searched several times, each with its own traffic. This module turns the
//! repeats' outcomes into the size's one answer, so the driver and `mst.json` agree on it.

use crate::search::SearchOutcome;
use mst_results::{RepeatOutcome, RepeatStats};

/// The size's answer from all its repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    /// The headline outcome: the mean MST (None when a repeat found none), the lowest MST as
    /// the lower bound, the lowest unsustainable rate seen as the upper bound, the repeats'
    /// iterations summed, and the first incomplete stop (else the last repeat's).
    pub outcome: SearchOutcome,
    /// Every repeat in order (empty for a single search).
    pub repeats: Vec<RepeatOutcome>,
    /// Their spread, when every repeat found an MST and there are at least two.
    pub stats: Option<RepeatStats>,
}

/// Combines the finished repeats `done` with the last one (`last`, whose search ended with
/// `last_outcome`). With no earlier repeat the last outcome is the answer, unchanged.
pub fn combine(
    done: &[RepeatOutcome],
    last: RepeatOutcome,
    last_outcome: &SearchOutcome,
) -> Combined {
    if done.is_empty() {
        return Combined {
            outcome: last_outcome.clone(),
            repeats: Vec::new(),
            stats: None,
        };
    }
    let mut all = done.to_vec();
    all.push(last);
    let found: Vec<f64> = all.iter().filter_map(|r| r.mst_req_min).collect();
    let every = found.len() == all.len();
    let stats = if every { RepeatStats::of(&found) } else { None };
    let mean = every.then(|| found.iter().sum::<f64>() / found.len() as f64);
    let lowest = |xs: &mut dyn Iterator<Item = f64>| xs.reduce(f64::min);
    let stop = all
        .iter()
        .map(|r| r.stop)
        .find(|s| s.is_incomplete())
        .unwrap_or(last_outcome.stop);
    let listed: Vec<String> = all
        .iter()
        .map(|r| r.mst_req_min.map_or("none".into(), |m| format!("{m:.2}")))
        .collect();
    let reason = match (&stats, mean) {
        (Some(s), Some(m)) => format!(
            "Mean of {} repeats ({} req/min): {m:.2} req/min, sd {:.2}, CV {:.3}. Last: {}",
            all.len(),
            listed.join(", "),
            s.sd_req_min,
            s.cv,
            last_outcome.reason
        ),
        _ => format!(
            "Not every repeat found an MST ({} req/min), so the size has none. Last: {}",
            listed.join(", "),
            last_outcome.reason
        ),
    };
    Combined {
        outcome: SearchOutcome {
            mst_req_min: mean,
            lower_req_min: lowest(&mut found.iter().copied()),
            upper_req_min: lowest(&mut all.iter().filter_map(|r| r.upper_req_min)),
            iterations: all.iter().map(|r| r.iterations).sum(),
            reason,
            stop: if mean.is_none() && !stop.is_incomplete() {
                // A repeat that reached its floor or cap without an answer decides.
                all.iter()
                    .find(|r| r.mst_req_min.is_none())
                    .map_or(stop, |r| r.stop)
            } else {
                stop
            },
        },
        repeats: all,
        stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mst_results::StopKind;

    fn rep(repeat: u32, mst: Option<f64>, upper: f64, stop: StopKind) -> RepeatOutcome {
        RepeatOutcome {
            repeat,
            mst_req_min: mst,
            upper_req_min: Some(upper),
            stop,
            reason: format!("repeat {repeat}"),
            iterations: 3,
            iteration_time_s: 10.0,
        }
    }

    fn outcome(mst: Option<f64>, stop: StopKind) -> SearchOutcome {
        SearchOutcome {
            mst_req_min: mst,
            lower_req_min: mst,
            upper_req_min: Some(130.0),
            iterations: 3,
            reason: "last".into(),
            stop,
        }
    }

    #[test]
    fn one_search_is_its_own_answer() {
        let last = outcome(Some(100.0), StopKind::Converged);
        let c = combine(&[], rep(1, Some(100.0), 130.0, StopKind::Converged), &last);
        assert_eq!(c.outcome, last);
        assert!(c.repeats.is_empty() && c.stats.is_none());
    }

    #[test]
    fn three_repeats_give_their_mean_spread_and_bounds() {
        let done = [
            rep(1, Some(90.0), 120.0, StopKind::Converged),
            rep(2, Some(110.0), 125.0, StopKind::Converged),
        ];
        let c = combine(
            &done,
            rep(3, Some(100.0), 130.0, StopKind::Converged),
            &outcome(Some(100.0), StopKind::Converged),
        );
        assert_eq!(c.outcome.mst_req_min, Some(100.0));
        assert_eq!(c.outcome.lower_req_min, Some(90.0));
        assert_eq!(c.outcome.upper_req_min, Some(120.0));
        assert_eq!(c.outcome.iterations, 9);
        assert_eq!(c.outcome.stop, StopKind::Converged);
        let s = c.stats.unwrap();
        assert_eq!((s.mean_req_min, s.sd_req_min), (100.0, 10.0));
        assert!(
            c.outcome
                .reason
                .starts_with("Mean of 3 repeats (90.00, 110.00, 100.00 req/min)")
        );
        assert_eq!(c.repeats.len(), 3);
    }

    #[test]
    fn a_repeat_without_an_mst_leaves_the_size_without_one() {
        let done = [rep(1, None, 120.0, StopKind::FloorReached)];
        let c = combine(
            &done,
            rep(2, Some(100.0), 130.0, StopKind::Converged),
            &outcome(Some(100.0), StopKind::Converged),
        );
        assert_eq!(c.outcome.mst_req_min, None);
        assert_eq!(c.outcome.stop, StopKind::FloorReached);
        assert!(c.stats.is_none());
        // An incomplete repeat (the client was the limit) wins over the others' stops.
        let done = [rep(1, Some(90.0), 120.0, StopKind::ClientLimited)];
        let c = combine(
            &done,
            rep(2, Some(100.0), 130.0, StopKind::Converged),
            &outcome(Some(100.0), StopKind::Converged),
        );
        assert_eq!(c.outcome.stop, StopKind::ClientLimited);
        assert_eq!(c.outcome.mst_req_min, Some(95.0));
    }
}
