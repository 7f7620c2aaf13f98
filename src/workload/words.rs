//! Prompts of an exact token count, assembled from the corpus word by word.
//!
//! Every distinct word of the corpus is measured once with the token source: as ` word` (with
//! its leading space, as it appears inside text) and, for the lead words that open a prompt, as
//! `Word` at the start of a text. Common tokenizers (byte-level BPE with a pre-tokenizer,
//! SentencePiece) never merge across a space, so a text's count is the sum of its words' counts
//! and its ids are the concatenation of theirs. That gives
//! - token-id prompts of exactly `n` ids (the ids of the words, cut at `n`), and
//! - text prompts of exactly `n` tokens (whole words up to `n`, then one-token words to fill the
//!   last gap), which chat needs because its messages are text.
//!
//! A prompt opens with a lead word and three random words, then a window of the corpus at a
//! random offset (wrapping at its end), so two prompts share a prefix only by chance.

use super::corpus::{self, LEAD_WORDS};
use super::tokens::TokenSource;
use crate::error::{Error, Result};
use crate::seed::mix;
use std::collections::HashMap;

/// Random words between the lead word and the corpus window.
const LEAD_IN_WORDS: u64 = 3;

/// The corpus as measured words.
#[derive(Debug)]
pub struct Words {
    /// Each distinct word, as written (lead words first).
    text: Vec<String>,
    /// Token ids of each word in context (lead words at text start, others after a space).
    ids: Vec<Vec<u32>>,
    /// The corpus as indices into `text`.
    corpus: Vec<u32>,
    /// How many entries at the start of `text` are lead words.
    leads: usize,
    /// Non-lead words of exactly one token, to fill the last gap of a text prompt.
    singles: Vec<u32>,
}

/// One assembled prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// Token ids (meaningful only with an exact token source).
    pub ids: Vec<u32>,
    /// The text; for an id prompt cut inside a word, the text of the whole words used.
    pub text: String,
    /// Tokens of `text` (text mode) or `ids.len()` (id mode).
    pub tokens: usize,
}

impl Words {
    /// Split the corpus into words and measure each distinct one with `source`.
    pub async fn measure(source: &TokenSource) -> Result<Words> {
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut text: Vec<String> = LEAD_WORDS.iter().map(|w| w.to_string()).collect();
        let mut corpus = Vec::with_capacity(corpus::CORPUS.len() / 6);
        for w in corpus::CORPUS.split_whitespace() {
            let next = (LEAD_WORDS.len() + index.len()) as u32;
            let i = *index.entry(w).or_insert_with(|| {
                text.push(w.to_string());
                next
            });
            corpus.push(i);
        }
        let leads = LEAD_WORDS.len();
        let in_context: Vec<String> = text
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i < leads {
                    w.clone()
                } else {
                    format!(" {w}")
                }
            })
            .collect();
        let ids = source.encode_many(&in_context).await?;
        if let Some(i) = ids.iter().position(Vec::is_empty) {
            return Err(Error::config(
                "TOKENIZER",
                source.describe(),
                format!(
                    "a tokenizer that gives {:?} at least one token",
                    in_context[i]
                ),
            ));
        }
        let singles = (leads..text.len())
            .filter(|&i| ids[i].len() == 1)
            .map(|i| i as u32)
            .collect();
        Ok(Words {
            text,
            ids,
            corpus,
            leads,
            singles,
        })
    }

    /// The word at position `k` of the sequence seeded `seed`: lead-in, then corpus window.
    /// With `continuation`, there is no lead word (the text follows other text).
    fn word_at(&self, seed: u64, k: u64, continuation: bool) -> usize {
        let k = if continuation { k + 1 } else { k };
        if k == 0 {
            return (mix(seed, 0) % self.leads as u64) as usize;
        }
        let others = (self.text.len() - self.leads) as u64;
        if k <= LEAD_IN_WORDS {
            return self.leads + (mix(seed, k) % others) as usize;
        }
        let start = mix(seed, LEAD_IN_WORDS + 1) % self.corpus.len() as u64;
        let pos = (start + k - LEAD_IN_WORDS - 1) % self.corpus.len() as u64;
        self.corpus[pos as usize] as usize
    }

    fn push_text(&self, out: &mut String, word: usize, continuation: bool, first: bool) {
        if !first || continuation {
            out.push(' ');
        }
        out.push_str(&self.text[word]);
    }

    /// Exactly `n` token ids (see the module header).
    pub fn build_ids(&self, seed: u64, n: usize, continuation: bool) -> Built {
        let mut ids = Vec::with_capacity(n + 8);
        let mut text = String::new();
        let mut k = 0;
        while ids.len() < n {
            let w = self.word_at(seed, k, continuation);
            self.push_text(&mut text, w, continuation, k == 0);
            ids.extend_from_slice(&self.ids[w]);
            k += 1;
        }
        ids.truncate(n);
        Built {
            tokens: ids.len(),
            ids,
            text,
        }
    }

    /// Text of exactly `n` tokens (see the module header); fewer only when the tokenizer has
    /// no one-token word to fill the last gap (the server's usage then flags the mismatch).
    pub fn build_text(&self, seed: u64, n: usize, continuation: bool) -> Built {
        let mut text = String::new();
        let mut tokens = 0;
        let mut k = 0;
        loop {
            let w = self.word_at(seed, k, continuation);
            if tokens + self.ids[w].len() > n {
                break;
            }
            self.push_text(&mut text, w, continuation, k == 0);
            tokens += self.ids[w].len();
            k += 1;
        }
        let mut j = 0;
        while tokens < n && !self.singles.is_empty() {
            let w = self.singles[(mix(seed ^ 0xf111, j) % self.singles.len() as u64) as usize];
            self.push_text(&mut text, w as usize, continuation, k == 0 && j == 0);
            tokens += 1;
            j += 1;
        }
        Built {
            ids: Vec::new(),
            text,
            tokens,
        }
    }

    /// Distinct words measured.
    pub fn distinct(&self) -> usize {
        self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn approximate_words_give_exact_word_counts_and_distinct_starts() {
        let w = Words::measure(&TokenSource::Approx).await.unwrap();
        for n in [1, 2, 5, 100, 4000] {
            let b = w.build_text(9, n, false);
            assert_eq!(b.tokens, n);
            assert_eq!(b.text.split_whitespace().count(), n);
            assert_eq!(w.build_ids(9, n, false).ids.len(), n);
        }
        assert_ne!(
            w.build_text(1, 50, false).text,
            w.build_text(2, 50, false).text
        );
        let cont = w.build_text(3, 10, true).text;
        assert!(cont.starts_with(' '), "{cont:?}");
    }
}
