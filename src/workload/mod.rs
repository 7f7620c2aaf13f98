//! Prompts of the requested token length, distinct per request by default.
//!
//! The project's own corpus (`requests/corpus.txt`) is measured word by word with the best token
//! source available ([`tokens`]: the server's `/tokenize`, a local `tokenizer.json`, or an
//! announced approximation) and each request gets its own lead-in and corpus window of exactly
//! the length drawn for it ([`words`]). The old tool sent one identical prompt, which a prefix
//! cache made free. `SAMPLE_SIZE` reuses N prompts, `SHARED_PREFIX_TOKENS` + `PREFIX_GROUPS`
//! share a prefix on purpose, `ADDITIVE` mixes the sizes with weights, `MODEL=a,b,c` with
//! `TRAFFIC_SPLIT` spreads requests over several models, and `PROMPTS_FILE` replays a dataset
//! ([`dataset`]) instead of the corpus.

pub mod corpus;
pub mod dataset;
mod recount;
pub mod tokens;
pub mod trace;
mod weighted;
pub mod words;

use crate::client::Api;
use crate::client::{ChatMessage, ModelChoice, OpenAiClient, Prompt, RequestSpec};
use crate::error::Warning;
use crate::error::{Error, Result};
use crate::seed::{mix, unit};
use crate::size::{SizeSpec, TokenRange};
use std::path::PathBuf;
use std::sync::Arc;
use tokens::TokenSource;
use weighted::Weighted;
use words::Words;

/// Everything the workload needs to know, filled in by the configuration
/// (`config::Config::workload_settings`); the workload never reads keys itself.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSettings {
    /// `API`: chat prompts are framed by the server's chat template.
    pub api: Api,
    /// `TOKENS_LIST`: the sizes, in order.
    pub sizes: Vec<SizeSpec>,
    /// `SEED`: seeds every prompt choice.
    pub seed: u64,
    /// `SAMPLE_SIZE`: distinct prompts reused; None = every request distinct.
    pub sample_size: Option<u32>,
    /// `FRAC_GREEDY`: share of temperature-0 requests, 0..=1.
    pub frac_greedy: f64,
    /// `ADDITIVE` + `TOKENS_LIST_PROPORTION`: with `Some`, one mixed workload over all sizes
    /// with these weights (one per size, any positive scale).
    pub mix_weights: Option<Vec<f64>>,
    /// `PROMPTS_FILE`: a JSONL prompt set replayed instead of the corpus.
    pub prompts_file: Option<PathBuf>,
    /// `MODEL` + `TRAFFIC_SPLIT` with several models: each name with its share of requests;
    /// empty with one model (every request asks for the client's).
    pub model_split: Vec<(String, f64)>,
    /// `PROMPTS_FIELD`, `OUTPUT_FROM_DATASET`, `TOKENIZER`, `SHARED_PREFIX_TOKENS`,
    /// `PREFIX_GROUPS`.
    pub keys: WorkloadConfig,
}

/// How prompts are made, beyond sizes and sampling.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkloadConfig {
    /// `TOKENIZER`: a Hugging Face `tokenizer.json`, used when the server has no `/tokenize`.
    pub tokenizer: Option<PathBuf>,
    /// `SHARED_PREFIX_TOKENS`: tokens at the start of every prompt shared within a group (0 = none).
    pub shared_prefix_tokens: u32,
    /// `PREFIX_GROUPS`: number of distinct shared prefixes (requests spread evenly over them).
    pub prefix_groups: u32,
    /// `PROMPTS_FIELD`: the JSON field holding the prompt text in a `PROMPTS_FILE` line.
    pub prompts_field: String,
    /// `OUTPUT_FROM_DATASET`: take each request's output length from the dataset's answer.
    pub output_from_dataset: bool,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            tokenizer: None,
            shared_prefix_tokens: 0,
            prefix_groups: 1,
            prompts_field: "text".into(),
            output_from_dataset: false,
        }
    }
}

/// The system message of generated chat prompts (unless a shared prefix takes its place).
pub const CHAT_SYSTEM: &str = "You are a helpful assistant. Read the text and answer briefly.";

/// How chat prompts are framed: the system message and the template's own tokens.
#[derive(Debug, Clone)]
struct ChatFrame {
    system_tokens: usize,
    /// Tokens the chat template adds around the messages (measured via `/tokenize`).
    overhead: usize,
}

/// One request's choices, before its prompt is built.
struct Choice<'a> {
    key: u64,
    class: Option<u16>,
    size: SizeSpec,
    prompt_seed: u64,
    /// Output length drawn from the size's range.
    output: u32,
    entry: Option<&'a dataset::Entry>,
}

#[derive(Debug)]
struct Dataset {
    entries: Vec<dataset::Entry>,
    /// Per `TOKENS_LIST` entry, the entries in its input range.
    pools: Vec<Vec<usize>>,
    output_from_dataset: bool,
}

#[derive(Debug)]
struct Inner {
    words: Words,
    source: TokenSource,
    seed: u64,
    sample_size: Option<u32>,
    frac_greedy: f64,
    prefix_tokens: u32,
    prefix_groups: u32,
    chat: Option<ChatFrame>,
    sizes: Vec<SizeSpec>,
    /// The weighted classes of an `ADDITIVE` mix.
    mix: Option<Weighted<SizeSpec>>,
    /// With several models, the weighted model names.
    models: Option<Weighted<Arc<str>>>,
    dataset: Option<Dataset>,
}

/// Builds each request's prompt and sampling settings.
#[derive(Debug, Clone)]
pub struct Workload {
    inner: Arc<Inner>,
    /// The server's `max_model_len` once known ([`Workload::within_context`]): dataset answers
    /// longer than the room their prompt leaves are clipped to it.
    context: Option<u32>,
}

impl Workload {
    /// Pick the token source (server `/tokenize`, else `TOKENIZER`, else approximate) and
    /// prepare prompts; warnings say when lengths are not exact.
    pub async fn prepare(
        client: &OpenAiClient,
        cfg: &WorkloadSettings,
    ) -> Result<(Workload, Vec<Warning>)> {
        let source = TokenSource::choose(client, cfg.keys.tokenizer.as_deref()).await?;
        Workload::with_source(cfg, source).await
    }

    /// Prepare prompts with a given token source (tests use a local tokenizer this way).
    pub async fn with_source(
        cfg: &WorkloadSettings,
        source: TokenSource,
    ) -> Result<(Workload, Vec<Warning>)> {
        let mut warnings = Vec::new();
        if !source.exact() {
            warnings.push(Warning(format!("prompt lengths are {}", source.describe())));
        }
        let words = Words::measure(&source).await?;
        let chat = match cfg.api {
            Api::Chat => Some(chat_frame(&source, &words, &mut warnings).await?),
            Api::Completions => None,
        };
        let dataset = match &cfg.prompts_file {
            Some(path) => {
                let lines = dataset::read(path, &cfg.keys.prompts_field)?;
                let entries = dataset::measure(&lines, &source, cfg.api).await?;
                let pools = dataset::pools(&entries, &cfg.sizes, path)?;
                if cfg.keys.output_from_dataset
                    && let Some(l) = lines.iter().find(|l| l.answer.is_none())
                {
                    return Err(Error::config(
                        "OUTPUT_FROM_DATASET",
                        "true",
                        format!(
                            "an answer on every line of PROMPTS_FILE (ShareGPT's next assistant turn, or an answer/output/response field); line {} has none",
                            l.number
                        ),
                    ));
                }
                Some(Dataset {
                    entries,
                    pools,
                    output_from_dataset: cfg.keys.output_from_dataset,
                })
            }
            None => None,
        };
        if let Some(frame) = &chat {
            let need = frame.overhead
                + frame
                    .system_tokens
                    .max(cfg.keys.shared_prefix_tokens as usize)
                + 4;
            if dataset.is_none()
                && let Some(s) = cfg.sizes.iter().find(|s| (s.input.min as usize) < need)
            {
                return Err(Error::config(
                    "TOKENS_LIST",
                    s.to_string(),
                    format!(
                        "chat inputs of at least {need} tokens: the chat template adds {} and the system message has {}",
                        frame.overhead,
                        frame
                            .system_tokens
                            .max(cfg.keys.shared_prefix_tokens as usize)
                    ),
                ));
            }
        }
        let mix = cfg
            .mix_weights
            .as_ref()
            .map(|weights| Weighted::new(cfg.sizes.clone(), weights));
        let models = (!cfg.model_split.is_empty()).then(|| {
            let (names, shares): (Vec<Arc<str>>, Vec<f64>) = cfg
                .model_split
                .iter()
                .map(|(name, share)| (Arc::from(name.as_str()), *share))
                .unzip();
            Weighted::new(names, &shares)
        });
        let inner = Inner {
            words,
            source,
            seed: cfg.seed,
            sample_size: cfg.sample_size,
            frac_greedy: cfg.frac_greedy,
            prefix_tokens: cfg.keys.shared_prefix_tokens,
            prefix_groups: cfg.keys.prefix_groups.max(1),
            chat,
            sizes: cfg.sizes.clone(),
            mix,
            models,
            dataset,
        };
        Ok((
            Workload {
                inner: Arc::new(inner),
                context: None,
            },
            warnings,
        ))
    }

    /// Whether prompt lengths are exact rather than approximate.
    pub fn exact(&self) -> bool {
        self.inner.source.exact()
    }

    /// How prompt lengths are made (results `PROMPT_LENGTHS`).
    pub fn lengths_note(&self) -> String {
        self.inner.source.describe().to_string()
    }

    /// In an `ADDITIVE` mix, the classes' names (`in:out`) by class index; empty otherwise.
    pub fn class_names(&self) -> Vec<String> {
        self.inner
            .mix
            .as_ref()
            .map(|m| m.items.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// With several models, their names by the records' `model` index; empty otherwise.
    pub fn model_names(&self) -> Vec<String> {
        self.inner
            .models
            .as_ref()
            .map(|m| m.items.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The request with index `idx` of an iteration seeded `iteration_seed`. In an `ADDITIVE`
    /// mix the class is drawn by weight and `size` is ignored; with several models the model
    /// is drawn by `TRAFFIC_SPLIT` from the request's own key (so the same seed gives the same
    /// model for the same index, whatever the arrivals).
    pub fn request(&self, iteration_seed: u64, idx: u64, size: &SizeSpec) -> RequestSpec {
        let w = &*self.inner;
        let c = self.choose(iteration_seed, idx, size);
        let temperature = if unit(c.key, 3) < w.frac_greedy {
            0.0
        } else {
            1.0
        };
        let (prompt, input, output) = match c.entry {
            Some(e) => (
                e.prompt.clone(),
                e.tokens,
                self.dataset_output(e, c.output).0,
            ),
            None => {
                let input = draw(c.size.input, mix(c.key, 1));
                (self.prompt(c.prompt_seed, input as usize), input, c.output)
            }
        };
        let model = w.models.as_ref().map(|m| {
            let i = m.pick(unit(c.key, 5));
            ModelChoice {
                index: i as u16,
                name: m.items[i].clone(),
            }
        });
        RequestSpec {
            prompt,
            input_tokens: input,
            class: c.class,
            model,
            output_tokens: output,
            temperature,
            session: None,
        }
    }

    /// The tokens of request `spec`'s last message that the workload generated for it: a chat
    /// prompt's input less the chat frame (template overhead and system message or shared
    /// prefix), as [`Workload::request`] sized its user message; the whole input for any other
    /// prompt. A multi-turn session adds this many tokens with each new user message.
    pub fn user_message_tokens(&self, spec: &RequestSpec) -> u32 {
        let w = &*self.inner;
        match (&w.chat, &spec.prompt, &w.dataset) {
            (Some(frame), Prompt::Chat(_), None) => {
                let system = if w.prefix_tokens > 0 {
                    w.prefix_tokens as usize
                } else {
                    frame.system_tokens
                };
                let user = (spec.input_tokens as usize)
                    .saturating_sub(frame.overhead + system)
                    .max(1);
                u32::try_from(user).unwrap_or(u32::MAX)
            }
            _ => spec.input_tokens,
        }
    }

    /// How many of the requests `idxs` of an iteration seeded `iteration_seed` had their
    /// dataset answer's length clipped to the server's `max_model_len` (results.csv
    /// `OUTPUT_TOKENS_CLIPPED`); None when nothing can be clipped (no `OUTPUT_FROM_DATASET`,
    /// or the server did not say its `max_model_len`).
    pub fn clipped_outputs(
        &self,
        iteration_seed: u64,
        size: &SizeSpec,
        idxs: impl IntoIterator<Item = u64>,
    ) -> Option<u64> {
        if !self.outputs_from_dataset() || self.context.is_none() {
            return None;
        }
        let clipped = idxs.into_iter().filter(|&idx| {
            let c = self.choose(iteration_seed, idx, size);
            c.entry.is_some_and(|e| self.dataset_output(e, c.output).1)
        });
        Some(clipped.count() as u64)
    }

    /// Fit dataset answers into the server's context: with `OUTPUT_FROM_DATASET`, a request
    /// whose prompt plus answer exceeds `max_model_len` asks for only the tokens that fit, where
    /// sending it as is would earn an HTTP 400. The warning says how many of the dataset's
    /// prompts in the sizes' ranges are clipped so; None when none is.
    pub fn within_context(self, max_model_len: Option<u32>) -> (Workload, Option<Warning>) {
        let fitted = Workload {
            context: max_model_len,
            ..self
        };
        let Some((limit, d)) = max_model_len.zip(fitted.inner.dataset.as_ref()) else {
            return (fitted, None);
        };
        let mut in_range: Vec<usize> = d.pools.iter().flatten().copied().collect();
        in_range.sort_unstable();
        in_range.dedup();
        let clipped = in_range
            .iter()
            .filter(|&&i| fitted.dataset_output(&d.entries[i], 1).1)
            .count();
        let warning = (clipped > 0).then(|| {
            Warning(format!(
                "OUTPUT_FROM_DATASET: {clipped} of the {} dataset prompts in TOKENS_LIST's input ranges have an answer longer than the server's max_model_len of {limit} leaves room for; their requests ask for max_tokens = {limit} minus the prompt's tokens (results.csv OUTPUT_TOKENS_CLIPPED counts them per iteration)",
                in_range.len()
            ))
        });
        (fitted, warning)
    }

    /// What request `idx` is made of: its class and size, seeds, drawn output length and, when
    /// replaying a dataset, its entry.
    fn choose(&self, iteration_seed: u64, idx: u64, size: &SizeSpec) -> Choice<'_> {
        let w = &*self.inner;
        let key = mix(iteration_seed, idx);
        let (class, size) = match &w.mix {
            Some(m) => {
                let c = m.pick(unit(key, 4));
                (Some(c as u16), m.items[c])
            }
            None => (None, *size),
        };
        let class_index = class
            .map(usize::from)
            .or_else(|| w.sizes.iter().position(|s| *s == size));
        // With SAMPLE_SIZE the prompt depends only on its slot, across iterations too.
        let prompt_seed = match w.sample_size {
            Some(n) => mix(w.seed, idx % u64::from(n.max(1))),
            None => mix(iteration_seed ^ 0x5eed, idx),
        };
        let entry = match (&w.dataset, class_index) {
            (Some(d), Some(ci)) => {
                let pool = &d.pools[ci];
                Some(&d.entries[pool[(prompt_seed % pool.len() as u64) as usize]])
            }
            _ => None,
        };
        Choice {
            key,
            class,
            size,
            prompt_seed,
            output: draw(size.output, mix(key, 2)),
            entry,
        }
    }

    /// A dataset request's output length (`drawn` unless `OUTPUT_FROM_DATASET`) and whether
    /// the answer was clipped to fit `max_model_len` with its prompt.
    fn dataset_output(&self, e: &dataset::Entry, drawn: u32) -> (u32, bool) {
        if !self.outputs_from_dataset() {
            return (drawn, false);
        }
        let wanted = e.answer_tokens.unwrap_or(drawn).max(1);
        // check_fits keeps every size's input below the limit, so the room is at least 1.
        let room = self
            .context
            .map_or(u32::MAX, |limit| limit.saturating_sub(e.tokens).max(1));
        (wanted.min(room), wanted > room)
    }

    /// Whether output lengths come from the dataset's answers (`OUTPUT_FROM_DATASET`).
    fn outputs_from_dataset(&self) -> bool {
        self.inner
            .dataset
            .as_ref()
            .is_some_and(|d| d.output_from_dataset)
    }

    /// The shared prefix's seed for a prompt, when prompts share prefixes.
    fn group_seed(&self, prompt_seed: u64) -> Option<u64> {
        let w = &*self.inner;
        (w.prefix_tokens > 0).then(|| {
            let group = mix(prompt_seed, 7) % u64::from(w.prefix_groups);
            mix(w.seed ^ 0x9f3e_11a0, group)
        })
    }

    fn prompt(&self, seed: u64, len: usize) -> Prompt {
        let w = &*self.inner;
        let prefix = self.group_seed(seed);
        let p = w.prefix_tokens as usize;
        if let Some(frame) = &w.chat {
            let (system, system_tokens) = match prefix {
                Some(g) => (w.words.build_text(g, p, false).text, p),
                None => (CHAT_SYSTEM.to_string(), frame.system_tokens),
            };
            let user_len = len.saturating_sub(frame.overhead + system_tokens).max(1);
            return Prompt::Chat(vec![
                ChatMessage {
                    role: "system".into(),
                    content: system,
                },
                ChatMessage {
                    role: "user".into(),
                    content: w.words.build_text(seed, user_len, false).text,
                },
            ]);
        }
        let ids = w.source.ids_as_prompt();
        // A text prompt leaves room for the special tokens the server adds to it.
        let len = if ids {
            len
        } else {
            len.saturating_sub(w.source.prompt_specials()).max(1)
        };
        match prefix {
            Some(g) if ids => {
                let mut ids = w.words.build_ids(g, p, false).ids;
                ids.extend(w.words.build_ids(seed, len.saturating_sub(p), true).ids);
                Prompt::TokenIds(ids)
            }
            Some(g) => {
                let mut text = w.words.build_text(g, p, false).text;
                text.push_str(&w.words.build_text(seed, len.saturating_sub(p), true).text);
                Prompt::Text(text)
            }
            None if ids => Prompt::TokenIds(w.words.build_ids(seed, len, false).ids),
            None => Prompt::Text(w.words.build_text(seed, len, false).text),
        }
    }

    /// A sample of the prompt text (results.csv `PROMPT_TEXT`).
    pub fn sample_text(&self, max_chars: usize) -> String {
        let w = &*self.inner;
        if let Some(d) = &w.dataset
            && let Some(e) = d.entries.first()
        {
            return match &e.prompt {
                Prompt::Text(t) => t.chars().take(max_chars).collect(),
                Prompt::Chat(m) => m
                    .last()
                    .map(|m| m.content.chars().take(max_chars).collect())
                    .unwrap_or_default(),
                Prompt::TokenIds(ids) => format!("{} token ids from PROMPTS_FILE", ids.len()),
            };
        }
        w.words
            .build_text(w.seed, max_chars / 4 + 1, false)
            .text
            .chars()
            .take(max_chars)
            .collect()
    }
}

/// Measure the chat template's overhead: the server's count of a two-message chat minus the
/// messages' own tokens, checked on a second chat; without `/tokenize` it is unknown (0, with a
/// warning).
async fn chat_frame(
    source: &TokenSource,
    words: &Words,
    warnings: &mut Vec<Warning>,
) -> Result<ChatFrame> {
    let system_tokens = source.encode_many(&[CHAT_SYSTEM.to_string()]).await?[0].len();
    let mut overheads = Vec::new();
    for (seed, n) in [(1u64, 40usize), (2, 75)] {
        let user = words.build_text(seed, n, false);
        let messages = [
            ChatMessage {
                role: "system".into(),
                content: CHAT_SYSTEM.into(),
            },
            ChatMessage {
                role: "user".into(),
                content: user.text,
            },
        ];
        if let Some(total) = source.chat_count(&messages).await? {
            overheads.push(total as i64 - (system_tokens + user.tokens) as i64);
        }
    }
    let overhead = match overheads.as_slice() {
        [a, b] if a == b && *a >= 0 => *a as usize,
        [a, b] => {
            warnings.push(Warning(format!(
                "chat prompt lengths are approximate: the chat template's overhead is not constant ({a} and {b} tokens on two test chats)"
            )));
            (*a).max(*b).max(0) as usize
        }
        _ => {
            warnings.push(Warning(
                "chat prompt lengths count the messages' tokens only: without the server's /tokenize the chat template's overhead is unknown".into(),
            ));
            0
        }
    };
    Ok(ChatFrame {
        system_tokens,
        overhead,
    })
}

/// Refuse sizes that cannot fit the server's context: input + output above `max_model_len`
/// would fail every request, so it is an error before any traffic.
pub fn check_fits(sizes: &[SizeSpec], max_model_len: Option<u32>) -> Result<()> {
    let Some(limit) = max_model_len else {
        return Ok(());
    };
    match sizes
        .iter()
        .find(|s| u64::from(s.input.max) + u64::from(s.output.max) > u64::from(limit))
    {
        Some(s) => Err(Error::config(
            "TOKENS_LIST",
            s.to_string(),
            format!(
                "entries whose input + output tokens fit the server's max_model_len of {limit}; {s} needs up to {}",
                u64::from(s.input.max) + u64::from(s.output.max)
            ),
        )),
        None => Ok(()),
    }
}

fn draw(range: TokenRange, key: u64) -> u32 {
    if range.max <= range.min {
        return range.min;
    }
    let span = u64::from(range.max - range.min) + 1;
    range.min + (key % span) as u32
}

#[cfg(test)]
mod tests;
