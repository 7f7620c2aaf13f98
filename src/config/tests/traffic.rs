//! `ARRIVAL` with `BURSTINESS`: the shape reaches the arrival process, bad shapes and a shape
//! without `ARRIVAL=gamma` are refused naming both keys.

use super::*;
use crate::load::arrivals::ArrivalKind;

#[test]
fn gamma_takes_its_shape_from_burstiness_and_defaults_to_one() {
    assert_eq!(
        ok(&[("ARRIVAL", "gamma")]).arrival,
        ArrivalKind::Gamma { burstiness: 1.0 }
    );
    assert_eq!(
        ok(&[("ARRIVAL", "Gamma"), ("BURSTINESS", "0.25")]).arrival,
        ArrivalKind::Gamma { burstiness: 0.25 }
    );
    assert_eq!(
        ok(&[("ARRIVAL", "gamma"), ("BURSTINESS", "4")]).arrival,
        ArrivalKind::Gamma { burstiness: 4.0 }
    );
    // The default shape contradicts no other arrival process.
    for (kind, expected) in [
        ("poisson", ArrivalKind::Poisson),
        ("constant", ArrivalKind::Constant),
        ("jitter", ArrivalKind::Jitter),
    ] {
        assert_eq!(
            ok(&[("ARRIVAL", kind), ("BURSTINESS", "1")]).arrival,
            expected
        );
    }
}

#[test]
fn burstiness_must_be_a_positive_finite_number() {
    for bad in ["0", "-0.5", "inf", "NaN", "bursty", "1e999"] {
        let err = with_file(&[("ARRIVAL", "gamma"), ("BURSTINESS", bad)])
            .expect_err(bad)
            .to_string();
        assert!(
            err.contains("BURSTINESS") && err.contains(bad) && err.contains("positive number"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn burstiness_other_than_one_without_gamma_is_refused_naming_both_keys() {
    for (arrival, shown) in [
        (None, "poisson (default)"),
        (Some("constant"), "constant"),
        (Some("jitter"), "jitter"),
    ] {
        let mut pairs = vec![("BURSTINESS", "0.5")];
        pairs.extend(arrival.map(|a| ("ARRIVAL", a)));
        let err = with_file(&pairs)
            .expect_err("a shape without gamma")
            .to_string();
        assert!(
            err.contains("BURSTINESS")
                && err.contains("0.5")
                && err.contains(&format!("ARRIVAL={shown}"))
                && err.contains("ARRIVAL=gamma"),
            "{err}"
        );
    }
}

#[test]
fn several_models_split_by_traffic_split_or_evenly() {
    let c = ok(&[
        ("MODEL", "base, lora-a ,lora-b"),
        ("TRAFFIC_SPLIT", "0.8,0.1,0.1"),
    ]);
    assert_eq!(c.models, ["base", "lora-a", "lora-b"]);
    assert_eq!(c.traffic_split, [0.8, 0.1, 0.1]);
    assert_eq!(c.client_config().model, "base");
    let even = ok(&[("MODEL", "a,b,c,d")]);
    assert_eq!(even.traffic_split, [0.25; 4]);
    // Shares of 0 are allowed, and a sum within 1e-6 of 1.
    let c = ok(&[
        ("MODEL", "a,b,c"),
        ("TRAFFIC_SPLIT", "0.333333,0.333333,0.333334"),
    ]);
    assert_eq!(c.traffic_split.len(), 3);
    assert_eq!(
        ok(&[("MODEL", "a,b"), ("TRAFFIC_SPLIT", "1,0")]).traffic_split,
        [1.0, 0.0]
    );
    // The workload gets each name with its share.
    assert_eq!(
        ok(&[("MODEL", "a,b"), ("TRAFFIC_SPLIT", "0.75,0.25")])
            .workload_settings()
            .model_split,
        [("a".to_string(), 0.75), ("b".to_string(), 0.25)]
    );
    // One model: no split at all.
    let one = ok(&[("MODEL", "llama")]);
    assert!(one.traffic_split.is_empty() && one.workload_settings().model_split.is_empty());
}

/// Each case's last pair is the one refused: the message names its key, its value and `what`.
#[test]
fn bad_model_lists_and_splits_name_the_key_the_value_and_what_was_expected() {
    let split = |shares| [("MODEL", "a,b"), ("TRAFFIC_SPLIT", shares)];
    let cases = [
        (vec![("MODEL", "a,,b")], "none empty or repeated"),
        (vec![("MODEL", "a,b,a")], "none empty or repeated"),
        (
            vec![("MODEL", "llama-3.1,llama_3-1")],
            "`llama-3.1` and `llama_3-1` differ only in punctuation",
        ),
        (split("0.5,0.4").to_vec(), "sum to 1"),
        (split("1.5,-0.5").to_vec(), "shares from 0 to 1"),
        (split("half,half").to_vec(), "comma list of shares"),
        (
            vec![("MODEL", "a,b,c"), ("TRAFFIC_SPLIT", "0.5,0.5")],
            "one share per MODEL name: 3 shares, not 2",
        ),
        (
            vec![("MODEL", "llama"), ("TRAFFIC_SPLIT", "1")],
            "unless MODEL names several models",
        ),
        (vec![("TRAFFIC_SPLIT", "0.5,0.5")], "MODEL names none"),
    ];
    for (pairs, what) in cases {
        let (key, value) = pairs[pairs.len() - 1];
        let err = with_file(&pairs).expect_err(value).to_string();
        assert!(
            err.contains(key) && err.contains(value) && err.contains(what),
            "{pairs:?}: {err}"
        );
    }
}

/// The split is in the resume fingerprint (through the serialised config), and a run with one
/// model has no `TRAFFIC_SPLIT` entry at all, so checkpoints written before the key existed
/// still resume.
#[test]
fn the_fingerprint_holds_the_split_only_with_several_models() {
    let settings =
        |pairs: &[(&str, &str)]| crate::experiment::state::settings(&ok(pairs), 0, "served");
    assert!(!settings(&[("MODEL", "llama")]).contains_key("TRAFFIC_SPLIT"));
    let split = settings(&[("MODEL", "a,b"), ("TRAFFIC_SPLIT", "0.75,0.25")]);
    assert_eq!(split["TRAFFIC_SPLIT"], "[0.75,0.25]");
    assert_ne!(
        split,
        settings(&[("MODEL", "a,b"), ("TRAFFIC_SPLIT", "0.25,0.75")])
    );
    assert_eq!(settings(&[("MODEL", "a,b")])["TRAFFIC_SPLIT"], "[0.5,0.5]");
}
