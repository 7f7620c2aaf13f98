//! `PROMPTS_FILE`: replaying a JSONL prompt set. Each line is one JSON object holding either a
//! text field (`PROMPTS_FIELD`, default `text`; OASST-like exports) or ShareGPT-style
//! `conversations` (`[{"from": "human", "value": …}, {"from": "gpt", "value": …}, …]`: the first
//! human turn is the prompt, the next assistant turn its answer). Prompts are measured with the
//! token source and sorted into each size's input range; a size with no prompt in range is an
//! error before any traffic.

use super::tokens::TokenSource;
use crate::client::Api;
use crate::client::{ChatMessage, Prompt};
use crate::error::{Error, Result};
use crate::size::SizeSpec;
use serde_json::Value;
use std::path::Path;

/// One line of the file, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: usize,
    pub prompt: String,
    /// The answer (ShareGPT's next assistant turn, or an `answer`/`output`/`response` field).
    pub answer: Option<String>,
}

/// A measured prompt, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub prompt: Prompt,
    /// Prompt tokens as the server will count them (template included for chat).
    pub tokens: u32,
    /// Tokens of the dataset's answer, when it has one.
    pub answer_tokens: Option<u32>,
}

fn bad(path: &Path, what: String) -> Error {
    Error::config("PROMPTS_FILE", path.display().to_string(), what)
}

/// Read every non-blank line; any line that is not a JSON object with a prompt is an error
/// naming the line.
pub fn read(path: &Path, field: &str) -> Result<Vec<Line>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(path, format!("a readable UTF-8 JSONL file ({e})")))?;
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(raw).map_err(|e| {
            bad(
                path,
                format!("one JSON object per line; line {number} is not JSON ({e})"),
            )
        })?;
        let Some(obj) = v.as_object() else {
            return Err(bad(
                path,
                format!("one JSON object per line; line {number} is not an object"),
            ));
        };
        let line = if let Some(conv) = obj.get("conversations") {
            sharegpt(conv, number).map_err(|e| bad(path, e))?
        } else {
            let prompt = obj.get(field).and_then(Value::as_str).ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "a string field {field:?} (PROMPTS_FIELD) or ShareGPT \"conversations\" on every line; line {number} has neither"
                    ),
                )
            })?;
            let answer = ["answer", "output", "response", "completion"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(Value::as_str))
                .map(str::to_string);
            Line {
                number,
                prompt: prompt.to_string(),
                answer,
            }
        };
        if line.prompt.trim().is_empty() {
            return Err(bad(
                path,
                format!("a non-empty prompt on every line; line {number} has an empty one"),
            ));
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(bad(path, "at least one prompt; the file is empty".into()));
    }
    Ok(lines)
}

fn sharegpt(conv: &Value, number: usize) -> std::result::Result<Line, String> {
    let turns = conv
        .as_array()
        .ok_or_else(|| format!("\"conversations\" as a list; line {number} has something else"))?;
    let role = |t: &Value| {
        t.get("from")
            .or_else(|| t.get("role"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let value = |t: &Value| {
        t.get("value")
            .or_else(|| t.get("content"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let first = turns
        .iter()
        .position(|t| matches!(role(t).as_deref(), Some("human" | "user")))
        .ok_or_else(|| format!("a human turn in \"conversations\"; line {number} has none"))?;
    let prompt = value(&turns[first]).ok_or_else(|| {
        format!("a text \"value\" in each turn; line {number} turn {first} has none")
    })?;
    let answer = turns
        .get(first + 1)
        .filter(|t| matches!(role(t).as_deref(), Some("gpt" | "assistant" | "chatgpt")))
        .and_then(value);
    Ok(Line {
        number,
        prompt,
        answer,
    })
}

/// Measure every line: as token ids (completions with an exact source), as text, or as a chat
/// whose template the server counts.
pub async fn measure(lines: &[Line], source: &TokenSource, api: Api) -> Result<Vec<Entry>> {
    let prompts: Vec<String> = lines.iter().map(|l| l.prompt.clone()).collect();
    let ids = source.encode_many(&prompts).await?;
    let answers: Vec<String> = lines
        .iter()
        .map(|l| l.answer.clone().unwrap_or_default())
        .collect();
    let answer_ids = source.encode_many(&answers).await?;
    let mut out = Vec::with_capacity(lines.len());
    for ((line, ids), answer) in lines.iter().zip(ids).zip(answer_ids) {
        let answer_tokens = line.answer.as_ref().map(|_| answer.len() as u32);
        let (prompt, tokens) = match api {
            Api::Chat => {
                let messages = vec![ChatMessage {
                    role: "user".into(),
                    content: line.prompt.clone(),
                }];
                let n = source.chat_count(&messages).await?.unwrap_or(ids.len());
                (Prompt::Chat(messages), n)
            }
            Api::Completions if source.ids_as_prompt() => {
                let n = ids.len();
                (Prompt::TokenIds(ids), n)
            }
            Api::Completions => (
                Prompt::Text(line.prompt.clone()),
                ids.len() + source.prompt_specials(),
            ),
        };
        out.push(Entry {
            prompt,
            tokens: tokens as u32,
            answer_tokens,
        });
    }
    Ok(out)
}

/// For each size, the entries whose prompt length is in its input range. A size with none is
/// an error naming it and the lengths the file has.
pub fn pools(entries: &[Entry], sizes: &[SizeSpec], path: &Path) -> Result<Vec<Vec<usize>>> {
    let min = entries.iter().map(|e| e.tokens).min().unwrap_or(0);
    let max = entries.iter().map(|e| e.tokens).max().unwrap_or(0);
    sizes
        .iter()
        .map(|s| {
            let pool: Vec<usize> = (0..entries.len())
                .filter(|&i| (s.input.min..=s.input.max).contains(&entries[i].tokens))
                .collect();
            if pool.is_empty() {
                Err(bad(
                    path,
                    format!(
                        "prompts of {} tokens for TOKENS_LIST entry {s}; its {} prompts have {min} to {max} tokens (widen the input range, e.g. {min}-{max}:{})",
                        s.input,
                        entries.len(),
                        s.output
                    ),
                ))
            } else {
                Ok(pool)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.jsonl` file holding `content`, removed when the guard is dropped.
    fn file(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("p.jsonl");
        std::fs::write(&p, content).unwrap();
        (dir, p)
    }

    #[test]
    fn text_field_and_sharegpt_lines_are_read() {
        let (_d, p) = file(
            "{\"text\": \"hello there\", \"answer\": \"hi\"}\n\n{\"conversations\": [{\"from\": \"system\", \"value\": \"s\"}, {\"from\": \"human\", \"value\": \"q?\"}, {\"from\": \"gpt\", \"value\": \"a b c\"}]}\n",
        );
        let lines = read(&p, "text").unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].answer.as_deref(), Some("hi"));
        assert_eq!((lines[1].number, lines[1].prompt.as_str()), (3, "q?"));
        assert_eq!(lines[1].answer.as_deref(), Some("a b c"));
        let (_d, p) = file("{\"prompt\": \"x\"}\n");
        assert_eq!(read(&p, "prompt").unwrap()[0].prompt, "x");
    }

    #[test]
    fn malformed_files_name_the_line() {
        let (_d, p) = file("{\"text\": \"ok\"}\nnot json\n");
        let e = read(&p, "text").unwrap_err().to_string();
        assert!(e.contains("PROMPTS_FILE") && e.contains("line 2"), "{e}");
        let (_d, p) = file("{\"text\": \"ok\"}\n{\"other\": 1}\n");
        let e = read(&p, "text").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("\"text\""), "{e}");
        let (_d, p) = file("\n  \n");
        assert!(read(&p, "text").unwrap_err().to_string().contains("empty"));
    }
}
