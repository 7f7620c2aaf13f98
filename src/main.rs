//! Thin binary: parse the command line, set up logging, run, map to an exit code.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mst-search")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded LLM-server simulator.
    Simulate(mst_search::cli::simulate::SimulateArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| match cli.command {
            Command::Simulate(args) => rt.block_on(mst_search::sim::cmd::run(args)),
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
