//! Per size: the search path (the rate of each iteration in order, coloured by verdict, with
//! the MST and the final upper bound as lines) and the latency percentiles of every iteration
//! against its offered rate.

use super::latency::{verdict_color, verdict_word};
use super::{
    Chart, FAIL, FONT, PASS, Plot, UNUSABLE, err, legend, legend_headroom, render, upper_bound,
};
use crate::data::SizeData;
use crate::summary::SummaryRow;
use anyhow::Result;
use mst_results::results_csv as col;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

struct PathChart<'a> {
    size: &'a SizeData,
    row: &'a SummaryRow,
}

struct PercentileChart<'a> {
    size: &'a SizeData,
    row: &'a SummaryRow,
}

/// The search-path and percentile plots of one size (none when it has no iteration).
pub fn draw(size: &SizeData, row: &SummaryRow, out: &Path) -> Result<Vec<Plot>> {
    if size.iterations.is_empty() {
        return Ok(Vec::new());
    }
    let dir = PathBuf::from("plots");
    let path_stem = dir.join(format!("{}_search", size.dir_name));
    render(&PathChart { size, row }, out, &path_stem)?;
    let pct_stem = dir.join(format!("{}_percentiles", size.dir_name));
    render(&PercentileChart { size, row }, out, &pct_stem)?;
    let mst = super::mst_words(row.mst_load, row.load_unit);
    Ok(vec![
        Plot {
            stem: path_stem,
            caption: format!(
                "{}: the rate of each iteration in search order (green = sustainable, red = \
                 not, grey = unusable or interrupted); green dashed line: {mst}; red dashed \
                 line: the final upper bound (lowest confirmed unsustainable rate). Binding \
                 criterion: {}.",
                row.size, row.binding
            ),
            section: row.size.clone(),
        },
        Plot {
            stem: pct_stem,
            caption: format!(
                "{}: TTFT and E2E percentiles (p50, p90, p99, from results.csv) of every \
                 iteration against its offered rate, log scale; filled markers = sustainable, \
                 hollow = not; green vertical line: {mst}.",
                row.size
            ),
            section: row.size.clone(),
        },
    ])
}

fn hline<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    y: f64,
    x: (f64, f64),
    color: RGBColor,
    label: String,
) -> Result<()> {
    chart
        .draw_series(DashedLineSeries::new(
            [(x.0, y), (x.1, y)],
            8,
            5,
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
    Ok(())
}

impl Chart for PathChart<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let its = &self.size.iterations;
        let points: Vec<(f64, f64, &'static str)> = its
            .iter()
            .enumerate()
            .filter_map(|(i, it)| it.level().map(|r| ((i + 1) as f64, r, verdict_word(it))))
            .collect();
        let y_end = legend_headroom(points.iter().map(|p| p.1).chain(self.row.upper_load));
        let x = (0.5, its.len() as f64 + 0.5);
        let title = format!(
            "{}: search path, {}",
            self.row.size,
            super::mst_words(self.row.mst_load, self.row.load_unit)
        );
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x.0..x.1, 0f64..y_end)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc(super::level_axis(self.row.load_unit))
            .x_labels(its.len().clamp(2, 30))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                BLACK.mix(0.3),
            ))
            .map_err(err)?;
        for (label, color) in [
            ("sustainable", PASS),
            ("unsustainable", FAIL),
            ("unusable / interrupted", UNUSABLE),
        ] {
            let these: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| verdict_color(p.2) == color)
                .map(|p| (p.0, p.1))
                .collect();
            if these.is_empty() {
                continue;
            }
            chart
                .draw_series(these.iter().map(|&p| Circle::new(p, 6, color.filled())))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 7, y), 5, color.filled()));
        }
        if let Some(m) = self.row.mst_load {
            hline(&mut chart, m, x, PASS, format!("MST {m:.1}"))?;
        }
        if let Some(u) = self.row.upper_load {
            hline(&mut chart, u, x, FAIL, format!("upper bound {u:.1}"))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}

const PERCENTILES: [(&str, &str, RGBColor); 6] = [
    (col::TTFT_MS.p50, "TTFT p50", RGBColor(255, 187, 120)),
    (col::TTFT_MS.p90, "TTFT p90", RGBColor(255, 127, 14)),
    (col::TTFT_MS.p99, "TTFT p99", RGBColor(166, 80, 0)),
    (col::E2E_MS.p50, "E2E p50", RGBColor(158, 202, 225)),
    (col::E2E_MS.p90, "E2E p90", RGBColor(31, 119, 180)),
    (col::E2E_MS.p99, "E2E p99", RGBColor(8, 48, 107)),
];

impl Chart for PercentileChart<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 560)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let its = &self.size.iterations;
        let values = its.iter().flat_map(|it| {
            PERCENTILES
                .iter()
                .filter_map(|(f, _, _)| it.figure(f).filter(|v| *v > 0.0))
        });
        let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo.is_finite() && hi > 0.0 {
            // The top band (log scale) stays empty for the legend.
            (lo / 1.5, hi * 6.0)
        } else {
            (1.0, 10.0)
        };
        let x_end = upper_bound(its.iter().filter_map(|it| it.level()));
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}: latency percentiles against {}",
                    self.row.size,
                    super::level_axis(self.row.load_unit)
                ),
                (FONT, 22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..x_end, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(super::level_axis(self.row.load_unit))
            .y_desc("latency, ms (log scale)")
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        for (figure, name, color) in PERCENTILES {
            let mut pts: Vec<(f64, f64, bool)> = its
                .iter()
                .filter_map(|it| {
                    let v = it.figure(figure).filter(|v| *v > 0.0)?;
                    Some((it.level()?, v, it.sustainable == Some(true)))
                })
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            // The line joins the mean at each rate: a confirmation re-run at the same rate is a
            // second marker, not a vertical jump of the line.
            let mut means: Vec<(f64, f64, u32)> = Vec::new();
            for &(x, y, _) in &pts {
                match means.last_mut() {
                    Some((mx, sum, n)) if *mx == x => {
                        *sum += y;
                        *n += 1;
                    }
                    _ => means.push((x, y, 1)),
                }
            }
            chart
                .draw_series(LineSeries::new(
                    means.iter().map(|&(x, sum, n)| (x, sum / f64::from(n))),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&(x, y, ok)| {
                    let style = if ok {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    };
                    Circle::new((x, y), 4, style)
                }))
                .map_err(err)?;
        }
        if let Some(m) = self.row.mst_load {
            chart
                .draw_series(DashedLineSeries::new(
                    [(m, lo), (m, hi)],
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
