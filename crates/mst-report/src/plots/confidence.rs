//! Per size: the MST as the verdicts see it. Every judged iteration is a point at its offered
//! rate, at 1 when it was sustainable and at 0 when not; over them the fitted curve
//! P(sustainable | rate) from `mst.json`'s `confidence` block, its interval shaded, its
//! crossing and the search's MST marked. A size without the block (a search with no pass and
//! fail to bound the crossing, or an older `mst.json`) gets no such plot.

use super::{Chart, FAIL, FONT, PASS, Plot, err, legend, render};
use crate::data::SizeData;
use anyhow::Result;
use mst_results::{Confidence, SizeOutcome};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The interval's shade and the curve's colour.
const CURVE: RGBColor = RGBColor(31, 119, 180);

struct CurveChart<'a> {
    outcome: &'a SizeOutcome,
    ci: &'a Confidence,
}

/// The fitted-curve plot of one size, `plots/<size>_confidence.{png,svg}`; `None` (nothing
/// drawn) when its `mst.json` is missing or has no `confidence` block.
pub fn draw(size: &SizeData, out: &Path) -> Result<Option<Plot>> {
    let Some(outcome) = &size.outcome else {
        return Ok(None);
    };
    let Some(ci) = &outcome.confidence else {
        return Ok(None);
    };
    let stem = PathBuf::from("plots").join(format!("{}_confidence", size.dir_name));
    render(&CurveChart { outcome, ci }, out, &stem)?;
    let unit = outcome.load_unit;
    let mst = super::mst_words(outcome.mst_load.or(outcome.mst_req_min), unit);
    Ok(Some(Plot {
        stem,
        caption: format!(
            "{}: every judged iteration at its offered rate (green at 1 = sustainable, red at \
             0 = not; repeats at one rate are stacked) and the fitted probability of a \
             sustainable verdict (blue, {}); shaded: the {:.0}% interval of the rate where it \
             crosses 1/2, {:.1}–{:.1} {}, estimate {:.1} (dotted); green dashed line: \
             {mst}.",
            outcome.size,
            ci.method,
            ci.level * 100.0,
            ci.low_req_min,
            ci.high_req_min,
            unit.label(),
            ci.estimate_req_min,
        ),
        section: outcome.size.clone(),
    }))
}

impl Chart for CurveChart<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let ci = self.ci;
        let judged: Vec<(f64, bool)> = self
            .outcome
            .iterations
            .iter()
            .filter_map(|b| b.sustainable.map(|s| (b.level(), s)))
            .collect();
        let x_end = super::upper_bound(
            judged
                .iter()
                .map(|p| p.0)
                .chain([ci.high_req_min, ci.curve_midpoint_req_min]),
        );
        // The top band stays empty for the legend.
        let y = (-0.08, 1.55);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}: P(sustainable) against {}, {:.0}% interval {:.1}–{:.1}",
                    self.outcome.size,
                    super::level_axis(self.outcome.load_unit),
                    ci.level * 100.0,
                    ci.low_req_min,
                    ci.high_req_min
                ),
                (FONT, 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_end, y.0..y.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(super::level_axis(self.outcome.load_unit))
            .y_desc("P(sustainable)")
            .y_labels(6)
            .y_label_formatter(&|v| {
                if (0.0..=1.0).contains(v) {
                    format!("{v:.1}")
                } else {
                    String::new()
                }
            })
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        chart
            .draw_series([Rectangle::new(
                [(ci.low_req_min, 0.0), (ci.high_req_min, 1.0)],
                CURVE.mix(0.18).filled(),
            )])
            .map_err(err)?
            .label(format!("{:.0}% interval", ci.level * 100.0))
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], CURVE.mix(0.18).filled())
            });
        let steps = 300;
        let curve = (1..=steps).map(|i| {
            let r = x_end * f64::from(i) / f64::from(steps);
            (r, ci.probability(r))
        });
        chart
            .draw_series(LineSeries::new(curve, CURVE.stroke_width(2)))
            .map_err(err)?
            .label("fitted P(sustainable)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], CURVE.stroke_width(2)));
        chart
            .draw_series(DashedLineSeries::new(
                [(ci.estimate_req_min, 0.0), (ci.estimate_req_min, 1.0)],
                3,
                4,
                CURVE.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("crossing {:.1}", ci.estimate_req_min))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], CURVE.stroke_width(1)));
        // Repeats at one rate are stacked towards the middle so each stays visible.
        let mut seen: Vec<(f64, bool)> = Vec::new();
        let mut marks: Vec<(f64, f64, RGBColor)> = Vec::new();
        for &(r, pass) in &judged {
            let k = seen.iter().filter(|&&p| p == (r, pass)).count() as f64;
            seen.push((r, pass));
            let (level, color) = if pass { (1.0, PASS) } else { (0.0, FAIL) };
            let offset = 0.04 * k;
            marks.push((r, if pass { level - offset } else { level + offset }, color));
        }
        for (label, color) in [("sustainable", PASS), ("unsustainable", FAIL)] {
            let these: Vec<(f64, f64)> = marks
                .iter()
                .filter(|m| m.2 == color)
                .map(|m| (m.0, m.1))
                .collect();
            if these.is_empty() {
                continue;
            }
            chart
                .draw_series(these.iter().map(|&p| Circle::new(p, 5, color.filled())))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 7, y), 5, color.filled()));
        }
        if let Some(m) = self.outcome.mst_load.or(self.outcome.mst_req_min) {
            chart
                .draw_series(DashedLineSeries::new(
                    [(m, y.0), (m, 1.05)],
                    8,
                    5,
                    PASS.stroke_width(2),
                ))
                .map_err(err)?
                .label(format!("MST {m:.1}"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], PASS.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mst_results::{IterationBrief, StopKind};

    fn brief(iteration: u32, req_min: f64, sustainable: Option<bool>) -> IterationBrief {
        IterationBrief {
            load: None,
            iteration,
            stage: 1,
            req_min,
            attempt: 1,
            sustainable,
            reason: String::new(),
            folder: format!("it{iteration}"),
            achieved_req_s: 0.0,
            steady_req_min: 0.0,
            succeeded: 0,
            output_tokens_p50: None,
            short_outputs: 0,
            time_s: 0.0,
            repeat: 1,
            gpu: None,
        }
    }

    fn size(confidence: Option<Confidence>) -> SizeData {
        let iterations = vec![
            brief(1, 300.0, Some(true)),
            brief(2, 600.0, Some(true)),
            brief(3, 1200.0, Some(false)),
            brief(4, 1200.0, Some(false)),
            brief(5, 900.0, None),
            brief(6, 900.0, Some(true)),
        ];
        SizeData {
            dir_name: "128_64".into(),
            outcome: Some(SizeOutcome {
                size: "128:64".into(),
                input_tokens: "128".into(),
                output_tokens: "64".into(),
                model: "m".into(),
                mst_req_min: Some(900.0),
                mst_req_s: Some(15.0),
                lower_req_min: Some(900.0),
                upper_req_min: Some(1200.0),
                load_unit: Default::default(),
                mst_load: None,
                lower_load: None,
                upper_load: None,
                stop: StopKind::IterationCap,
                reason: String::new(),
                iterations,
                started_at: String::new(),
                finished_at: String::new(),
                wall_time_s: 0.0,
                iteration_time_s: 0.0,
                job_id: None,
                evaluators: vec!["queue".into()],
                generated_output_tokens_p50: None,
                short_outputs_pct: None,
                search: "classic".into(),
                capacity_estimate: None,
                probe_req_min: None,
                repeats: Vec::new(),
                repeat_stats: None,
                energy: None,
                confidence,
            }),
            iterations: Vec::new(),
        }
    }

    #[test]
    fn the_curve_is_drawn_with_a_confidence_block_and_skipped_without_one() {
        let out = tempfile::tempdir().expect("temp dir");
        // The report creates plots/ before drawing.
        std::fs::create_dir_all(out.path().join("plots")).expect("plots dir");
        let ci = Confidence {
            level: 0.9,
            low_req_min: 700.0,
            high_req_min: 1190.0,
            estimate_req_min: 1030.0,
            method: "firth-logit-case-bootstrap".into(),
            curve_midpoint_req_min: 1030.0,
            curve_log_scale: 0.07,
            iterations: 5,
            resamples: 1000,
            redrawn: 20,
        };
        let plot = draw(&size(Some(ci)), out.path())
            .expect("drawn")
            .expect("a plot");
        assert_eq!(plot.stem, PathBuf::from("plots/128_64_confidence"));
        for f in plot.files() {
            let bytes = std::fs::read(out.path().join(&f)).expect("the file exists");
            assert!(
                bytes.len() > 1000,
                "{} is {} bytes",
                f.display(),
                bytes.len()
            );
        }
        let svg =
            std::fs::read_to_string(out.path().join("plots/128_64_confidence.svg")).expect("svg");
        assert!(
            svg.contains("90% interval"),
            "the legend names the interval"
        );
        assert!(plot.caption.contains("700.0–1190.0"), "{}", plot.caption);

        let bare = tempfile::tempdir().expect("temp dir");
        assert!(draw(&size(None), bare.path()).expect("no error").is_none());
        let mut no_outcome = size(None);
        no_outcome.outcome = None;
        assert!(draw(&no_outcome, bare.path()).expect("no error").is_none());
        assert_eq!(
            std::fs::read_dir(bare.path()).expect("list").count(),
            0,
            "nothing written"
        );
    }
}
