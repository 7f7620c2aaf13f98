//! Exclusive locks on result folders, so two runs (a cron job that starts while last night's
//! is still going, two array tasks given the same size) never write the same files.
//!
//! A lock is an advisory `flock` on a small file (std's `File::try_lock`). The kernel drops it
//! when its process dies, however it dies, so a lock file left by a dead process is simply
//! taken over; the file's text (pid, host, start time) only serves the "already running"
//! message and the note that a stale lock was taken over.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A held lock; dropping it empties the file and releases the lock, so only a process that died
/// holding it leaves its name behind (and only that is reported as a stale lock taken over).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Still locked here: nobody reads a half-cleared file. A failure only costs a spurious
        // "stale lock" note on the next run.
        let _ = self.file.set_len(0);
    }
}

impl DirLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds (or last held) a lock, as written in its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// Process id of the holder.
    pub pid: Option<u32>,
    /// Host name of the holder.
    pub host: Option<String>,
    /// When it took the lock (RFC 3339).
    pub since: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => write!(f, "pid unknown")?,
        }
        if let Some(host) = &self.host {
            write!(f, " on {host}")?;
        }
        if let Some(since) = &self.since {
            write!(f, " since {since}")?;
        }
        Ok(())
    }
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut h = Holder::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => h.pid = v.trim().parse().ok(),
                Some(("host", v)) => h.host = Some(v.trim().to_string()),
                Some(("since", v)) => h.since = Some(v.trim().to_string()),
                _ => {}
            }
        }
        h
    }

    fn me() -> Holder {
        Holder {
            pid: Some(std::process::id()),
            host: host_name(),
            since: Some(chrono::Local::now().to_rfc3339()),
        }
    }
}

/// The outcome of [`try_lock`].
#[derive(Debug)]
pub enum Acquired {
    /// The lock is ours. `stale` names the previous holder when its file said another process
    /// (which must have died, since the lock was free).
    Locked {
        lock: DirLock,
        stale: Option<Holder>,
    },
    /// Another live process holds it.
    Held(Holder),
}

/// Try to take the lock file `path` (created when missing) without waiting.
pub fn try_lock(path: &Path) -> std::io::Result<Acquired> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let mut previous = String::new();
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            // The holder writes its name right after locking; a read in between shows nothing.
            file.read_to_string(&mut previous)?;
            return Ok(Acquired::Held(Holder::parse(&previous)));
        }
        Err(TryLockError::Error(e)) => return Err(e),
    }
    file.read_to_string(&mut previous)?;
    let old = Holder::parse(&previous);
    let stale = (old.pid.is_some() && old.pid != Some(std::process::id())).then_some(old);
    let me = Holder::me();
    let mut text = format!("pid={}\n", std::process::id());
    if let Some(host) = &me.host {
        text.push_str(&format!("host={host}\n"));
    }
    if let Some(since) = &me.since {
        text.push_str(&format!("since={since}\n"));
    }
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(Acquired::Locked {
        lock: DirLock {
            file,
            path: path.to_path_buf(),
        },
        stale,
    })
}

/// Take the lock file `path`, waiting for the holder to release it (for short critical
/// sections such as rewriting `summary.csv`).
pub fn lock_blocking(path: &Path) -> std::io::Result<DirLock> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.lock()?;
    Ok(DirLock {
        file,
        path: path.to_path_buf(),
    })
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock file's path in a fresh temporary folder (removed when the guard is dropped).
    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.lock");
        (dir, path)
    }

    #[test]
    fn a_held_lock_is_refused_and_names_its_holder() {
        let (_dir, path) = temp();
        let Acquired::Locked { lock, stale } = try_lock(&path).expect("first") else {
            panic!("the first lock must succeed");
        };
        assert_eq!(stale, None);
        // flock locks belong to open file descriptions, so a second open conflicts even here.
        match try_lock(&path).expect("second") {
            Acquired::Held(h) => {
                assert_eq!(h.pid, Some(std::process::id()));
                assert!(
                    h.to_string()
                        .starts_with(&format!("pid {}", std::process::id()))
                );
            }
            Acquired::Locked { .. } => panic!("a held lock was taken twice"),
        }
        drop(lock);
        assert!(matches!(
            try_lock(&path).expect("third"),
            Acquired::Locked { .. }
        ));
    }

    #[test]
    fn a_lock_released_cleanly_is_not_reported_as_stale() {
        let (_dir, path) = temp();
        match try_lock(&path).expect("first") {
            Acquired::Locked { lock, .. } => drop(lock),
            Acquired::Held(h) => panic!("{h}"),
        }
        match try_lock(&path).expect("second") {
            Acquired::Locked { stale, .. } => assert_eq!(stale, None),
            Acquired::Held(h) => panic!("{h}"),
        }
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over_and_reported() {
        let (_dir, path) = temp();
        std::fs::write(&path, "pid=4194999\nhost=elsewhere\nsince=yesterday\n").expect("write");
        match try_lock(&path).expect("lock") {
            Acquired::Locked { lock, stale } => {
                let stale = stale.expect("the previous holder is reported");
                assert_eq!(stale.pid, Some(4_194_999));
                assert_eq!(stale.host.as_deref(), Some("elsewhere"));
                let text = std::fs::read_to_string(lock.path()).expect("read");
                assert!(
                    text.starts_with(&format!("pid={}\n", std::process::id())),
                    "{text}"
                );
            }
            Acquired::Held(h) => panic!("a stale lock was not taken over: {h}"),
        }
    }
}
