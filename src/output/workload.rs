//! The workload's columns in `results.csv`: how prompt lengths were made, the input and output
//! lengths actually sent, in an `ADDITIVE` mix the figures of each class, with several
//! models those of each model and in multi-turn sessions those of each turn — kept apart from the writer so the columns of one concern live
//! together.

use super::fmt_ms;
use crate::iteration::IterationMeta;
use crate::metrics::request_metrics;
use crate::record::RequestRecord;
use crate::stats::{Distribution, distribution};

/// The class name (`in:out`) of a record in a mix; empty outside one.
pub(super) fn class_name(meta: &IterationMeta, r: &RequestRecord) -> String {
    r.class
        .and_then(|c| meta.classes.get(usize::from(c)))
        .cloned()
        .unwrap_or_default()
}

/// The model a record asked for: its drawn name with several models, else the iteration's.
pub(super) fn model_name<'a>(meta: &'a IterationMeta, r: &RequestRecord) -> &'a str {
    r.model
        .and_then(|m| meta.models.get(usize::from(m)))
        .unwrap_or(&meta.model)
}

/// `100-300:16` → `100_300_16`.
use mst_results::results_csv::name_part as column_part;

fn num(x: Option<f64>) -> String {
    x.map(|v| format!("{v}")).unwrap_or_default()
}

fn lengths(prefix: &str, d: Option<Distribution>, out: &mut Vec<(String, String)>) {
    for (stat, v) in [
        ("MIN", d.map(|d| d.min)),
        ("P50", d.map(|d| d.p50)),
        ("MEAN", d.map(|d| d.mean)),
        ("MAX", d.map(|d| d.max)),
    ] {
        out.push((format!("{prefix}_{stat}"), num(v)));
    }
}

/// `PROMPT_LENGTHS`, `INPUT_TOKENS_SENT_{MIN,P50,MEAN,MAX}`,
/// `OUTPUT_TOKENS_REQUESTED_{MIN,P50,MEAN,MAX}`, `OUTPUT_TOKENS_CLIPPED` (dataset answers
/// clipped to `max_model_len`, only with `OUTPUT_FROM_DATASET`), then per class of a mix
/// `CLASS_<in>_<out>_{REQUESTS,SUCCESS_RATE,TTFT_P50_MS,TTFT_P90_MS,TPOT_P50_MS,E2E_P50_MS}`
/// per model of a split `MODEL_<name>_…` and per turn of multi-turn sessions `TURN_<k>_…`
/// (k = 1 … `SESSION_TURNS`, every turn's columns in every iteration, empty figures for a turn
/// none reached) with the same figures.
pub(super) fn columns(meta: &IterationMeta, records: &[RequestRecord]) -> Vec<(String, String)> {
    let mut out = vec![("PROMPT_LENGTHS".to_string(), meta.prompt_lengths.clone())];
    let ins: Vec<f64> = records.iter().map(|r| f64::from(r.input_tokens)).collect();
    let outs: Vec<f64> = records
        .iter()
        .map(|r| f64::from(r.requested_output_tokens))
        .collect();
    lengths("INPUT_TOKENS_SENT", distribution(&ins), &mut out);
    lengths("OUTPUT_TOKENS_REQUESTED", distribution(&outs), &mut out);
    if let Some(n) = meta.output_clipped {
        out.push(("OUTPUT_TOKENS_CLIPPED".to_string(), n.to_string()));
    }
    groups("CLASS", &meta.classes, records, |r| r.class, &mut out);
    groups("MODEL", &meta.models, records, |r| r.model, &mut out);
    if let Some(turns) = meta.session_turns {
        let names: Vec<String> = (1..=turns).map(|k| k.to_string()).collect();
        let turn = |r: &RequestRecord| r.turn.and_then(|t| u16::try_from(t.checked_sub(1)?).ok());
        groups("TURN", &names, records, turn, &mut out);
    }
    out
}

/// For each group `names[i]` (the records whose `group` is `i`): `<kind>_<name>_` followed by
/// `REQUESTS`, `SUCCESS_RATE`, `TTFT_P50_MS`, `TTFT_P90_MS`, `TPOT_P50_MS`, `E2E_P50_MS`.
fn groups(
    kind: &str,
    names: &[String],
    records: &[RequestRecord],
    group: fn(&RequestRecord) -> Option<u16>,
    out: &mut Vec<(String, String)>,
) {
    for (c, name) in names.iter().enumerate() {
        let mine: Vec<&RequestRecord> = records
            .iter()
            .filter(|r| group(r).map(usize::from) == Some(c))
            .collect();
        let ok = mine.iter().filter(|r| r.success()).count();
        let metrics: Vec<_> = mine.iter().map(|r| request_metrics(r)).collect();
        let pick = |f: fn(&crate::metrics::RequestMetrics) -> Option<f64>| {
            distribution(&metrics.iter().filter_map(f).collect::<Vec<_>>())
        };
        let ttft = pick(|m| m.ttft_ms);
        let tpot = pick(|m| m.tpot_ms);
        let e2e = pick(|m| Some(m.e2e_ms));
        let prefix = format!("{kind}_{}", column_part(name));
        let rate = (!mine.is_empty()).then(|| 100.0 * ok as f64 / mine.len() as f64);
        out.push((format!("{prefix}_REQUESTS"), mine.len().to_string()));
        out.push((format!("{prefix}_SUCCESS_RATE"), num(rate)));
        out.push((format!("{prefix}_TTFT_P50_MS"), fmt_ms(ttft.map(|d| d.p50))));
        out.push((format!("{prefix}_TTFT_P90_MS"), fmt_ms(ttft.map(|d| d.p90))));
        out.push((format!("{prefix}_TPOT_P50_MS"), fmt_ms(tpot.map(|d| d.p50))));
        out.push((format!("{prefix}_E2E_P50_MS"), fmt_ms(e2e.map(|d| d.p50))));
    }
}
