//! Per size, with GPU telemetry: the energy per output token of every iteration against its
//! offered rate (`GPU_J_PER_OUTPUT_TOKEN` against `REQ_MIN`), coloured by verdict, so the sizes'
//! efficiency at and below their MST can be compared. A fuller batch spends less per token;
//! beyond the MST the figure says what an overloaded server spends.

use super::latency::{verdict_color, verdict_word};
use super::{Chart, FONT, PASS, Plot, err, render, upper_bound};
use crate::data::SizeData;
use crate::summary::SummaryRow;
use anyhow::Result;
use mst_results::results_csv as col;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

struct EnergyChart<'a> {
    size: &'a SizeData,
    row: &'a SummaryRow,
    /// (REQ_MIN, J per output token, iteration index) of the iterations that have both.
    points: Vec<(f64, f64, usize)>,
}

/// The joules-per-token plot of one size; None when no iteration has the figure (no GPU
/// telemetry).
pub fn draw(size: &SizeData, row: &SummaryRow, out: &Path) -> Result<Option<Plot>> {
    let points: Vec<(f64, f64, usize)> = size
        .iterations
        .iter()
        .enumerate()
        .filter_map(|(i, it)| {
            Some((
                it.figure(col::REQ_MIN)?,
                it.figure(col::GPU_J_PER_OUTPUT_TOKEN)?,
                i,
            ))
        })
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let stem = PathBuf::from("plots").join(format!("{}_energy", size.dir_name));
    render(&EnergyChart { size, row, points }, out, &stem)?;
    let mst = row.mst_req_min.map_or_else(
        || "no MST was found".to_string(),
        |m| format!("MST {m:.1} req/min"),
    );
    Ok(Some(Plot {
        stem,
        caption: format!(
            "{}: GPU energy per output token (J, steady window, all GPUs; GPU_J_PER_OUTPUT_TOKEN) \
             of every iteration against its offered rate (green = sustainable, red = not); \
             green vertical line: {mst}.",
            row.size
        ),
        section: row.size.clone(),
    }))
}

impl Chart for EnergyChart<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 480)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let x_end = upper_bound(self.points.iter().map(|p| p.0).chain(self.row.mst_req_min));
        let y_end = upper_bound(self.points.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{}: joules per output token", self.row.size),
                (FONT, 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_end, 0f64..y_end)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("offered rate, req/min")
            .y_desc("J per output token")
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        if let Some(m) = self.row.mst_req_min {
            chart
                .draw_series(LineSeries::new(
                    [(m, 0.0), (m, y_end)],
                    PASS.stroke_width(2),
                ))
                .map_err(err)?;
        }
        chart
            .draw_series(self.points.iter().map(|&(x, y, i)| {
                Circle::new(
                    (x, y),
                    5,
                    verdict_color(verdict_word(&self.size.iterations[i])).filled(),
                )
            }))
            .map_err(err)?;
        Ok(())
    }
}
