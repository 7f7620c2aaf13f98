//! `LOAD` and `USERS_START`: whether the search offers an open-loop request rate (`rate`, the
//! default) or a closed loop of virtual users (`users`, [`crate::load::users`]), and the keys
//! the closed loop refuses.
//!
//! A closed loop of N users has at most N requests in flight, so it cannot build the unbounded
//! queue the `queue` evaluator and the early-abort watchdog look for: with `LOAD=users` the
//! verdict is the SLO's (`EVALUATOR` defaults to `slo`, at least one `SLO_*` key is required),
//! and the keys that shape or judge an open-loop rate are refused when set to anything but
//! their default (which they contradict nothing at: they are simply not read), each naming
//! why. `EARLY_ABORT` is off with `LOAD=users`.

use super::keys;
use super::load::Layers;
use super::parse::{
    parse_arrival, parse_experiment_type, parse_f64_list, parse_int_where, parse_strategy,
};
use crate::error::{Error, Result};
use crate::evaluate::slo::SloSettings;
use serde::Serialize;

/// `LOAD`: what the search varies. Serialised (flattened into the configuration's
/// fingerprint) as `LOAD=users` and `USERS_START=<n>`, and as nothing in the default rate mode,
/// so a checkpoint from before `LOAD` existed still resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadMode {
    /// An open-loop request rate (requests/minute), the default.
    #[default]
    Rate,
    /// A closed loop of whole users, starting at `start` (`USERS_START`).
    Users {
        /// `USERS_START`: users of the first iteration (>= 1).
        start: u32,
    },
}

impl LoadMode {
    /// True in the default open-loop mode.
    pub fn is_rate(&self) -> bool {
        *self == LoadMode::Rate
    }
}

impl Serialize for LoadMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        if let LoadMode::Users { start } = self {
            map.serialize_entry("LOAD", "users")?;
            map.serialize_entry("USERS_START", start)?;
        }
        map.end()
    }
}

/// `USERS_START` when unset.
pub const USERS_START_DEFAULT: u32 = 4;

/// `LOAD` with `USERS_START`, and the keys `LOAD=users` refuses (see the module header). Read
/// before the other keys, so a refused key is named for `LOAD` rather than for its own rules.
pub(super) fn resolve_load(l: &Layers) -> Result<LoadMode> {
    let users = match l.get("LOAD") {
        None => false,
        Some(r) => match r.value.to_ascii_lowercase().as_str() {
            "rate" => false,
            "users" => true,
            _ => {
                return Err(Error::config(
                    "LOAD",
                    r.value,
                    "rate (an open-loop request rate, the default) or users (a closed loop of \
                     virtual users)",
                ));
            }
        },
    };
    let start = l.opt("USERS_START", |k, v| {
        parse_int_where::<u32>(k, v, "a whole number of users >= 1", |n| n >= 1)
    })?;
    if !users {
        if let Some(r) = l.get("USERS_START") {
            return Err(Error::config(
                "USERS_START",
                r.value,
                format!(
                    "unset unless LOAD=users (LOAD is {}): USERS_START is the first number of \
                     closed-loop users; set LOAD=users to search over users",
                    l.shown("LOAD", "rate")
                ),
            ));
        }
        return Ok(LoadMode::Rate);
    }
    refuse_open_loop_keys(l)?;
    Ok(LoadMode::Users {
        start: start.unwrap_or(USERS_START_DEFAULT),
    })
}

/// Whether `key` is set to a value its parser reads differently from the registry default.
fn off_default<T: PartialEq>(
    l: &Layers,
    key: &str,
    parse: impl Fn(&str, &str) -> Result<T>,
) -> Result<Option<String>> {
    let Some(raw) = l.get(key) else {
        return Ok(None);
    };
    let value = parse(key, &raw.value)?;
    let default = keys::default_value(key)
        .map(|d| parse(key, d))
        .transpose()?;
    Ok((default.as_ref() != Some(&value)).then_some(raw.value))
}

fn refuse_open_loop_keys(l: &Layers) -> Result<()> {
    let default_of = |key| keys::default_value(key).unwrap_or("unset");
    if let Some(v) = off_default(l, "ARRIVAL", parse_arrival)? {
        return Err(Error::config(
            "ARRIVAL",
            v,
            format!(
                "unset (or its default, {}) with LOAD=users: closed-loop users send when their previous \
                 request ends (plus THINK_TIME), not on an arrival schedule",
                default_of("ARRIVAL")
            ),
        ));
    }
    let list = |k: &str, v: &str| parse_f64_list(k, v, "a comma list of numbers", |_| true);
    if let Some(v) = off_default(l, "REQ_MIN_START", list)? {
        return Err(Error::config(
            "REQ_MIN_START",
            v,
            format!(
                "unset (or its default, {}) with LOAD=users: the search starts at USERS_START users, not at a \
                 request rate; set USERS_START instead",
                default_of("REQ_MIN_START")
            ),
        ));
    }
    if let Some(v) = off_default(l, "REQ_MIN_FLOOR", list)? {
        return Err(Error::config(
            "REQ_MIN_FLOOR",
            v,
            format!(
                "unset (or its default, {}) with LOAD=users: the lowest number of users tried is 1",
                default_of("REQ_MIN_FLOOR")
            ),
        ));
    }
    if let Some(v) = off_default(l, "SEARCH", parse_strategy)? {
        return Err(Error::config(
            "SEARCH",
            v,
            "classic or unset with LOAD=users: the adaptive search aims from a capacity \
             estimate and a saturation probe that are request rates, which say nothing about \
             how many users meet the SLO",
        ));
    }
    if let Some(v) = off_default(l, "EXPERIMENT_TYPE", parse_experiment_type)? {
        return Err(Error::config(
            "EXPERIMENT_TYPE",
            v,
            "MST or unset with LOAD=users: MIT's plateau test compares the throughput gained \
             with the request rate offered, and users offer no rate",
        ));
    }
    if let Some(r) = l.get("EVALUATOR") {
        let names = super::parse::parse_evaluators("EVALUATOR", &r.value)?;
        let why = |name: &str| match name {
            "queue" => {
                Some("queue looks for a queueing delay that grows, which N users cannot build")
            }
            "fmperf" => Some(
                "fmperf's throughput gate compares completions with REQ_MIN, a rate users do not offer",
            ),
            "plateau" => Some(
                "plateau compares the throughput gained with the request rate offered, and users offer no rate",
            ),
            _ => None,
        };
        if let Some((name, why)) = names.iter().find_map(|n| why(n).map(|w| (n, w))) {
            return Err(Error::config(
                "EVALUATOR",
                r.value,
                format!(
                    "slo (optionally with halves) with LOAD=users: {name} cannot judge a \
                     closed loop ({why})"
                ),
            ));
        }
        if !names.iter().any(|n| n == "slo") {
            return Err(Error::config(
                "EVALUATOR",
                r.value,
                "a list that includes slo with LOAD=users: the SLO verdict is what decides \
                 whether N users are sustainable",
            ));
        }
    }
    Ok(())
}

/// The SLO that decides a closed loop's verdict must say something: at least one `SLO_*` key.
pub(super) fn require_slo(mode: LoadMode, slo: &SloSettings) -> Result<()> {
    if mode.is_rate() || !slo.is_empty() {
        return Ok(());
    }
    Err(Error::config(
        "LOAD",
        "users",
        "an SLO with it: set at least one SLO_<METRIC>_P<NN>_MS key (METRIC one of TTFT, TPOT, \
         ITL, E2E; NN one of 50, 90, 99; e.g. SLO_TPOT_P90_MS=50) or SLO_GOODPUT_PCT, none of \
         which is set. A closed loop of N users has at most N requests in flight and cannot \
         build a queue, so N users are sustainable when they meet the SLO",
    ))
}

#[cfg(test)]
mod tests {
    use super::LoadMode;
    use crate::config::Config;
    use crate::error::{Error, Result};
    use crate::search::Threshold;

    fn cfg(extra: &[(&str, &str)]) -> Result<Config> {
        let mut pairs: Vec<(&str, String)> = vec![
            ("URL", "h:1".to_string()),
            ("TOKENS_LIST", "8:8".to_string()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        Config::from_pairs(&pairs).map(|(c, _)| c)
    }

    fn key_of(err: &Error) -> &str {
        match err {
            Error::Config { key, .. } => key,
            other => panic!("not a config error: {other}"),
        }
    }

    const SLO: (&str, &str) = ("SLO_TPOT_P90_MS", "50");

    #[test]
    fn users_default_to_the_slo_evaluator_without_the_watchdog() {
        let c = cfg(&[("LOAD", "users"), SLO]).expect("valid");
        assert_eq!(c.mode.load, LoadMode::Users { start: 4 });
        assert_eq!(c.evaluator_names(), vec!["slo"]);
        assert!(!c.evaluator_settings.early_abort.enabled);
        assert_eq!(c.start_req_min(0), 4.0);
        let c = cfg(&[("LOAD", "USERS"), ("USERS_START", "7"), SLO]).expect("valid");
        assert_eq!(c.start_req_min(3), 7.0);
        // Keys at their defaults contradict nothing (they are what .env.example writes).
        let c = cfg(&[
            ("LOAD", "users"),
            SLO,
            ("ARRIVAL", "poisson"),
            ("REQ_MIN_START", "60"),
            ("REQ_MIN_FLOOR", "1"),
            ("SEARCH", "classic"),
            ("EVALUATOR", "slo,halves"),
            ("EARLY_ABORT", "true"),
        ])
        .expect("valid");
        assert_eq!(c.evaluator_names(), vec!["slo", "halves"]);
        assert!(!c.evaluator_settings.early_abort.enabled);
        // An absolute stop threshold is in users, one unless set.
        let c = cfg(&[("LOAD", "users"), SLO, ("THRESHOLD_TYPE", "absolute")]).expect("valid");
        assert_eq!(c.threshold, Threshold::Absolute(1.0));
        // Rate mode is unchanged: queue by default, the watchdog on.
        let c = cfg(&[]).expect("valid");
        assert!(c.mode.load.is_rate());
        assert_eq!(c.evaluator_names(), vec!["queue"]);
        assert!(c.evaluator_settings.early_abort.enabled);
    }

    #[test]
    fn users_without_an_slo_are_refused_naming_load_the_slo_keys_and_why() {
        let err = cfg(&[("LOAD", "users")]).expect_err("no SLO");
        assert_eq!(key_of(&err), "LOAD");
        let text = err.to_string();
        for needed in [
            "SLO_<METRIC>_P<NN>_MS",
            "SLO_GOODPUT_PCT",
            "cannot build a queue",
        ] {
            assert!(text.contains(needed), "{needed}: {text}");
        }
    }

    #[test]
    fn combinations_a_closed_loop_cannot_work_with_name_their_key() {
        for (key, value, why) in [
            ("LOAD", "closed", "rate (an open-loop"),
            ("USERS_START", "0", "whole number of users >= 1"),
            ("USERS_START", "2.5", "whole number of users >= 1"),
            ("ARRIVAL", "constant", "arrival schedule"),
            ("REQ_MIN_START", "90", "USERS_START"),
            ("REQ_MIN_FLOOR", "2", "1"),
            ("SEARCH", "adaptive", "request rates"),
            ("EXPERIMENT_TYPE", "MIT", "plateau"),
            ("EVALUATOR", "queue", "N users cannot build"),
            ("EVALUATOR", "slo,fmperf", "REQ_MIN"),
            ("EVALUATOR", "slo,plateau", "offer no rate"),
            ("EVALUATOR", "halves", "includes slo"),
        ] {
            let err = cfg(&[("LOAD", "users"), SLO, (key, value)]).expect_err(key);
            assert_eq!(key_of(&err), key, "{err}");
            assert!(err.to_string().contains(why), "{key}={value}: {err}");
        }
        let err = cfg(&[("USERS_START", "8")]).expect_err("rate mode");
        assert_eq!(key_of(&err), "USERS_START");
        assert!(err.to_string().contains("LOAD=users"), "{err}");
    }
}
