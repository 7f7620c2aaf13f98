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
