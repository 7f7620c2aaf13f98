//! The load mode: what the search varies and how requests are sent at a level — open-loop
//! requests at a rate (the default), closed-loop users, multi-turn sessions or a replayed
//! trace. One place decides the mode from its keys (`THINK_TIME` and each mode's own), so the
//! search's unit, the iteration plan and the files agree on it.

use super::load::Layers;
use super::parse::parse_duration;
use crate::error::Result;
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
}

impl ModeSettings {
    /// The unit of the searched level in this mode.
    pub fn unit(&self) -> LoadUnit {
        LoadUnit::ReqMin
    }
}

/// The mode's keys, checked against each other.
pub(super) fn resolve(l: &Layers) -> Result<ModeSettings> {
    let think_time = l.or_default("THINK_TIME", parse_duration)?;
    Ok(ModeSettings { think_time })
}
