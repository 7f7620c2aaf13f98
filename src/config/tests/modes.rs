//! The load modes against each other (`config::mode::check_with`): one mode at a time,
//! `THINK_TIME` only where something waits for an answer, and no rate-only search or
//! evaluator with a level that is not a rate; each refusal names the keys.

use super::*;

fn refused(pairs: &[(&str, &str)]) -> String {
    with_file(pairs).expect_err("refused").to_string()
}

#[test]
fn two_load_modes_at_once_are_refused_naming_both() {
    let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/traces/synthetic.csv");
    let err = refused(&[
        ("API", "chat"),
        ("SESSION_TURNS", "3"),
        ("LOAD", "users"),
        ("EVALUATOR", "slo"),
        ("SLO_TTFT_P90_MS", "500"),
    ]);
    assert!(
        err.contains("LOAD") && err.contains("SESSION_TURNS") && err.contains("one load mode"),
        "{err}"
    );
    let file = [
        ("URL", "gpu06:9000"),
        ("TRACE", trace),
        ("API", "chat"),
        ("SESSION_TURNS", "2"),
    ];
    let err = resolve_with(&file, &[], &[])
        .expect_err("trace and sessions")
        .to_string();
    assert!(
        err.contains("TRACE") && err.contains("SESSION_TURNS") && err.contains("one load mode"),
        "{err}"
    );
}

#[test]
fn think_time_without_users_or_sessions_is_refused() {
    let err = refused(&[("THINK_TIME", "2s")]);
    assert!(
        err.contains("THINK_TIME") && err.contains("2s") && err.contains("LOAD=users"),
        "{err}"
    );
    assert!(ok(&[("THINK_TIME", "0s")]).mode.think_time.is_zero());
    let c = ok(&[
        ("API", "chat"),
        ("SESSION_TURNS", "2"),
        ("THINK_TIME", "2s"),
    ]);
    assert_eq!(c.mode.think_time, std::time::Duration::from_secs(2));
}

#[test]
fn sessions_refuse_what_reasons_in_requests_per_minute() {
    let base = [("API", "chat"), ("SESSION_TURNS", "2")];
    let err = refused(&[base[0], base[1], ("SEARCH", "adaptive")]);
    assert!(
        err.contains("SEARCH") && err.contains("sessions/min") && err.contains("SESSION_TURNS"),
        "{err}"
    );
    for e in ["plateau", "queue,fmperf"] {
        let err = refused(&[base[0], base[1], ("EVALUATOR", e)]);
        assert!(
            err.contains("EVALUATOR") && err.contains("sessions/min"),
            "{e}: {err}"
        );
    }
    assert_eq!(ok(&base).load_unit(), crate::search::LoadUnit::SessionsMin);
}
