//! Flags of `mst-search [run]`. Each override flag is a raw string handed to
//! [`crate::config::Config::load`] under its `.env` key, so a flag and a key share one parser and
//! one error message.

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
    /// Server host:port or base URL (overrides URL).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Length of one iteration, e.g. 1800s or 30m (overrides DURATION).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Sizes to search, e.g. 16:16,128:128 (overrides TOKENS_LIST).
    #[arg(long, value_name = "LIST")]
    pub tokens_list: Option<String>,
    /// Start rates in requests/minute, one per size (overrides REQ_MIN_START).
    #[arg(long, value_name = "LIST")]
    pub req_min_start: Option<String>,
    /// Stage-1 rate factor, > 1 (overrides REQ_MIN_INCREASE_MULTIPLIER).
    #[arg(long, value_name = "X")]
    pub multiplier: Option<String>,
    /// Bisection stop gap (overrides STOP_THRESHOLD).
    #[arg(long, value_name = "X")]
    pub stop_threshold: Option<String>,
    /// relative or absolute (overrides THRESHOLD_TYPE).
    #[arg(long, value_name = "TYPE")]
    pub threshold_type: Option<String>,
    /// Pause between iterations (overrides COOLDOWN).
    #[arg(long, value_name = "DURATION")]
    pub cooldown: Option<String>,
    /// Cut from each end of an iteration (overrides FILTER_BUFFER).
    #[arg(long, value_name = "DURATION")]
    pub filter_buffer: Option<String>,
    /// Minimum successful requests, percent (overrides SUCCESS_RATE).
    #[arg(long, value_name = "PCT")]
    pub success_rate: Option<String>,
    /// Where results go (overrides OUTPUT_DIR).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<String>,
    /// Comma list of evaluators (overrides EVALUATOR).
    #[arg(long, value_name = "NAMES")]
    pub evaluator: Option<String>,
    /// Seed for arrivals and prompts (overrides SEED).
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// completions or chat (overrides API).
    #[arg(long, value_name = "API")]
    pub api: Option<String>,
    /// poisson, constant or jitter (overrides ARRIVAL).
    #[arg(long, value_name = "KIND")]
    pub arrival: Option<String>,
    /// Model name to request (overrides MODEL).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// none, fail or both (overrides CONFIRM).
    #[arg(long, value_name = "POLICY")]
    pub confirm: Option<String>,
    /// Iteration cap per size (overrides MAX_ITERATIONS).
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<String>,
    /// Time in-flight requests may finish after DURATION (overrides DRAIN_TIMEOUT).
    #[arg(long, value_name = "DURATION")]
    pub drain_timeout: Option<String>,
    /// Limit on one whole request (overrides REQUEST_TIMEOUT).
    #[arg(long, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// Limit on the wait for the first token (overrides TTFT_TIMEOUT).
    #[arg(long, value_name = "DURATION")]
    pub ttft_timeout: Option<String>,
    /// Limit on the wait between two tokens (overrides TPOT_TIMEOUT).
    #[arg(long, value_name = "DURATION")]
    pub tpot_timeout: Option<String>,
    /// Search only this 0-based TOKENS_LIST entry, e.g. one per array task (overrides
    /// SIZE_INDEX).
    #[arg(long, value_name = "N")]
    pub size_index: Option<String>,
}

impl RunArgs {
    /// The given override flags as (KEY, value) pairs for [`crate::config::Sources::flags`].
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        [
            ("URL", &self.url),
            ("DURATION", &self.duration),
            ("TOKENS_LIST", &self.tokens_list),
            ("REQ_MIN_START", &self.req_min_start),
            ("REQ_MIN_INCREASE_MULTIPLIER", &self.multiplier),
            ("STOP_THRESHOLD", &self.stop_threshold),
            ("THRESHOLD_TYPE", &self.threshold_type),
            ("COOLDOWN", &self.cooldown),
            ("FILTER_BUFFER", &self.filter_buffer),
            ("SUCCESS_RATE", &self.success_rate),
            ("OUTPUT_DIR", &self.output_dir),
            ("EVALUATOR", &self.evaluator),
            ("SEED", &self.seed),
            ("API", &self.api),
            ("ARRIVAL", &self.arrival),
            ("MODEL", &self.model),
            ("CONFIRM", &self.confirm),
            ("MAX_ITERATIONS", &self.max_iterations),
            ("DRAIN_TIMEOUT", &self.drain_timeout),
            ("REQUEST_TIMEOUT", &self.request_timeout),
            ("TTFT_TIMEOUT", &self.ttft_timeout),
            ("TPOT_TIMEOUT", &self.tpot_timeout),
            ("SIZE_INDEX", &self.size_index),
        ]
        .into_iter()
        .filter_map(|(key, v)| v.clone().map(|v| (key, v)))
        .collect()
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
                ("DURATION", "30s".to_string()),
                ("REQ_MIN_INCREASE_MULTIPLIER", "3".to_string()),
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
        assert_eq!(overrides.len(), 23, "one override per value flag");
        for (key, value) in overrides {
            assert!(crate::config::KNOWN_KEYS.contains(&key), "{key} unknown");
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
