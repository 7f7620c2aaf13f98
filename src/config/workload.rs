//! Keys of the workload beyond the old tool's (`TOKENIZER`, `SHARED_PREFIX_TOKENS`,
//! `PREFIX_GROUPS`, `PROMPTS_FIELD`, `OUTPUT_FROM_DATASET`), resolved in their own place so the
//! main resolver only gains one line.

use super::load::{Layers, existing_file};
use super::parse::{parse_bool, parse_int_where};
use super::{Api, SizeSpec};
use crate::error::{Error, Result};
use crate::workload::WorkloadConfig;

/// Resolve the workload keys; `sizes` and `api` check that a shared prefix fits every prompt.
pub(super) fn resolve(
    l: &Layers,
    sizes: &[SizeSpec],
    api: Api,
    has_dataset: bool,
) -> Result<WorkloadConfig> {
    let tokenizer = l.opt(
        "TOKENIZER",
        existing_file("the path of an existing tokenizer.json (Hugging Face format)"),
    )?;
    let shared_prefix_tokens = l.or_default("SHARED_PREFIX_TOKENS", |k, v| {
        parse_int_where::<u32>(k, v, "a whole number of tokens >= 0", |_| true)
    })?;
    let prefix_groups = l.or_default("PREFIX_GROUPS", |k, v| {
        parse_int_where::<u32>(k, v, "a whole number >= 1", |n| n >= 1)
    })?;
    if shared_prefix_tokens > 0 {
        if has_dataset {
            return Err(Error::config(
                "SHARED_PREFIX_TOKENS",
                shared_prefix_tokens.to_string(),
                "0 (unset) with PROMPTS_FILE: dataset prompts are replayed as they are",
            ));
        }
        // The distinct part needs at least a few tokens (its lead-in); chat adds a template.
        let room = if api == Api::Chat { 16 } else { 4 };
        if let Some(small) = sizes
            .iter()
            .find(|s| s.input.min < shared_prefix_tokens.saturating_add(room))
        {
            return Err(Error::config(
                "SHARED_PREFIX_TOKENS",
                shared_prefix_tokens.to_string(),
                format!(
                    "a prefix at least {room} tokens shorter than every input length; TOKENS_LIST entry {small} has inputs from {}",
                    small.input.min
                ),
            ));
        }
    }
    let prompts_field = l
        .opt("PROMPTS_FIELD", |_, v| Ok(v.to_string()))?
        .unwrap_or_else(|| "text".into());
    let output_from_dataset = l.or_default("OUTPUT_FROM_DATASET", parse_bool)?;
    if output_from_dataset && !has_dataset {
        return Err(Error::config(
            "OUTPUT_FROM_DATASET",
            "true",
            "false unless PROMPTS_FILE is set: generated prompts have no answers",
        ));
    }
    Ok(WorkloadConfig {
        tokenizer,
        shared_prefix_tokens,
        prefix_groups,
        prompts_field,
        output_from_dataset,
    })
}
