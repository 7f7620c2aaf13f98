//! The search's keys that are read together: `CONFIRM` against the old `CONFIRM_FAIL` (which
//! layer wins, or an error when they disagree at one layer), and the saturation probe's keys
//! against `SEARCH`. Kept apart from [`super::load`], whose job is the layering itself.

use super::Warning;
use super::load::{Layers, positive_duration};
use super::parse::{parse_bool, parse_confirm, parse_int_where};
use crate::error::{Error, Result};
use crate::search::ConfirmPolicy;
use std::time::Duration;

/// `SATURATION_PROBE` (unset: on exactly with `SEARCH=adaptive`; `true` with `classic` is
/// refused, since the classic search never probes), `PROBE_DURATION` (unset: `DURATION` / 2,
/// at most 60 s) and `PROBE_CONCURRENCY`.
pub(super) fn resolve_probe(
    l: &Layers,
    search: crate::search::Strategy,
    duration: Duration,
) -> Result<Option<crate::load::saturation::ProbeSettings>> {
    let adaptive = search == crate::search::Strategy::Adaptive;
    let on = match l.opt("SATURATION_PROBE", parse_bool)? {
        Some(true) if !adaptive => {
            return Err(Error::config(
                "SATURATION_PROBE",
                l.shown("SATURATION_PROBE", "true"),
                "false or unset with SEARCH=classic: the classic search runs the old tool's \
                 sequence and never probes; set SEARCH=adaptive to probe",
            ));
        }
        Some(on) => on,
        None => adaptive,
    };
    let probe = l
        .opt("PROBE_DURATION", positive_duration)?
        .unwrap_or_else(|| (duration / 2).min(Duration::from_secs(60)));
    let concurrency = l.or_default("PROBE_CONCURRENCY", |k, v| {
        parse_int_where::<u32>(k, v, "a whole number >= 1", |n| n >= 1)
    })?;
    Ok(on.then_some(crate::load::saturation::ProbeSettings {
        duration: probe,
        concurrency,
        max_duration: duration.max(probe),
    }))
}

/// `CONFIRM` against the old `CONFIRM_FAIL`. When both are set at different layers the higher
/// layer wins (a `--confirm` flag must beat an old `.env`); at the same layer a disagreement is
/// an error, since there is no telling which one the user meant.
pub(super) fn resolve_confirm(
    l: &Layers,
    file_label: &str,
    warnings: &mut Vec<Warning>,
) -> Result<ConfirmPolicy> {
    let confirm = l.get("CONFIRM");
    let fail = l.get("CONFIRM_FAIL");
    let from_bool = |b: bool| {
        if b {
            ConfirmPolicy::Fail
        } else {
            ConfirmPolicy::None
        }
    };
    match (confirm, fail) {
        (None, None) => Ok(ConfirmPolicy::Fail),
        (Some(c), None) => parse_confirm("CONFIRM", &c.value),
        (None, Some(f)) => parse_bool("CONFIRM_FAIL", &f.value).map(from_bool),
        (Some(c), Some(f)) => {
            let policy = parse_confirm("CONFIRM", &c.value)?;
            let confirm_fail = parse_bool("CONFIRM_FAIL", &f.value)?;
            // `both` confirms fails too, so it agrees with CONFIRM_FAIL=true.
            let agree = (policy != ConfirmPolicy::None) == confirm_fail;
            if agree {
                return Ok(policy);
            }
            let (winner, policy) = match c.layer.cmp(&f.layer) {
                std::cmp::Ordering::Greater => ("CONFIRM", policy),
                std::cmp::Ordering::Less => ("CONFIRM_FAIL", from_bool(confirm_fail)),
                std::cmp::Ordering::Equal => {
                    return Err(Error::config(
                        "CONFIRM",
                        c.value,
                        format!(
                            "a policy that agrees with CONFIRM_FAIL={:?} (true means fail, \
                             false means none); set only one of CONFIRM and CONFIRM_FAIL",
                            f.value
                        ),
                    ));
                }
            };
            warnings.push(Warning(format!(
                "CONFIRM={:?} from {} and CONFIRM_FAIL={:?} from {} disagree; {winner} wins",
                c.value,
                c.layer.describe(file_label),
                f.value,
                f.layer.describe(file_label),
            )));
            Ok(policy)
        }
    }
}
