//! What the search made of one iteration, as the `JUDGEMENT` column and the console say it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What the search made of one finished iteration. Written upper-case (`PASS`, `FAIL`,
/// `CLIENT_LIMITED`, `OUTAGE`, `UNUSABLE`) in `results.csv` (`JUDGEMENT`), `results.json`
/// (`judgement`) and on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Judgement {
    /// Sustainable: every criterion held.
    Pass,
    /// Unsustainable: some criterion failed.
    Fail,
    /// The client fell behind its schedule: counts neither way; the rate is run once more.
    ClientLimited,
    /// The server was unreachable, or every request failed with an error: no verdict on
    /// capacity; the rate is run again.
    Outage,
    /// Nothing could be judged: the size's search stops.
    Unusable,
}

impl Judgement {
    /// Every judgement, in declaration order.
    pub const ALL: [Judgement; 5] = [
        Judgement::Pass,
        Judgement::Fail,
        Judgement::ClientLimited,
        Judgement::Outage,
        Judgement::Unusable,
    ];

    /// The word written in files and on the console.
    pub const fn as_str(self) -> &'static str {
        match self {
            Judgement::Pass => "PASS",
            Judgement::Fail => "FAIL",
            Judgement::ClientLimited => "CLIENT_LIMITED",
            Judgement::Outage => "OUTAGE",
            Judgement::Unusable => "UNUSABLE",
        }
    }
}

impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_display_write_the_same_word() {
        for j in Judgement::ALL {
            let json = serde_json::to_string(&j).unwrap();
            assert_eq!(json, format!("\"{}\"", j.as_str()));
            assert_eq!(j.to_string(), j.as_str());
            assert_eq!(serde_json::from_str::<Judgement>(&json).unwrap(), j);
        }
        assert_eq!(Judgement::ClientLimited.as_str(), "CLIENT_LIMITED");
    }
}
