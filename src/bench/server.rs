//! The server `bench-client` measures against: the simulator, as a child process of this binary
//! (so the client's CPU and memory readings are its own) or inside this process.

use crate::sim::{EngineConfig, FaultConfig, SimServer};
use anyhow::Context;
use std::process::{Child, Command, Stdio};

/// A simulator that answers at once and never limits the rate: 1 ms steps whatever the batch,
/// no prefill cost, room for any number of sequences.
pub fn fast_engine() -> EngineConfig {
    EngineConfig {
        step_fixed_ms: 1.0,
        step_per_seq_ms: 0.0,
        step_per_prefill_token_ms: 0.0,
        max_num_seqs: 1_000_000,
        kv_cache_tokens: u64::from(u32::MAX),
        max_model_len: 1_000_000,
        max_waiting: 1_000_000,
        ..EngineConfig::default()
    }
}

/// A simulator that streams one token per second to every open request: many long streams.
pub fn slow_engine() -> EngineConfig {
    EngineConfig {
        step_fixed_ms: 1000.0,
        ..fast_engine()
    }
}

/// A running simulator; stopped by [`BenchServer::stop`] or when dropped.
pub struct BenchServer {
    url: String,
    /// `mst-search simulate` as a child process.
    child: Option<Child>,
    /// The simulator inside this process.
    sim: Option<SimServer>,
}

impl BenchServer {
    /// Start `engine` as a child process of this binary, or in-process.
    pub async fn start(engine: &EngineConfig, in_process: bool) -> anyhow::Result<BenchServer> {
        if in_process {
            let sim = SimServer::start(engine.clone(), FaultConfig::default()).await?;
            return Ok(BenchServer {
                url: sim.url(),
                child: None,
                sim: Some(sim),
            });
        }
        // Ask the OS for a free port, then hand it to the child: a race with another process
        // taking it in between is possible but shows as an unreachable server, not a wrong figure.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free port on 127.0.0.1 for the simulator")?
            .port();
        let exe =
            std::env::current_exe().context("cannot find this program to start the simulator")?;
        let num = |x: f64| x.to_string();
        let child = Command::new(exe)
            .arg("simulate")
            .args(["--port", &port.to_string()])
            .args(["--step-fixed-ms", &num(engine.step_fixed_ms)])
            .args(["--step-per-seq-ms", &num(engine.step_per_seq_ms)])
            .args([
                "--step-per-prefill-token-ms",
                &num(engine.step_per_prefill_token_ms),
            ])
            .args(["--max-num-seqs", &engine.max_num_seqs.to_string()])
            .args(["--kv-cache-tokens", &engine.kv_cache_tokens.to_string()])
            .args(["--max-model-len", &engine.max_model_len.to_string()])
            .args(["--max-waiting", &engine.max_waiting.to_string()])
            .args(["--time-scale", &num(engine.time_scale)])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the simulator as a child process")?;
        Ok(BenchServer {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            sim: None,
        })
    }

    /// Process id of the child simulator (None when in-process).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stop the server and wait for it.
    pub async fn stop(mut self) {
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        self.kill_child();
    }

    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.kill_child();
    }
}
