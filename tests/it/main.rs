//! The one integration-test binary: real HTTP against the simulator on loopback.

mod cli;
mod scrape;
mod search;
mod sim;
