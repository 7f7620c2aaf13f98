//! `mst-report [--dir requests] [--out report]`: the report binary (`mst-search report` runs
//! it). Exit code 0 when the report was written, 1 when it could not be, 2 for bad arguments.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write summary tables, plots and an HTML page for an mst-search results tree.
#[derive(Parser, Debug)]
#[command(name = "mst-report", version, about)]
struct Args {
    /// The results tree (the runs' OUTPUT_DIR).
    #[arg(long, default_value = "requests", value_name = "DIR")]
    dir: PathBuf,
    /// Where the report goes (created when missing).
    #[arg(long, default_value = "report", value_name = "DIR")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = std::time::Instant::now();
    match mst_report::build(&mst_report::ReportOptions {
        dir: args.dir,
        out: args.out.clone(),
    }) {
        Ok(report) => {
            println!(
                "report: {} sizes, {} files in {} ({:.1} s); open {}",
                report.rows.len(),
                report.files.len(),
                args.out.display(),
                started.elapsed().as_secs_f64(),
                args.out.join("index.html").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
