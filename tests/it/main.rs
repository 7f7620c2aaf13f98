//! The one integration-test binary: real HTTP against the simulator on loopback.

mod cli;
mod search;
mod sim;
mod workload;
