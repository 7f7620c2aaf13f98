//! `/metrics` in Prometheus text format, with the vLLM metric names a dashboard or a test
//! would look for.

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
}
