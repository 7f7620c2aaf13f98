//! The one integration-test binary: real HTTP against the simulator on loopback.

mod search;
mod sim;
