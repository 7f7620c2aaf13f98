//! The server's own tokenizer over HTTP, in the three shapes servers answer `POST /tokenize` in.
//!
//! Exact prompt lengths need the served model's tokenizer, and the server is the one place that
//! surely has it. vLLM, llama.cpp's `llama-server` and Hugging Face TGI all offer a `/tokenize`
//! route, each with its own request and answer:
//!
//! | server | request | answer |
//! |---|---|---|
//! | vLLM | `{"model", "prompt", "add_special_tokens": false}`; chat: `{"model", "messages", "add_generation_prompt": true}` | `{"count", "max_model_len", "tokens": [id…]}` |
//! | llama.cpp | `{"content", "add_special", "parse_special"}`; chat: `POST /apply-template {"messages"}` → `{"prompt"}`, then that prompt tokenized as the chat route does (special tokens added and parsed) | `{"tokens": [id…]}` (sources: `tools/server/server-context.cpp`, `post_tokenize` and `post_apply_template`) |
//! | TGI | `{"inputs"}` (special tokens always added); chat: `POST /chat_tokenize` with a chat request | `[{"id", "text", "start", "stop"}…]`; chat: `{"tokenize_response": […], "templated_text"}` (sources: `router/src/server.rs`, `tokenize` and `get_chat_tokenize`; `router/src/lib.rs`, `SimpleToken`) |
//!
//! [`ServerTokenizer::detect`] tries them in that fixed order and keeps the first that turns
//! `"Hello world"` into at least one token; a shape a server does not speak gets an HTTP error
//! or, from llama.cpp, an empty `tokens` list (it ignores a body without `content`), so the
//! order never mistakes one server for another.

use super::{ChatMessage, OpenAiClient, describe_reqwest_error};
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// How long one tokenize call may take.
const TOKENIZE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which server's `/tokenize` a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenizeApi {
    /// vLLM (and servers that copy it, e.g. SGLang's and the project's simulator by default).
    #[default]
    Vllm,
    /// llama.cpp's `llama-server`.
    LlamaCpp,
    /// Hugging Face text-generation-inference.
    Tgi,
}

impl TokenizeApi {
    /// All shapes, in the order [`ServerTokenizer::detect`] tries them.
    pub const ALL: [TokenizeApi; 3] = [TokenizeApi::Vllm, TokenizeApi::LlamaCpp, TokenizeApi::Tgi];

    /// The server's name as results show it (`PROMPT_LENGTHS`).
    pub fn server_name(self) -> &'static str {
        match self {
            TokenizeApi::Vllm => "vLLM",
            TokenizeApi::LlamaCpp => "llama.cpp",
            TokenizeApi::Tgi => "TGI",
        }
    }

    /// Whether the server's completions route takes a prompt of token ids. TGI's takes text
    /// only, so prompts go as text whose length the same tokenizer fixed.
    pub fn takes_token_ids(self) -> bool {
        !matches!(self, TokenizeApi::Tgi)
    }
}

impl std::str::FromStr for TokenizeApi {
    type Err = String;

    /// `vllm`, `llama.cpp` (or `llamacpp`) or `tgi`, in any case.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "vllm" => Ok(TokenizeApi::Vllm),
            "llama.cpp" | "llamacpp" => Ok(TokenizeApi::LlamaCpp),
            "tgi" => Ok(TokenizeApi::Tgi),
            _ => Err(format!("{s:?}: expected vllm, llama.cpp or tgi")),
        }
    }
}

/// A server's `/tokenize`, with the shape it speaks (found once by [`ServerTokenizer::detect`]).
#[derive(Debug, Clone)]
pub struct ServerTokenizer {
    client: OpenAiClient,
    api: TokenizeApi,
    /// Special tokens the server adds to a text prompt of the completions route (TGI's BOS).
    text_specials: usize,
}

impl ServerTokenizer {
    /// Find the shape the server's `/tokenize` speaks: vLLM's, then llama.cpp's, then TGI's;
    /// `Ok(None)` when none answers with tokens. `Err` only when the server cannot be reached.
    pub async fn detect(client: &OpenAiClient) -> Result<Option<ServerTokenizer>> {
        for api in TokenizeApi::ALL {
            if let Some(tokens) = raw_text(client, api, "Hello world").await?
                && tokens.iter().any(|t| !t.special)
            {
                return Ok(Some(ServerTokenizer {
                    client: client.clone(),
                    api,
                    text_specials: tokens.iter().filter(|t| t.special).count(),
                }));
            }
        }
        Ok(None)
    }

    /// The shape this server speaks.
    pub fn api(&self) -> TokenizeApi {
        self.api
    }

    /// Special tokens (e.g. BOS) the server adds to a text prompt on its completions route,
    /// where prompts go as text ([`TokenizeApi::takes_token_ids`] is false); 0 otherwise.
    pub fn text_specials(&self) -> usize {
        if self.api.takes_token_ids() {
            0
        } else {
            self.text_specials
        }
    }

    /// The base URL of the server.
    pub fn base_url(&self) -> &str {
        &self.client.config().base_url
    }

    /// Token ids of `text` without special tokens; `Ok(None)` when the server stopped
    /// answering in its shape.
    pub async fn encode(&self, text: &str) -> Result<Option<Vec<u32>>> {
        Ok(raw_text(&self.client, self.api, text).await?.map(|tokens| {
            tokens
                .into_iter()
                .filter(|t| !t.special)
                .map(|t| t.id)
                .collect()
        }))
    }

    /// Tokens of a chat as the server's chat route counts them: the served model's chat
    /// template and generation prompt included. `Ok(None)` when the server cannot say.
    pub async fn chat_count(&self, messages: &[ChatMessage]) -> Result<Option<usize>> {
        let c = &self.client;
        match self.api {
            TokenizeApi::Vllm => {
                let body = json!({"model": c.cfg.model, "messages": messages, "add_generation_prompt": true});
                Ok(post(c, "/tokenize", &body)
                    .await?
                    .and_then(|v| vllm_tokens(&v))
                    .map(|t| t.len()))
            }
            TokenizeApi::LlamaCpp => {
                let body = json!({"messages": messages});
                let Some(prompt) = post(c, "/apply-template", &body)
                    .await?
                    .and_then(|v| v.get("prompt")?.as_str().map(str::to_string))
                else {
                    return Ok(None);
                };
                // The chat route tokenizes the rendered prompt with special tokens added and
                // parsed (`tokenize_input_prompts(…, true, true)`).
                let body = json!({"content": prompt, "add_special": true, "parse_special": true});
                Ok(post(c, "/tokenize", &body)
                    .await?
                    .and_then(|v| vllm_tokens(&v))
                    .map(|t| t.len()))
            }
            TokenizeApi::Tgi => {
                let body = json!({"model": c.cfg.model, "messages": messages});
                Ok(post(c, "/chat_tokenize", &body)
                    .await?
                    .and_then(|v| tgi_tokens(v.get("tokenize_response")?))
                    .map(|t| t.len()))
            }
        }
    }
}

impl OpenAiClient {
    /// Token ids of `text` from a vLLM-shaped `POST /tokenize` (no special tokens); `Ok(None)`
    /// when the server does not answer in that shape. [`ServerTokenizer`] speaks all three.
    pub async fn tokenize(&self, text: &str) -> Result<Option<Vec<u32>>> {
        Ok(raw_text(self, TokenizeApi::Vllm, text)
            .await?
            .map(|t| t.into_iter().map(|t| t.id).collect()))
    }
}

/// One token of an answer, with whether the server added it (BOS) rather than read it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Token {
    id: u32,
    special: bool,
}

/// `text` tokenized in `api`'s shape, as the server answered; `Ok(None)` when the server does
/// not answer in that shape.
async fn raw_text(
    client: &OpenAiClient,
    api: TokenizeApi,
    text: &str,
) -> Result<Option<Vec<Token>>> {
    let body = match api {
        TokenizeApi::Vllm => {
            json!({"model": client.cfg.model, "prompt": text, "add_special_tokens": false})
        }
        TokenizeApi::LlamaCpp => {
            json!({"content": text, "add_special": false, "parse_special": false})
        }
        TokenizeApi::Tgi => json!({"inputs": text}),
    };
    let Some(answer) = post(client, "/tokenize", &body).await? else {
        return Ok(None);
    };
    Ok(match api {
        TokenizeApi::Vllm | TokenizeApi::LlamaCpp => vllm_tokens(&answer),
        TokenizeApi::Tgi => tgi_tokens(&answer),
    })
}

/// `{"tokens": [id…]}` (vLLM and llama.cpp).
fn vllm_tokens(answer: &Value) -> Option<Vec<Token>> {
    #[derive(Deserialize)]
    struct Tokens {
        tokens: Vec<u32>,
    }
    let t = Tokens::deserialize(answer).ok()?;
    Some(
        t.tokens
            .into_iter()
            .map(|id| Token { id, special: false })
            .collect(),
    )
}

/// `[{"id", "text", "start", "stop"}…]` (TGI). A token that covers no character of the input
/// (`start == stop`) is one the tokenizer added, such as BOS.
fn tgi_tokens(answer: &Value) -> Option<Vec<Token>> {
    #[derive(Deserialize)]
    struct Simple {
        id: u32,
        start: usize,
        stop: usize,
    }
    let list = Vec::<Simple>::deserialize(answer).ok()?;
    Some(
        list.into_iter()
            .map(|s| Token {
                id: s.id,
                special: s.stop <= s.start,
            })
            .collect(),
    )
}

/// POST `body` to `path`; the JSON answer of a 2xx, `Ok(None)` for any other status or a body
/// that is not JSON; `Err` only when the server cannot be reached.
async fn post(client: &OpenAiClient, path: &str, body: &Value) -> Result<Option<Value>> {
    let url = format!("{}{path}", client.cfg.base_url);
    let resp = super::transport::send_retrying(
        || {
            client
                .authorized(client.http.post(&url))
                .json(body)
                .timeout(TOKENIZE_TIMEOUT)
                .send()
        },
        |_| {},
    )
    .await
    .map_err(|e| Error::Unreachable {
        url: url.clone(),
        reason: describe_reqwest_error(&e),
    })?;
    if !resp.status().is_success() {
        return Ok(None);
    }
    Ok(resp.json::<Value>().await.ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgi_tokens_that_cover_no_text_are_the_ones_the_server_added() {
        let answer = json!([
            {"id": 1, "text": "", "start": 0, "stop": 0},
            {"id": 15043, "text": "Hello", "start": 0, "stop": 5},
            {"id": 3186, "text": " world", "start": 5, "stop": 11},
        ]);
        let t = tgi_tokens(&answer).unwrap();
        assert_eq!(
            t,
            vec![
                Token {
                    id: 1,
                    special: true
                },
                Token {
                    id: 15043,
                    special: false
                },
                Token {
                    id: 3186,
                    special: false
                },
            ]
        );
    }

    #[test]
    fn an_answer_in_another_shape_is_not_read_as_tokens() {
        // llama.cpp's answer to a body without `content`, read as TGI's: not a list.
        assert_eq!(tgi_tokens(&json!({"tokens": []})), None);
        // TGI's list read as vLLM's or llama.cpp's.
        assert_eq!(
            vllm_tokens(&json!([{"id": 1, "text": "a", "start": 0, "stop": 1}])),
            None
        );
        assert_eq!(
            vllm_tokens(&json!({"count": 2, "max_model_len": 8, "tokens": [5, 6]}))
                .map(|t| t.len()),
            Some(2)
        );
    }
}
