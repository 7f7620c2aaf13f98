//! `TRACE`, `TRACE_FORMAT` and `SCALE`: replaying a request trace, with the time scale as the
//! search variable. Kept apart from [`super::load`] because a trace replaces several keys
//! (the sizes, the start and floor of the search, the arrivals, the prompt sources) and every
//! one of them set beside it is refused here, naming why, before any traffic.

use super::load::{Layers, f64_where};
use crate::error::{Error, Result};
use crate::workload::trace::{self, Trace, TraceFormat};
use serde::Serialize;
use std::sync::Arc;

/// A trace replay: the trace as read and the scale the search starts at.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSettings {
    /// The trace, read and checked (its requests are not part of the fingerprint; its
    /// content hash is).
    #[serde(skip)]
    pub trace: Arc<Trace>,
    /// `TRACE_FORMAT` as read (or as told by the file); not in the fingerprint, since the
    /// content decides it.
    #[serde(skip)]
    pub format: TraceFormat,
    /// FNV-1a of the file's bytes: a resumed search refuses a changed trace.
    #[serde(rename = "TRACE content")]
    pub content_hash: String,
    /// `SCALE`: the first time scale tried (2 sends the trace twice as fast).
    #[serde(rename = "SCALE")]
    pub scale: f64,
}

/// How far below the start scale the walk down goes before it gives up: the floor is
/// `SCALE / FLOOR_DIVISOR` (`REQ_MIN_FLOOR` is in requests/minute and refused with `TRACE`).
pub const FLOOR_DIVISOR: f64 = 100.0;

/// Keys a trace replaces: set beside `TRACE`, each is refused with the reason.
const REPLACED: &[(&str, &str)] = &[
    (
        "TOKENS_LIST",
        "the trace gives every request its own input and output tokens",
    ),
    ("ADDITIVE", "the trace's requests are the mix"),
    ("TOKENS_LIST_PROPORTION", "the trace's requests are the mix"),
    (
        "REQ_MIN_START",
        "the search variable is the time scale; the first one tried is SCALE",
    ),
    (
        "REQ_MIN_FLOOR",
        "the search variable is the time scale; walking down stops below SCALE / 100",
    ),
    ("ARRIVAL", "requests arrive at the trace's times"),
    ("BURSTINESS", "requests arrive at the trace's times"),
    (
        "PROMPTS_FILE",
        "prompts are made at the trace's lengths by the generator",
    ),
    ("OUTPUT_FROM_DATASET", "output lengths are the trace's"),
    (
        "SAMPLE_SIZE",
        "prompts are shared where the trace shares them (Mooncake hash_ids, plain sessions)",
    ),
    (
        "SHARED_PREFIX_TOKENS",
        "prompts share prefixes where the trace does (Mooncake hash_ids, plain sessions)",
    ),
    (
        "PREFIX_GROUPS",
        "prompts share prefixes where the trace does (Mooncake hash_ids, plain sessions)",
    ),
];

/// The key's value as given, None when unset.
fn raw_value(l: &Layers, key: &str) -> Option<String> {
    l.get(key).map(|_| l.shown(key, ""))
}

/// Whether `value` is the key's registry default (numbers compared as numbers).
fn is_default(key: &str, value: &str) -> bool {
    let Some(default) = super::keys::default_value(key) else {
        return false;
    };
    value.eq_ignore_ascii_case(default)
        || matches!(
            (value.parse::<f64>(), default.parse::<f64>()),
            (Ok(a), Ok(b)) if a == b
        )
}

/// `TRACE_FORMAT`: `auto` (told by the file), `azure`, `mooncake` or `plain`.
fn parse_format(key: &str, value: &str) -> Result<Option<TraceFormat>> {
    match value.to_ascii_lowercase().as_str() {
        "auto" => Ok(None),
        "azure" => Ok(Some(TraceFormat::Azure)),
        "mooncake" => Ok(Some(TraceFormat::Mooncake)),
        "plain" => Ok(Some(TraceFormat::Plain)),
        _ => Err(Error::config(
            key,
            value,
            "auto, azure (TIMESTAMP,ContextTokens,GeneratedTokens CSV), mooncake (JSONL) or \
             plain (arrival_s,input_tokens,output_tokens[,session] CSV)",
        )),
    }
}

/// Resolve `TRACE` with `TRACE_FORMAT` and `SCALE`; None when `TRACE` is unset (then
/// `TRACE_FORMAT` and `SCALE` set are refused too, as they would do nothing). Reads the trace,
/// so every bad line is reported before any traffic.
pub(super) fn resolve(l: &Layers) -> Result<Option<TraceSettings>> {
    let format = l.or_default("TRACE_FORMAT", parse_format)?;
    let scale = l.or_default(
        "SCALE",
        f64_where("a time scale > 0 (2 sends the trace twice as fast)", |x| {
            x > 0.0 && x.is_finite()
        }),
    )?;
    let Some(raw) = raw_value(l, "TRACE") else {
        for key in ["TRACE_FORMAT", "SCALE"] {
            if let Some(v) = raw_value(l, key).filter(|v| !is_default(key, v)) {
                return Err(Error::config(
                    key,
                    v,
                    "unset unless TRACE names a trace file to replay",
                ));
            }
        }
        return Ok(None);
    };
    let path = std::path::PathBuf::from(&raw);
    if !path.is_file() {
        return Err(Error::config(
            "TRACE",
            raw,
            "the path of an existing trace file (Azure CSV, Mooncake JSONL or our plain CSV)",
        ));
    }
    for (key, why) in REPLACED {
        // A key at its default (as `.env.example` sets it) asks for nothing the trace changes.
        if let Some(v) = raw_value(l, key).filter(|v| !is_default(key, v)) {
            return Err(Error::config(key, v, format!("unset with TRACE: {why}")));
        }
    }
    let trace = trace::read(&path, format)?;
    Ok(Some(TraceSettings {
        format: trace.format,
        content_hash: trace.content_hash.clone(),
        trace: Arc::new(trace),
        scale,
    }))
}

/// The stop rule checked against a trace once it is known: an absolute `STOP_THRESHOLD` must
/// be given in × trace (its default, 10, is requests/minute). What refuses a trace's time scale
/// for every load mode (the adaptive search, `fmperf`, `plateau`) is in
/// [`super::mode::check_with`], which runs first.
pub(super) fn check_with(l: &Layers, cfg: &super::Config) -> Result<()> {
    if cfg.trace.is_none() {
        return Ok(());
    }
    if matches!(cfg.threshold, crate::search::Threshold::Absolute(_))
        && l.get("STOP_THRESHOLD").is_none()
    {
        return Err(Error::config(
            "THRESHOLD_TYPE",
            l.shown("THRESHOLD_TYPE", "relative"),
            "relative with TRACE, or absolute with STOP_THRESHOLD set in x trace (the absolute \
             default, 10, is requests/minute)",
        ));
    }
    Ok(())
}
