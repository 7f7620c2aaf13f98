//! `TRACE`: reading a timestamped request trace and making its requests.
//!
//! An MST holds only for the traffic it was measured with; a trace is the traffic a service
//! really saw. Three shapes are read, each line one request (arrival time, prompt tokens,
//! output tokens):
//! - **Azure** — the Azure LLM inference traces (`Azure/AzurePublicDataset`,
//!   `data/AzureLLMInferenceTrace_{code,conv}.csv`, 2023 and 2024): a CSV with the header
//!   `TIMESTAMP,ContextTokens,GeneratedTokens`, `TIMESTAMP` a date and time such as
//!   `2023-11-16 18:15:46.6805900` (0 to 9 decimals, an optional `+00:00` offset).
//! - **Mooncake** — the Mooncake traces (`kvcache-ai/Mooncake`, `FAST25-release/traces`):
//!   JSONL, one object per line with `timestamp` (ms since the trace began), `input_length`,
//!   `output_length` and `hash_ids`, the ids of the prompt's blocks of [`BLOCK_TOKENS`] tokens:
//!   two requests with the same id at the same position share that block of prompt.
//! - **Plain** — ours: a CSV with the header `arrival_s,input_tokens,output_tokens` and an
//!   optional `session` column; requests of one session share their prompt's leading blocks,
//!   as the turns of a conversation that each resend it.
//!
//! The format is told by the file (`{` opens a JSONL line; otherwise the CSV header names it)
//! or by `TRACE_FORMAT`. A bad line is an [`Error::Trace`] naming the file, line, field, value
//! and what was expected. Times must not go backwards (equal times are fine): a trace out of
//! order is refused rather than sorted, because its file order is the order it is replayed and
//! checked in. A trace needs at least two requests (one has no rate).
//!
//! Replay ([`Trace::window`]) compresses trace time by the scale: at scale `s`, the request at
//! trace time `a` is due `a / s` after the iteration's start, for the trace time that fits
//! into `DURATION × s`. A trace shorter than that is looped: pass `p` starts at `p × period`
//! (the span plus one mean gap), and its prompts and prefix blocks are new, so a second pass
//! reuses nothing the trace did not reuse.

use super::{CHAT_SYSTEM, Workload};
use crate::client::{ChatMessage, ModelChoice, Prompt, RequestSpec};
use crate::error::{Error, Result};
use crate::seed::{mix, unit};
use crate::size::{SizeSpec, TokenRange};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Tokens in one prefix block of a Mooncake trace's `hash_ids` (and of a plain trace's
/// session blocks): Mooncake's published traces hash prompts in blocks of 512 tokens.
pub const BLOCK_TOKENS: u32 = 512;

/// The shape of a trace file (`TRACE_FORMAT`; unset: told by the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// Azure LLM inference trace CSV.
    Azure,
    /// Mooncake JSONL.
    Mooncake,
    /// Our CSV: `arrival_s,input_tokens,output_tokens[,session]`.
    Plain,
}

impl TraceFormat {
    /// The word of `TRACE_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Azure => "azure",
            TraceFormat::Mooncake => "mooncake",
            TraceFormat::Plain => "plain",
        }
    }
}

/// One request of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRequest {
    /// Arrival since the trace's first request, seconds of trace time.
    pub arrival_s: f64,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Output tokens (`max_tokens`).
    pub output_tokens: u32,
    /// Keys of the prompt's leading blocks of [`BLOCK_TOKENS`] tokens: the same key makes the
    /// same block of prompt text. Empty: the whole prompt is the request's own.
    pub blocks: Vec<u64>,
}

/// A whole trace, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its shape.
    pub format: TraceFormat,
    /// The requests in file order (times never go backwards), at least two.
    pub requests: Vec<TraceRequest>,
    /// FNV-1a (64 bit, hex) of the file's bytes: the resume fingerprint's hold on its content.
    pub content_hash: String,
}

/// Read and check the trace at `path`, of shape `format` (None: told by the file).
pub fn read(path: &Path, format: Option<TraceFormat>) -> Result<Trace> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::config(
            "TRACE",
            path.display().to_string(),
            format!("a readable trace file ({e})"),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::config(
            "TRACE",
            path.display().to_string(),
            format!(
                "a UTF-8 text file (byte {} is not UTF-8)",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let format = match format {
        Some(f) => f,
        None => detect(path, &text)?,
    };
    let requests = match format {
        TraceFormat::Mooncake => read_mooncake(path, &text)?,
        TraceFormat::Azure | TraceFormat::Plain => read_csv(path, &text, format)?,
    };
    check(path, format, &requests)?;
    Ok(Trace {
        path: path.to_path_buf(),
        format,
        content_hash: fnv1a(text.as_bytes()),
        requests: requests.into_iter().map(|(_, r)| r).collect(),
    })
}

/// What the first non-blank line says: `{` opens Mooncake JSONL, a CSV header with
/// `TIMESTAMP` is Azure's, one with `arrival_s` ours.
fn detect(path: &Path, text: &str) -> Result<TraceFormat> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        Some(l) if l.starts_with('{') => Ok(TraceFormat::Mooncake),
        Some(l) if l.split(',').any(|c| c.trim() == "TIMESTAMP") => Ok(TraceFormat::Azure),
        Some(l) if l.split(',').any(|c| c.trim() == "arrival_s") => Ok(TraceFormat::Plain),
        Some(l) => Err(Error::config(
            "TRACE",
            path.display().to_string(),
            format!(
                "a trace whose first line tells its shape: a Mooncake JSON object, an Azure header \
                 (TIMESTAMP,ContextTokens,GeneratedTokens) or ours (arrival_s,input_tokens,\
                 output_tokens[,session]); the first line is {:?} (or set TRACE_FORMAT)",
                truncate(l)
            ),
        )),
        None => Err(empty(path)),
    }
}

fn empty(path: &Path) -> Error {
    Error::config(
        "TRACE",
        path.display().to_string(),
        "a trace with at least two requests; this file has none",
    )
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn bad(path: &Path, line: u64, field: &str, value: &str, expected: &str) -> Error {
    Error::Trace {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        value: truncate(value),
        expected: expected.to_string(),
    }
}

const TOKENS_EXPECTED: &str = "a whole number of tokens from 1 to 4294967295";

fn tokens(path: &Path, line: u64, field: &str, value: &str) -> Result<u32> {
    match value.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad(path, line, field, value, TOKENS_EXPECTED)),
    }
}

/// The columns each CSV shape needs: (arrival, input, output).
fn columns(format: TraceFormat) -> [&'static str; 3] {
    match format {
        TraceFormat::Azure => ["TIMESTAMP", "ContextTokens", "GeneratedTokens"],
        _ => ["arrival_s", "input_tokens", "output_tokens"],
    }
}

fn read_csv(path: &Path, text: &str, format: TraceFormat) -> Result<Vec<(u64, TraceRequest)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        bad(
            path,
            line,
            "the line",
            "",
            &format!("a well-formed CSV line ({e})"),
        )
    };
    let headers = reader.headers().map_err(csv_error)?.clone();
    let want = columns(format);
    let mut at = [0usize; 3];
    for (slot, name) in at.iter_mut().zip(want) {
        *slot = headers.iter().position(|h| h == name).ok_or_else(|| {
            bad(
                path,
                1,
                "the header",
                &headers.iter().collect::<Vec<_>>().join(","),
                &format!(
                    "a {} trace header with the columns {}",
                    format.as_str(),
                    want.join(",")
                ),
            )
        })?;
    }
    let session = (format == TraceFormat::Plain)
        .then(|| headers.iter().position(|h| h == "session"))
        .flatten();
    let mut first_time: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(at[i]).unwrap_or("");
        let arrival_s = match format {
            TraceFormat::Azure => {
                let t = azure_time(field(0)).ok_or_else(|| {
                    bad(
                        path,
                        line,
                        want[0],
                        field(0),
                        "a date and time like 2023-11-16 18:15:46.6805900 (optionally +00:00)",
                    )
                })?;
                let t0 = *first_time.get_or_insert(t);
                (t - t0).num_nanoseconds().unwrap_or(i64::MAX) as f64 / 1e9
            }
            _ => match field(0).parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => x,
                _ => {
                    return Err(bad(
                        path,
                        line,
                        want[0],
                        field(0),
                        "a number of seconds >= 0",
                    ));
                }
            },
        };
        let input_tokens = tokens(path, line, want[1], field(1))?;
        let output_tokens = tokens(path, line, want[2], field(2))?;
        let blocks = match session.and_then(|i| record.get(i)) {
            Some(s) if !s.is_empty() => {
                let key = fnv1a_u64(s.as_bytes());
                (0..input_tokens.div_ceil(BLOCK_TOKENS))
                    .map(|j| mix(key, u64::from(j)))
                    .collect()
            }
            _ => Vec::new(),
        };
        out.push((
            line,
            TraceRequest {
                arrival_s,
                input_tokens,
                output_tokens,
                blocks,
            },
        ));
    }
    Ok(out)
}

/// An Azure `TIMESTAMP`: `YYYY-MM-DD HH:MM:SS[.fraction][±HH:MM]`, UTC when no offset.
fn azure_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t);
    }
    // More than 9 decimals is more than chrono reads; the nanoseconds are all a replay uses.
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().fixed_offset())
}

fn read_mooncake(path: &Path, text: &str) -> Result<Vec<(u64, TraceRequest)>> {
    let mut out = Vec::new();
    let mut first_ms: Option<f64> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
            bad(
                path,
                line,
                "the line",
                raw,
                &format!("one JSON object per line ({e})"),
            )
        })?;
        let Some(obj) = v.as_object() else {
            return Err(bad(path, line, "the line", raw, "one JSON object per line"));
        };
        let get = |name: &str| obj.get(name);
        let shown = |v: Option<&serde_json::Value>| v.map_or("(missing)".into(), |v| v.to_string());
        let ms = get("timestamp")
            .and_then(serde_json::Value::as_f64)
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| {
                bad(
                    path,
                    line,
                    "timestamp",
                    &shown(get("timestamp")),
                    "a number of milliseconds >= 0",
                )
            })?;
        let count = |name: &str| {
            get(name)
                .and_then(serde_json::Value::as_u64)
                .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| bad(path, line, name, &shown(get(name)), TOKENS_EXPECTED))
        };
        let input_tokens = count("input_length")?;
        let output_tokens = count("output_length")?;
        let blocks = match get("hash_ids") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(ids)) => ids
                .iter()
                .map(|id| id.as_u64())
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| {
                    bad(
                        path,
                        line,
                        "hash_ids",
                        &shown(get("hash_ids")),
                        "a list of whole numbers >= 0 (one per block of 512 prompt tokens)",
                    )
                })?,
            Some(other) => {
                return Err(bad(
                    path,
                    line,
                    "hash_ids",
                    &other.to_string(),
                    "a list of whole numbers >= 0 (one per block of 512 prompt tokens)",
                ));
            }
        };
        let t0 = *first_ms.get_or_insert(ms);
        out.push((
            line,
            TraceRequest {
                arrival_s: (ms - t0) / 1e3,
                input_tokens,
                output_tokens,
                blocks,
            },
        ));
    }
    Ok(out)
}

/// At least two requests, times never going backwards.
fn check(path: &Path, format: TraceFormat, requests: &[(u64, TraceRequest)]) -> Result<()> {
    if requests.len() < 2 {
        return Err(Error::config(
            "TRACE",
            path.display().to_string(),
            format!(
                "a trace with at least two requests (one has no rate); this file has {}",
                requests.len()
            ),
        ));
    }
    for pair in requests.windows(2) {
        let ((_, prev), (line, r)) = (&pair[0], &pair[1]);
        // Azure and Mooncake times are relative to the first line, so a line before it is
        // negative; plain times are as written.
        if r.arrival_s < prev.arrival_s {
            let field = columns(format)[0];
            let field = if format == TraceFormat::Mooncake {
                "timestamp"
            } else {
                field
            };
            return Err(bad(
                path,
                *line,
                field,
                &format!("{} s after the first request", r.arrival_s),
                &format!(
                    "times that never go backwards (the line before is at {} s); sort the trace \
                     by time",
                    prev.arrival_s
                ),
            ));
        }
    }
    Ok(())
}

/// FNV-1a, 64 bit: stable across builds and platforms.
fn fnv1a_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn fnv1a(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a_u64(bytes))
}

/// One request of an iteration's replay: which trace request, in which pass over the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into [`Trace::requests`].
    pub entry: u32,
    /// 0 for the first pass, 1 when the trace is looped once, …
    pub pass: u32,
}

impl Trace {
    /// The trace's name for labels: its file name.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    }

    /// Seconds of trace time from its first request to its last.
    pub fn span_s(&self) -> f64 {
        self.requests.last().map_or(0.0, |r| r.arrival_s)
    }

    /// Seconds of trace time one pass takes when looped: the span plus one mean gap (so the
    /// loop's seam has a gap like the others). Positive even when all times are equal.
    pub fn period_s(&self) -> f64 {
        let n = self.requests.len().max(2) as f64;
        let period = self.span_s() * n / (n - 1.0);
        if period > 0.0 { period } else { 1e-3 }
    }

    /// The trace's own rate, requests/minute of trace time (over one looped period).
    pub fn req_min(&self) -> f64 {
        self.requests.len() as f64 / self.period_s() * 60.0
    }

    /// The sizes it spans, as one `in:out` range (the folder and checks use it like an
    /// `ADDITIVE` mix's span).
    pub fn size(&self) -> SizeSpec {
        let span = |f: fn(&TraceRequest) -> u32| TokenRange {
            min: self.requests.iter().map(f).min().unwrap_or(1),
            max: self.requests.iter().map(f).max().unwrap_or(1),
        };
        SizeSpec {
            input: span(|r| r.input_tokens),
            output: span(|r| r.output_tokens),
        }
    }

    /// An iteration's replay at `scale` for `duration`: each request's offset from the start,
    /// `trace time / scale`, and which trace request (and pass) it is, for the trace time in
    /// `[0, duration × scale)`, looping the trace when it is shorter.
    pub fn window(&self, scale: f64, duration: Duration) -> (Vec<Duration>, Vec<Slot>) {
        let horizon = duration.as_secs_f64() * scale;
        let period = self.period_s();
        let (mut offsets, mut slots) = (Vec::new(), Vec::new());
        'passes: for pass in 0u32.. {
            let base = f64::from(pass) * period;
            for (i, r) in self.requests.iter().enumerate() {
                let t = base + r.arrival_s;
                if t >= horizon {
                    break 'passes;
                }
                offsets.push(Duration::from_secs_f64(t / scale));
                slots.push(Slot {
                    entry: i as u32,
                    pass,
                });
            }
        }
        (offsets, slots)
    }
}

impl Workload {
    /// The request for `slot` of a trace replay, index `idx` of an iteration seeded
    /// `iteration_seed`: the trace's input and output lengths, its prefix blocks made from
    /// their keys (the same key in the same pass of the same iteration gives the same block of
    /// text or ids), then text of the request's own. Temperature and model are drawn as for
    /// other requests.
    pub fn trace_request(
        &self,
        trace: &Trace,
        iteration_seed: u64,
        idx: u64,
        slot: Slot,
    ) -> RequestSpec {
        let w = &*self.inner;
        let r = &trace.requests[slot.entry as usize];
        let key = mix(iteration_seed, idx);
        let block_seed = mix(iteration_seed ^ 0x7ace_b10c, u64::from(slot.pass));
        let temperature = if unit(key, 3) < w.frac_greedy {
            0.0
        } else {
            1.0
        };
        let model = w.models.as_ref().map(|m| {
            let i = m.pick(unit(key, 5));
            ModelChoice {
                index: i as u16,
                name: m.items[i].clone(),
            }
        });
        let own = mix(iteration_seed ^ 0x5eed, idx);
        let input = r.input_tokens as usize;
        let prompt = match &w.chat {
            Some(frame) => {
                let system_tokens = frame.system_tokens;
                let user_len = input.saturating_sub(frame.overhead + system_tokens).max(1);
                Prompt::Chat(vec![
                    ChatMessage {
                        role: "system".into(),
                        content: CHAT_SYSTEM.to_string(),
                    },
                    ChatMessage {
                        role: "user".into(),
                        content: self.blocks_text(&r.blocks, block_seed, own, user_len),
                    },
                ])
            }
            None if w.source.ids_as_prompt() => {
                Prompt::TokenIds(self.blocks_ids(&r.blocks, block_seed, own, input))
            }
            None => {
                let len = input.saturating_sub(w.source.prompt_specials()).max(1);
                Prompt::Text(self.blocks_text(&r.blocks, block_seed, own, len))
            }
        };
        RequestSpec {
            prompt,
            input_tokens: r.input_tokens,
            class: None,
            model,
            output_tokens: r.output_tokens,
            temperature,
            session: None,
        }
    }

    /// The pieces of a `len`-token prompt: (seed, tokens, continuation) per block, then the
    /// request's own tail.
    fn pieces(blocks: &[u64], block_seed: u64, own: u64, len: usize) -> Vec<(u64, usize, bool)> {
        let mut pieces = Vec::new();
        let mut left = len;
        for &b in blocks {
            if left == 0 {
                break;
            }
            let n = left.min(BLOCK_TOKENS as usize);
            pieces.push((mix(block_seed, b), n, !pieces.is_empty()));
            left -= n;
        }
        if left > 0 {
            pieces.push((own, left, !pieces.is_empty()));
        }
        pieces
    }

    fn blocks_ids(&self, blocks: &[u64], block_seed: u64, own: u64, len: usize) -> Vec<u32> {
        let words = &self.inner.words;
        Self::pieces(blocks, block_seed, own, len)
            .into_iter()
            .flat_map(|(seed, n, cont)| words.build_ids(seed, n, cont).ids)
            .collect()
    }

    fn blocks_text(&self, blocks: &[u64], block_seed: u64, own: u64, len: usize) -> String {
        let words = &self.inner.words;
        Self::pieces(blocks, block_seed, own, len)
            .into_iter()
            .map(|(seed, n, cont)| words.build_text(seed, n, cont).text)
            .collect()
    }
}

#[cfg(test)]
mod tests;
