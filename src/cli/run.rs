//! Flags of `mst-search [run]`. Each override flag is a raw string handed to
//! [`crate::config::Config::load`] under its `.env` key, so a flag and a key share one parser and
//! one error message.

use crate::config::KEYS;
use std::path::PathBuf;

/// Arguments of a search run.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Env file with KEY=value lines (read without changing the process environment).
    #[arg(long = "env", value_name = "FILE")]
    pub env: Option<PathBuf>,
    /// Print only warnings, errors and the final result.
    #[arg(long)]
    pub quiet: bool,
    /// Start over: move this run's size folders into OUTPUT_DIR/previous/<time>/ (nothing is
    /// deleted) instead of resuming from their state.json.
    #[arg(long)]
    pub fresh: bool,
    /// One override flag per key that has one in the registry (`config::keys`).
    #[command(flatten)]
    pub overrides: Overrides,
}

impl RunArgs {
    /// The given override flags as (KEY, value) pairs for [`crate::config::Sources::flags`],
    /// in registry order.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        self.overrides.0.clone()
    }
}

/// The override flags, built from the key registry so a key's flag, syntax and help are
/// written once: `--<flag> VALUE` sets the key as if it were in the env file, with the same
/// parser and error message. Holds the (KEY, value) pairs given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides(pub Vec<(&'static str, String)>);

impl clap::FromArgMatches for Overrides {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(Overrides(
            KEYS.iter()
                .filter(|k| k.flag.is_some())
                .filter_map(|k| m.get_one::<String>(k.name).map(|v| (k.name, v.clone())))
                .collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for Overrides {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        KEYS.iter()
            .filter_map(|k| k.flag.map(|f| (k.name, f)))
            .fold(cmd, |cmd, (key, f)| {
                cmd.arg(
                    clap::Arg::new(key)
                        .long(f.long)
                        .value_name(f.value_name)
                        .action(clap::ArgAction::Set)
                        .help(format!("{} (overrides {key})", f.help)),
                )
            })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn overrides_map_each_flag_to_its_key() {
        let cli = Cli::try_parse_from([
            "mst-search",
            "--env",
            "x.env",
            "--duration",
            "30s",
            "--multiplier",
            "3",
            "--tpot-timeout",
            "5",
        ])
        .expect("valid flags");
        let run = cli.run;
        assert_eq!(run.env, Some(PathBuf::from("x.env")));
        assert_eq!(
            run.overrides(),
            vec![
                ("REQ_MIN_INCREASE_MULTIPLIER", "3".to_string()),
                ("DURATION", "30s".to_string()),
                ("TPOT_TIMEOUT", "5".to_string()),
            ]
        );
        assert!(RunArgs::default().overrides().is_empty());
    }

    #[test]
    fn every_override_key_is_known_and_named_in_its_help() {
        let cmd = Cli::command();
        let mut args = vec!["mst-search".to_string()];
        for a in cmd.get_arguments() {
            let Some(long) = a.get_long() else { continue };
            if long == "env" || long == "quiet" || long == "fresh" {
                continue;
            }
            args.push(format!("--{long}"));
            args.push(format!("value-{long}"));
        }
        let run = Cli::try_parse_from(&args).expect("valid flags").run;
        let overrides = run.overrides();
        let flagged = crate::config::KEYS
            .iter()
            .filter(|k| k.flag.is_some())
            .count();
        assert!(flagged >= 26, "the registry lost flags: {flagged}");
        assert_eq!(overrides.len(), flagged, "one override per value flag");
        for (key, value) in overrides {
            assert!(crate::config::keys::is_known(key), "{key} unknown");
            let long = value.trim_start_matches("value-");
            let arg = cmd.get_arguments().find(|a| a.get_long() == Some(long));
            let help = arg.and_then(|a| a.get_help()).map(|h| h.to_string());
            assert!(
                help.as_deref()
                    .is_some_and(|h| h.contains(&format!("overrides {key})"))),
                "--{long} help should name {key}: {help:?}"
            );
        }
    }
}
