//! Unit tests of the loader: every key's good and bad values, defaults, precedence, the cross-key
//! rules, warnings, the env file, and that the API key never shows.

mod layers;
mod registry;
mod sessions;
mod trace;
mod traffic;
mod values;

use super::*;
use crate::error::Error;
use std::collections::HashMap;
use std::time::Duration;

pub(super) const SECRET: &str = "sk-very-secret-123";

/// Resolve with `file` pairs, an environment holding exactly `env`, and `flags`.
pub(super) fn resolve_with(
    file: &[(&str, &str)],
    env: &[(&str, &str)],
    flags: &[(&'static str, &str)],
) -> Result<(Config, Vec<Warning>)> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.get(k).cloned();
    Config::from_sources(&Sources {
        file: file
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        env: &lookup,
        flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
    })
}

/// The required keys plus `extra`, all in the file.
pub(super) fn with_file(extra: &[(&str, &str)]) -> Result<(Config, Vec<Warning>)> {
    let mut file = vec![("URL", "gpu06:9000"), ("TOKENS_LIST", "16:16,32:64")];
    file.extend_from_slice(extra);
    resolve_with(&file, &[], &[])
}

pub(super) fn ok(extra: &[(&str, &str)]) -> Config {
    match with_file(extra) {
        Ok((c, _)) => c,
        Err(e) => panic!("{extra:?} should be valid: {e}"),
    }
}

/// A file holding `text` whose name ends in `-{name}`, removed when the guard is dropped.
pub(super) fn temp_file(name: &str, text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(&format!("-{name}"))
        .tempfile()
        .expect("temp dir is writable");
    std::fs::write(file.path(), text).expect("temp dir is writable");
    file
}
mod modes;
