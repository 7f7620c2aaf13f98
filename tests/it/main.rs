//! The one integration-test binary: real HTTP against the simulator on loopback.

mod architecture;
mod bench;
mod cli;
mod client_limited;
mod evaluators;
mod events;
mod llama;
mod lock;
mod reliability;
mod resume;
mod scrape;
mod search;
mod settle;
mod sim;
mod slurm;
mod support;
mod tokenize;
mod workload;
mod workload_gaps;
