//! The one integration-test binary: real HTTP against the simulator on loopback.

mod cli;
mod evaluators;
mod search;
mod sim;
