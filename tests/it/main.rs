//! The one integration-test binary: real HTTP against the simulator on loopback.

mod cli;
mod evaluators;
mod reliability;
mod search;
mod sim;
mod workload;
