//! The JSON shapes of vLLM's OpenAI-compatible server: parsing of requests (with errors that
//! name the field) and the constant parts of responses; and, for `/tokenize` only, the shapes
//! of llama.cpp's and TGI's ([`TokenizeShape`]).
//!
//! Requests are read as `serde_json::Value` rather than derived structs so that every wrong
//! type gets a 400 with a message naming the field, in vLLM's error shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::tokenizer;

/// An error answered as `{"object":"error","message":…,"type":…,"code":…}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "BadRequestError",
            404 => "NotFoundError",
            422 => "UnprocessableEntityError",
            429 => "TooManyRequestsError",
            503 => "ServiceUnavailableError",
            _ => "InternalServerError",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "object": "error",
            "message": self.message,
            "type": self.type_name(),
            "param": null,
            "code": self.status.as_u16(),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Which OpenAI endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Completions,
    Chat,
}

/// A generation request, reduced to what the simulator uses.
#[derive(Debug, Clone)]
pub(crate) struct GenRequest {
    pub model: Option<String>,
    pub prompt_tokens: usize,
    pub max_tokens: Option<u64>,
    pub min_tokens: u64,
    pub ignore_eos: bool,
    pub stream: bool,
    pub include_usage: bool,
    pub continuous_usage: bool,
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::bad_request(format!(
            "request body must be a JSON object, got {}",
            kind_of(&other)
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ApiError::bad_request(format!(
            "`{key}` must be a boolean, got {}",
            kind_of(v)
        ))),
    }
}

fn opt_count(m: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("`{key}` = {n}: expected a non-negative integer"))
        }),
        Some(v) => Err(ApiError::bad_request(format!(
            "`{key}` must be a non-negative integer, got {}",
            kind_of(v)
        ))),
    }
}

fn opt_number(m: &Map<String, Value>, key: &str) -> Result<Option<f64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(v) => Err(ApiError::bad_request(format!(
            "`{key}` must be a number, got {}",
            kind_of(v)
        ))),
    }
}

/// The token count of a completions `prompt`: a string, a list of token ids, or a list holding
/// one of those.
pub(crate) fn prompt_tokens(prompt: Option<&Value>) -> Result<Vec<u32>, ApiError> {
    match prompt {
        None | Some(Value::Null) => Err(ApiError::bad_request("`prompt` is required")),
        Some(Value::String(s)) => Ok(tokenizer::tokenize(s)),
        Some(Value::Array(items)) => {
            if items.iter().all(Value::is_number) {
                return token_ids(items);
            }
            match items.as_slice() {
                [Value::String(s)] => Ok(tokenizer::tokenize(s)),
                [Value::Array(ids)] => token_ids(ids),
                [_] => Err(ApiError::bad_request(
                    "`prompt` must be a string, a list of token ids, or a list with one of those",
                )),
                _ => Err(ApiError::bad_request(format!(
                    "`prompt` holds {} prompts: the simulator serves one prompt per request",
                    items.len()
                ))),
            }
        }
        Some(v) => Err(ApiError::bad_request(format!(
            "`prompt` must be a string or a list of token ids, got {}",
            kind_of(v)
        ))),
    }
}

fn token_ids(items: &[Value]) -> Result<Vec<u32>, ApiError> {
    items
        .iter()
        .map(|v| match v.as_u64() {
            Some(id) if id < u64::from(tokenizer::VOCAB_SIZE) => Ok(id as u32),
            _ => Err(ApiError::bad_request(format!(
                "token id {v} in `prompt` is out of vocabulary: expected an integer in 0..{}",
                tokenizer::VOCAB_SIZE
            ))),
        })
        .collect()
}

/// The `(role, content)` pairs of a chat `messages` list.
pub(crate) fn messages(value: Option<&Value>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(Value::Array(items)) = value else {
        return Err(ApiError::bad_request(
            "`messages` is required and must be a list",
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(ApiError::bad_request(format!(
                "`messages[{i}]` must be an object"
            )));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) => r.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`messages[{i}].role` must be a string"
                )));
            }
        };
        let content = match m.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for (j, part) in parts.iter().enumerate() {
                    match (
                        part.get("type").and_then(Value::as_str),
                        part.get("text").and_then(Value::as_str),
                    ) {
                        (Some("text"), Some(t)) => text.push_str(t),
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "`messages[{i}].content[{j}]` must be {{\"type\":\"text\",\"text\":…}}"
                            )));
                        }
                    }
                }
                text
            }
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "`messages[{i}].content` must be a string or a list of text parts, got {}",
                    kind_of(v)
                )));
            }
        };
        out.push((role, content));
    }
    Ok(out)
}

/// Parses a `/v1/completions` or `/v1/chat/completions` body.
pub(crate) fn parse_generation(endpoint: Endpoint, body: &[u8]) -> Result<GenRequest, ApiError> {
    let m = parse_object(body)?;
    let model = match m.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "`model` must be a string, got {}",
                kind_of(v)
            )));
        }
    };
    let prompt_tokens = match endpoint {
        Endpoint::Completions => prompt_tokens(m.get("prompt"))?.len(),
        Endpoint::Chat => {
            let msgs = messages(m.get("messages"))?;
            tokenizer::chat_count(msgs.iter().map(|(r, c)| (r.as_str(), c.as_str())), true)
        }
    };
    let mut max_tokens = opt_count(&m, "max_tokens")?;
    if endpoint == Endpoint::Chat
        && let Some(n) = opt_count(&m, "max_completion_tokens")?
    {
        max_tokens = Some(n);
    }
    if let Some(n) = opt_count(&m, "n")?
        && n != 1
    {
        return Err(ApiError::bad_request(format!(
            "`n` = {n}: the simulator serves n = 1 only"
        )));
    }
    opt_number(&m, "temperature")?;
    let (include_usage, continuous_usage) = match m.get("stream_options") {
        None | Some(Value::Null) => (false, false),
        Some(Value::Object(o)) => (
            opt_bool(o, "include_usage")?.unwrap_or(false),
            opt_bool(o, "continuous_usage_stats")?.unwrap_or(false),
        ),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "`stream_options` must be an object, got {}",
                kind_of(v)
            )));
        }
    };
    Ok(GenRequest {
        model,
        prompt_tokens,
        max_tokens,
        min_tokens: opt_count(&m, "min_tokens")?.unwrap_or(0),
        ignore_eos: opt_bool(&m, "ignore_eos")?.unwrap_or(false),
        stream: opt_bool(&m, "stream")?.unwrap_or(false),
        include_usage,
        continuous_usage,
    })
}

/// Which server's `/tokenize` the simulator imitates (`--tokenize-api`). The simulator's own
/// enum, so it depends on nothing in the tool; the tool's client has its own list of the shapes
/// it can speak (`mst_search::client::TokenizeApi`), and the two agree on the spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenizeShape {
    /// vLLM's `POST /tokenize` (`{"prompt"}` or `{"messages"}` → `{"count", "tokens", …}`).
    #[default]
    Vllm,
    /// llama.cpp's `llama-server` (`{"content"}` → `{"tokens"}`).
    LlamaCpp,
    /// Hugging Face text-generation-inference (`{"inputs"}` → `[{"id", "text", …}]`, and
    /// `POST /chat_tokenize`).
    Tgi,
}

impl std::str::FromStr for TokenizeShape {
    type Err = String;

    /// `vllm`, `llama.cpp` (or `llamacpp`) or `tgi`, in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "vllm" => Ok(TokenizeShape::Vllm),
            "llama.cpp" | "llamacpp" => Ok(TokenizeShape::LlamaCpp),
            "tgi" => Ok(TokenizeShape::Tgi),
            _ => Err(format!("{s:?}: expected vllm, llama.cpp or tgi")),
        }
    }
}

/// Parses a `/tokenize` body into token ids.
pub(crate) fn parse_tokenize(body: &[u8]) -> Result<Vec<u32>, ApiError> {
    let m = parse_object(body)?;
    opt_bool(&m, "add_special_tokens")?;
    if m.contains_key("messages") {
        let msgs = messages(m.get("messages"))?;
        let gen_prompt = opt_bool(&m, "add_generation_prompt")?.unwrap_or(true);
        return Ok(tokenizer::chat_tokens(
            msgs.iter().map(|(r, c)| (r.as_str(), c.as_str())),
            gen_prompt,
        ));
    }
    prompt_tokens(m.get("prompt"))
}

/// Parses llama.cpp's `/tokenize` body `{"content", "add_special", "parse_special",
/// "with_pieces"}` into token ids. Like llama.cpp, a body without `content` gets no tokens
/// rather than an error; the simulator's model has no BOS, so `add_special` adds nothing.
pub(crate) fn parse_llamacpp_tokenize(body: &[u8]) -> Result<Vec<u32>, ApiError> {
    let m = parse_object(body)?;
    for key in ["add_special", "parse_special", "with_pieces"] {
        opt_bool(&m, key)?;
    }
    match m.get("content") {
        None => Ok(Vec::new()),
        content => prompt_tokens(content),
    }
}

/// Parses TGI's `/tokenize` body `{"inputs": text, "parameters": {…}}` into token ids (without
/// the BOS TGI adds).
pub(crate) fn parse_tgi_tokenize(body: &[u8]) -> Result<Vec<u32>, ApiError> {
    let m = parse_object(body)?;
    match m.get("inputs") {
        Some(Value::String(s)) => Ok(tokenizer::tokenize(s)),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Failed to deserialize the JSON body: `inputs` is required and must be a string",
        )),
    }
}

/// TGI's completions route takes a text prompt (or a list of texts), never token ids.
pub(crate) fn require_text_prompt(body: &[u8]) -> Result<(), ApiError> {
    let m = parse_object(body)?;
    let text = match m.get("prompt") {
        Some(Value::String(_)) => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_string),
        _ => false,
    };
    if text {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Failed to deserialize the JSON body: `prompt` must be a string or a list of strings",
        ))
    }
}

/// Parses a `/detokenize` body into token ids.
pub(crate) fn parse_detokenize(body: &[u8]) -> Result<Vec<u32>, ApiError> {
    let m = parse_object(body)?;
    match m.get("tokens") {
        Some(Value::Array(ids)) => token_ids(ids),
        _ => Err(ApiError::bad_request(
            "`tokens` is required and must be a list of token ids",
        )),
    }
}

/// The words of generated text; each is exactly one token of the simulator's tokenizer.
pub(crate) const WORDS: [&str; 32] = [
    " lorem", " ipsum", " dolor", " sit", " amet", " sed", " do", " eius", " tempo", " ut",
    " labor", " et", " magna", " aliqu", " enim", " ad", " minim", " venia", " quis", " nostr",
    " exerc", " ullam", " nisi", " ex", " ea", " commo", " duis", " aute", " irure", " in",
    " velit", " esse",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_in_every_accepted_shape() {
        let p = |s: &str| {
            prompt_tokens(serde_json::from_str::<Value>(s).ok().as_ref()).map(|v| v.len())
        };
        assert_eq!(p(r#""Hello, world!""#).ok(), Some(4));
        assert_eq!(p("[1, 2, 3]").ok(), Some(3));
        assert_eq!(p(r#"["Hello, world!"]"#).ok(), Some(4));
        assert_eq!(p("[[5, 6]]").ok(), Some(2));
        assert!(p(r#"["a", "b"]"#).is_err());
        assert!(p("[-1]").is_err());
        assert!(p("{}").is_err());
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = parse_generation(Endpoint::Completions, br#"{"prompt":"x","max_tokens":-3}"#)
            .unwrap_err();
        assert!(
            e.message.contains("max_tokens") && e.message.contains("-3"),
            "{}",
            e.message
        );
        let e = parse_generation(Endpoint::Chat, br#"{"messages":"hi"}"#).unwrap_err();
        assert!(e.message.contains("messages"), "{}", e.message);
        assert!(parse_generation(Endpoint::Completions, b"not json").is_err());
        assert!(
            parse_generation(Endpoint::Completions, br#"{"prompt":"x","stream":"yes"}"#).is_err()
        );
    }

    #[test]
    fn every_word_is_one_token() {
        for w in WORDS {
            assert_eq!(tokenizer::count(w), 1, "{w:?}");
        }
    }

    #[test]
    fn tokenize_shapes_parse_by_server_name_in_any_case_and_a_bad_one_is_named() {
        let p = |s: &str| s.parse::<TokenizeShape>();
        assert_eq!(p("vllm"), Ok(TokenizeShape::Vllm));
        assert_eq!(p("vLLM"), Ok(TokenizeShape::Vllm));
        assert_eq!(p("llama.cpp"), Ok(TokenizeShape::LlamaCpp));
        assert_eq!(p("LlamaCpp"), Ok(TokenizeShape::LlamaCpp));
        assert_eq!(p("TGI"), Ok(TokenizeShape::Tgi));
        assert_eq!(TokenizeShape::default(), TokenizeShape::Vllm);
        let err = p("ollama").unwrap_err();
        assert!(
            err.contains("\"ollama\"") && err.contains("llama.cpp"),
            "{err}"
        );
    }
}
