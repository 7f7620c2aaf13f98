//! Command-line types (clap) only; no logic.
