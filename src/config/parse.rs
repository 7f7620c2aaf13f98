//! Value parsers: one raw string → one typed value, or an [`Error::Config`] naming the key, the
//! value and what was expected. Kept free of layering so each syntax is tested on its own.

use super::{Api, ExperimentType, SizeSpec, TokenRange};
use crate::error::{Error, Result};
use crate::load::arrivals::ArrivalKind;
use crate::search::ConfirmPolicy;
use std::time::Duration;

/// What a duration must look like; shared so every duration key says the same thing.
pub const DURATION_EXPECTED: &str = "a duration like 30s, 5m or 1800 (seconds)";

/// A duration: `1800` (seconds), `1800s`, `250ms`, `1.5s`, `5m`, `2h`. Negative, non-numeric,
/// NaN, infinite or absurdly large values are errors.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    let bad = || Error::config(key, value, DURATION_EXPECTED);
    let v = value.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    // Nanoseconds per unit, so whole numbers stay exact (250ms is exactly 250 ms).
    let nanos_per_unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(bad()),
    };
    if !number.contains('.') {
        let n: u64 = number.parse().map_err(|_| bad())?;
        let secs = n.checked_mul(nanos_per_unit / 1_000_000).ok_or_else(bad)?;
        return Ok(Duration::from_millis(secs));
    }
    let n: f64 = number.parse().map_err(|_| bad())?;
    let secs = n * (nanos_per_unit as f64 / 1e9);
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// A boolean: `TRUE`/`FALSE`, `true`/`false`, `1`/`0`, `yes`/`no` (any case).
pub fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::config(
            key,
            value,
            "a boolean: TRUE, FALSE, true, false, 1, 0, yes or no",
        )),
    }
}

/// A finite number (NaN and infinities are rejected).
pub fn parse_f64(key: &str, value: &str) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(Error::config(key, value, "a finite number")),
    }
}

/// A finite number checked by `ok`; `expected` describes the accepted range.
pub fn parse_f64_where(
    key: &str,
    value: &str,
    expected: &str,
    ok: impl Fn(f64) -> bool,
) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && ok(x) => Ok(x),
        _ => Err(Error::config(key, value, expected)),
    }
}

/// A whole number of type `T` (e.g. `u32`, `u64`) checked by `ok`.
pub fn parse_int_where<T: std::str::FromStr + Copy>(
    key: &str,
    value: &str,
    expected: &str,
    ok: impl Fn(T) -> bool,
) -> Result<T> {
    match value.trim().parse::<T>() {
        Ok(x) if ok(x) => Ok(x),
        _ => Err(Error::config(key, value, expected)),
    }
}

/// A comma list of finite numbers, each checked by `ok`; empty entries are errors.
pub fn parse_f64_list(
    key: &str,
    value: &str,
    expected: &str,
    ok: impl Fn(f64) -> bool,
) -> Result<Vec<f64>> {
    value
        .split(',')
        .map(|item| match item.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && ok(x) => Ok(x),
            _ => Err(Error::config(key, value, expected)),
        })
        .collect()
}

/// `TOKENS_LIST_PROPORTION`: non-negative weights, not all zero.
pub fn parse_proportion(key: &str, value: &str) -> Result<Vec<f64>> {
    let expected = "a comma list of non-negative weights, not all zero";
    let w = parse_f64_list(key, value, expected, |x| x >= 0.0)?;
    if w.iter().all(|x| *x == 0.0) {
        return Err(Error::config(key, value, expected));
    }
    Ok(w)
}

/// One side of a `TOKENS_LIST` entry: `n` or `a-b`, with 1 ≤ a ≤ b.
fn parse_token_range(s: &str) -> Option<TokenRange> {
    let s = s.trim();
    let (min, max) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let n = s.parse().ok()?;
            (n, n)
        }
    };
    (1 <= min && min <= max).then_some(TokenRange { min, max })
}

/// `TOKENS_LIST`: a comma list of `in:out`, each side `n` or `a-b` with 1 ≤ a ≤ b.
pub fn parse_tokens_list(key: &str, value: &str) -> Result<Vec<SizeSpec>> {
    let expected = "a comma list of in:out token counts, each side n or a-b with 1 <= a <= b \
                    (e.g. 16:16,100-200:64)";
    value
        .split(',')
        .map(|item| {
            if item.trim().is_empty() {
                return Err(Error::config(
                    key,
                    value,
                    format!("{expected}; there is an empty entry"),
                ));
            }
            let (i, o) = item.split_once(':').ok_or_else(|| {
                Error::config(
                    key,
                    value,
                    format!("{expected}; {:?} has no ':'", item.trim()),
                )
            })?;
            match (parse_token_range(i), parse_token_range(o)) {
                (Some(input), Some(output)) => Ok(SizeSpec { input, output }),
                _ => Err(Error::config(
                    key,
                    value,
                    format!("{expected}; {:?} is not one", item.trim()),
                )),
            }
        })
        .collect()
}

/// `EVALUATOR`: comma list of names, lowercased and trimmed; none empty, none repeated.
/// Whether a name exists is the evaluator registry's business, not this parser's.
pub fn parse_evaluators(key: &str, value: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for item in value.split(',') {
        let name = item.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(Error::config(
                key,
                value,
                "a comma list of evaluator names with no empty entry (e.g. queue)",
            ));
        }
        if names.contains(&name) {
            return Err(Error::config(
                key,
                value,
                format!("each evaluator named once, but {name:?} is repeated"),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// Case-insensitive choice among `options` (written as the docs spell them).
fn parse_choice<T: Copy>(key: &str, value: &str, options: &[(&str, T)]) -> Result<T> {
    let v = value.trim();
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(v))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            Error::config(key, value, format!("one of {}", names.join(", ")))
        })
}

/// `API`: completions or chat.
pub fn parse_api(key: &str, value: &str) -> Result<Api> {
    parse_choice(
        key,
        value,
        &[("completions", Api::Completions), ("chat", Api::Chat)],
    )
}

/// `ARRIVAL`: poisson, constant, jitter or gamma (with shape 1 here; `BURSTINESS` sets it).
pub fn parse_arrival(key: &str, value: &str) -> Result<ArrivalKind> {
    parse_choice(
        key,
        value,
        &[
            ("poisson", ArrivalKind::Poisson),
            ("constant", ArrivalKind::Constant),
            ("jitter", ArrivalKind::Jitter),
            ("gamma", ArrivalKind::Gamma { burstiness: 1.0 }),
        ],
    )
}

/// `CONFIRM`: none, fail or both.
pub fn parse_confirm(key: &str, value: &str) -> Result<ConfirmPolicy> {
    parse_choice(
        key,
        value,
        &[
            ("none", ConfirmPolicy::None),
            ("fail", ConfirmPolicy::Fail),
            ("both", ConfirmPolicy::Both),
        ],
    )
}

/// `SEARCH`: classic or adaptive.
pub fn parse_strategy(key: &str, value: &str) -> Result<crate::search::Strategy> {
    use crate::search::Strategy;
    parse_choice(
        key,
        value,
        &[
            ("classic", Strategy::Classic),
            ("adaptive", Strategy::Adaptive),
        ],
    )
}

/// `EXPERIMENT_TYPE`: MST or MIT (any case).
pub fn parse_experiment_type(key: &str, value: &str) -> Result<ExperimentType> {
    parse_choice(
        key,
        value,
        &[("MST", ExperimentType::Mst), ("MIT", ExperimentType::Mit)],
    )
}

/// Whether `THRESHOLD_TYPE` is relative (true) or absolute (false).
pub fn parse_threshold_is_relative(key: &str, value: &str) -> Result<bool> {
    parse_choice(key, value, &[("relative", true), ("absolute", false)])
}

/// `URL`: `host:port` or a full http(s) URL. No scheme means `http://`; one trailing slash and
/// then one trailing `/v1` are removed, because the client appends `/v1/...` itself. Any other
/// path is kept, for servers mounted under a prefix.
pub fn parse_url(key: &str, value: &str) -> Result<String> {
    let expected = "host:port or an http(s) URL such as http://gpu06:9000";
    let v = value.trim();
    let full = if v.contains("://") {
        v.to_string()
    } else {
        format!("http://{v}")
    };
    let parsed = reqwest::Url::parse(&full)
        .map_err(|e| Error::config(key, value, format!("{expected} (it does not parse: {e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::config(
            key,
            value,
            format!(
                "{expected} (scheme {:?} is not http or https)",
                parsed.scheme()
            ),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(key, value, format!("{expected} (no host)")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::config(
            key,
            value,
            format!("{expected} (no query or fragment)"),
        ));
    }
    let mut base = full.as_str();
    base = base.strip_suffix('/').unwrap_or(base);
    base = base.strip_suffix("/v1").unwrap_or(base);
    Ok(base.to_string())
}
