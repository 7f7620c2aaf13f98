//! Helpers every area's tests share: a whole search against the simulator ([`Scenario`]), a
//! fresh scratch folder, a loud skip for a missing environment, and `output.csv`-style files
//! read as rows keyed by column name.

mod scenario;

pub use scenario::{Running, Scenario};

use mst_search::client::{Api, ClientConfig, OpenAiClient};
use mst_search::sim::SimServer;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A path that does not exist yet, `<a fresh temporary folder>/<name>`, for a tool that must
/// create it (an `OUTPUT_DIR`, a file); the folder is removed when this value is dropped, so
/// keep it alive for the whole test. It reads as a [`Path`].
pub fn fresh_dir(name: &str) -> FreshDir {
    let guard = tempfile::tempdir().expect("a temporary folder");
    let path = guard.path().join(name);
    FreshDir { path, guard }
}

/// See [`fresh_dir`]: the path and the temporary folder that holds it.
#[derive(Debug)]
pub struct FreshDir {
    path: PathBuf,
    guard: TempDir,
}

impl FreshDir {
    /// Keeps the temporary folder after the test (to look at what a failed run wrote) and
    /// returns the path.
    pub fn keep(self) -> PathBuf {
        let _ = self.guard.keep();
        self.path
    }
}

impl Deref for FreshDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for FreshDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for FreshDir {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

/// For a test whose environment is missing: fails it when `var` is `1` (CI sets it for what
/// must be there), and otherwise prints `SKIP <test>: <why>` — straight to stderr, past the
/// test harness's capture, so that a plain `cargo test` shows the skip. The caller returns
/// right after.
pub fn skip_or_require(var: &str, test: &str, why: &str) {
    assert!(
        std::env::var(var).as_deref() != Ok("1"),
        "{test}: {var}=1 but {why}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: {why} (with {var}=1 this fails)"
    );
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

/// A client of `server` for `api`, asking for the model it serves, with 30-s limits.
pub fn sim_client(server: &SimServer, api: Api) -> OpenAiClient {
    OpenAiClient::new(ClientConfig {
        base_url: server.url(),
        api,
        api_key: None,
        model: server.config().model.clone(),
        request_timeout: std::time::Duration::from_secs(30),
        ttft_timeout: std::time::Duration::from_secs(30),
        tpot_timeout: std::time::Duration::from_secs(30),
    })
    .expect("client builds")
}

/// The one iteration folder of `size` under `out`.
pub fn only_iteration(out: &Path, size: &str) -> PathBuf {
    let iterations: Vec<PathBuf> = std::fs::read_dir(out.join(size))
        .unwrap_or_else(|e| panic!("{size}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.ends_with("interrupted"))
        .collect();
    assert_eq!(iterations.len(), 1, "{iterations:?}");
    iterations.into_iter().next().unwrap()
}
