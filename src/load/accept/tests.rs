use super::*;
use crate::evaluate::testdata::{synth, wobble};

/// A 30-minute iteration at 600 req/min, 1000 s in, with a flat, tightly known delay.
fn healthy() -> Snapshot {
    Snapshot {
        elapsed: Duration::from_secs(1000),
        duration: Duration::from_secs(1800),
        filter_buffer: Duration::from_secs(300),
        req_min: 600.0,
        in_flight: 30,
        failed: 0,
        // 10 req/s × 2 s = 20 in flight by Little's law; 2 × 20 + 5 = 45 allowed.
        e2e_p50_ms: Some(2000.0),
        trend: Some(DelayTrend {
            samples: 7000,
            slope_ms_per_s: 0.01,
            slope_se: 0.02,
            df: 8.0,
            covered_until: Duration::from_secs(995),
        }),
    }
}

fn with_trend(slope: f64, se: f64, samples: usize) -> Snapshot {
    Snapshot {
        trend: Some(DelayTrend {
            samples,
            slope_ms_per_s: slope,
            slope_se: se,
            df: 8.0,
            covered_until: Duration::from_secs(995),
        }),
        ..healthy()
    }
}

#[test]
fn a_flat_delay_with_a_small_backlog_is_accepted_with_the_numbers() {
    let why = decide(&AcceptSettings::default(), &healthy()).expect("accepts");
    // 0.01 + t(0.99, 8) 2.896 × 0.02 = 0.068 ms/s; × 1800 s = 122 ms ≤ 250.
    assert!(why.contains("0.010 ± 0.058 ms/s"), "{why}");
    assert!(why.contains("bound 0.068 ms/s"), "{why}");
    assert!(why.contains("projects 122 ms"), "{why}");
    assert!(
        why.contains("30 in\n") || why.contains("30 in flight"),
        "{why}"
    );
    assert!(
        why.contains("7000 requests") && why.contains("at most 45"),
        "{why}"
    );
}

#[test]
fn nothing_is_accepted_when_disabled_or_too_early() {
    let s = AcceptSettings::default();
    let off = AcceptSettings {
        enabled: false,
        ..s
    };
    assert_eq!(decide(&off, &healthy()), None);
    // 50% of 1800 s is 900 s.
    let at = |secs| Snapshot {
        elapsed: Duration::from_secs(secs),
        ..healthy()
    };
    assert_eq!(decide(&s, &at(899)), None);
    assert!(decide(&s, &at(900)).is_some());
    // 3 × FILTER_BUFFER wins when it is later: the steady window must keep one buffer.
    let long_buffer = |secs| Snapshot {
        filter_buffer: Duration::from_secs(400),
        ..at(secs)
    };
    assert_eq!(decide(&s, &long_buffer(1199)), None);
    assert!(decide(&s, &long_buffer(1200)).is_some());
}

#[test]
fn any_server_failure_or_missing_latency_prevents_an_accept() {
    let s = AcceptSettings::default();
    let failed = Snapshot {
        failed: 1,
        ..healthy()
    };
    assert_eq!(decide(&s, &failed), None);
    let no_e2e = Snapshot {
        e2e_p50_ms: None,
        ..healthy()
    };
    assert_eq!(decide(&s, &no_e2e), None);
}

#[test]
fn too_few_finished_requests_or_no_fit_prevent_an_accept() {
    let s = AcceptSettings::default();
    assert_eq!(decide(&s, &with_trend(0.0, 0.01, MIN_FINISHED - 1)), None);
    assert!(decide(&s, &with_trend(0.0, 0.01, MIN_FINISHED)).is_some());
    let none = Snapshot {
        trend: None,
        ..healthy()
    };
    assert_eq!(decide(&s, &none), None);
    // A request stuck in flight since before the end of the steady window (1000 − 300 s) keeps
    // the regression from reaching it.
    let stuck = |secs| Snapshot {
        trend: healthy().trend.map(|t| DelayTrend {
            covered_until: Duration::from_secs(secs),
            ..t
        }),
        ..healthy()
    };
    assert!(decide(&s, &stuck(700)).is_some());
    assert_eq!(decide(&s, &stuck(699)), None);
}

#[test]
fn a_backlog_beyond_littles_law_prevents_an_accept() {
    let s = AcceptSettings::default();
    let backlog = |in_flight| Snapshot {
        in_flight,
        ..healthy()
    };
    assert!(decide(&s, &backlog(45)).is_some());
    assert_eq!(decide(&s, &backlog(46)), None);
}

#[test]
fn a_growing_delay_or_a_loose_interval_prevents_an_accept() {
    let s = AcceptSettings::default();
    // 1.1 × capacity: the delay grows by ~100 ms per second.
    assert_eq!(decide(&s, &with_trend(100.0, 1.0, 7000)), None);
    // No trend seen, but an interval too wide to rule out 250 ms over DURATION:
    // 2.896 × 0.05 × 1800 = 261 ms.
    assert_eq!(decide(&s, &with_trend(0.0, 0.05, 7000)), None);
    assert!(decide(&s, &with_trend(0.0, 0.04, 7000)).is_some());
    // A falling delay (a queue left by the last iteration draining) is no growth, when it is
    // known well…
    assert!(decide(&s, &with_trend(-1.0, 0.04, 7000)).is_some());
    // …but a fall does not buy a wide interval (measured: an overload at 1.1x whose delay fell
    // by chance, -39 ± 42 ms/s, was accepted when the bound was slope + margin).
    assert_eq!(decide(&s, &with_trend(-39.0, 14.6, 7000)), None);
    assert_eq!(decide(&s, &with_trend(-1.0, 0.1, 7000)), None);
    // Bins exactly on a line: the slope itself is the bound.
    assert!(decide(&s, &with_trend(0.1, 0.0, 7000)).is_some());
    assert_eq!(decide(&s, &with_trend(0.2, 0.0, 7000)), None);
}

#[test]
fn the_feed_fits_only_requests_older_than_the_oldest_in_flight() {
    let feed = Feed::default();
    let r = |idx: u64, delay_ms: u64| {
        let sent = idx * 100;
        crate::metrics::tests::record(idx, sent, sent, &[delay_ms as u32], sent + 500, 1, None)
    };
    // 0..60 finished with a flat delay; 60 still in flight; 61..80 finished with a huge one.
    for i in 0..60 {
        feed.observe(&r(i, 10 + i % 3));
    }
    for i in 61..80 {
        feed.observe(&r(i, 5000));
    }
    let (failed, e2e, trend) = feed.figures(Duration::ZERO);
    assert_eq!(failed, 0);
    assert_eq!(e2e, Some(500.0));
    let trend = trend.expect("fits");
    assert_eq!(trend.samples, 60);
    assert_eq!(trend.covered_until, Duration::from_millis(5900));
    assert!(trend.slope_ms_per_s.abs() < 1.0, "{trend:?}");
    // Once 60 ends, the late requests join the fit and show their growth.
    feed.observe(&r(60, 5000));
    let (_, _, trend) = feed.figures(Duration::ZERO);
    let trend = trend.expect("fits");
    assert_eq!(trend.samples, 80);
    assert!(trend.slope_ms_per_s > 100.0, "{trend:?}");
    // The window starts at FILTER_BUFFER.
    let (_, _, trend) = feed.figures(Duration::from_secs(5));
    assert_eq!(trend.expect("fits").samples, 30);
}

#[test]
fn the_feed_counts_server_failures_but_not_the_clients_own_stops() {
    let feed = Feed::default();
    let failed = |idx, kind| crate::metrics::tests::record(idx, 0, 0, &[], 10, 0, Some(kind));
    feed.observe(&failed(0, ErrorKind::Cancelled));
    feed.observe(&failed(1, ErrorKind::DrainCutoff));
    assert_eq!(feed.figures(Duration::ZERO).0, 0);
    feed.observe(&failed(2, ErrorKind::HttpStatus));
    assert_eq!(feed.figures(Duration::ZERO).0, 1);
}

#[test]
fn replay_accepts_a_flat_queue_at_the_earliest_point_and_never_a_growing_one() {
    let s = AcceptSettings::default();
    let flat = synth(
        600.0,
        30.0,
        6000,
        |i, _| 50.0 + 10.0 * wobble(i),
        |_, _| 20.0,
        None,
    );
    let (at, why) = replay(&s, &flat.meta, &flat.records).expect("accepts");
    assert_eq!(at, Duration::from_secs(300), "{why}");
    // Falls behind by 1%: 10 ms per second, far above 250 ms over 600 s.
    let grow = synth(
        600.0,
        30.0,
        6000,
        |i, t| 50.0 + 10.0 * t + 10.0 * wobble(i),
        |_, _| 20.0,
        None,
    );
    assert_eq!(replay(&s, &grow.meta, &grow.records), None);
}
