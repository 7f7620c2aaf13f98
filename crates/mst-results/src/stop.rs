//! Why a size's search ended, in one spelling for every file.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a size's search ended. Written kebab-case (`converged`, `iteration-cap`,
/// `floor-reached`, `unusable`, `client-limited`) in `mst.json` (`stop`), `summary.csv`
/// (`STOP`) and `state.json`; the snake_case spelling that `state.json` used before version
/// 0.1 still reads, so a search checkpointed by an older build resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopKind {
    /// The bounds met the stop threshold.
    Converged,
    /// `MAX_ITERATIONS` iterations were observed without converging.
    #[serde(alias = "iteration_cap")]
    IterationCap,
    /// Walking down from a failing start went below `REQ_MIN_FLOOR` without a pass.
    #[serde(alias = "floor_reached")]
    FloorReached,
    /// An iteration could not be judged, or the configuration cannot be searched.
    Unusable,
    /// The client could not send at the rate asked for; rates from there up are unknown.
    #[serde(alias = "client_limited")]
    ClientLimited,
}

impl StopKind {
    /// Every kind, in declaration order.
    pub const ALL: [StopKind; 5] = [
        StopKind::Converged,
        StopKind::IterationCap,
        StopKind::FloorReached,
        StopKind::Unusable,
        StopKind::ClientLimited,
    ];

    /// The spelling used in every file and on the console (kebab-case).
    pub const fn as_str(self) -> &'static str {
        match self {
            StopKind::Converged => "converged",
            StopKind::IterationCap => "iteration-cap",
            StopKind::FloorReached => "floor-reached",
            StopKind::Unusable => "unusable",
            StopKind::ClientLimited => "client-limited",
        }
    }

    /// True when the search stopped without an answer it can stand behind: the server could
    /// not be judged, or the client was the limit (the tool then exits with code 1).
    pub fn is_incomplete(self) -> bool {
        matches!(self, StopKind::Unusable | StopKind::ClientLimited)
    }
}

impl fmt::Display for StopKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_display_agree_on_one_kebab_case_spelling() {
        for kind in StopKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.to_string(), kind.as_str());
            let back: StopKind = serde_json::from_str(&json).unwrap();
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn a_state_json_written_with_snake_case_still_reads() {
        for (old, kind) in [
            ("iteration_cap", StopKind::IterationCap),
            ("floor_reached", StopKind::FloorReached),
            ("client_limited", StopKind::ClientLimited),
            ("converged", StopKind::Converged),
            ("unusable", StopKind::Unusable),
        ] {
            let read: StopKind = serde_json::from_str(&format!("\"{old}\"")).unwrap();
            assert_eq!(read, kind, "{old}");
        }
        assert!(serde_json::from_str::<StopKind>("\"max-iterations\"").is_err());
    }

    #[test]
    fn only_unusable_and_client_limited_are_incomplete() {
        let incomplete: Vec<StopKind> = StopKind::ALL
            .into_iter()
            .filter(|k| k.is_incomplete())
            .collect();
        assert_eq!(incomplete, [StopKind::Unusable, StopKind::ClientLimited]);
    }

    #[test]
    fn display_honours_width_for_tables() {
        assert_eq!(format!("{:<10}|", StopKind::Unusable), "unusable  |");
    }
}
