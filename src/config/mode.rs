//! The load mode: what the search varies and how requests are sent at a level — open-loop
//! requests at a rate (the default), closed-loop users, multi-turn sessions or a replayed
//! trace. One place decides the mode from its keys (`THINK_TIME` and each mode's own), so the
//! search's unit, the iteration plan and the files agree on it.

use super::load::Layers;
use super::parse::parse_duration;
use super::users::LoadMode;
use crate::error::{Error, Result};
use crate::search::LoadUnit;
use serde::Serialize;
use std::time::Duration;

/// The load mode's settings, from its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ModeSettings {
    /// `THINK_TIME`: the pause a closed-loop user or a session takes after an answer before
    /// sending its next request (0: none).
    #[serde(rename = "THINK_TIME", serialize_with = "super::secs")]
    pub think_time: Duration,
    /// `LOAD` with `USERS_START` (closed-loop users, [`super::users`]).
    #[serde(flatten)]
    pub load: LoadMode,
}

impl ModeSettings {
    /// The unit of the searched level in this mode.
    pub fn unit(&self) -> LoadUnit {
        match self.load {
            LoadMode::Rate => LoadUnit::ReqMin,
            LoadMode::Users { .. } => LoadUnit::Users,
        }
    }
}

/// The mode's keys, checked against each other; `load` was read first
/// ([`super::users::resolve_load`]), since other keys' defaults follow it.
pub(super) fn resolve(l: &Layers, load: LoadMode) -> Result<ModeSettings> {
    let think_time = l.or_default("THINK_TIME", parse_duration)?;
    Ok(ModeSettings { think_time, load })
}

/// The modes against each other and the keys they share, once the whole configuration is
/// read: at most one of `TRACE`, `LOAD=users` and `SESSION_TURNS` > 1 (each decides what the
/// search varies); `THINK_TIME` only where someone waits for an answer (users, sessions); and
/// what reasons in requests/minute (the adaptive search, `fmperf`, `plateau`) only with a rate.
/// Each refusal names the keys and why.
pub(super) fn check_with(l: &Layers, cfg: &super::Config) -> Result<()> {
    let users = !cfg.mode.load.is_rate();
    let sessions = cfg.session_turns > 1;
    let modes: Vec<(&str, String)> = [
        (cfg.trace.is_some(), "TRACE", l.shown("TRACE", "")),
        (users, "LOAD", l.shown("LOAD", "users")),
        (
            sessions,
            "SESSION_TURNS",
            l.shown("SESSION_TURNS", &cfg.session_turns.to_string()),
        ),
    ]
    .into_iter()
    .filter(|(on, ..)| *on)
    .map(|(_, key, value)| (key, value))
    .collect();
    if let [(first, first_value), (second, second_value), ..] = modes.as_slice() {
        return Err(Error::config(
            second,
            second_value.clone(),
            format!(
                "one load mode at a time: {first}={first_value} already decides what the search \
                 varies (TRACE a time scale, LOAD=users a number of users, SESSION_TURNS > 1 a \
                 session rate); unset one of {first} and {second}"
            ),
        ));
    }
    if !cfg.mode.think_time.is_zero() && !users && !sessions {
        return Err(Error::config(
            "THINK_TIME",
            l.shown("THINK_TIME", "0s"),
            "0s unless LOAD=users or SESSION_TURNS > 1: only a closed-loop user or a session \
             waits for an answer before its next request; open-loop requests keep their schedule",
        ));
    }
    let unit = cfg.load_unit();
    if unit == LoadUnit::ReqMin {
        return Ok(());
    }
    let mode = modes
        .first()
        .map_or(String::new(), |(k, v)| format!("{k}={v}"));
    let level = match unit {
        LoadUnit::Users => "a number of users",
        LoadUnit::SessionsMin => "a session rate in sessions/min",
        _ => "a time scale in x trace",
    };
    if cfg.search != crate::search::Strategy::Classic {
        return Err(Error::config(
            "SEARCH",
            l.shown("SEARCH", "classic"),
            format!(
                "classic with {mode}: the adaptive search aims from a capacity estimate in \
                 requests/minute, and this mode's level is {level}"
            ),
        ));
    }
    if let Some(e) = cfg
        .evaluator_names()
        .into_iter()
        .find(|e| matches!(*e, "fmperf" | "plateau"))
    {
        return Err(Error::config(
            "EVALUATOR",
            l.shown("EVALUATOR", "queue"),
            format!(
                "evaluators without {e} with {mode}: {e} compares the completions with the \
                 offered rate in requests/minute, and this mode's level is {level}"
            ),
        ));
    }
    Ok(())
}
