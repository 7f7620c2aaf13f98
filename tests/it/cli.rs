//! The binary's documented exit codes and messages, run as a user would run it.

use super::support::{FreshDir, fresh_dir};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mst-search"))
}

/// An env file `<name>.env` holding `body`, in a temporary folder removed when it is dropped.
fn env_file(name: &str, body: &str) -> FreshDir {
    let p = fresh_dir(&format!("{name}.env"));
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn a_bad_value_exits_2_naming_key_value_and_expectation() {
    let f = env_file("bad", "URL=127.0.0.1:9\nTOKENS_LIST=16:16\n");
    let out = bin()
        .arg("--env")
        .arg(&f)
        .args(["--duration", "abc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DURATION") && err.contains("abc") && err.contains("expected"),
        "{err}"
    );
}

#[test]
fn a_missing_env_file_exits_2() {
    let out = bin()
        .args(["--env", "/nonexistent/mst.env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/mst.env"));
}

#[test]
fn an_unreachable_server_exits_3_and_the_api_key_is_never_printed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = env_file(
        "down",
        &format!("URL=127.0.0.1:{port}\nTOKENS_LIST=16:16\nDURATON=30s\n"),
    );
    let out = bin()
        .arg("--env")
        .arg(&f)
        .env("OPENAI_API_KEY", "sk-never-print-me-42")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(
        all.contains("did you mean DURATION"),
        "unknown-key warning: {all}"
    );
    assert!(!all.contains("sk-never-print-me-42"));
}

#[test]
fn bad_simulator_options_exit_2() {
    let out = bin()
        .args(["simulate", "--max-num-seqs", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-num-seqs"));
    let out = bin()
        .args(["simulate", "--capacity", "128:64"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("req/min"));
}
