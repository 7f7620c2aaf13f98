//! The `simulate` flags of the issue-14 options: each sets its `FaultConfig` field, and every
//! bad value is refused with a message naming the flag, the value and what was expected.

use clap::Parser;
use mst_search::cli::{Cli, Command};
use mst_search::sim::{ErrorEventStyle, FaultConfig, LineEnding};

fn faults(args: &[&str]) -> Result<FaultConfig, String> {
    let argv = ["mst-search", "simulate"].iter().chain(args);
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let Some(Command::Simulate(sim)) = cli.command else {
        panic!("simulate subcommand expected");
    };
    sim.faults()
}

#[test]
fn every_flag_sets_its_field() {
    let f = faults(&[
        "--reasoning-tokens=4",
        "--usage-at-end-only",
        "--tokens-per-chunk=3",
        "--fault-error-event-rate=0.5",
        "--error-event-style=field",
        "--fault-abort-rate=0.25",
        "--empty-finish-reason",
        "--fault-clean-end-rate=0.125",
        "--fault-empty-rate=0.0625",
        "--fault-error-body-rate=1",
        "--ignore-eos-ignored",
        "--sse-line-ending=cr",
        "--sse-no-space",
        "--sse-comments",
        "--sse-split-data",
        "--content-type=text/plain",
        "--null-fields",
        "--keepalive-close-every=3",
        "--keepalive-idle-ms=100",
    ])
    .expect("valid flags");
    let want = FaultConfig {
        reasoning_tokens: 4,
        usage_at_end_only: true,
        tokens_per_chunk: 3,
        fault_error_event_rate: 0.5,
        error_event_style: ErrorEventStyle::Field,
        fault_abort_rate: 0.25,
        empty_finish_reason: true,
        fault_clean_end_rate: 0.125,
        fault_empty_rate: 0.0625,
        fault_error_body_rate: 1.0,
        ignore_eos_ignored: true,
        sse_line_ending: LineEnding::Cr,
        sse_no_space: true,
        sse_comments: true,
        sse_split_data: true,
        content_type: Some("text/plain".into()),
        null_fields: true,
        keepalive_close_every: 3,
        keepalive_idle_ms: 100,
        ..faults(&[]).expect("defaults are valid")
    };
    assert_eq!(f, want);
    // The defaults are the simulator's plain vLLM behaviour.
    let d = faults(&[]).expect("defaults are valid");
    assert_eq!((d.tokens_per_chunk, d.sse_line_ending), (1, LineEnding::Lf));
    assert_eq!(d.error_event_style, ErrorEventStyle::Json);
    assert_eq!(d.content_type, None);
}

#[test]
fn bad_values_name_the_flag_the_value_and_what_was_expected() {
    let cases: [(&[&str], &str, &str); 10] = [
        (
            &["--tokens-per-chunk=0"],
            "--tokens-per-chunk",
            "at least 1",
        ),
        (
            &["--fault-error-event-rate=1.5"],
            "--fault-error-event-rate",
            "1.5",
        ),
        (&["--fault-abort-rate=-0.5"], "--fault-abort-rate", "-0.5"),
        (
            &["--fault-clean-end-rate=2"],
            "--fault-clean-end-rate",
            "probability",
        ),
        (&["--fault-empty-rate=NaN"], "--fault-empty-rate", "NaN"),
        (
            &["--fault-error-body-rate=7"],
            "--fault-error-body-rate",
            "probability",
        ),
        (
            &["--error-event-style=xml"],
            "--error-event-style",
            "json, event or field",
        ),
        (
            &["--sse-line-ending=LF\n"],
            "--sse-line-ending",
            "lf, crlf or cr",
        ),
        (&["--content-type="], "--content-type", "header value"),
        (
            &["--keepalive-close-every=-1"],
            "--keepalive-close-every",
            "-1",
        ),
    ];
    for (args, flag, expected) in cases {
        let e = faults(args).expect_err("a bad value is refused");
        assert!(e.contains(flag) && e.contains(expected), "{args:?}: {e}");
    }
}
