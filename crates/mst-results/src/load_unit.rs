//! What the search varies, and so the unit of a size's answer: a request rate for open-loop
//! load, a number of closed-loop users, a session rate, or a speed-up of a replayed trace.
//! Every file that writes a searched level (`results.csv` `LOAD`, `mst.json` `mst_load`,
//! `summary.csv` `MST_LOAD`) writes this unit beside it.

use serde::{Deserialize, Serialize};

/// The unit of the search's level (`load_unit` in `mst.json`, `LOAD_UNIT` in `results.csv` and
/// `summary.csv`). Files written before it existed read as [`LoadUnit::ReqMin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadUnit {
    /// Open-loop requests per minute (the default, and the old tool's only unit).
    #[default]
    ReqMin,
    /// Concurrent closed-loop users (`LOAD=users`): a whole number.
    Users,
    /// Open-loop session starts per minute (`SESSION_TURNS` > 1).
    SessionsMin,
    /// Times the replayed trace's own speed (`TRACE`): 2 sends it twice as fast.
    TraceScale,
}

impl LoadUnit {
    /// The unit as prose writes it after a number: `req/min`, `users`, `sessions/min`,
    /// `x trace`.
    pub const fn label(self) -> &'static str {
        match self {
            LoadUnit::ReqMin => "req/min",
            LoadUnit::Users => "users",
            LoadUnit::SessionsMin => "sessions/min",
            LoadUnit::TraceScale => "x trace",
        }
    }

    /// The unit as files write it (the serde name): `req_min`, `users`, `sessions_min`,
    /// `trace_scale`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LoadUnit::ReqMin => "req_min",
            LoadUnit::Users => "users",
            LoadUnit::SessionsMin => "sessions_min",
            LoadUnit::TraceScale => "trace_scale",
        }
    }

    /// Whether the level is counted in whole numbers (users), so the search steps by at least 1.
    pub const fn is_whole(self) -> bool {
        matches!(self, LoadUnit::Users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_the_serde_names() {
        for u in [
            LoadUnit::ReqMin,
            LoadUnit::Users,
            LoadUnit::SessionsMin,
            LoadUnit::TraceScale,
        ] {
            let json = serde_json::to_string(&u).unwrap();
            assert_eq!(json, format!("\"{}\"", u.as_str()));
            assert_eq!(serde_json::from_str::<LoadUnit>(&json).unwrap(), u);
        }
        assert!(LoadUnit::Users.is_whole() && !LoadUnit::ReqMin.is_whole());
    }
}
