//! The one integration-test binary: real HTTP against the simulator on loopback.

mod cli;
mod evaluators;
mod lock;
mod reliability;
mod resume;
mod search;
mod sim;
mod slurm;
mod workload;
