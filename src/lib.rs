//! mst-search: finds the maximum sustainable throughput (MST) of an LLM inference endpoint.
//!
//! The library owns all the work; `main.rs` only parses the command line, sets up logging,
//! builds the runtime and maps results to exit codes. See `docs/architecture.md` for the
//! data flow between the modules below.

pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod iteration;
pub mod load;
pub mod lock;
pub mod metrics;
pub mod output;
pub mod record;
pub mod report;
pub mod scrape;
pub mod search;
pub mod seed;
pub use mst_sim as sim;
pub mod size;
pub mod stats;
pub mod telemetry;
pub mod workload;
