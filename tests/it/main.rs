//! The one integration-test binary: real HTTP against the simulator on loopback.

mod cli;
mod lock;
mod resume;
mod search;
mod sim;
mod slurm;
