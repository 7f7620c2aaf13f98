//! A whole search against the simulator in a few lines: the engine, the faults and the `.env`
//! keys a test cares about, on top of the fast defaults every whole-search test wants.
//!
//! ```ignore
//! let scenario = Scenario::new().key("TOKENS_LIST", "64:16");
//! let rate = format!("{:.0}", 0.4 * scenario.capacity(64, 16));
//! let running = scenario.key("REQ_MIN_START", rate).start().await;
//! let report = running.run().await;
//! // … assert on `report` and the files under `running.out_dir()` …
//! running.shutdown().await;
//! ```

use mst_search::config::Config;
use mst_search::experiment::events::Observer;
use mst_search::experiment::{self, RunOptions, RunReport, Start};
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use std::path::Path;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// The keys a whole-search test wants unless it says otherwise: no pause between iterations,
/// no wait for an idle server, a short drain, and a schedule-lag limit a debug build on shared
/// cores stays under (client certification has its own tests, `client_limited.rs`).
const FAST_DEFAULTS: [(&str, &str); 4] = [
    ("COOLDOWN", "0s"),
    ("SETTLE_TIMEOUT", "0s"),
    ("DRAIN_TIMEOUT", "1s"),
    ("CLIENT_LAG_LIMIT_MS", "1000"),
];

/// A search not started yet: the simulator's engine and faults, and the `.env` keys.
#[derive(Debug, Clone)]
pub struct Scenario {
    engine: EngineConfig,
    faults: FaultConfig,
    /// `(KEY, value)` in the order first set; setting a key again replaces its value.
    keys: Vec<(&'static str, String)>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::new()
    }
}

impl Scenario {
    /// A small engine (`EngineConfig::small(16, 10.0)`: 16 sequences, time 10× faster), no
    /// faults, and [`FAST_DEFAULTS`]. `URL` and `OUTPUT_DIR` are filled in by [`Scenario::start`].
    pub fn new() -> Scenario {
        Scenario {
            engine: EngineConfig::small(16, 10.0),
            faults: FaultConfig::default(),
            keys: FAST_DEFAULTS
                .iter()
                .map(|&(k, v)| (k, v.to_string()))
                .collect(),
        }
    }

    /// The simulator's engine instead of the small default.
    pub fn engine(mut self, engine: EngineConfig) -> Scenario {
        self.engine = engine;
        self
    }

    /// The faults the simulator injects (none by default).
    pub fn faults(mut self, faults: FaultConfig) -> Scenario {
        self.faults = faults;
        self
    }

    /// Sets any `.env` key, replacing an earlier value of it (a fast default included). Setting
    /// `URL` or `OUTPUT_DIR` overrides the simulator's address or the scenario's own folder.
    pub fn key(mut self, key: &'static str, value: impl Into<String>) -> Scenario {
        let value = value.into();
        match self.keys.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.keys.push((key, value)),
        }
        self
    }

    /// [`Scenario::key`] for each pair, in order.
    pub fn keys<V: Into<String> + Clone>(self, pairs: &[(&'static str, V)]) -> Scenario {
        pairs
            .iter()
            .fold(self, |s, (k, v)| s.key(k, v.clone().into()))
    }

    /// The analytic capacity (req/min) of the engine for prompts of `input` tokens and answers
    /// of `output` tokens: where to put `REQ_MIN_START` before the scenario starts.
    pub fn capacity(&self, input: u32, output: u32) -> f64 {
        capacity(&self.engine, input, output).req_per_min
    }

    /// Starts the simulator on a loopback port, makes the output folder (a fresh temporary
    /// folder, removed when the scenario is dropped) and checks the configuration. Panics
    /// with the error when the simulator does not start or a key is invalid.
    pub async fn start(self) -> Running {
        let server = SimServer::start(self.engine, self.faults)
            .await
            .expect("the simulator starts on 127.0.0.1:0");
        let dir = tempfile::tempdir().expect("a temporary output folder");
        let mut pairs: Vec<(&str, String)> = vec![
            ("URL", server.url()),
            ("OUTPUT_DIR", dir.path().display().to_string()),
        ];
        pairs.extend(self.keys);
        let (config, _) = Config::from_pairs(&pairs)
            .unwrap_or_else(|e| panic!("the scenario's keys {pairs:?} are invalid: {e}"));
        Running {
            server,
            config,
            dir,
        }
    }
}

/// A started scenario: the simulator running, the configuration checked, the output folder
/// made. Dropping it removes the folder; [`Running::shutdown`] also stops the simulator.
pub struct Running {
    server: SimServer,
    config: Config,
    dir: TempDir,
}

impl Running {
    /// The checked configuration every run of this scenario uses.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The scenario's own temporary folder, `OUTPUT_DIR` unless a test set that key: each size
    /// writes into `<out_dir>/<input>_<output>/`.
    pub fn out_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The running simulator (its address, engine and request counters).
    pub fn server(&self) -> &SimServer {
        &self.server
    }

    /// The engine's analytic capacity (req/min) for `input`:`output` tokens.
    pub fn capacity(&self, input: u32, output: u32) -> f64 {
        capacity(self.server.config(), input, output).req_per_min
    }

    /// A whole search, resuming whatever an earlier run of this scenario left, printing only
    /// the final table; `Err` is the tool's own failure (unreachable server, bad state, …).
    pub async fn try_run(&self) -> mst_search::error::Result<RunReport> {
        experiment::run(
            self.config.clone(),
            RunOptions { quiet: true },
            CancellationToken::new(),
        )
        .await
    }

    /// [`Running::try_run`], panicking when the tool itself fails.
    pub async fn run(&self) -> RunReport {
        self.try_run().await.expect("the search runs")
    }

    /// A whole search that tells `observer` every event (a `Recorder` in tests), resuming
    /// whatever an earlier run left; panics when the tool itself fails.
    pub async fn run_observed(&self, observer: &dyn Observer) -> RunReport {
        experiment::run_observed(
            self.config.clone(),
            Start::Resume,
            observer,
            CancellationToken::new(),
        )
        .await
        .expect("the search runs")
    }

    /// Stops the simulator and removes the output folder.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
