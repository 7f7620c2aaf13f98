//! The `queue` verdict on constructed iterations: a steady server passes, a growing queue fails
//! every queueing criterion, too few requests abstain, and a shortfall that the backlog's own
//! noise explains is not called an overload.

use super::*;
use crate::evaluate::gate::Gated;
use crate::evaluate::testdata::{criterion, gated, synth, wobble};

fn queue() -> Gated {
    gated(QueueEvaluator {
        settings: QueueSettings {
            growth_window_pct: 2.0,
            growth_min_ms: 250.0,
            throughput_min_pct: 95.0,
        },
    })
}

#[test]
fn a_steady_server_passes_every_criterion() {
    // 5 req/s for 120 s, 50 ms (± 5) to the first token, 10 tokens 20 ms apart.
    let s = synth(
        120.0,
        20.0,
        600,
        |i, _| 50.0 + 5.0 * wobble(i),
        |_, _| 20.0,
        None,
    );
    let v = s.judge(&queue());
    assert!(v.sustainable, "{}", v.reason);
    for name in [
        "success_rate",
        "throughput",
        "queue_delay_trend",
        "backlog_trend",
    ] {
        assert!(
            criterion(&v, name).passed,
            "{name}: {:?}",
            criterion(&v, name)
        );
    }
    let tp = criterion(&v, "throughput");
    assert_eq!(tp.figures["sent_in_window"], 400.0);
    assert!((tp.figures["achieved_pct"] - 100.0).abs() <= 0.5, "{tp:?}");
    // 400 delay samples: the usual 10 bins.
    assert_eq!(criterion(&v, "queue_delay_trend").figures["bins"], 10.0);
}

#[test]
fn a_growing_queue_fails_delay_backlog_and_throughput() {
    // The wait for the first token grows by 100 ms every second: the server falls behind by 10%.
    let s = synth(120.0, 20.0, 600, |_, t| 50.0 + 100.0 * t, |_, _| 20.0, None);
    let v = s.judge(&queue());
    assert!(!v.sustainable);
    let delay = criterion(&v, "queue_delay_trend");
    assert!(!delay.passed, "{delay:?}");
    // 100 ms/s from the end of the leading buffer (20 s) to the end of sending (120 s): 10 s.
    assert!(
        (delay.figures["growth_ms"] - 10_000.0).abs() < 500.0,
        "{delay:?}"
    );
    // Material beyond 2% of those 100 s, whatever the starting delay.
    assert_eq!(delay.figures["threshold_ms"], 2000.0);
    let backlog = criterion(&v, "backlog_trend");
    assert!(!backlog.passed, "{backlog:?}");
    // Allowed growth: 5% of the 400 requests sent in the window.
    assert_eq!(backlog.figures["threshold_requests"], 20.0);
    let tp = criterion(&v, "throughput");
    assert!(!tp.passed, "{tp:?}");
    assert!(tp.figures["achieved_pct"] < 95.0 && tp.figures["p_value"] < 0.01);
    assert!(
        v.reason.contains("significant and material"),
        "{}",
        v.reason
    );
}

#[test]
fn too_few_requests_make_the_trends_abstain() {
    let s = synth(60.0, 10.0, 12, |_, t| 50.0 + 500.0 * t, |_, _| 20.0, None);
    let v = s.judge(&queue());
    for name in ["queue_delay_trend", "backlog_trend"] {
        let c = criterion(&v, name);
        assert!(c.passed && c.detail.contains("too few requests"), "{c:?}");
        // The fitted trend's figures, empty but present: results.csv keeps its columns.
        assert!(
            c.figures["p_value"].is_nan() && c.figures.len() == 7,
            "{c:?}"
        );
    }
}

#[test]
fn a_shortfall_the_backlog_noise_explains_passes_and_a_larger_one_fails() {
    // 100 requests sent in the 20-s window (5 per second), all successful, 0.5 s each.
    let mut s = synth(30.0, 5.0, 150, |_, _| 100.0, |_, _| 44.0, None);
    let (w0, w1) = send_window(&s.meta);
    // The same records, judged as if each request ran `run_s` seconds.
    let window = |run_s: f64| Window {
        w0,
        w1,
        delay_end: s.meta.sending_stopped,
        median_latency: Duration::from_millis(496),
        median_generation: Duration::from_secs_f64(run_s),
        sent: 100,
        backlog: Vec::new(),
    };
    // Seven of the window's last requests end after the shifted window: 93% completed.
    let late: Vec<usize> = (0..s.records.len())
        .filter(|&i| s.records[i].intended_send < w1)
        .rev()
        .take(7)
        .collect();
    for i in late {
        s.records[i].end += Duration::from_secs(5);
    }
    // 5/s running 4 s each: 20 in flight, and 7 short is z ≈ 1.1, a Poisson wobble.
    let noisy = throughput(&s.records, &window(4.0), 95.0);
    assert_eq!(noisy.figures["completed_in_window"], 93.0, "{noisy:?}");
    assert!((noisy.figures["stable_backlog"] - 20.0).abs() < 1e-9);
    assert!(noisy.passed, "{noisy:?}");
    assert!(noisy.detail.contains("not significant"), "{}", noisy.detail);
    // Running 0.4 s each, 2 in flight: the same shortfall is z ≈ 3.5, the server fell behind.
    let quiet = throughput(&s.records, &window(0.4), 95.0);
    assert!(!quiet.passed, "{quiet:?}");
    assert!(quiet.figures["z"] > 3.0);
}

#[test]
fn bins_are_at_least_one_median_generation_time_wide() {
    // A 13-s window of requests that run 2.7 s holds 4 independent stretches, not 10.
    assert_eq!(bins_for(400, 13.3, Some(2.7)), 4);
    assert_eq!(bins_for(400, 80.0, Some(0.2)), MAX_BINS);
    // Few samples: one bin per 5 of them.
    assert_eq!(bins_for(20, 80.0, Some(0.2)), 4);
    // Never fewer than 3 (a line through 2 points has no error to test).
    assert_eq!(bins_for(400, 5.0, Some(10.0)), MIN_BINS);
    assert_eq!(bins_for(400, 10.0, Some(0.0)), MAX_BINS);
}
