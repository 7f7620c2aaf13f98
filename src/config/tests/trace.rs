//! `TRACE` with `TRACE_FORMAT` and `SCALE`: the trace gives the size and the search's start
//! and floor, and every key it replaces is refused beside it (unless at its default, as
//! `.env.example` sets them), naming why.

use super::*;

const TRACE: &str = "traces/synthetic.csv";

fn trace(extra: &[(&str, &str)]) -> Result<(Config, Vec<Warning>)> {
    let mut file = vec![("URL", "gpu06:9000"), ("TRACE", TRACE)];
    file.extend_from_slice(extra);
    resolve_with(&file, &[], &[])
}

fn refused(extra: &[(&str, &str)], parts: &[&str]) {
    let err = trace(extra).expect_err("refused").to_string();
    for p in parts {
        assert!(err.contains(p), "{extra:?}: {err:?} should name {p:?}");
    }
}

#[test]
fn a_trace_gives_the_size_span_the_start_scale_and_the_floor() {
    let (c, _) = trace(&[("SCALE", "2.5")]).unwrap();
    let t = c.trace.as_ref().expect("trace settings");
    assert_eq!(c.sizes, vec![t.trace.size()]);
    assert_eq!(c.start_req_min(0), 2.5);
    assert_eq!(c.req_min_floor, 0.025);
    let plan = c.iteration_plan(c.sizes[0], 2.5, crate::search::Stage::Ramp, 1, 0, "m");
    assert!(plan.trace.is_some());
    // Without TRACE nothing of it is left in a plan.
    assert!(
        ok(&[])
            .iteration_plan(c.sizes[0], 60.0, crate::search::Stage::Ramp, 1, 0, "m")
            .trace
            .is_none()
    );
    // .env.example's defaults of the keys a trace replaces are accepted beside it.
    trace(&[
        ("REQ_MIN_START", "60"),
        ("REQ_MIN_FLOOR", "1.0"),
        ("ARRIVAL", "poisson"),
        ("BURSTINESS", "1"),
        ("ADDITIVE", "FALSE"),
        ("SHARED_PREFIX_TOKENS", "0"),
        ("TRACE_FORMAT", "plain"),
    ])
    .unwrap();
}

#[test]
fn keys_a_trace_replaces_are_refused_beside_it_naming_why() {
    refused(
        &[("TOKENS_LIST", "16:16")],
        &[
            "TOKENS_LIST",
            "unset with TRACE",
            "its own input and output",
        ],
    );
    refused(&[("REQ_MIN_START", "90")], &["REQ_MIN_START", "SCALE"]);
    refused(&[("REQ_MIN_FLOOR", "2")], &["REQ_MIN_FLOOR", "SCALE / 100"]);
    refused(&[("ARRIVAL", "constant")], &["ARRIVAL", "trace's times"]);
    refused(&[("ADDITIVE", "true")], &["ADDITIVE", "the mix"]);
    refused(&[("SAMPLE_SIZE", "4")], &["SAMPLE_SIZE"]);
    refused(&[("SEARCH", "adaptive")], &["SEARCH", "classic with TRACE"]);
    refused(
        &[("EVALUATOR", "queue,plateau")],
        &["EVALUATOR", "plateau", "time scale"],
    );
    refused(
        &[("THRESHOLD_TYPE", "absolute")],
        &["THRESHOLD_TYPE", "x trace"],
    );
    // An absolute gap given in x trace is fine.
    trace(&[("THRESHOLD_TYPE", "absolute"), ("STOP_THRESHOLD", "0.1")]).unwrap();
}

#[test]
fn bad_trace_values_are_refused_before_any_traffic() {
    refused(&[("SCALE", "0")], &["SCALE=\"0\"", "time scale > 0"]);
    refused(&[("TRACE_FORMAT", "csv")], &["TRACE_FORMAT", "mooncake"]);
    refused(
        &[("TRACE_FORMAT", "azure")],
        &["synthetic.csv line 1", "TIMESTAMP"],
    );
    let err = with_file(&[("TRACE", "no/such/trace.csv")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("existing trace file"), "{err}");
    // SCALE or TRACE_FORMAT away from their defaults without TRACE would do nothing.
    let err = with_file(&[("SCALE", "2")]).unwrap_err().to_string();
    assert!(err.contains("unless TRACE"), "{err}");
    ok(&[("SCALE", "1"), ("TRACE_FORMAT", "auto")]);
}
