//! A size's answer as `mst.json` writes it: the search's outcome — or, with `REPEATS`, the
//! repeats' outcomes combined into one — with what it cost, how it was found (search, capacity
//! estimate, probe) and its confidence interval. One place, so the driver, `mst.json` and
//! `summary.csv` agree on it.

use super::state::Checkpoint;
use crate::config::Config;
use crate::output::SizeOutcome;
use crate::search::SearchOutcome;
use crate::size::SizeSpec;
use mst_results::{RepeatOutcome, RepeatStats};

/// The answer for `size` (served as `model`) whose last search
/// ended with `outcome`, from the finished checkpoint `cp`.
pub fn size_outcome(
    cfg: &Config,
    size: SizeSpec,
    model: &str,
    cp: &Checkpoint,
    outcome: &SearchOutcome,
) -> SizeOutcome {
    let last = cp.repeat_outcome(outcome);
    let combined = combine(&cp.state.repeats_done, last, outcome);
    let outcome = combined.outcome;
    let st = &cp.state;
    let (generated, short_pct) = SizeOutcome::generated_at_mst(&st.iterations, outcome.mst_req_min);
    // The search's level is `req_min` in every mode; outside open-loop rates the request rate
    // is what was measured at the answer, and the bounds exist only in the level's unit.
    let unit = cfg.load_unit();
    let rate_search = unit == crate::search::LoadUnit::ReqMin;
    let mst_req_min = if rate_search {
        outcome.mst_req_min
    } else {
        SizeOutcome::steady_req_min_at(&st.iterations, outcome.mst_req_min)
    };
    SizeOutcome {
        size: size.to_string(),
        input_tokens: size.input.to_string(),
        output_tokens: size.output.to_string(),
        model: model.to_string(),
        mst_req_min,
        mst_req_s: mst_req_min.map(|r| r / 60.0),
        lower_req_min: outcome.lower_req_min.filter(|_| rate_search),
        upper_req_min: outcome.upper_req_min.filter(|_| rate_search),
        load_unit: unit,
        mst_load: outcome.mst_req_min,
        lower_load: outcome.lower_req_min,
        upper_load: outcome.upper_req_min,
        stop: outcome.stop,
        reason: outcome.reason.clone(),
        iterations: st.iterations.clone(),
        started_at: st.started_at.clone(),
        finished_at: st.finished_at.clone().unwrap_or_default(),
        wall_time_s: cp.wall_time_s(),
        job_id: cfg.job_id.clone(),
        evaluators: cfg
            .evaluator_names()
            .iter()
            .map(|n| n.to_string())
            .collect(),
        generated_output_tokens_p50: generated,
        short_outputs_pct: short_pct,
        iteration_time_s: SizeOutcome::iteration_time(&st.iterations),
        search: match cfg.search {
            crate::search::Strategy::Classic => "classic",
            crate::search::Strategy::Adaptive => "adaptive",
        }
        .into(),
        capacity_estimate: st
            .search
            .estimate()
            .filter(|_| cfg.search == crate::search::Strategy::Adaptive)
            .map(|e| mst_results::CapacityEstimate {
                req_min: e.req_min,
                source: if e.verified {
                    "overloaded-iterations"
                } else {
                    "saturation-probe"
                }
                .into(),
                measurements: e.from,
            }),
        probe_req_min: st.search.probe_result().flatten().and_then(|t| t.req_min()),
        repeats: combined.repeats,
        repeat_stats: combined.stats,
        // From every judged iteration (outages and client-limited runs are no verdict); a pure
        // function of them, so a rerun or a resumed run writes the same interval.
        confidence: crate::search::confidence::interval(
            &st.iterations
                .iter()
                .filter_map(|b| b.sustainable.map(|s| (b.level(), s)))
                .collect::<Vec<_>>(),
            crate::search::confidence::LEVEL,
        ),
        energy: mst_results::EnergyAtMst::at_mst(
            &st.iterations,
            outcome.mst_req_min,
            cfg.telemetry.hourly_cost,
        ),
    }
}

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
    // The first incomplete repeat decides, else the first without an MST, else the last.
    let stop = all
        .iter()
        .find(|r| r.stop.is_incomplete())
        .or_else(|| all.iter().find(|r| r.mst_req_min.is_none()))
        .map_or(last_outcome.stop, |r| r.stop);
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
            lower_req_min: found.iter().copied().reduce(f64::min),
            upper_req_min: all.iter().filter_map(|r| r.upper_req_min).reduce(f64::min),
            iterations: all.iter().map(|r| r.iterations).sum(),
            reason,
            stop,
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
