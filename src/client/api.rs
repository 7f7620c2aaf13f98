//! The client's own vocabulary that the configuration fills in: which endpoint to drive
//! ([`Api`]) and the bearer token ([`Secret`]), which never prints.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which OpenAI endpoint to drive (`API`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `POST /v1/completions` (default).
    Completions,
    /// `POST /v1/chat/completions`.
    Chat,
}

/// A secret that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; only the HTTP client should call this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
