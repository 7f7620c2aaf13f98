//! `mst-report`: turns a results tree written by mst-search (`requests/` by default) into a
//! report folder — `summary.md`, `summary.csv`, PNG and SVG plots and a static `index.html`.
//!
//! It lives in its own package because polars and plotters take many minutes to compile:
//! `cargo build --release` of the tool (and the newcomer's `cargo run --release -- demo`) never
//! builds them; `cargo build --release -p mst-report` does, and `mst-search report` runs it.

pub mod data;
pub mod html;
pub mod plots;
pub mod summary;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What to read and where to write.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The results tree (`OUTPUT_DIR` of the runs), e.g. `requests`.
    pub dir: PathBuf,
    /// The report folder, created when missing; files in it are replaced.
    pub out: PathBuf,
}

/// What a report run wrote.
#[derive(Debug, Clone)]
pub struct Report {
    /// One row per size, in size-folder order.
    pub rows: Vec<summary::SummaryRow>,
    /// Every file written, relative to the report folder.
    pub files: Vec<PathBuf>,
}

/// Read `opts.dir` and write the report into `opts.out`.
pub fn build(opts: &ReportOptions) -> Result<Report> {
    let sizes = data::load(&opts.dir)?;
    if sizes.is_empty() {
        anyhow::bail!(
            "{} holds no results: expected size folders such as 128_64/ with mst.json or \
             iteration folders (pass --dir with the run's OUTPUT_DIR)",
            opts.dir.display()
        );
    }
    std::fs::create_dir_all(opts.out.join("plots"))
        .with_context(|| format!("creating the report folder {}", opts.out.display()))?;
    let rows: Vec<summary::SummaryRow> = sizes.iter().map(summary::row).collect();
    let mut files = vec![PathBuf::from("summary.csv"), PathBuf::from("summary.md")];
    summary::write_csv(&opts.out.join("summary.csv"), &rows)?;
    write_file(
        &opts.out.join("summary.md"),
        summary::markdown(&rows).as_bytes(),
    )?;
    let plots = plots::draw_all(&sizes, &rows, &opts.out)?;
    files.extend(plots.iter().flat_map(|p| p.files()));
    write_file(
        &opts.out.join("index.html"),
        html::page(&rows, &plots).as_bytes(),
    )?;
    files.push(PathBuf::from("index.html"));
    Ok(Report { rows, files })
}

/// Write `bytes` to `path` through a temporary file and a rename, so a reader never sees half
/// a file.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing {}", path.display()))
}
