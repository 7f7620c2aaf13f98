//! The size under test: one `TOKENS_LIST` entry (`in:out`, each side a count or a range).
//! A leaf: the workload, the load generator, the records and the outputs all name a size, and
//! none of them should need the configuration to do so.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An inclusive token-count range; `a` alone means `a-a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRange {
    pub min: u32,
    pub max: u32,
}

/// One `TOKENS_LIST` entry: `in:out`, each side a count or a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeSpec {
    pub input: TokenRange,
    pub output: TokenRange,
}

impl SizeSpec {
    /// Folder name under the output dir: `<in>_<out>`, ranges written `a-b` (e.g. `100-200_300`).
    pub fn dir_name(&self) -> String {
        format!("{}_{}", self.input, self.output)
    }
}

impl fmt::Display for TokenRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

impl fmt::Display for SizeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.input, self.output)
    }
}
