//! A deterministic stand-in tokenizer, so prompt lengths are exact without a real vocabulary.
//!
//! The simulator needs prompt token counts that a client can reproduce (through `/tokenize` or
//! this module) and that are cheap to compute on 32k-token prompts. Text is cut into pieces:
//! - a run of letters/digits, together with one immediately preceding ASCII space;
//! - any other character on its own (punctuation, a newline, a space not followed by a word);
//! - a run longer than [`MAX_PIECE_CHARS`] characters (leading space included) is chopped into
//!   pieces of that many characters.
//!
//! A piece's id is the FNV-1a hash of its UTF-8 bytes modulo [`VOCAB_SIZE`], moved out of the
//! reserved range `0..FIRST_ORDINARY_ID` (special tokens of the chat template). Ids are not
//! invertible; [`detokenize`] instead renders each id as a short word that is itself one piece,
//! so `count(detokenize(ids)) == ids.len()`.
//!
//! Chat template (token ids, never rendered as text): for each message
//! `<|role|>` `<|nl|>` content `<|end|>` (content tokens + 3), then, when a generation prompt is
//! added (always for chat completions), `<|assistant|>` (+1).

/// Vocabulary size: every id is below this.
pub const VOCAB_SIZE: u32 = 32_000;
/// Longest piece, in characters.
pub const MAX_PIECE_CHARS: usize = 6;
/// Ids below this are reserved for special tokens.
pub const FIRST_ORDINARY_ID: u32 = 16;

/// Special token ids of the chat template.
pub mod special {
    /// Marks a system message.
    pub const SYSTEM: u32 = 3;
    /// Marks a user message.
    pub const USER: u32 = 4;
    /// Marks an assistant message, and the generation prompt.
    pub const ASSISTANT: u32 = 5;
    /// Marks a tool message.
    pub const TOOL: u32 = 6;
    /// Marks a message with any other role.
    pub const OTHER: u32 = 7;
    /// Separates the role marker from the content.
    pub const NL: u32 = 8;
    /// Ends a message.
    pub const END: u32 = 9;
}

/// Extra template tokens per chat message (role marker, newline, end marker).
pub const CHAT_TOKENS_PER_MESSAGE: usize = 3;
/// Template tokens of the generation prompt (the assistant marker).
pub const CHAT_GENERATION_PROMPT_TOKENS: usize = 1;

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn piece_id(piece: &str) -> u32 {
    let id = fnv1a(piece.as_bytes()) % VOCAB_SIZE;
    if id < FIRST_ORDINARY_ID {
        id + FIRST_ORDINARY_ID
    } else {
        id
    }
}

/// Calls `f` on every piece of `text`, in order.
fn for_each_piece(text: &str, mut f: impl FnMut(&str)) {
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let word_start = c.is_alphanumeric()
            || (c == ' ' && chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric()));
        if !word_start {
            f(&text[start..start + c.len_utf8()]);
            continue;
        }
        let mut piece_start = start;
        let mut n_chars = 1;
        let mut end = start + c.len_utf8();
        while let Some(&(i, n)) = chars.peek() {
            if !n.is_alphanumeric() {
                break;
            }
            if n_chars == MAX_PIECE_CHARS {
                f(&text[piece_start..i]);
                piece_start = i;
                n_chars = 0;
            }
            chars.next();
            n_chars += 1;
            end = i + n.len_utf8();
        }
        f(&text[piece_start..end]);
    }
}

/// The token ids of `text`.
pub fn tokenize(text: &str) -> Vec<u32> {
    let mut out = Vec::with_capacity(text.len() / 4 + 1);
    for_each_piece(text, |p| out.push(piece_id(p)));
    out
}

/// The number of tokens of `text` (same as `tokenize(text).len()`, without allocating).
pub fn count(text: &str) -> usize {
    let mut n = 0;
    for_each_piece(text, |_| n += 1);
    n
}

/// A text of exactly `ids.len()` tokens standing for `ids` (see the module header).
pub fn detokenize(ids: &[u32]) -> String {
    let mut out = String::with_capacity(ids.len() * 5);
    for &id in ids {
        out.push(' ');
        out.push('t');
        // Base 36 keeps every rendering within one piece (at most " t" + 3 digits for 32000).
        let mut digits = [0u8; 8];
        let mut n = id;
        let mut len = 0;
        loop {
            let d = (n % 36) as u8;
            digits[len] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
            len += 1;
            n /= 36;
            if n == 0 {
                break;
            }
        }
        for &d in digits[..len].iter().rev() {
            out.push(char::from(d));
        }
    }
    out
}

/// The special token that starts a message with this role.
pub fn role_token(role: &str) -> u32 {
    match role {
        "system" | "developer" => special::SYSTEM,
        "user" => special::USER,
        "assistant" => special::ASSISTANT,
        "tool" => special::TOOL,
        _ => special::OTHER,
    }
}

/// The token ids of a chat rendered with the template of the module header.
pub fn chat_tokens<'a>(
    messages: impl IntoIterator<Item = (&'a str, &'a str)>,
    add_generation_prompt: bool,
) -> Vec<u32> {
    let mut out = Vec::new();
    for (role, content) in messages {
        out.push(role_token(role));
        out.push(special::NL);
        for_each_piece(content, |p| out.push(piece_id(p)));
        out.push(special::END);
    }
    if add_generation_prompt {
        out.push(special::ASSISTANT);
    }
    out
}

/// The token count of a chat rendered with the template (no allocation of ids).
pub fn chat_count<'a>(
    messages: impl IntoIterator<Item = (&'a str, &'a str)>,
    add_generation_prompt: bool,
) -> usize {
    let mut n = 0;
    for (_, content) in messages {
        n += count(content) + CHAT_TOKENS_PER_MESSAGE;
    }
    if add_generation_prompt {
        n += CHAT_GENERATION_PROMPT_TOKENS;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_punctuation_and_long_runs_split_as_documented() {
        assert_eq!(count("Hello, world!"), 4); // "Hello" "," " world" "!"
        assert_eq!(count(" abcdefghijklm"), 3); // " abcde" "fghijk" "lm"
        assert_eq!(count("a  b\n"), 4); // "a" " " " b" "\n"
        assert_eq!(count(""), 0);
        assert_eq!(count("héllo wörld"), 2);
    }

    #[test]
    fn ids_are_stable_and_outside_the_reserved_range() {
        let a = tokenize("the quick brown fox, 12345678");
        assert_eq!(a, tokenize("the quick brown fox, 12345678"));
        assert_eq!(a.len(), count("the quick brown fox, 12345678"));
        assert!(
            a.iter()
                .all(|&id| (FIRST_ORDINARY_ID..VOCAB_SIZE).contains(&id))
        );
        assert_ne!(tokenize(" fox"), tokenize(" box"));
    }

    #[test]
    fn detokenized_text_has_one_token_per_id() {
        let ids: Vec<u32> = (0..VOCAB_SIZE)
            .step_by(37)
            .chain([VOCAB_SIZE - 1])
            .collect();
        assert_eq!(count(&detokenize(&ids)), ids.len());
    }

    #[test]
    fn chat_template_adds_three_per_message_and_one_for_the_prompt() {
        let msgs = [("system", "Be brief."), ("user", "Hi there")];
        let content: usize = msgs.iter().map(|(_, c)| count(c)).sum();
        assert_eq!(chat_count(msgs, true), content + 2 * 3 + 1);
        assert_eq!(chat_tokens(msgs, true).len(), chat_count(msgs, true));
        assert_eq!(chat_tokens(msgs, false).len(), content + 6);
    }
}
