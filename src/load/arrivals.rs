//! Arrival processes: when each request of an iteration is due, as offsets from the start.
//! Open-loop load sends on these absolute deadlines whatever the server does.

use serde::{Deserialize, Serialize};

/// Which arrival process (`ARRIVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    /// Exponential gaps (default): independent arrivals, as from many users.
    Poisson,
    /// Equal gaps of exactly 60 / REQ_MIN seconds.
    Constant,
    /// The old tool's: gaps uniform in ±30% around 60 / REQ_MIN.
    Jitter,
}
