//! Helpers every area's tests share: a whole search against the simulator ([`Scenario`]), a
//! fresh scratch folder and `output.csv`-style files read as rows keyed by column name.

mod scenario;

pub use scenario::{Running, Scenario};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An empty scratch path under the temp dir, unique per test process and `name`.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mst-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every row of a CSV file, each as column name → value.
pub fn read_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|row| {
            header
                .iter()
                .cloned()
                .zip(row.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}
