//! What mst-search writes and its report reads: the per-size outcome (`mst.json`), the words
//! of its files (stop kinds, judgements) and the column names of `results.csv` and
//! `summary.csv`.
//!
//! A crate of its own so the writer (the tool) and the reader (`mst-report`) share one
//! definition without the report compiling the tool (reqwest, tokio, tokenizers): a renamed
//! column or a new stop kind changes both sides at once. It depends on serde only.
//! Column meanings and units are documented in `docs/reference/outputs.md`.

mod confidence;
mod energy;
mod judgement;
mod load_unit;
mod outcome;
pub mod results_csv;
mod stop;
pub mod summary_csv;

pub use confidence::Confidence;
pub use energy::{EnergyAtMst, GpuBrief};
pub use judgement::Judgement;
pub use load_unit::LoadUnit;
pub use outcome::{CapacityEstimate, IterationBrief, RepeatOutcome, RepeatStats, SizeOutcome};
pub use stop::StopKind;
