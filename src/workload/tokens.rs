//! Where token counts come from, in order of trust: the server's own `POST /tokenize` (vLLM's,
//! llama.cpp's or TGI's shape, see [`crate::client::ServerTokenizer`]), a local Hugging Face `tokenizer.json` (`TOKENIZER=path`), or an approximation (one word, one
//! token) that the run announces in the console and in every results row.

use crate::client::{ChatMessage, OpenAiClient, ServerTokenizer, TokenizeApi};
use crate::error::{Error, Result};
use futures_util::{StreamExt, TryStreamExt};
use std::path::Path;
use std::sync::Arc;

/// How many `/tokenize` calls are in flight at once while measuring words and datasets.
const TOKENIZE_CONCURRENCY: usize = 16;

/// A token counter for the served model.
#[derive(Clone)]
pub enum TokenSource {
    /// The server's `/tokenize`: exact for the served model, chat template included.
    Server(ServerTokenizer),
    /// A local `tokenizer.json`: exact when it is the served model's; no chat template.
    Local(Arc<tokenizers::Tokenizer>),
    /// One word taken as one token.
    Approx,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl TokenSource {
    /// Pick the first source that works: the server's `/tokenize`, else `tokenizer` when given,
    /// else the approximation. A `tokenizer` that cannot be loaded is an error even when the
    /// server tokenizes, so a wrong path is never silently ignored.
    pub async fn choose(client: &OpenAiClient, tokenizer: Option<&Path>) -> Result<TokenSource> {
        let local = tokenizer.map(load_local).transpose()?;
        if let Some(server) = ServerTokenizer::detect(client).await? {
            return Ok(TokenSource::Server(server));
        }
        Ok(match local {
            Some(t) => TokenSource::Local(Arc::new(t)),
            None => TokenSource::Approx,
        })
    }

    /// Whether counts are exact for the served model (ids can be sent as prompts).
    pub fn exact(&self) -> bool {
        !matches!(self, TokenSource::Approx)
    }

    /// Whether prompts of the completions route can go as token ids: with an exact source,
    /// unless the server's completions route takes text only (TGI's).
    pub fn ids_as_prompt(&self) -> bool {
        match self {
            TokenSource::Server(s) => s.api().takes_token_ids(),
            TokenSource::Local(_) => true,
            TokenSource::Approx => false,
        }
    }

    /// Special tokens the server adds to a text prompt of the completions route that is sent as
    /// text with an exact source (TGI's BOS): a prompt of `n` tokens is built from `n` minus
    /// these. 0 otherwise.
    pub fn prompt_specials(&self) -> usize {
        match self {
            TokenSource::Server(s) => s.text_specials(),
            _ => 0,
        }
    }

    /// How lengths are made, for the console and results (`PROMPT_LENGTHS`): `exact (vLLM
    /// /tokenize)`, `exact (llama.cpp /tokenize)`, `exact (TGI /tokenize)`, `exact (TOKENIZER
    /// tokenizer.json)` or `approximate (…)`.
    pub fn describe(&self) -> &'static str {
        match self {
            TokenSource::Server(s) => match s.api() {
                TokenizeApi::Vllm => "exact (vLLM /tokenize)",
                TokenizeApi::LlamaCpp => "exact (llama.cpp /tokenize)",
                TokenizeApi::Tgi => "exact (TGI /tokenize)",
            },
            TokenSource::Local(_) => "exact (TOKENIZER tokenizer.json)",
            TokenSource::Approx => {
                "approximate (one word taken as one token: no /tokenize on the server and no TOKENIZER)"
            }
        }
    }

    /// Token ids of each text (no special tokens). With the approximation, one id 0 per word.
    pub async fn encode_many(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        match self {
            TokenSource::Server(server) => {
                // Owned futures (a tokenizer clone is a few Arc bumps): futures borrowing
                // `server` make the whole run future fail `Send` for every lifetime, so it could
                // not be spawned.
                futures_util::stream::iter(texts.iter().cloned().map(|t| {
                    let server = server.clone();
                    async move {
                        server.encode(&t).await?.ok_or_else(|| Error::Unreachable {
                            url: format!("{}/tokenize", server.base_url()),
                            reason: format!(
                                "the server stopped answering /tokenize in {}'s shape while prompts were measured",
                                server.api().server_name()
                            ),
                        })
                    }
                }))
                .buffered(TOKENIZE_CONCURRENCY)
                .try_collect()
                .await
            }
            TokenSource::Local(tok) => texts
                .iter()
                .map(|t| {
                    tok.encode(t.as_str(), false)
                        .map(|e| e.get_ids().to_vec())
                        .map_err(|e| {
                            Error::config(
                                "TOKENIZER",
                                "",
                                format!("a tokenizer that can encode text ({e})"),
                            )
                        })
                })
                .collect(),
            TokenSource::Approx => Ok(texts
                .iter()
                .map(|t| vec![0; t.split_whitespace().count()])
                .collect()),
        }
    }

    /// Tokens of a chat with the served model's template and generation prompt, when the
    /// server can say (`None` otherwise: a local tokenizer.json has no template).
    pub async fn chat_count(&self, messages: &[ChatMessage]) -> Result<Option<usize>> {
        match self {
            TokenSource::Server(server) => server.chat_count(messages).await,
            _ => Ok(None),
        }
    }
}

/// Load a Hugging Face `tokenizer.json`; the error names `TOKENIZER` and the path.
pub fn load_local(path: &Path) -> Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_file(path).map_err(|e| {
        Error::config(
            "TOKENIZER",
            path.display().to_string(),
            format!("a Hugging Face tokenizer.json ({e})"),
        )
    })
}
