//! The lock on a size's results, through the binary as cron would run it: a second run while
//! the first is going exits 0 at once with "already running (pid …)"; after the
//! first dies without cleaning up (SIGKILL), the next run takes the stale lock over and
//! finishes the search.

use super::resume::{
    counted_folders, engine, env_text, expected_path, finish, path_of, spawn_search, wait_recorded,
};
use super::support::fresh_dir;
use mst_search::output::SizeOutcome;
use mst_search::sim::{FaultConfig, SimServer};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_exits_0_while_the_first_holds_the_lock_and_a_stale_lock_is_taken_over() {
    let server = SimServer::start(engine(), FaultConfig::default())
        .await
        .unwrap();
    let out = fresh_dir("lock");
    let size_dir = out.join("64_32");
    let env = out.with_extension("env");
    std::fs::write(&env, env_text(&server.url(), &out)).unwrap();
    let run = || spawn_search(&env);
    let mut first = run();
    let first_pid = first.id();
    wait_recorded(&size_dir, 1, Duration::from_secs(60)).await;

    let started = Instant::now();
    let second = run();
    let second = finish(second).await;
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("already running (pid {first_pid}")),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        String::from_utf8_lossy(&second.stdout).trim().is_empty(),
        "the second run reports no search"
    );
    assert_eq!(first.try_wait().unwrap(), None, "the first run goes on");

    // A run killed outright leaves its lock file behind; the kernel has released the lock.
    first.kill().unwrap();
    first.wait().unwrap();
    let lock_file = out.join(".64_32.lock");
    assert!(
        std::fs::read_to_string(&lock_file)
            .unwrap()
            .contains(&format!("pid={first_pid}"))
    );
    let third = run();
    let third = finish(third).await;
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("took over the lock") && stderr.contains(&format!("pid {first_pid}")),
        "{stderr}"
    );
    let outcome: SizeOutcome =
        serde_json::from_str(&std::fs::read_to_string(size_dir.join("mst.json")).unwrap()).unwrap();
    assert_eq!(path_of(&outcome), expected_path());
    assert_eq!(counted_folders(&size_dir).len(), expected_path().len());
    server.shutdown().await;
}
