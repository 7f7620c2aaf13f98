//! Load generation: arrival schedules, the open-loop dispatcher, the closed loop of virtual
//! users, and per-request records.

pub mod accept;
pub mod arrivals;
pub mod certify;
mod dispatch;
pub mod runner;
pub mod saturation;
pub mod sessions;
pub mod usage;
pub mod users;
pub mod watchdog;
