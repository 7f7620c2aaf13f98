//! Thin binary: parse the command line, set up logging, build the runtime, run, and map the
//! result to a documented exit code (`docs/guide/running.md`, "Exit codes").

use clap::Parser;
use mst_search::cli::{Cli, Command};
use mst_search::error::{Error, exit_code};
use std::io::IsTerminal;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        let interrupt = CancellationToken::new();
        spawn_signal_watch(interrupt.clone());
        let result = match cli.command {
            // The simulator's errors are about its options or its port: usage errors.
            Some(Command::Simulate(args)) => match mst_search::sim::cmd::run(*args).await {
                Ok(()) => Ok(exit_code::OK),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return exit_code::USAGE;
                }
            },
            Some(Command::Demo(args)) => mst_search::demo::run(args, interrupt)
                .await
                .map(|r| report_code(&r)),
            Some(Command::Summary(args)) => summary(&args.output_dir),
            Some(Command::BenchClient(args)) => mst_search::bench::run(args, interrupt)
                .await
                .map(|_| exit_code::OK),
            Some(Command::Run(args)) => run(*args, interrupt).await,
            Some(Command::Report(args)) => mst_search::report::run(&args.dir, &args.out),
            None => run(cli.run, interrupt).await,
        };
        match result {
            Ok(code) => code,
            // Another run has these results in hand: say so and succeed (cron stays quiet).
            Err(e) if matches!(e.downcast_ref(), Some(Error::AlreadyRunning { .. })) => {
                eprintln!("mst-search: {e}");
                exit_code::OK
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                e.downcast_ref::<Error>()
                    .map(Error::exit_code)
                    .unwrap_or(exit_code::SEARCH_INCOMPLETE)
            }
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn run(
    args: mst_search::cli::run::RunArgs,
    interrupt: CancellationToken,
) -> anyhow::Result<i32> {
    let (cfg, warnings) = mst_search::config::Config::load(args.env.as_deref(), args.overrides())?;
    for w in warnings {
        tracing::warn!("{}", w.0);
    }
    let opts = mst_search::experiment::RunOptions { quiet: args.quiet };
    let start = if args.fresh {
        mst_search::experiment::Start::Fresh
    } else {
        mst_search::experiment::Start::Resume
    };
    let report = mst_search::experiment::run_with(cfg, opts, start, interrupt).await?;
    Ok(report_code(&report))
}

/// `mst-search summary`: rebuild `summary.csv` in an existing results folder.
fn summary(dir: &std::path::Path) -> anyhow::Result<i32> {
    if !dir.is_dir() {
        return Err(Error::config(
            "--output-dir",
            dir.display().to_string(),
            "an existing results folder (the OUTPUT_DIR of earlier runs)",
        )
        .into());
    }
    let path = mst_search::output::write_summary(dir)?;
    println!("{}", path.display());
    Ok(exit_code::OK)
}

fn report_code(report: &mst_search::experiment::RunReport) -> i32 {
    if report.incomplete() {
        exit_code::SEARCH_INCOMPLETE
    } else {
        exit_code::OK
    }
}

/// A repeated signal within this time is the same stop delivered twice, not a second request.
const SIGNAL_ECHO: std::time::Duration = std::time::Duration::from_secs(2);

/// SIGINT, SIGTERM and SIGUSR1 (SLURM's warning before a time limit) all stop the run cleanly:
/// the driver saves its state and exits with code 4 within seconds. A second signal exits at
/// once, for a run that does not stop fast enough.
fn spawn_signal_watch(interrupt: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term), Ok(mut usr1)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::user_defined1()),
            ) else {
                return;
            };
            let mut first: Option<std::time::Instant> = None;
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                    _ = usr1.recv() => "SIGUSR1",
                };
                match first {
                    None => {
                        first = Some(std::time::Instant::now());
                        tracing::warn!("{name}: stopping; saving state");
                        interrupt.cancel();
                    }
                    // SLURM may deliver one stop both to the job and through the batch script.
                    Some(at) if at.elapsed() < SIGNAL_ECHO => {}
                    Some(_) => {
                        eprintln!("mst-search: second signal ({name}): exiting now");
                        std::process::exit(exit_code::INTERRUPTED);
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            interrupt.cancel();
        }
    });
}
