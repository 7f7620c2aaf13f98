//! The one integration-test binary: real HTTP against the simulator on loopback.

mod cli;
mod client_limited;
mod search;
mod sim;
