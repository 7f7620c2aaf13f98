//! The one integration-test binary: real HTTP against the simulator on loopback.
//!
//! Two tiers. The modules at the top level take seconds each; the whole searches, which take
//! tens of seconds to minutes, are under `slow::` (their files stay where they are), so the
//! quick loop is `cargo test --test it -- --skip slow::` while `cargo test` runs both.

mod accept;
mod architecture;
mod bench;
mod cli;
mod cost;
mod energy;
mod evaluators;
mod events;
mod llama;
mod scrape;
mod sessions;
mod sim;
mod slow;
mod support;
mod tokenize;
mod trace;
mod traffic;
mod users;
mod workload;
mod workload_gaps;
