//! Errors of the tool itself (not of the server under test: those are data, see
//! [`crate::record::ErrorKind`]) and the process exit codes they map to.

use std::path::PathBuf;

/// Documented process exit codes (`docs/guide/running.md`, "Exit codes").
pub mod exit_code {
    /// Every size's search finished (whatever the MST, including "none found").
    pub const OK: i32 = 0;
    /// A search stopped without an answer for at least one size (e.g. every request failed).
    pub const SEARCH_INCOMPLETE: i32 = 1;
    /// Bad command line, bad `.env` value, missing file: nothing was sent.
    pub const USAGE: i32 = 2;
    /// The endpoint could not be reached before the first iteration.
    pub const UNREACHABLE: i32 = 3;
    /// Interrupted by a signal; state was saved.
    pub const INTERRUPTED: i32 = 4;
    /// Output could not be written (permissions, disk full).
    pub const OUTPUT: i32 = 5;
}

/// Errors a user can act on. Each message is a full sentence naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration key (from `.env`, the environment or a flag) had a bad value.
    #[error("{key}={value:?} is invalid: expected {expected}")]
    Config {
        key: String,
        value: String,
        expected: String,
    },
    /// A required key was not given anywhere.
    #[error("{key} is not set: {hint}")]
    MissingKey { key: String, hint: String },
    /// A line of the `TRACE` file is not a request the replay can send.
    #[error("{path} line {line}: {field}={value:?} is invalid: expected {expected}")]
    Trace {
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1 of a CSV).
        line: u64,
        field: String,
        value: String,
        expected: String,
    },
    /// The `--env` file could not be read or parsed.
    #[error("cannot read the env file {path}: {reason}")]
    EnvFile { path: PathBuf, reason: String },
    /// The server did not answer before any traffic was sent.
    #[error("the server at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// Writing results failed.
    #[error("cannot write {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    /// The run was interrupted by a signal after saving what it had.
    #[error("interrupted by {signal}; finished iterations are saved")]
    Interrupted { signal: String },
    /// A checkpoint (`state.json`) or the results beside it cannot be resumed as they are.
    #[error("cannot resume from {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// Another run holds the lock on these results: not a failure, nothing was done (exit 0).
    #[error("already running ({holder}): {path} is locked, so this run does nothing")]
    AlreadyRunning { path: PathBuf, holder: String },
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. }
            | Error::MissingKey { .. }
            | Error::EnvFile { .. }
            | Error::Trace { .. } => exit_code::USAGE,
            Error::Unreachable { .. } => exit_code::UNREACHABLE,
            Error::Output { .. } => exit_code::OUTPUT,
            Error::Interrupted { .. } => exit_code::INTERRUPTED,
            Error::Checkpoint { .. } => exit_code::USAGE,
            Error::AlreadyRunning { .. } => exit_code::OK,
        }
    }

    /// Shorthand for a [`Error::Config`].
    pub fn config(key: &str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::Config {
            key: key.to_string(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A non-fatal remark about the configuration (unknown key, deprecated spelling…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);
