//! A corpus of our own: plain English-like prose generated from word lists with a seeded
//! generator, so prompts are varied natural-looking text without shipping anyone's data.
//!
//! The generated text is committed as `requests/corpus.txt` (so users can read what is sent)
//! and compiled in; a test checks that the file is exactly this generator's output.
//! Regenerate it with `MST_WRITE_CORPUS=1 cargo test --lib corpus_file`.

use crate::seed::mix;

/// The committed corpus: `generate(CORPUS_SEED, CORPUS_WORDS)`.
pub const CORPUS: &str = include_str!("../../requests/corpus.txt");
/// Seed of the committed corpus.
pub const CORPUS_SEED: u64 = 2024;
/// Words in the committed corpus: about 100k tokens for common tokenizers, so even 32k-token
/// prompts are windows at many different offsets.
pub const CORPUS_WORDS: usize = 80_000;

/// Capitalised words that open a prompt's lead-in (each measured at the start of a text).
pub const LEAD_WORDS: &[&str] = &[
    "Note",
    "Context",
    "Summary",
    "Report",
    "Background",
    "Story",
    "Record",
    "Draft",
    "Memo",
    "Entry",
    "Notes",
    "Account",
    "Chapter",
    "Excerpt",
    "Passage",
    "Document",
];

const SUBJECTS: &[&str] = &[
    "the engineer",
    "a small team",
    "the scheduler",
    "our cluster",
    "the river",
    "an old map",
    "the committee",
    "every student",
    "the night shift",
    "a careful reader",
    "the garden",
    "the compiler",
    "a quiet village",
    "the storm",
    "the archive",
    "the new model",
    "my neighbour",
    "the orchestra",
    "a tired courier",
    "the market",
    "the lighthouse keeper",
    "the report",
];
const VERBS: &[&str] = &[
    "measured",
    "described",
    "rebuilt",
    "ignored",
    "followed",
    "questioned",
    "painted",
    "calculated",
    "borrowed",
    "explained",
    "delayed",
    "discovered",
    "repaired",
    "counted",
    "translated",
    "watched",
    "balanced",
    "recorded",
    "shared",
    "tested",
    "planned",
    "folded",
];
const OBJECTS: &[&str] = &[
    "the evening traffic",
    "a long list of numbers",
    "three wooden bridges",
    "the failing disk",
    "an unfinished letter",
    "the cost of bread",
    "every open window",
    "the winter harvest",
    "a strange signal",
    "the queue of requests",
    "two forgotten songs",
    "the broken clock",
    "the price of copper",
    "a pile of receipts",
    "the coastline",
    "seven green lanterns",
    "the budget for next year",
    "a handful of seeds",
    "the latency graph",
    "the mountain road",
];
const TAILS: &[&str] = &[
    "before the sun went down",
    "with unusual patience",
    "while the rain continued",
    "for reasons nobody wrote down",
    "in under an hour",
    "despite the noise outside",
    "as the deadline approached",
    "without asking for help",
    "after a short argument",
    "because the numbers did not agree",
    "on the second attempt",
    "near the old station",
];
const JOINERS: &[&str] = &[
    "Later,",
    "Meanwhile,",
    "In the end,",
    "Surprisingly,",
    "At first,",
    "Afterwards,",
    "Even so,",
    "By morning,",
    "Once again,",
    "For a while,",
];

/// Generate about `words` words of prose; the same seed gives the same text.
pub fn generate(seed: u64, words: usize) -> String {
    let mut out = String::with_capacity(words * 7);
    let mut count = 0usize;
    let mut i = 0u64;
    let pick = |list: &[&'static str], k: u64| list[(mix(seed, k) % list.len() as u64) as usize];
    while count < words {
        let base = i * 8;
        let mut sentence = String::new();
        if mix(seed, base + 9).is_multiple_of(7) {
            // Now and then a question, so the text is not one sentence shape repeated.
            sentence.push_str("Why had ");
            sentence.push_str(pick(SUBJECTS, base + 2));
            sentence.push(' ');
            sentence.push_str(pick(VERBS, base + 3));
            sentence.push(' ');
            sentence.push_str(pick(OBJECTS, base + 4));
            sentence.push_str("? ");
            count += sentence.split_whitespace().count();
            out.push_str(&sentence);
            i += 1;
            continue;
        }
        if mix(seed, base).is_multiple_of(3) {
            sentence.push_str(pick(JOINERS, base + 1));
            sentence.push(' ');
            sentence.push_str(pick(SUBJECTS, base + 2));
        } else {
            let s = pick(SUBJECTS, base + 2);
            let mut c = s.chars();
            if let Some(f) = c.next() {
                sentence.extend(f.to_uppercase());
                sentence.push_str(c.as_str());
            }
        }
        sentence.push(' ');
        sentence.push_str(pick(VERBS, base + 3));
        sentence.push(' ');
        sentence.push_str(pick(OBJECTS, base + 4));
        if mix(seed, base + 5).is_multiple_of(2) {
            sentence.push(' ');
            sentence.push_str(pick(TAILS, base + 6));
        }
        if mix(seed, base + 7).is_multiple_of(5) {
            // Few distinct numbers keep the vocabulary small enough to measure word by word.
            sentence.push_str(&format!(", item {}", mix(seed, base + 8) % 100));
        }
        sentence.push_str(". ");
        count += sentence.split_whitespace().count();
        out.push_str(&sentence);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_long_enough() {
        let a = generate(7, 5000);
        assert_eq!(a, generate(7, 5000));
        assert_ne!(a, generate(8, 5000));
        assert!(a.split_whitespace().count() >= 5000);
    }

    #[test]
    fn corpus_file_is_this_generators_output() {
        let text = generate(CORPUS_SEED, CORPUS_WORDS);
        if std::env::var_os("MST_WRITE_CORPUS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/requests/corpus.txt");
            std::fs::write(path, &text).unwrap();
            return;
        }
        assert!(
            text == CORPUS,
            "requests/corpus.txt differs from the generator's output"
        );
        assert!(CORPUS.split_whitespace().count() >= CORPUS_WORDS);
    }
}
