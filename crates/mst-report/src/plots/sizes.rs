//! Across sizes: the MST against the input length (one line per output length) and against the
//! output length (one line per input length). A range side (`100-200`) is placed at its middle.

use super::{Chart, FONT, Plot, err, legend, legend_headroom, render};
use crate::summary::SummaryRow;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A side of `in:out`: `a` or `a-b`, placed at its middle.
fn side(s: &str) -> Option<f64> {
    match s.split_once('-') {
        Some((a, b)) => Some((a.trim().parse::<f64>().ok()? + b.trim().parse::<f64>().ok()?) / 2.0),
        None => s.trim().parse().ok(),
    }
}

/// (input, output, MST req/min) of every size that has an MST.
fn points(rows: &[SummaryRow]) -> Vec<(f64, f64, f64)> {
    rows.iter()
        .filter_map(|r| {
            let (i, o) = r.size.split_once(':')?;
            Some((side(i)?, side(o)?, r.mst_req_min?))
        })
        .collect()
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];

struct SizesChart {
    points: Vec<(f64, f64, f64)>,
}

/// The across-sizes plot; None when no size has an MST.
pub fn draw(rows: &[SummaryRow], out: &Path) -> Result<Option<Plot>> {
    let points = points(rows);
    if points.is_empty() {
        return Ok(None);
    }
    let stem = PathBuf::from("plots").join("mst_by_size");
    render(&SizesChart { points }, out, &stem)?;
    let missing = rows.iter().filter(|r| r.mst_req_min.is_none()).count();
    let note = if missing > 0 {
        format!(" {missing} size(s) without an MST are not shown.")
    } else {
        String::new()
    };
    Ok(Some(Plot {
        stem,
        caption: format!(
            "MST (req/min) of every size: left against the input length, one line per output \
             length; right against the output length, one line per input length. A range \
             such as 100-200 is placed at its middle.{note}"
        ),
        section: "all sizes".to_string(),
    }))
}

impl SizesChart {
    /// One panel: MST against `x` of each point, one line per value of `group`.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x_of: fn(&(f64, f64, f64)) -> f64,
        group_of: fn(&(f64, f64, f64)) -> f64,
        x_desc: &str,
        group_name: &str,
    ) -> Result<()> {
        let mut groups: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
        for p in &self.points {
            groups
                .entry(group_of(p).to_bits())
                .or_default()
                .push((x_of(p), p.2));
        }
        // Room on the right for the last point's label.
        let x_end = legend_headroom(self.points.iter().map(x_of));
        let y_end = legend_headroom(self.points.iter().map(|p| p.2));
        let mut chart = ChartBuilder::on(area)
            .caption(format!("MST against {x_desc}"), (FONT, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_end, 0f64..y_end)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(format!("{x_desc}, tokens"))
            .y_desc("MST, req/min")
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        for (k, (bits, mut pts)) in groups.into_iter().enumerate() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(format!("{group_name} {}", f64::from_bits(bits)))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled())))
                .map_err(err)?;
            // Each point names its size, so a lone point needs no legend lookup.
            chart
                .draw_series(
                    self.points
                        .iter()
                        .filter(|p| group_of(p).to_bits() == bits)
                        .map(|p| {
                            Text::new(
                                format!("{}:{} = {:.0}", p.0, p.1, p.2),
                                (x_of(p), p.2),
                                (FONT, 13).into_font().color(&BLACK),
                            )
                        }),
                )
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

impl Chart for SizesChart {
    fn size(&self) -> (u32, u32) {
        (1200, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let (left, right) = area.split_horizontally(600);
        self.panel(&left, |p| p.0, |p| p.1, "input length", "output")?;
        self.panel(&right, |p| p.1, |p| p.0, "output length", "input")?;
        Ok(())
    }
}
