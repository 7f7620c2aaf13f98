//! `/metrics` in Prometheus text format, with the vLLM metric names a dashboard or a test
//! would look for; and with `--gpus`, `/dcgm/metrics` in the shape of NVIDIA's DCGM exporter
//! (its default field names and units, one sample per GPU labelled `gpu`, `UUID`, `device`,
//! `modelName`, `Hostname`), whose power follows the batch.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::engine::Shared;

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the current counters.
pub(crate) fn render(shared: &Shared, model: &str, kv_cache_tokens: u64) -> String {
    let m = escape_label(model);
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (extra, v) in samples {
            let _ = writeln!(out, "{name}{{{extra}model_name=\"{m}\"}} {v}");
        }
    };
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    metric(
        "vllm:num_requests_running",
        "gauge",
        "Number of requests in model execution batches.",
        &[("", f64::from(shared.running.load(Ordering::Relaxed)))],
    );
    metric(
        "vllm:num_requests_waiting",
        "gauge",
        "Number of requests waiting to be processed.",
        &[("", shared.waiting.load(Ordering::Relaxed) as f64)],
    );
    metric(
        "vllm:kv_cache_usage_perc",
        "gauge",
        "KV-cache usage. 1 means 100 percent usage.",
        &[("", load(&shared.kv_used) / kv_cache_tokens.max(1) as f64)],
    );
    metric(
        "vllm:request_success_total",
        "counter",
        "Count of successfully processed requests.",
        &[
            ("finished_reason=\"stop\",", load(&shared.finished_stop)),
            ("finished_reason=\"length\",", load(&shared.finished_length)),
            ("finished_reason=\"abort\",", load(&shared.aborted)),
        ],
    );
    metric(
        "vllm:prompt_tokens_total",
        "counter",
        "Number of prefill tokens processed.",
        &[("", load(&shared.prompt_tokens))],
    );
    metric(
        "vllm:generation_tokens_total",
        "counter",
        "Number of generation tokens processed.",
        &[("", load(&shared.tokens_generated))],
    );
    out
}

/// Where the simulated GPUs' DCGM-style telemetry is served.
pub const DCGM_PATH: &str = "/dcgm/metrics";

/// Renders the simulated GPUs' telemetry: `DCGM_FI_DEV_POWER_USAGE` (W, the power now),
/// `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` (mJ since the server started: the exact integral of
/// that power), `DCGM_FI_DEV_GPU_UTIL` (%, the batch's share of `max_num_seqs`) and
/// `DCGM_FI_DEV_FB_USED` (MiB, a fixed 1 GiB plus the KV cache's share of 40 GiB), each shared
/// evenly between the GPUs.
pub(crate) fn render_dcgm(
    shared: &Shared,
    gpus: &crate::GpuPower,
    max_num_seqs: u32,
    kv_cache_tokens: u64,
) -> String {
    let (elapsed_s, seq_seconds, running) = shared
        .occupancy
        .lock()
        .map(|o| o.at(tokio::time::Instant::now()))
        .unwrap_or_default();
    let n = f64::from(gpus.gpus);
    let running = f64::from(running);
    let power = gpus.power_w(running) / n;
    let energy_mj = (n * gpus.idle_w * elapsed_s + gpus.per_seq_w * seq_seconds) / n * 1000.0;
    let util = (100.0 * running / f64::from(max_num_seqs.max(1))).min(100.0);
    let kv = shared.kv_used.load(Ordering::Relaxed) as f64 / kv_cache_tokens.max(1) as f64;
    let fb = 1024.0 + 40_960.0 * kv / n;
    let fields: [(&str, &str, &str, f64); 4] = [
        (
            "DCGM_FI_DEV_POWER_USAGE",
            "gauge",
            "Power draw (in W).",
            power,
        ),
        (
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "counter",
            "Total energy consumption since boot (in mJ).",
            energy_mj.round(),
        ),
        (
            "DCGM_FI_DEV_GPU_UTIL",
            "gauge",
            "GPU utilization (in %).",
            util.round(),
        ),
        (
            "DCGM_FI_DEV_FB_USED",
            "gauge",
            "Framebuffer memory used (in MiB).",
            fb.round(),
        ),
    ];
    let mut out = String::with_capacity(1024);
    for (name, kind, help, value) in fields {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for g in 0..gpus.gpus {
            let _ = writeln!(
                out,
                "{name}{{gpu=\"{g}\",UUID=\"GPU-sim-{g}\",device=\"nvidia{g}\",modelName=\"mst-sim\",Hostname=\"sim\"}} {value}"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_every_sample_is_labelled() {
        let shared = Shared::default();
        shared.finished_length.store(3, Ordering::Relaxed);
        let text = render(&shared, "a\"b", 100);
        assert!(text.contains(
            "vllm:request_success_total{finished_reason=\"length\",model_name=\"a\\\"b\"} 3"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains("model_name="), "{line}");
        }
    }

    #[test]
    fn dcgm_power_follows_the_batch_and_the_counter_integrates_it() {
        let shared = Shared::default();
        let gpus = crate::GpuPower {
            gpus: 2,
            idle_w: 50.0,
            per_seq_w: 4.0,
        };
        shared.running.store(10, Ordering::Relaxed);
        if let Ok(mut o) = shared.occupancy.lock() {
            *o = Default::default();
        }
        let text = render_dcgm(&shared, &gpus, 20, 100);
        // (2 × 50 + 4 × 0) / 2: the occupancy has not been told of the 10 yet.
        assert!(text.contains("DCGM_FI_DEV_POWER_USAGE{gpu=\"1\",UUID=\"GPU-sim-1\""));
        let values: Vec<(&str, f64)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (name, v) = l.split_once(' ').unwrap();
                (name.split('{').next().unwrap(), v.parse().unwrap())
            })
            .collect();
        assert_eq!(values.len(), 8);
        assert!(values.contains(&("DCGM_FI_DEV_POWER_USAGE", 50.0)));
        assert!(values.contains(&("DCGM_FI_DEV_FB_USED", 1024.0)));
    }
}
