//! The keys of the evaluators beyond `queue` and of the early-abort watchdog, resolved in one
//! place so `Config` carries them as one sub-struct: `DRIFT_MIN_PCT` (halves),
//! `SLO_<METRIC>_P<NN>_MS` and `SLO_GOODPUT_PCT` (slo), `PLATEAU_MIN_GAIN_PCT` and
//! `PLATEAU_MIN_GAIN_REQ_MIN` (plateau), `EARLY_ABORT*` (watchdog), `EARLY_ACCEPT*` (early
//! accept; its growth bound, `QUEUE_GROWTH_MIN_MS`, is set with the queue keys). Also what
//! `EXPERIMENT_TYPE=MIT` means for `EVALUATOR`.

use super::load::{Layers, f64_where};
use super::parse::parse_bool;
use super::{ExperimentType, Warning};
use crate::error::{Error, Result};
use crate::evaluate::plateau::PlateauSettings;
use crate::evaluate::slo::{self, SloMetric, SloSettings, SloThreshold};
use crate::evaluate::{self, EvaluatorSpec, queue::QueueSettings};
use crate::load::accept::AcceptSettings;
use crate::load::watchdog::AbortSettings;

/// Settings of the `halves`, `slo` and `plateau` evaluators and of early abort.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvaluatorSettings {
    /// `DRIFT_MIN_PCT`: a halves drift must exceed this share of the first half (percent).
    pub drift_min_pct: f64,
    /// `SLO_*`: thresholds and goodput floor of the `slo` evaluator.
    pub slo: SloSettings,
    /// `PLATEAU_*`: tolerances of the `plateau` evaluator.
    pub plateau: PlateauSettings,
    /// `EARLY_ABORT*`: the watchdog that may stop a doomed iteration.
    pub early_abort: AbortSettings,
    /// `EARLY_ACCEPT*`: when an iteration the search allows it for may end early as
    /// sustainable.
    pub early_accept: AcceptSettings,
}

impl Default for EvaluatorSettings {
    fn default() -> Self {
        EvaluatorSettings {
            drift_min_pct: 5.0,
            slo: SloSettings::default(),
            plateau: PlateauSettings::default(),
            early_abort: AbortSettings::default(),
            early_accept: AcceptSettings::default(),
        }
    }
}

/// Resolve the evaluators' keys. `EXPERIMENT_TYPE=MIT` selects `plateau`: alone when
/// `EVALUATOR` is unset, added (with a warning) when `EVALUATOR` lists others without it.
pub(super) fn resolve(
    l: &Layers,
    experiment_type: ExperimentType,
    evaluators: &mut Vec<String>,
    warnings: &mut Vec<Warning>,
) -> Result<EvaluatorSettings> {
    if experiment_type == ExperimentType::Mit && !evaluators.iter().any(|e| e == "plateau") {
        if l.get("EVALUATOR").is_none() {
            *evaluators = vec!["plateau".to_string()];
        } else {
            warnings.push(Warning(format!(
                "EXPERIMENT_TYPE=MIT judges throughput plateaus: plateau is added to EVALUATOR={}",
                evaluators.join(",")
            )));
            evaluators.push("plateau".to_string());
        }
    }
    let pct = || f64_where("a percentage from 0 to 100", |x| (0.0..=100.0).contains(&x));
    let drift_min_pct = l.or_default(
        "DRIFT_MIN_PCT",
        f64_where("a percentage >= 0", |x| x >= 0.0),
    )?;

    let mut thresholds = Vec::new();
    for metric in SloMetric::ALL {
        for p in slo::PERCENTILES {
            let key = slo::key(metric, p);
            let max = l.opt(
                &key,
                f64_where("a number of milliseconds greater than 0", |x| x > 0.0),
            )?;
            if let Some(max_ms) = max {
                thresholds.push(SloThreshold {
                    metric,
                    percentile: p,
                    max_ms,
                });
            }
        }
    }
    let slo = SloSettings {
        thresholds,
        goodput_pct: l.opt("SLO_GOODPUT_PCT", pct())?,
    };

    let plateau = PlateauSettings {
        min_gain_pct: l.or_default("PLATEAU_MIN_GAIN_PCT", pct())?,
        min_gain_req_min: l.or_default(
            "PLATEAU_MIN_GAIN_REQ_MIN",
            f64_where("a number of requests/minute >= 0", |x| x >= 0.0),
        )?,
    };

    let early_abort = AbortSettings {
        enabled: l.or_default("EARLY_ABORT", parse_bool)?,
        after_pct: l.or_default(
            "EARLY_ABORT_AFTER_PCT",
            f64_where("a percentage from 0 to 100", |x| (0.0..=100.0).contains(&x)),
        )?,
        delay_factor: l.or_default(
            "EARLY_ABORT_DELAY_FACTOR",
            f64_where("a factor >= 1", |x| x >= 1.0),
        )?,
        delay_min_ms: l.or_default(
            "EARLY_ABORT_DELAY_MIN_MS",
            f64_where("a number of milliseconds >= 0", |x| x >= 0.0),
        )?,
    };
    let early_accept = AcceptSettings {
        enabled: l.or_default("EARLY_ACCEPT", parse_bool)?,
        after_pct: l.or_default(
            "EARLY_ACCEPT_AFTER_PCT",
            f64_where("a percentage greater than 0 and at most 100", |x| {
                x > 0.0 && x <= 100.0
            }),
        )?,
        growth_max_ms: AcceptSettings::default().growth_max_ms,
    };
    Ok(EvaluatorSettings {
        drift_min_pct,
        slo,
        plateau,
        early_abort,
        early_accept,
    })
}

/// `EVALUATOR`'s names as specs with their settings; an unknown name, an empty list or `slo`
/// without any threshold is an error naming `EVALUATOR`.
pub(super) fn specs(
    names: &[String],
    settings: &EvaluatorSettings,
    queue: QueueSettings,
) -> Result<Vec<EvaluatorSpec>> {
    let one_of = || {
        format!(
            "one of {} (or a comma list of them)",
            evaluate::NAMES.join(", ")
        )
    };
    if names.is_empty() {
        return Err(Error::config("EVALUATOR", "", one_of()));
    }
    names
        .iter()
        .map(|name| {
            Ok(match name.as_str() {
                "queue" => EvaluatorSpec::Queue(queue.clone()),
                "fmperf" => EvaluatorSpec::Fmperf,
                "halves" => EvaluatorSpec::Halves {
                    drift_min_pct: settings.drift_min_pct,
                },
                "slo" if settings.slo.is_empty() => {
                    return Err(Error::config(
                        "EVALUATOR",
                        "slo",
                        "at least one SLO_<METRIC>_P<NN>_MS key (e.g. SLO_TTFT_P90_MS=500) or \
                         SLO_GOODPUT_PCT when the slo evaluator is chosen",
                    ));
                }
                "slo" => EvaluatorSpec::Slo {
                    slo: settings.slo.clone(),
                },
                "plateau" => EvaluatorSpec::Plateau {
                    settings: settings.plateau,
                },
                other => return Err(Error::config("EVALUATOR", other, one_of())),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ExperimentType};
    use crate::error::Error;
    use crate::evaluate::slo::SloMetric;

    fn cfg(extra: &[(&str, &str)]) -> crate::error::Result<(Config, Vec<super::Warning>)> {
        let mut pairs: Vec<(&str, String)> = vec![
            ("URL", "h:1".to_string()),
            ("TOKENS_LIST", "8:8".to_string()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        Config::from_pairs(&pairs)
    }

    #[test]
    fn defaults_and_slo_keys() {
        let (c, _) = cfg(&[("SLO_TTFT_P90_MS", "500"), ("SLO_E2E_P99_MS", "2000")]).expect("ok");
        let e = &c.evaluator_settings;
        assert_eq!(e.drift_min_pct, 5.0);
        assert!(e.early_abort.enabled);
        let t: Vec<_> = e
            .slo
            .thresholds
            .iter()
            .map(|t| (t.metric, t.percentile, t.max_ms))
            .collect();
        assert_eq!(
            t,
            vec![(SloMetric::Ttft, 90, 500.0), (SloMetric::E2e, 99, 2000.0)]
        );
        let (c, _) = cfg(&[("EARLY_ABORT", "false")]).expect("ok");
        assert!(!c.evaluator_settings.early_abort.enabled);
        let (c, _) = cfg(&[
            ("EARLY_ACCEPT_AFTER_PCT", "60"),
            ("QUEUE_GROWTH_MIN_MS", "100"),
        ])
        .expect("ok");
        let a = c.evaluator_settings.early_accept;
        assert_eq!(
            (a.enabled, a.after_pct, a.growth_max_ms),
            (true, 60.0, 100.0)
        );
    }

    fn names(c: &Config) -> Vec<&'static str> {
        c.evaluators.iter().map(|e| e.name()).collect()
    }

    #[test]
    fn mit_selects_plateau() {
        let (c, w) = cfg(&[("EXPERIMENT_TYPE", "MIT")]).expect("ok");
        assert_eq!(c.experiment_type, ExperimentType::Mit);
        assert_eq!(names(&c), vec!["plateau"]);
        assert!(w.is_empty());
        let (c, w) = cfg(&[("EXPERIMENT_TYPE", "MIT"), ("EVALUATOR", "queue")]).expect("ok");
        assert_eq!(names(&c), vec!["queue", "plateau"]);
        assert!(w[0].0.contains("plateau is added"), "{w:?}");
    }

    #[test]
    fn bad_values_name_the_key_and_slo_needs_a_threshold() {
        for (key, value) in [
            ("SLO_TPOT_P50_MS", "0"),
            ("SLO_GOODPUT_PCT", "101"),
            ("DRIFT_MIN_PCT", "-1"),
            ("EARLY_ABORT", "maybe"),
            ("EARLY_ABORT_DELAY_FACTOR", "0.5"),
            ("EARLY_ACCEPT", "often"),
            ("EARLY_ACCEPT_AFTER_PCT", "0"),
        ] {
            let err = cfg(&[(key, value)]).expect_err(key);
            let Error::Config { key: k, .. } = &err else {
                panic!("{err}");
            };
            assert_eq!(k, key, "{err}");
        }
        let err = cfg(&[("EVALUATOR", "queue,slo")]).expect_err("slo without thresholds");
        assert!(err.to_string().contains("SLO_TTFT_P90_MS"), "{err}");
    }
}
