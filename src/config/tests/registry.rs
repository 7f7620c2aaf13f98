//! The key registry against the code that reads the keys: every documented default is the
//! real default, every key marked `fingerprint` moves the resume fingerprint and no other key
//! does, `.env.example` agrees with the registry, and the domain modules' own `Default`s agree
//! with it.

use super::*;
use crate::config::keys::{Default as KeyDefault, KEYS};
use std::collections::BTreeSet;

/// The base for the fingerprint test: every evaluator chosen (so every verdict key matters)
/// and two sizes (so the mix keys matter).
const BASE: &[(&str, &str)] = &[
    ("URL", "gpu06:9000"),
    ("TOKENS_LIST", "16:16,32:64"),
    ("EVALUATOR", "queue,halves,slo,plateau"),
    ("SLO_GOODPUT_PCT", "50"),
];

/// The base for the keys of a trace replay, which replaces `TOKENS_LIST` (and refuses the
/// `plateau` evaluator).
const TRACE_BASE: &[(&str, &str)] = &[
    ("URL", "gpu06:9000"),
    ("TRACE", "traces/synthetic.csv"),
    ("EVALUATOR", "queue,halves,slo"),
    ("SLO_GOODPUT_PCT", "50"),
];

/// The keys checked on [`TRACE_BASE`].
const TRACE_KEYS: &[&str] = &["TRACE", "TRACE_FORMAT", "SCALE"];

/// Keys whose value only counts together with another key.
fn companions(key: &str, prompts: &str) -> Vec<(&'static str, String)> {
    match key {
        "TOKENS_LIST_PROPORTION" => vec![("ADDITIVE", "true".into())],
        "BURSTINESS" => vec![("ARRIVAL", "gamma".into())],
        "TRAFFIC_SPLIT" => vec![("MODEL", "base,adapter".into())],
        // Closed-loop users are judged by the SLO alone.
        "LOAD" => vec![("EVALUATOR", "slo".into())],
        "USERS_START" => vec![("LOAD", "users".into()), ("EVALUATOR", "slo".into())],
        // Sessions reason in sessions/minute: no plateau.
        "SESSION_TURNS" => vec![
            ("API", "chat".into()),
            ("EVALUATOR", "queue,halves,slo".into()),
        ],
        // Only a user or a session waits.
        "THINK_TIME" => vec![
            ("API", "chat".into()),
            ("SESSION_TURNS", "2".into()),
            ("EVALUATOR", "queue,halves,slo".into()),
        ],
        "OUTPUT_FROM_DATASET" | "PROMPTS_FIELD" => vec![("PROMPTS_FILE", prompts.into())],
        "GPU_HOURLY_COST" => vec![("GPU_METRICS_URL", "gpu06:9400/metrics".into())],
        "SATURATION_PROBE" | "PROBE_DURATION" | "PROBE_CONCURRENCY" => {
            vec![("SEARCH", "adaptive".into())]
        }
        _ => Vec::new(),
    }
}

fn config(pairs: &[(&str, String)]) -> Config {
    let pairs: Vec<(&str, String)> = pairs.to_vec();
    match Config::from_pairs(&pairs) {
        Ok((c, _)) => c,
        Err(e) => panic!("{pairs:?} should be valid: {e}"),
    }
}

fn fingerprint_of(c: &Config) -> std::collections::BTreeMap<String, String> {
    let model = if c.models.is_empty() {
        "served-model".to_string()
    } else {
        c.models.join(",")
    };
    crate::experiment::state::settings(c, 0, &model)
}

#[test]
fn names_and_flags_are_unique_and_every_key_has_a_valid_example() {
    let mut names = BTreeSet::new();
    let mut flags = BTreeSet::new();
    for k in KEYS {
        assert!(names.insert(k.name), "{} listed twice", k.name);
        assert!(
            k.name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            k.name
        );
        assert!(!k.doc.is_empty() && !k.accepted.is_empty(), "{}", k.name);
        if let Some(f) = k.flag {
            assert!(flags.insert(f.long), "--{} used twice", f.long);
        }
        if let KeyDefault::Value(v) = k.default {
            assert_ne!(
                v, k.example,
                "{}: the example must differ from the default",
                k.name
            );
        }
    }
}

/// Setting a key to its documented default changes nothing: the page and the parser agree.
#[test]
fn every_documented_default_is_the_real_default() {
    let base: Vec<(&str, String)> = BASE.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let plain = format!("{:?}", config(&base));
    for k in KEYS {
        let KeyDefault::Value(v) = k.default else {
            continue;
        };
        if BASE.iter().any(|(b, _)| *b == k.name) {
            continue;
        }
        let mut pairs = base.clone();
        pairs.push((k.name, v.to_string()));
        assert_eq!(
            format!("{:?}", config(&pairs)),
            plain,
            "{}={v} (its documented default) changed the configuration",
            k.name
        );
    }
}

/// Each key set to its example moves the fingerprint exactly when it is marked `fingerprint`.
#[test]
fn the_fingerprint_holds_exactly_the_keys_marked_in_the_registry() {
    let prompts = temp_file(
        "fp-prompts.jsonl",
        "{\"text\": \"one two three\", \"prompt\": \"four five six\", \"answer\": \"seven eight\"}\n",
    );
    let tokenizer = temp_file("fp-tokenizer.json", "{}");
    let mut wrong = Vec::new();
    for k in KEYS {
        let example = match k.name {
            "PROMPTS_FILE" => prompts.path().display().to_string(),
            "TOKENIZER" => tokenizer.path().display().to_string(),
            _ => k.example.to_string(),
        };
        let mut base: Vec<(&str, String)> = if TRACE_KEYS.contains(&k.name) {
            TRACE_BASE
                .iter()
                .map(|(b, v)| (*b, v.to_string()))
                .collect()
        } else {
            BASE.iter().map(|(b, v)| (*b, v.to_string())).collect()
        };
        base.extend(companions(k.name, &prompts.path().display().to_string()));
        let before = fingerprint_of(&config(&base));
        let mut changed: Vec<(&str, String)> =
            base.iter().filter(|(b, _)| *b != k.name).cloned().collect();
        changed.push((k.name, example.clone()));
        let after = fingerprint_of(&config(&changed));
        if (before != after) != k.fingerprint {
            wrong.push(format!(
                "{}={example}: fingerprint {} but the registry says fingerprint: {}",
                k.name,
                if before != after { "moved" } else { "stayed" },
                k.fingerprint
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `.env.example` sets every key: a key with a default value to exactly that value, a key
/// whose default is computed (or absent) to nothing, so copying the file never pins a value
/// that should follow another key (`FILTER_BUFFER` follows `DURATION`).
#[test]
fn env_example_agrees_with_the_registry() {
    let example = include_str!("../../../.env.example");
    let lines: Vec<(&str, &str)> = example
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .collect();
    for k in KEYS {
        let values: Vec<&str> = lines
            .iter()
            .filter(|(name, _)| *name == k.name)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(
            values.len(),
            1,
            ".env.example sets {} {} times",
            k.name,
            values.len()
        );
        match k.default {
            KeyDefault::Value(v) => assert_eq!(values[0], v, "{} in .env.example", k.name),
            KeyDefault::Otherwise(_) => assert_eq!(values[0], "", "{} in .env.example", k.name),
            KeyDefault::Required => assert!(!values[0].is_empty(), "{}", k.name),
        }
    }
    for (name, _) in &lines {
        assert!(
            crate::config::keys::is_known(name),
            ".env.example sets unknown {name}"
        );
    }
}

/// The evaluators', watchdog's and workload's own `Default`s (used where no configuration
/// exists, e.g. their unit tests) are the registry's defaults.
#[test]
fn domain_defaults_agree_with_the_registry() {
    let c = ok(&[]);
    assert_eq!(c.evaluator_settings, EvaluatorSettings::default());
    assert_eq!(c.workload, WorkloadConfig::default());
}

/// An `.env` with only a short `DURATION` is accepted: `FILTER_BUFFER` follows it (1/6).
#[test]
fn filter_buffer_follows_duration_when_unset() {
    let c = ok(&[("DURATION", "10s")]);
    assert_eq!(c.filter_buffer, Duration::from_secs(10) / 6);
    assert_eq!(ok(&[]).filter_buffer, Duration::from_secs(300));
    let c = ok(&[("DURATION", "10s"), ("FILTER_BUFFER", "2s")]);
    assert_eq!(c.filter_buffer, Duration::from_secs(2));
    let err =
        with_file(&[("DURATION", "10s"), ("FILTER_BUFFER", "5s")]).expect_err("2 x 5s >= 10s");
    assert!(err.to_string().contains("FILTER_BUFFER=\"5s\""), "{err}");
}
