//! Layering and validation: raw `KEY=value` pairs from the env file, the process environment
//! and flags become one [`Config`]. Each key is looked up flag → environment → file, empty
//! values counting as unset, and parsed once with the helpers in [`super::parse`].

use super::keys::{self, METADATA_KEYS, SECRET_KEYS};
use super::parse::*;
use super::{Config, Secret, Sources, Warning};
use crate::error::{Error, Result};
use crate::search::Threshold;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a value came from, in rising priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Layer {
    File,
    Env,
    Flag,
}

impl Layer {
    pub(super) fn describe(self, file_label: &str) -> String {
        match self {
            Layer::File => file_label.to_string(),
            Layer::Env => "the environment".to_string(),
            Layer::Flag => "a command-line flag".to_string(),
        }
    }
}

/// One key's winning value, trimmed and non-empty.
pub(super) struct Raw {
    pub(super) value: String,
    pub(super) layer: Layer,
}

/// The three sources, looked up per key with the precedence rules applied.
pub(super) struct Layers<'s, 'a> {
    src: &'s Sources<'a>,
    /// Last occurrence wins, as when a shell sources the file.
    file: HashMap<&'s str, &'s str>,
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

impl<'s, 'a> Layers<'s, 'a> {
    fn new(src: &'s Sources<'a>) -> Self {
        let file = src
            .file
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Layers { src, file }
    }

    pub(super) fn get(&self, key: &str) -> Option<Raw> {
        let flag = self
            .src
            .flags
            .iter()
            .rev()
            .filter(|(k, _)| *k == key)
            .find_map(|(_, v)| non_empty(v));
        if let Some(value) = flag {
            return Some(Raw {
                value,
                layer: Layer::Flag,
            });
        }
        // Only known keys are read from the environment, so stray variables never leak in.
        if keys::is_known(key)
            && let Some(value) = (self.src.env)(key).as_deref().and_then(non_empty)
        {
            return Some(Raw {
                value,
                layer: Layer::Env,
            });
        }
        self.file
            .get(key)
            .and_then(|v| non_empty(v))
            .map(|value| Raw {
                value,
                layer: Layer::File,
            })
    }

    /// The key parsed by `parse`, or None when it is unset everywhere.
    pub(super) fn opt<T>(
        &self,
        key: &str,
        parse: impl Fn(&str, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        self.get(key).map(|r| parse(key, &r.value)).transpose()
    }

    /// The key parsed by `parse`, or `default` when it is unset everywhere.
    pub(super) fn or<T>(
        &self,
        key: &str,
        default: T,
        parse: impl Fn(&str, &str) -> Result<T>,
    ) -> Result<T> {
        Ok(self.opt(key, parse)?.unwrap_or(default))
    }

    /// The key parsed by `parse`, or its registry default ([`keys::default_value`]) parsed by
    /// the same function, so a default is written once and obeys the key's own rules.
    pub(super) fn or_default<T>(
        &self,
        key: &str,
        parse: impl Fn(&str, &str) -> Result<T>,
    ) -> Result<T> {
        match self.get(key) {
            Some(raw) => parse(key, &raw.value),
            None => {
                let default = keys::default_value(key)
                    .unwrap_or_else(|| unreachable!("{key} has no default value in the registry"));
                parse(key, default)
            }
        }
    }

    /// The raw value for messages, or the default marked as such.
    pub(super) fn shown(&self, key: &str, default: &str) -> String {
        self.get(key)
            .map(|r| r.value)
            .unwrap_or_else(|| format!("{default} (default)"))
    }
}

fn missing(key: &str, hint: &str) -> Error {
    Error::MissingKey {
        key: key.to_string(),
        hint: hint.to_string(),
    }
}

pub(super) fn positive_duration(key: &str, value: &str) -> Result<Duration> {
    let d = parse_duration(key, value)?;
    if d.is_zero() {
        return Err(Error::config(
            key,
            value,
            "a positive duration like 30s, 5m or 1800 (seconds)",
        ));
    }
    Ok(d)
}

/// A path that must name an existing file.
pub(super) fn existing_file(expected: &'static str) -> impl Fn(&str, &str) -> Result<PathBuf> {
    move |key, value| {
        let p = PathBuf::from(value);
        if p.is_file() {
            Ok(p)
        } else {
            Err(Error::config(key, value, expected))
        }
    }
}

pub(super) fn f64_where(
    expected: &'static str,
    ok: fn(f64) -> bool,
) -> impl Fn(&str, &str) -> Result<f64> {
    move |key, value| parse_f64_where(key, value, expected, ok)
}

/// Validate all layers; `file_label` names the env file in warnings.
pub(super) fn resolve(s: &Sources, file_label: &str) -> Result<(Config, Vec<Warning>)> {
    let mut unknown = Vec::new();
    let mut seen_unknown: Vec<&str> = Vec::new();
    for (k, _) in &s.file {
        if keys::is_known(k) || seen_unknown.contains(&k.as_str()) {
            continue;
        }
        seen_unknown.push(k);
        let hint = match keys::retired(k) {
            Some(why) => format!(" ({why})"),
            None => keys::suggest(k)
                .map(|near| format!(" (did you mean {near}?)"))
                .unwrap_or_default(),
        };
        unknown.push(Warning(format!("unknown key {k} in {file_label}{hint}")));
    }
    match resolve_known(s, file_label) {
        Ok((config, warnings)) => Ok((config, unknown.into_iter().chain(warnings).collect())),
        // A refusal may come from a misspelt key (an SLO key that LOAD=users does not see): the
        // unknown keys go with the error, since no warning is printed for a refused run.
        Err(e) if unknown.is_empty() => Err(e),
        Err(Error::Config {
            key,
            value,
            expected,
        }) => Err(Error::Config {
            key,
            value,
            expected: format!("{expected}{}", unknown_note(&unknown)),
        }),
        Err(Error::MissingKey { key, hint }) => Err(Error::MissingKey {
            key,
            hint: format!("{hint}{}", unknown_note(&unknown)),
        }),
        Err(e) => Err(e),
    }
}

/// The unknown keys as a note after a refusal's text.
fn unknown_note(unknown: &[Warning]) -> String {
    let list: Vec<&str> = unknown.iter().map(|w| w.0.as_str()).collect();
    format!(" (note: {})", list.join("; "))
}

/// [`resolve`] without the unknown keys: every known key read and checked.
fn resolve_known(s: &Sources, file_label: &str) -> Result<(Config, Vec<Warning>)> {
    let l = Layers::new(s);
    let mut warnings = Vec::new();

    // A required key that is missing may be misspelt in the file, or the file never given.
    let missing = |key: &str, hint: &str| {
        let mut hint = hint.to_string();
        let misspelt = s
            .file
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !keys::is_known(k) && keys::suggest(k) == Some(key));
        if let Some(near) = misspelt {
            hint.push_str(&format!("; the env file sets {near}: did you mean {key}?"));
        }
        if s.file.is_empty() && file_label.is_empty() {
            hint.push_str("; no --env FILE was given (mst-search does not read ./.env by itself)");
        }
        missing(key, &hint)
    };
    let url = l.opt("URL", parse_url)?.ok_or_else(|| {
        missing(
            "URL",
            "set URL to the server's host:port or base URL, e.g. URL=gpu06:9000, or pass --url",
        )
    })?;
    // A trace gives the sizes (one span) and refuses the keys it replaces.
    let trace = super::trace::resolve(&l)?;
    let sizes = match &trace {
        Some(t) => vec![t.trace.size()],
        None => l.opt("TOKENS_LIST", parse_tokens_list)?.ok_or_else(|| {
            missing(
                "TOKENS_LIST",
                "set TOKENS_LIST to a comma list of in:out token counts, e.g. TOKENS_LIST=16:16,128:128, or pass --tokens-list (or TRACE to replay a trace)",
            )
        })?,
    };

    let load = super::users::resolve_load(&l)?;
    let api = l.or_default("API", parse_api)?;
    // OPENAI_API_KEY wins over API_KEY whatever layers they come from: it is the specific name.
    let api_key = l
        .get("OPENAI_API_KEY")
        .or_else(|| l.get("API_KEY"))
        .map(|r| Secret::new(r.value));
    let (models, traffic_split) = super::traffic::resolve_models(&l)?;

    let duration = l.or_default("DURATION", positive_duration)?;
    let req_min_start = l.or_default("REQ_MIN_START", |k, v| {
        parse_f64_list(
            k,
            v,
            "a comma list of positive numbers (requests/minute)",
            |x| x > 0.0,
        )
    })?;
    if req_min_start.len() > sizes.len() {
        warnings.push(Warning(format!(
            "REQ_MIN_START has {} values for {} TOKENS_LIST entries; the extra ones are ignored",
            req_min_start.len(),
            sizes.len()
        )));
    }
    let multiplier = l.or_default(
        "REQ_MIN_INCREASE_MULTIPLIER",
        f64_where("a number greater than 1", |x| x > 1.0),
    )?;

    let relative = l.or_default("THRESHOLD_TYPE", parse_threshold_is_relative)?;
    let threshold = if relative {
        Threshold::Relative(l.or(
            "STOP_THRESHOLD",
            0.1,
            f64_where(
                "a number > 0 and < 1 when THRESHOLD_TYPE is relative (a share of the upper rate)",
                |x| x > 0.0 && x < 1.0,
            ),
        )?)
    } else {
        Threshold::Absolute(l.or(
            "STOP_THRESHOLD",
            // In users the bounds' own resolution, one user.
            if load.is_rate() { 10.0 } else { 1.0 },
            f64_where(
                "a number > 0 when THRESHOLD_TYPE is absolute (requests/minute; users with \
                 LOAD=users)",
                |x| x > 0.0,
            ),
        )?)
    };

    let cooldown = l.or_default("COOLDOWN", parse_duration)?;
    // Unset, FILTER_BUFFER follows DURATION (the old defaults' ratio, 300 s of 1800 s), so a
    // short DURATION alone is never refused for a key the user did not set.
    let filter_buffer = l
        .opt("FILTER_BUFFER", parse_duration)?
        .unwrap_or(duration / 6);
    if filter_buffer.saturating_mul(2) >= duration {
        return Err(Error::config(
            "FILTER_BUFFER",
            l.shown(
                "FILTER_BUFFER",
                &format!("{}s", filter_buffer.as_secs_f64()),
            ),
            format!(
                "less than half of DURATION={:?}, because 2 x FILTER_BUFFER is cut from every \
                 iteration; lower FILTER_BUFFER or raise DURATION",
                l.shown("DURATION", "1800s")
            ),
        ));
    }
    let success_rate_pct = l.or_default(
        "SUCCESS_RATE",
        f64_where("a percentage from 0 to 100", |x| (0.0..=100.0).contains(&x)),
    )?;

    let additive = l.or_default("ADDITIVE", parse_bool)?;
    let tokens_list_proportion = match l.opt("TOKENS_LIST_PROPORTION", parse_proportion)? {
        None => vec![1.0; sizes.len()],
        Some(w) => {
            if additive && w.len() != sizes.len() {
                return Err(Error::config(
                    "TOKENS_LIST_PROPORTION",
                    l.shown("TOKENS_LIST_PROPORTION", ""),
                    format!(
                        "one weight per TOKENS_LIST entry when ADDITIVE is true: {} weights, not {}",
                        sizes.len(),
                        w.len()
                    ),
                ));
            }
            if !additive {
                warnings.push(Warning(
                    "TOKENS_LIST_PROPORTION is ignored because ADDITIVE is false".to_string(),
                ));
            }
            w
        }
    };

    let prompts_file = l.opt(
        "PROMPTS_FILE",
        existing_file("the path of an existing, readable file"),
    )?;
    let experiment_type = l.or_default("EXPERIMENT_TYPE", parse_experiment_type)?;
    let frac_greedy = l.or_default(
        "FRAC_GREEDY",
        f64_where("a fraction from 0 to 1", |x| (0.0..=1.0).contains(&x)),
    )?;
    let sample_size = l.opt("SAMPLE_SIZE", |k, v| {
        parse_int_where::<u32>(
            k,
            v,
            "a whole number >= 1 (or unset for all distinct)",
            |n| n >= 1,
        )
    })?;

    let request_timeout = l.or_default("REQUEST_TIMEOUT", positive_duration)?;
    let ttft_timeout = l.or_default("TTFT_TIMEOUT", positive_duration)?;
    let tpot_timeout = l.or_default("TPOT_TIMEOUT", positive_duration)?;

    let arrival = super::traffic::resolve_arrival(&l)?;
    let mode = super::mode::resolve(&l, load)?;
    let seed = l.or_default("SEED", |k, v| {
        parse_int_where::<u64>(
            k,
            v,
            "a whole number from 0 to 18446744073709551615",
            |_| true,
        )
    })?;
    let mut evaluators = match l.get("EVALUATOR") {
        // A closed loop is judged by its SLO (see `super::users`).
        None if !load.is_rate() => vec!["slo".to_string()],
        _ => l.or_default("EVALUATOR", parse_evaluators)?,
    };
    let mut evaluator_settings =
        super::evaluators::resolve(&l, experiment_type, &mut evaluators, &mut warnings)?;
    super::users::require_slo(load, &evaluator_settings.slo)?;
    if !load.is_rate() {
        // The watchdog stops a run whose queueing delay climbs; a closed loop has none.
        evaluator_settings.early_abort.enabled = false;
    }
    let queue_growth_window_pct = l.or_default(
        "QUEUE_GROWTH_WINDOW_PCT",
        f64_where("a percentage greater than 0 and at most 100", |x| {
            x > 0.0 && x <= 100.0
        }),
    )?;
    let queue_growth_min_ms = l.or_default(
        "QUEUE_GROWTH_MIN_MS",
        f64_where("a number of milliseconds >= 0", |x| x >= 0.0),
    )?;
    // Early accept's bound on the projected growth is the growth `queue` never calls material.
    evaluator_settings.early_accept.growth_max_ms = queue_growth_min_ms;
    let throughput_min_pct = l.or_default(
        "THROUGHPUT_MIN_PCT",
        f64_where("a percentage from 0 to 100", |x| (0.0..=100.0).contains(&x)),
    )?;
    let queue = crate::evaluate::queue::QueueSettings {
        growth_window_pct: queue_growth_window_pct,
        growth_min_ms: queue_growth_min_ms,
        throughput_min_pct,
    };
    let evaluators = super::evaluators::specs(&evaluators, &evaluator_settings, queue)?;
    let confirm = super::search::resolve_confirm(&l, file_label, &mut warnings)?;
    let search = l.or_default("SEARCH", parse_strategy)?;
    let probe = super::search::resolve_probe(&l, search, duration)?;
    let ci_stop_width = l.opt(
        "CI_STOP_WIDTH",
        f64_where(
            "a relative width > 0 and < 1 (high − low over the estimate), or unset for off",
            |x| x > 0.0 && x < 1.0,
        ),
    )?;
    let repeats = l.or_default("REPEATS", |k, v| {
        parse_int_where::<u32>(k, v, "a whole number >= 1", |n| n >= 1)
    })?;
    let max_iterations = l.or_default("MAX_ITERATIONS", |k, v| {
        parse_int_where::<u32>(k, v, "a whole number >= 1", |n| n >= 1)
    })?;
    let req_min_floor = match &trace {
        Some(t) => t.scale / super::trace::FLOOR_DIVISOR,
        None => l.or_default(
            "REQ_MIN_FLOOR",
            f64_where("a number greater than 0 (requests/minute)", |x| x > 0.0),
        )?,
    };
    let drain_timeout = l.or_default("DRAIN_TIMEOUT", parse_duration)?;
    let retry_on_outage = l.or_default("RETRY_ON_OUTAGE", |k, v| {
        parse_int_where::<u32>(k, v, "a whole number >= 0", |_| true)
    })?;
    let outage_wait = l.or_default("OUTAGE_WAIT", parse_duration)?;
    let settle_timeout = l.or_default("SETTLE_TIMEOUT", parse_duration)?;
    let client_lag_limit_ms = l.or_default(
        "CLIENT_LAG_LIMIT_MS",
        f64_where("a number of milliseconds > 0", |x| x > 0.0 && x.is_finite()),
    )?;
    let output_dir = l
        .get("OUTPUT_DIR")
        .map_or_else(|| PathBuf::from("requests"), |r| PathBuf::from(r.value));
    let job_id = l
        .get("JOB_ID")
        .or_else(|| l.get("SLURM_JOB_ID"))
        .map(|r| r.value);
    let workload = super::workload::resolve(&l, &sizes, api, prompts_file.is_some())?;
    let session_turns =
        super::sessions::resolve_session_turns(&l, api, additive, prompts_file.is_some())?;
    let metadata: BTreeMap<String, String> = METADATA_KEYS
        .iter()
        .filter_map(|k| l.get(k).map(|r| (k.to_string(), r.value)))
        .collect();
    let size_index = resolve_size_index(&l, sizes.len())?;

    let scrape = super::metrics::resolve_scrape(&l, &url)?;
    let telemetry = super::metrics::resolve_telemetry(&l)?;

    let config = Config {
        url,
        api,
        api_key,
        models,
        traffic_split,
        duration,
        sizes,
        req_min_start,
        multiplier,
        threshold,
        cooldown,
        filter_buffer,
        success_rate_pct,
        additive,
        tokens_list_proportion,
        prompts_file,
        experiment_type,
        frac_greedy,
        sample_size,
        request_timeout,
        ttft_timeout,
        tpot_timeout,
        arrival,
        mode,
        seed,
        evaluators,
        evaluator_settings,
        confirm,
        search,
        probe,
        ci_stop_width,
        repeats,
        max_iterations,
        req_min_floor,
        drain_timeout,
        retry_on_outage,
        outage_wait,
        settle_timeout,
        client_lag_limit_ms,
        output_dir,
        job_id,
        metadata,
        workload,
        size_index,
        scrape,
        trace,
        session_turns,
        telemetry,
    };
    super::mode::check_with(&l, &config)?;
    super::trace::check_with(&l, &config)?;
    Ok((config, warnings))
}

/// `SIZE_INDEX`, or inside a SLURM array task `SLURM_ARRAY_TASK_ID`: a 0-based position in
/// `TOKENS_LIST`.
fn resolve_size_index(l: &Layers, sizes: usize) -> Result<Option<usize>> {
    let key = if l.get("SIZE_INDEX").is_some() {
        "SIZE_INDEX"
    } else {
        "SLURM_ARRAY_TASK_ID"
    };
    l.opt(key, |k, v| {
        parse_int_where::<usize>(
            k,
            v,
            &format!(
                "a 0-based TOKENS_LIST position from 0 to {} (TOKENS_LIST has {sizes} entries)",
                sizes.saturating_sub(1)
            ),
            |n| n < sizes,
        )
    })
}

/// Read the env file's pairs in file order without touching the process environment.
pub(super) fn read_env_file(path: &Path) -> Result<Vec<(String, String)>> {
    let fail = |reason: String| Error::EnvFile {
        path: path.to_path_buf(),
        reason,
    };
    let iter = dotenvy::from_path_iter(path).map_err(|e| fail(describe(path, e)))?;
    iter.map(|item| item.map_err(|e| fail(describe(path, e))))
        .collect()
}

/// A dotenvy error as a sentence, with the line number and text when there is one. A line that
/// sets a secret is shown without its value.
fn describe(path: &Path, e: dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, index) => {
            // dotenvy hands over the rest of the line from the value on; show the whole line
            // so the key is named, and count columns from its start.
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let found = text.find(&line).map(|at| {
                let start = text[..at].rfind('\n').map_or(0, |nl| nl + 1);
                (text[..start].lines().count() + 1, start, at - start)
            });
            let number = found.map(|(n, _, _)| n);
            let (whole, lead) = match found {
                Some((_, start, lead)) => (&text[start..], lead),
                None => (line.as_str(), 0),
            };
            // An open quote makes dotenvy swallow the following lines, which may hold a
            // secret: show only the first one.
            let first = whole.lines().next().unwrap_or("");
            let shown = redact_line(first);
            let index = index + lead;
            let place = number.map_or_else(|| "a line".to_string(), |n| format!("line {n}"));
            if index <= first.len() {
                format!("{place} ({shown}) cannot be parsed at column {}", index + 1)
            } else {
                format!(
                    "{place} ({shown}) cannot be parsed: its value runs past the end of the line (a quote left open?)"
                )
            }
        }
        dotenvy::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

fn redact_line(line: &str) -> String {
    let body = line.trim_start();
    let body = body.strip_prefix("export ").unwrap_or(body).trim_start();
    let name: String = body
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    // Also covers misspelt secret names (OPENAI_API_KY=...): better too discreet than leaking.
    let upper = name.to_ascii_uppercase();
    let secretish = ["KEY", "TOKEN", "SECRET", "PASSWORD"]
        .iter()
        .any(|w| upper.contains(w));
    if SECRET_KEYS.contains(&name.as_str()) || secretish {
        format!("{name}=***")
    } else {
        format!("{:?}", line.trim_end())
    }
}
