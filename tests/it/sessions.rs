//! Multi-turn sessions (`SESSION_TURNS`, `THINK_TIME`, `API=chat`) against the simulator: what
//! the server received grows turn by turn by exactly the previous answer and a new user
//! message, and sessions start on the schedule.

use super::support::only_iteration;
use super::support::{Scenario, read_rows};
use std::collections::BTreeMap;

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
    running.server().record_requests();
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
    server_saw_growing_conversations(running.server(), 6, 3, rows.len());
    running.shutdown().await;
}

/// The chat bodies the server received with the test's `max_tokens` (8), as message lists.
fn conversations(server: &mst_search::sim::SimServer) -> Vec<Vec<(String, String)>> {
    server
        .received()
        .iter()
        .filter(|r| r.endpoint == "chat" && r.max_tokens == 8)
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let s = |k: &str| m[k].as_str().unwrap().to_string();
                    (s("role"), s("content"))
                })
                .collect()
        })
        .collect()
}

/// What the server saw: `sessions` first turns (system + user), and every later turn's messages
/// are exactly an earlier turn's messages plus a non-empty assistant answer and a new user
/// message that no earlier turn of any session sent.
fn server_saw_growing_conversations(
    server: &mst_search::sim::SimServer,
    sessions: usize,
    turns: usize,
    rows: usize,
) {
    let seen = conversations(server);
    assert_eq!(seen.len(), rows, "one request per output.csv row");
    let firsts = seen.iter().filter(|m| m.len() == 2).count();
    assert_eq!(firsts, sessions, "sessions started");
    let users: Vec<&String> = seen
        .iter()
        .flat_map(|m| m.iter().filter(|(r, _)| r == "user").map(|(_, c)| c))
        .collect();
    for m in &seen {
        let k = m.len() / 2;
        assert!(m.len() % 2 == 0 && (1..=turns).contains(&k), "{m:?}");
        assert_eq!(m[0].0, "system");
        if k == 1 {
            continue;
        }
        let (before, added) = m.split_at(m.len() - 2);
        let (answer, user) = (&added[0], &added[1]);
        assert!(
            seen.iter()
                .any(|p| p.len() == before.len() && p.as_slice() == before),
            "turn {k} extends no earlier turn: {m:?}"
        );
        assert_eq!(answer.0, "assistant");
        assert!(!answer.1.is_empty(), "the answer as streamed: {m:?}");
        assert_eq!(user.0, "user");
        // A new message: sent once as a last message, never among any earlier turn's.
        assert_eq!(
            users.iter().filter(|u| **u == &user.1).count(),
            turns - k + 1
        );
    }
}
