//! The slow tier: whole searches, each module taking ten seconds or more on two cores (the times
//! measured are in `docs/contributing.md`). The files stay beside the quick ones; only their
//! test names move, to `slow::<module>::…`, so `cargo test --test it -- --skip slow::` leaves
//! them out.

// The files below reach the shared helpers as `super::support`.
use super::support;

#[path = "adaptive.rs"]
mod adaptive;
#[path = "client_limited.rs"]
mod client_limited;
#[path = "lock.rs"]
mod lock;
#[path = "reliability.rs"]
mod reliability;
#[path = "resume.rs"]
mod resume;
#[path = "search.rs"]
mod search;
#[path = "session_search.rs"]
mod session_search;
#[path = "settle.rs"]
mod settle;
#[path = "slurm.rs"]
mod slurm;
#[path = "trace_search.rs"]
mod trace_search;
#[path = "traffic_resume.rs"]
mod traffic_resume;
#[path = "users_search.rs"]
mod users_search;
