//! Multi-turn sessions (`SESSION_TURNS`, `THINK_TIME`, `API=chat`) against the simulator: what
//! the server received grows turn by turn by exactly the previous answer and a new user
//! message, and sessions start on the schedule.

use super::support::{Scenario, read_rows};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The one iteration folder of `size` under `out`.
fn only_iteration(out: &Path, size: &str) -> PathBuf {
    let iterations: Vec<PathBuf> = std::fs::read_dir(out.join(size))
        .unwrap_or_else(|e| panic!("{size}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.ends_with("interrupted"))
        .collect();
    assert_eq!(iterations.len(), 1, "{iterations:?}");
    iterations.into_iter().next().unwrap()
}

/// Sessions of three turns at a constant 120 sessions/min for 3 s: six sessions start, and
/// each turn after the first is sent no earlier than the previous turn's end plus `THINK_TIME`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_turns_follow_each_other_in_output_csv() {
    let running = Scenario::new()
        .keys(&[
            ("API", "chat"),
            ("TOKENS_LIST", "64:8"),
            ("SESSION_TURNS", "3"),
            ("ARRIVAL", "constant"),
            ("REQ_MIN_START", "120"),
            ("DURATION", "3s"),
            ("FILTER_BUFFER", "0.5s"),
            ("DRAIN_TIMEOUT", "5s"),
            ("MAX_ITERATIONS", "1"),
            ("EARLY_ABORT", "false"),
            ("SEED", "11"),
        ])
        .start()
        .await;
    running.run().await;
    let rows = read_rows(&only_iteration(running.out_dir(), "64_8").join("output.csv"));
    let mut sessions: BTreeMap<u64, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for r in &rows {
        assert!(r["error_kind"].is_empty(), "{r:?}");
        sessions
            .entry(r["session"].parse().unwrap())
            .or_default()
            .push(r);
    }
    assert_eq!(sessions.len(), 6, "{rows:?}");
    // Short turns: every session ends well before DURATION, so all its turns were sent.
    assert_eq!(rows.len(), 18, "{rows:?}");
    for turns in sessions.values() {
        let numbers: Vec<u32> = turns.iter().map(|r| r["turn"].parse().unwrap()).collect();
        assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
        for pair in turns.windows(2) {
            // e2e_ms runs to the last token; the turn ends at the stream's end just after it.
            let f = |r: &BTreeMap<String, String>, c: &str| r[c].parse::<f64>().unwrap();
            let last_token = f(pair[0], "actual_send_s") + f(pair[0], "e2e_ms") / 1e3;
            let gap = f(pair[1], "intended_send_s") - last_token;
            assert!((0.0..0.05).contains(&gap), "{gap} s: {pair:?}");
        }
    }
    // results.csv has every turn's figures, from the records of that turn.
    let results = read_rows(&only_iteration(running.out_dir(), "64_8").join("results.csv"));
    for k in 1..=3 {
        let n = rows.iter().filter(|r| r["turn"] == k.to_string()).count();
        assert_eq!(results[0][&format!("TURN_{k}_REQUESTS")], n.to_string());
        let p50: f64 = results[0][&format!("TURN_{k}_TTFT_P50_MS")]
            .parse()
            .unwrap();
        let p90: f64 = results[0][&format!("TURN_{k}_TTFT_P90_MS")]
            .parse()
            .unwrap();
        assert!(0.0 < p50 && p50 <= p90, "turn {k}: {p50} {p90}");
    }
    running.shutdown().await;
}
