//! The one integration-test binary: real HTTP against the simulator on loopback.

mod bench;
mod cli;
mod client_limited;
mod search;
mod sim;
