//! Writers for the per-iteration files and the per-size outcome.
