//! Prompts of the requested token length, distinct per request by default.
//!
//! When the server can tokenize (`POST /tokenize`, vLLM), a generated corpus is tokenized once
//! and each request gets its own window of token ids at a seeded offset, so lengths are exact and
//! no two requests share a prefix beyond chance (the old tool sent one identical prompt, which a
//! prefix cache made free). Otherwise prompts are text of about the requested length and the
//! run says so.

pub mod corpus;

use crate::client::{ChatMessage, OpenAiClient, Prompt, RequestSpec};
use crate::config::{Api, Config, SizeSpec, TokenRange, Warning};
use crate::error::Result;
use std::sync::Arc;

#[derive(Debug)]
enum Source {
    /// Token ids of the served model.
    Ids(Vec<u32>),
    /// Words; one word is taken as one token (approximate).
    Words(Vec<String>),
}

/// Builds each request's prompt and sampling settings.
#[derive(Debug, Clone)]
pub struct Workload {
    source: Arc<Source>,
    text: Arc<String>,
    api: Api,
    seed: u64,
    sample_size: Option<u32>,
    frac_greedy: f64,
}

impl Workload {
    /// Prepare prompts for inputs up to `max_input` tokens: tokenize the corpus on the server
    /// when it can; otherwise fall back to words with a warning.
    pub async fn prepare(client: &OpenAiClient, cfg: &Config) -> Result<(Workload, Vec<Warning>)> {
        let max_input = cfg.sizes.iter().map(|s| s.input.max).max().unwrap_or(1) as usize;
        // Enough text for many distinct windows of the largest prompt.
        let words = (max_input * 4).max(20_000);
        let text = corpus::generate(cfg.seed, words);
        let mut warnings = Vec::new();
        let source = match (cfg.api, client.tokenize(&text).await?) {
            (Api::Completions, Some(ids)) if ids.len() > max_input => Source::Ids(ids),
            _ => {
                warnings.push(Warning(
                    "prompt lengths are approximate (one word taken as one token): the server has no usable /tokenize, or API=chat".into(),
                ));
                Source::Words(text.split_whitespace().map(str::to_string).collect())
            }
        };
        Ok((
            Workload {
                source: Arc::new(source),
                text: Arc::new(text),
                api: cfg.api,
                seed: cfg.seed,
                sample_size: cfg.sample_size,
                frac_greedy: cfg.frac_greedy,
            },
            warnings,
        ))
    }

    /// Whether prompt lengths are exact (token ids) rather than approximate.
    pub fn exact(&self) -> bool {
        matches!(*self.source, Source::Ids(_))
    }

    /// The request with index `idx` of an iteration seeded `iteration_seed`.
    pub fn request(&self, iteration_seed: u64, idx: u64, size: &SizeSpec) -> RequestSpec {
        let prompt_key = match self.sample_size {
            Some(n) => idx % u64::from(n.max(1)),
            None => idx,
        };
        let key = corpus::mix(iteration_seed, idx);
        let input = draw(size.input, corpus::mix(key, 1));
        let output = draw(size.output, corpus::mix(key, 2));
        // With SAMPLE_SIZE the prompt depends only on its slot, across iterations too.
        let window_seed = match self.sample_size {
            Some(_) => corpus::mix(self.seed, prompt_key),
            None => corpus::mix(iteration_seed ^ 0x5eed, prompt_key),
        };
        let prompt = self.prompt(window_seed, input);
        let temperature = if corpus::unit(key, 3) < self.frac_greedy {
            0.0
        } else {
            1.0
        };
        RequestSpec {
            prompt,
            input_tokens: input,
            output_tokens: output,
            temperature,
        }
    }

    fn prompt(&self, window_seed: u64, len: u32) -> Prompt {
        let len = len as usize;
        match &*self.source {
            Source::Ids(ids) => {
                let start = window_start(window_seed, ids.len(), len);
                Prompt::TokenIds(ids[start..start + len.min(ids.len())].to_vec())
            }
            Source::Words(words) => {
                let start = window_start(window_seed, words.len(), len);
                let text = words[start..start + len.min(words.len())].join(" ");
                match self.api {
                    Api::Chat => Prompt::Chat(vec![ChatMessage {
                        role: "user".into(),
                        content: text,
                    }]),
                    Api::Completions => Prompt::Text(text),
                }
            }
        }
    }

    /// A sample of the prompt text (results.csv `PROMPT_TEXT`).
    pub fn sample_text(&self, max_chars: usize) -> String {
        self.text.chars().take(max_chars).collect()
    }
}

fn window_start(seed: u64, total: usize, len: usize) -> usize {
    let room = total.saturating_sub(len);
    if room == 0 {
        0
    } else {
        (seed % (room as u64 + 1)) as usize
    }
}

fn draw(range: TokenRange, key: u64) -> u32 {
    if range.max <= range.min {
        return range.min;
    }
    let span = u64::from(range.max - range.min) + 1;
    range.min + (key % span) as u32
}
