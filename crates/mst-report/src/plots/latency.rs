//! Per iteration: every request's E2E and TTFT against its intended send time, with the parts
//! the verdict ignores (the `FILTER_BUFFER` at each end) greyed and the two halves of the
//! steady window tinted, the verdict in the title, and panels below on the same time axis:
//! the server's waiting and running requests when its metrics were scraped, the GPUs' total
//! power when GPU telemetry was polled.

use super::{
    Chart, FAIL, FONT, PASS, Plot, UNUSABLE, clip, err, legend, legend_headroom, render,
    upper_bound,
};
use crate::data::{GpuSeries, IterationData, RequestPoint, SizeData};
use crate::summary::SummaryRow;
use anyhow::Result;
use mst_results::Judgement;
use mst_results::results_csv as col;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Above this many requests the points become per-bin median and maximum lines, so a 20,000
/// request iteration stays readable and its SVG small.
const MAX_POINTS: usize = 5_000;
const BINS: usize = 200;

const E2E: RGBColor = RGBColor(31, 119, 180);
const TTFT: RGBColor = RGBColor(255, 127, 14);
const POWER: RGBColor = RGBColor(148, 103, 189);

/// Height of the latency chart with panels below it, and of each panel, px.
const TOP_H: u32 = 540;
const PANEL_H: u32 = 280;

struct LatencyChart<'a> {
    it: &'a IterationData,
    title: String,
}

/// The verdict as a word, as on the console ([`Judgement`]'s words, plus `INTERRUPTED` and
/// `no verdict`, which are no judgement).
pub fn verdict_word(it: &IterationData) -> &'static str {
    match (it.completion.as_str(), it.sustainable) {
        ("INTERRUPTED", _) => "INTERRUPTED",
        _ if it.unusable => Judgement::Unusable.as_str(),
        (_, Some(true)) => Judgement::Pass.as_str(),
        (_, Some(false)) => Judgement::Fail.as_str(),
        (_, None) => "no verdict",
    }
}

/// The colour of a verdict word.
pub fn verdict_color(word: &str) -> RGBColor {
    if word == Judgement::Pass.as_str() {
        PASS
    } else if word == Judgement::Fail.as_str() {
        FAIL
    } else {
        UNUSABLE
    }
}

/// Draw one iteration's latency plot.
pub fn draw(size: &SizeData, row: &SummaryRow, it: &IterationData, out: &Path) -> Result<Plot> {
    let word = verdict_word(it);
    // The failed criteria in the title: the verdict without the caption.
    let failed = if it.failed_criteria.is_empty() {
        String::new()
    } else {
        format!(" ({} failed)", it.failed_criteria.join(", "))
    };
    let title = clip(
        &format!(
            "{} #{} at {:.1} req/min: {word}{failed}",
            row.size,
            it.figure(col::ITERATION).map_or(0, |n| n as u64),
            it.figure(col::REQ_MIN).unwrap_or(f64::NAN),
        ),
        95,
    );
    let stem = PathBuf::from("plots")
        .join(&size.dir_name)
        .join(format!("{}_latency", it.folder));
    std::fs::create_dir_all(out.join("plots").join(&size.dir_name))?;
    render(&LatencyChart { it, title }, out, &stem)?;
    let window = match (it.figure(col::FILTER_BUFFER), it.figure(col::DURATION)) {
        (Some(fb), Some(d)) => format!(
            "Grey: the first and last {fb} s (FILTER_BUFFER), which the verdict ignores; \
             blue and green tints: the first and second half of the steady window [{fb}, {}] s.",
            d - fb
        ),
        _ => "results.csv has no FILTER_BUFFER column (written by an older version), so the \
              steady window is not shaded."
            .to_string(),
    };
    let sampled = if it.requests.len() > MAX_POINTS {
        format!(
            " With {} requests, lines show the median and the maximum of each of {BINS} time bins.",
            it.requests.len()
        )
    } else {
        String::new()
    };
    let server = if it.server.is_some() {
        " Below: the server's waiting and running requests (its /metrics)."
    } else {
        ""
    };
    let power = match gpu_power(it) {
        Some(g) => format!(
            " {}: the GPUs' power in W, summed over the {} GPU{} of gpu_metrics.csv at each \
             poll{}.",
            if it.server.is_some() { "Then" } else { "Below" },
            g.gpus,
            if g.gpus == 1 { "" } else { "s" },
            if it.figure(col::GPU_MEAN_POWER_W).is_some() {
                ", and dashed its mean over the steady window (GPU_MEAN_POWER_W)"
            } else {
                ""
            }
        ),
        None => String::new(),
    };
    Ok(Plot {
        stem,
        caption: format!(
            "{} #{}: E2E (blue) and TTFT (orange) of every request against its intended send \
             time; failed requests as red crosses. {window}{sampled}{server}{power} Verdict {word}: {}",
            row.size, it.folder, it.verdict_reason
        ),
        section: row.size.clone(),
    })
}

/// The GPU series when it has a poll to draw.
fn gpu_power(it: &IterationData) -> Option<&GpuSeries> {
    it.gpu.as_ref().filter(|g| !g.power_w.is_empty())
}

/// A legend label, a colour and (seconds from t0, value) points.
type Line<'a> = (String, RGBColor, &'a [(f64, f64)]);

/// A panel below the latencies: lines over the same time axis.
struct Panel<'a> {
    /// Its title.
    caption: &'static str,
    /// The y axis's name and unit.
    y_desc: &'static str,
    /// Top of the y axis (it starts at 0).
    y_end: f64,
    /// The lines, drawn in order.
    lines: Vec<Line<'a>>,
    /// A dashed level over `[x0, x1]`: (label, x0, x1, value).
    level: Option<(String, f64, f64, f64)>,
}

impl Panel<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, x_end: f64) -> Result<()> {
        let mut p = ChartBuilder::on(area)
            .caption(self.caption, (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_end, 0f64..self.y_end)
            .map_err(err)?;
        p.configure_mesh()
            .x_desc("s from the iteration start")
            .y_desc(self.y_desc)
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        for (name, color, points) in &self.lines {
            let color = *color;
            p.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
        }
        if let Some((label, x0, x1, v)) = &self.level {
            let style = BLACK.mix(0.7).stroke_width(1);
            p.draw_series(DashedLineSeries::new([(*x0, *v), (*x1, *v)], 6, 4, style))
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], style));
        }
        legend(&mut p, SeriesLabelPosition::UpperLeft)
    }
}

/// The panels below the latencies, top to bottom.
fn panels(it: &IterationData) -> Vec<Panel<'_>> {
    let mut out = Vec::new();
    if let Some(server) = &it.server {
        out.push(Panel {
            caption: "server: requests waiting and running (scraped /metrics)",
            y_desc: "requests",
            y_end: upper_bound(server.waiting.iter().chain(&server.running).map(|p| p.1)),
            lines: vec![
                ("waiting".into(), FAIL, &server.waiting[..]),
                ("running".into(), E2E, &server.running[..]),
            ],
            level: None,
        });
    }
    if let Some(g) = gpu_power(it) {
        let mean = it.figure(col::GPU_MEAN_POWER_W);
        let (x0, x1) = match (it.figure(col::FILTER_BUFFER), it.figure(col::DURATION)) {
            (Some(fb), Some(d)) if d > 2.0 * fb => (fb, d - fb),
            _ => (0.0, it.figure(col::DURATION).unwrap_or(0.0)),
        };
        out.push(Panel {
            caption: "GPUs: power summed over the GPUs (gpu_metrics.csv)",
            y_desc: "power, W",
            y_end: legend_headroom(g.power_w.iter().map(|p| p.1).chain(mean)),
            lines: vec![(
                format!(
                    "total of {} GPU{}",
                    g.gpus,
                    if g.gpus == 1 { "" } else { "s" }
                ),
                POWER,
                &g.power_w[..],
            )],
            level: mean
                .filter(|_| x1 > x0)
                .map(|w| (format!("steady-window mean {w:.0} W"), x0, x1, w)),
        });
    }
    out
}

/// The latency a series plots for a request, when it has one.
type Value = fn(&RequestPoint) -> Option<f64>;

/// Median and maximum of `value` in `BINS` equal bins of send time over `[0, end]`.
fn binned(reqs: &[RequestPoint], end: f64, value: Value) -> [Vec<(f64, f64)>; 2] {
    let width = end / BINS as f64;
    let mut bins: Vec<Vec<f64>> = vec![Vec::new(); BINS];
    for r in reqs {
        if let Some(v) = value(r) {
            let b = ((r.send_s / width) as usize).min(BINS - 1);
            bins[b].push(v);
        }
    }
    let mut median = Vec::new();
    let mut max = Vec::new();
    for (i, mut b) in bins.into_iter().enumerate() {
        if b.is_empty() {
            continue;
        }
        b.sort_by(f64::total_cmp);
        let x = (i as f64 + 0.5) * width;
        median.push((x, b[b.len() / 2]));
        max.push((x, b[b.len() - 1]));
    }
    [median, max]
}

impl Chart for LatencyChart<'_> {
    fn size(&self) -> (u32, u32) {
        match panels(self.it).len() as u32 {
            0 => (1100, 560),
            n => (1100, TOP_H + n * PANEL_H),
        }
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let it = self.it;
        let reqs = &it.requests;
        let duration = it.figure(col::DURATION);
        let x_end = upper_bound(
            reqs.iter()
                .map(|r| r.send_s)
                .chain(duration)
                .chain(it.server.iter().flat_map(|s| s.waiting.iter().map(|p| p.0)))
                .chain(
                    gpu_power(it)
                        .iter()
                        .flat_map(|g| g.power_w.iter().map(|p| p.0)),
                ),
        );
        let y_end = legend_headroom(
            reqs.iter()
                .flat_map(|r| r.e2e_ms.into_iter().chain(r.ttft_ms)),
        );
        let panels = panels(it);
        let (top, mut rest) = if panels.is_empty() {
            (area.clone(), None)
        } else {
            let (t, b) = area.split_vertically(TOP_H);
            (t, Some(b))
        };
        let mut chart = ChartBuilder::on(&top)
            .caption(&self.title, (FONT, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_end, 0f64..y_end)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("intended send time, s from the iteration start")
            .y_desc("latency, ms")
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        if let (Some(fb), Some(d)) = (it.figure(col::FILTER_BUFFER), duration) {
            let mid = d / 2.0;
            let shade = |x0: f64, x1: f64, c: RGBAColor| {
                Rectangle::new([(x0, 0.0), (x1, y_end)], c.filled())
            };
            let grey = BLACK.mix(0.10);
            chart
                .draw_series([shade(0.0, fb, grey), shade(d - fb, d, grey)])
                .map_err(err)?
                .label("ignored (FILTER_BUFFER)")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], grey.filled()));
            let first = E2E.mix(0.10);
            chart
                .draw_series([shade(fb, mid, first)])
                .map_err(err)?
                .label("first half")
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], first.filled())
                });
            let second = PASS.mix(0.12);
            chart
                .draw_series([shade(mid, d - fb, second)])
                .map_err(err)?
                .label("second half")
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], second.filled())
                });
        }
        if let Some(d) = duration {
            // After DURATION nothing is sent: the right of this line is the drain, not a buffer.
            chart
                .draw_series(DashedLineSeries::new(
                    [(d, 0.0), (d, y_end)],
                    6,
                    4,
                    BLACK.mix(0.6).stroke_width(1),
                ))
                .map_err(err)?
                .label("sending ends (DURATION)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.mix(0.6)));
        }
        let series: [(&str, RGBColor, Value); 2] = [
            ("E2E", E2E, |r| r.success.then_some(r.e2e_ms).flatten()),
            ("TTFT", TTFT, |r| r.success.then_some(r.ttft_ms).flatten()),
        ];
        for (name, color, value) in series {
            if reqs.len() > MAX_POINTS {
                let [median, max] = binned(reqs, x_end, value);
                chart
                    .draw_series(LineSeries::new(median, color.stroke_width(2)))
                    .map_err(err)?
                    .label(format!("{name} median per bin"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(LineSeries::new(max, color.mix(0.5)))
                    .map_err(err)?
                    .label(format!("{name} max per bin"))
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.mix(0.5)));
            } else {
                chart
                    .draw_series(reqs.iter().filter_map(|r| {
                        value(r).map(|v| Circle::new((r.send_s, v), 2, color.filled()))
                    }))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| Circle::new((x + 7, y), 3, color.filled()));
            }
        }
        let failed: Vec<(f64, f64)> = reqs
            .iter()
            .filter(|r| !r.success)
            .map(|r| (r.send_s, r.e2e_ms.unwrap_or(0.0)))
            .collect();
        if !failed.is_empty() {
            chart
                .draw_series(
                    failed
                        .iter()
                        .map(|&p| Cross::new(p, 4, FAIL.stroke_width(2))),
                )
                .map_err(err)?
                .label(format!("failed ({})", failed.len()))
                .legend(|(x, y)| Cross::new((x + 7, y), 4, FAIL.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        for panel in &panels {
            let Some(area) = rest.take() else { break };
            let (this, below) = area.split_vertically(PANEL_H);
            panel.draw(&this, x_end)?;
            rest = Some(below);
        }
        Ok(())
    }
}
