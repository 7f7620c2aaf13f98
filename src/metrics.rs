//! Derived figures: per-request latencies (TTFT, TPOT, ITL, NTPOT, E2E) and per-iteration
//! summaries (rates, failure counts, percentiles, schedule lag), plus the steady window and its
//! halves. Pure functions of records; every writer and evaluator uses these definitions.

/// Per-iteration summary (filled in by the metrics work).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IterationSummary {}
