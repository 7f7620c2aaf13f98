//! Command-line types (clap) only; no logic.

pub mod simulate;
