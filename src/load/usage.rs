//! What the load generator itself costs: CPU time and resident memory of this process, read from
//! Linux's `/proc/self`. The runner takes a reading around every iteration so each one can
//! certify that its client kept up (`CLIENT_LIMITED`), and `bench-client` uses the same readings.
//! On systems without `/proc` every reading is `None` and nothing is certified from it.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`). It is 100 on every Linux ABI
/// mst-search builds for; reading it at run time needs `sysconf`, which needs `unsafe`.
const USER_HZ: u64 = 100;

/// User plus system CPU time of the whole process so far (all threads, live and exited).
/// Resolution is one clock tick (10 ms); `None` when `/proc/self/stat` cannot be read.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_from_stat(&stat)
}

/// The same for another process of this machine (e.g. a simulator started as a child).
pub fn pid_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

/// `utime + stime` from the text of `/proc/<pid>/stat`. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted after the last `)`.
fn cpu_from_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so utime (14) and stime (15) are the 12th and 13th here.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// Resident memory of this process, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Memory {
    /// Resident set now (`VmRSS`).
    pub rss_bytes: u64,
    /// Highest resident set since the process started (`VmHWM`).
    pub peak_rss_bytes: u64,
}

/// This process's resident memory; `None` when `/proc/self/status` cannot be read.
pub fn process_memory() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    memory_from_status(&status)
}

fn memory_from_status(status: &str) -> Option<Memory> {
    let kb = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
            .map(|k| k * 1024)
    };
    Some(Memory {
        rss_bytes: kb("VmRSS:")?,
        peak_rss_bytes: kb("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_a_name_with_spaces_and_parens() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194304 98 0 0 0 250 50 0 0 20 0 1 0 255238";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_secs(3)));
        assert_eq!(cpu_from_stat("garbage"), None);
    }

    #[test]
    fn status_memory_in_bytes() {
        let status = "Name:\tx\nVmHWM:\t    2144 kB\nVmRSS:\t    2000 kB\n";
        assert_eq!(
            memory_from_status(status),
            Some(Memory {
                rss_bytes: 2000 * 1024,
                peak_rss_bytes: 2144 * 1024
            })
        );
        assert_eq!(memory_from_status("Name: x"), None);
    }

    #[test]
    fn this_process_has_readings_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some());
            let m = process_memory().expect("VmRSS on Linux");
            assert!(m.peak_rss_bytes >= m.rss_bytes && m.rss_bytes > 0);
        }
    }
}
