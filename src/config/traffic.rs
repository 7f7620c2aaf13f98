//! The shape of the traffic beyond its rate: when requests arrive (`ARRIVAL`, `BURSTINESS`)
//! and which models they ask for (`MODEL`, `TRAFFIC_SPLIT`). Kept apart from the general
//! layering in [`super::load`] because these keys only make sense in pairs and are checked
//! against each other.

use super::load::{Layers, f64_where};
use super::parse::{parse_arrival, parse_f64_list};
use crate::error::{Error, Result};
use crate::load::arrivals::ArrivalKind;

/// `ARRIVAL` with `BURSTINESS`, the gamma shape. A `BURSTINESS` other than 1 with another
/// `ARRIVAL` is refused: it asks for bursts the schedule would not have (1, the default, is
/// the shape of Poisson gaps and contradicts nothing).
pub(super) fn resolve_arrival(l: &Layers) -> Result<ArrivalKind> {
    let arrival = l.or_default("ARRIVAL", parse_arrival)?;
    let burstiness = l.or_default(
        "BURSTINESS",
        f64_where(
            "a positive number, the gamma shape (1 = Poisson gaps, below 1 burstier)",
            |x| x > 0.0,
        ),
    )?;
    match arrival {
        ArrivalKind::Gamma { .. } => Ok(ArrivalKind::Gamma { burstiness }),
        other if burstiness == 1.0 => Ok(other),
        other => Err(Error::config(
            "BURSTINESS",
            l.shown("BURSTINESS", "1"),
            format!(
                "1 or unset with ARRIVAL={}: BURSTINESS shapes only ARRIVAL=gamma; set \
                 ARRIVAL=gamma for bursty arrivals",
                l.shown("ARRIVAL", &format!("{other:?}").to_ascii_lowercase())
            ),
        )),
    }
}

/// Largest distance of `TRAFFIC_SPLIT`'s sum from 1 that is still accepted (rounding in
/// hand-written shares such as `0.333333,0.333333,0.333334`).
pub const SPLIT_SUM_TOLERANCE: f64 = 1e-6;

/// `MODEL` (one name, or several separated by commas) with `TRAFFIC_SPLIT`: the names, and
/// with several names the share of requests each gets (an even split when `TRAFFIC_SPLIT` is
/// unset); the shares are empty with fewer than two names.
pub(super) fn resolve_models(l: &Layers) -> Result<(Vec<String>, Vec<f64>)> {
    let models = l.opt("MODEL", parse_models)?.unwrap_or_default();
    let split = l.opt("TRAFFIC_SPLIT", |key, value| {
        parse_split(key, value, models.len())
    })?;
    let split = match split {
        Some(split) => split,
        None if models.len() > 1 => vec![1.0 / models.len() as f64; models.len()],
        None => Vec::new(),
    };
    Ok((models, split))
}

/// `MODEL`: names separated by commas, each non-empty (trimmed) and none repeated.
fn parse_models(key: &str, value: &str) -> Result<Vec<String>> {
    let names: Vec<String> = value.split(',').map(|n| n.trim().to_string()).collect();
    let repeated = names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n));
    if names.iter().any(String::is_empty) || repeated {
        return Err(Error::config(
            key,
            value,
            "a model name, or several separated by commas (MODEL=base,adapter-a,adapter-b), \
             none empty or repeated",
        ));
    }
    // Each name gets its own `MODEL_<name>_…` columns in results.csv: names that differ only
    // in punctuation would write the same ones.
    for (i, n) in names.iter().enumerate() {
        let part = mst_results::results_csv::name_part(n);
        if let Some(other) = names[..i]
            .iter()
            .find(|o| mst_results::results_csv::name_part(o) == part)
        {
            return Err(Error::config(
                key,
                value,
                format!(
                    "model names that differ in a letter or digit: `{other}` and `{n}` differ \
                     only in punctuation, so both would write results.csv's MODEL_{part}_… columns"
                ),
            ));
        }
    }
    Ok(names)
}

/// `TRAFFIC_SPLIT` for `models` names: one share per name, each in [0, 1], summing to 1.
fn parse_split(key: &str, value: &str, models: usize) -> Result<Vec<f64>> {
    if models < 2 {
        return Err(Error::config(
            key,
            value,
            format!(
                "no TRAFFIC_SPLIT unless MODEL names several models (MODEL=a,b,c); MODEL names {}",
                match models {
                    0 => "none (the server's first model is used)".to_string(),
                    _ => "one".to_string(),
                }
            ),
        ));
    }
    let shares = parse_f64_list(
        key,
        value,
        "a comma list of shares from 0 to 1, one per MODEL name, summing to 1",
        |x| (0.0..=1.0).contains(&x),
    )?;
    if shares.len() != models {
        return Err(Error::config(
            key,
            value,
            format!(
                "one share per MODEL name: {models} shares, not {}",
                shares.len()
            ),
        ));
    }
    let sum: f64 = shares.iter().sum();
    if (sum - 1.0).abs() > SPLIT_SUM_TOLERANCE {
        return Err(Error::config(
            key,
            value,
            format!("shares that sum to 1 (within {SPLIT_SUM_TOLERANCE}); these sum to {sum}"),
        ));
    }
    Ok(shares)
}
