//! Output tokens of responses that carried no usage, counted after the iteration with the
//! tokenizer the run already resolved (the server's tokenize endpoint or `TOKENIZER`), so a
//! server that sends several tokens per chunk and no usage is not under-counted.
//!
//! It runs after the iteration, never while requests are in flight, so the extra tokenize
//! calls cannot disturb the measurement. Without a tokenizer (the approximation) the client's
//! count of one token per generated delta stays, and `OUTPUT_TOKENS_APPROX` says how many rows
//! carry it.

use super::Workload;
use crate::record::{RequestRecord, TokenCount};

impl Workload {
    /// Recount the output tokens of every record the client could only count by chunks (see
    /// [`TokenCount::Chunks`]) and that kept its text: the tokenizer's count of the text, but
    /// never fewer than the deltas received. Returns how many were recounted. A tokenizer that
    /// fails is a warning; the chunk counts then stay.
    pub async fn recount_outputs(&self, records: &mut [RequestRecord]) -> usize {
        let source = &self.inner.source;
        if !source.exact() {
            return 0;
        }
        let picked: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.output_tokens_from == TokenCount::Chunks)
            .filter(|(_, r)| r.generated_text.is_some())
            .map(|(i, _)| i)
            .collect();
        if picked.is_empty() {
            return 0;
        }
        let texts: Vec<String> = picked
            .iter()
            .filter_map(|&i| records[i].generated_text.clone())
            .collect();
        match source.encode_many(&texts).await {
            Ok(ids) => {
                for (&i, ids) in picked.iter().zip(ids) {
                    let r = &mut records[i];
                    r.output_tokens = (ids.len() as u32).max(r.output_tokens);
                    r.output_tokens_from = TokenCount::Tokenizer;
                    r.generated_text = None;
                }
                picked.len()
            }
            Err(e) => {
                tracing::warn!(
                    "could not count the output of {} responses without usage with {}: {e}; \
                     they keep one token per generated delta",
                    picked.len(),
                    source.describe()
                );
                0
            }
        }
    }
}
