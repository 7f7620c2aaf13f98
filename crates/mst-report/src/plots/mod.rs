//! The report's pictures, each drawn once per backend: PNG (plotters' bitmap backend, encoded
//! with the `png` crate) and SVG. Text uses DejaVu Sans compiled into the binary, so no system
//! font or fontconfig is needed.
//!
//! Six kinds: per iteration, latency over time with the server's queue and the GPUs' power
//! below it ([`latency`]); per size, the search path and the percentiles against offered rate
//! ([`search`]) and the fitted P(sustainable) curve with the MST's interval ([`confidence`])
//! and, with GPU telemetry, joules per output token against offered rate ([`energy`]); across
//! sizes, MST against the token lengths ([`sizes`]).

pub mod confidence;
pub mod energy;
pub mod latency;
pub mod search;
pub mod sizes;

use crate::data::SizeData;
use crate::summary::SummaryRow;
use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The axis title of a search level: the offered rate, or the level in its unit (users,
/// sessions/min, x trace).
pub(crate) fn level_axis(unit: mst_results::LoadUnit) -> String {
    match unit {
        mst_results::LoadUnit::ReqMin => "offered rate, req/min".to_string(),
        u => format!("load, {}", u.label()),
    }
}

/// The MST as a plot names it, in its unit: `MST 5096.2 req/min`, `MST 8 users`.
pub(crate) fn mst_words(mst: Option<f64>, unit: mst_results::LoadUnit) -> String {
    match mst {
        None => "no MST was found".to_string(),
        Some(m) if unit.is_whole() => format!("MST {m:.0} {}", unit.label()),
        Some(m) if unit == mst_results::LoadUnit::ReqMin => format!("MST {m:.1} req/min"),
        Some(m) => format!("MST {m:.2} {}", unit.label()),
    }
}

/// The font every label is drawn with.
pub const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Green for sustainable, red for not, grey for unusable: the same in every plot.
pub const PASS: RGBColor = RGBColor(44, 160, 44);
/// See [`PASS`].
pub const FAIL: RGBColor = RGBColor(214, 39, 40);
/// See [`PASS`].
pub const UNUSABLE: RGBColor = RGBColor(127, 127, 127);

fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the bundled DejaVu Sans font could not be loaded"))
    }
}

/// A picture that can be drawn on any plotters backend.
pub trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draw on `area` (already cleared to white).
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// A drawing error as an anyhow error (plotters' error types are generic over the backend).
pub fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

/// One drawn picture: its stem relative to the report folder (`plots/<name>`) and its caption.
#[derive(Debug, Clone)]
pub struct Plot {
    /// Path without extension, relative to the report folder.
    pub stem: PathBuf,
    /// What the picture shows, in a sentence or two (for the HTML page).
    pub caption: String,
    /// Which section of the page it belongs to (a size's `in:out`, or `all sizes`).
    pub section: String,
}

impl Plot {
    /// The PNG and SVG files, relative to the report folder.
    pub fn files(&self) -> [PathBuf; 2] {
        [
            self.stem.with_extension("png"),
            self.stem.with_extension("svg"),
        ]
    }
}

/// Draw `chart` to `<out>/<stem>.png` and `<out>/<stem>.svg`.
pub fn render(chart: &impl Chart, out: &Path, stem: &Path) -> Result<()> {
    register_font()?;
    let (w, h) = chart.size();
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        area.fill(&WHITE).map_err(err)?;
        chart.draw(&area)?;
        area.present().map_err(err)?;
    }
    crate::write_file(&out.join(stem.with_extension("svg")), svg.as_bytes())?;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        area.fill(&WHITE).map_err(err)?;
        chart.draw(&area)?;
        area.present().map_err(err)?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&rgb)?;
    }
    crate::write_file(&out.join(stem.with_extension("png")), &png_bytes)
}

/// Every plot of the report, drawn into `<out>/plots/`.
pub fn draw_all(sizes: &[SizeData], rows: &[SummaryRow], out: &Path) -> Result<Vec<Plot>> {
    let mut plots = Vec::new();
    if let Some(p) = sizes::draw(rows, out)? {
        plots.push(p);
    }
    for (size, row) in sizes.iter().zip(rows) {
        plots.extend(search::draw(size, row, out)?);
        plots.extend(confidence::draw(size, out)?);
        plots.extend(energy::draw(size, row, out)?);
        for it in &size.iterations {
            plots.push(latency::draw(size, row, it, out)?);
        }
    }
    Ok(plots)
}

/// The series legend, boxed, at `position`: the same look in every plot.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 13))
        .draw()
        .map_err(err)
}

/// `text` cut to `max` characters with an ellipsis, for titles.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// An axis range covering `values` with a little headroom; `[0, 1]` when there are none.
pub fn upper_bound(values: impl Iterator<Item = f64>) -> f64 {
    scaled_max(values, 1.08)
}

/// A y range whose top band stays empty for the legend, so that no point hides behind it.
pub fn legend_headroom(values: impl Iterator<Item = f64>) -> f64 {
    scaled_max(values, 1.45)
}

fn scaled_max(values: impl Iterator<Item = f64>, factor: f64) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    if max > 0.0 { max * factor } else { 1.0 }
}
