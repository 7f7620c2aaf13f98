#!/usr/bin/env python3
"""Make a tiny random-weight llama model in GGUF for the real-engine test (tests/it/llama.rs).

Usage: make_tiny_gguf.py OUT.gguf

Needs the `gguf` package (pinned in .ci/run) and numpy. The same file comes out on every run
(seeded weights, fixed metadata), so llama-server's answers are reproducible.

What the model is made of, and why:
- a SentencePiece-style vocabulary llama.cpp's "llama" tokenizer accepts: <unk>, <s>, </s>,
  the 256 byte-fallback tokens <0x00>..<0xFF>, every printable ASCII character, "▁" and "▁"
  followed by each letter or digit. No token spans a word boundary, so a text's token count is
  the sum of its words' counts, which the tool's exact prompt lengths rely on. No space prefix is
  added at the start of a text, so a word measured on its own counts as it does inside a text.
- end-of-sequence is never sampled, so every answer runs to max_tokens even without
  `ignore_eos`: every token embedding carries a large constant in dimension 0 that no layer
  writes to, so the final hidden state's dimension 0 is always positive, and the output row of
  every special and byte token weighs that dimension strongly negative (printable tokens
  positive). Byte tokens are never sampled either, so the streamed text is always valid UTF-8
  (llama.cpp holds back a chunk while a multi-byte character is incomplete).
"""

import sys

import gguf
import numpy as np

SEED = 20260514
N_EMBD = 64
N_HEAD = 4
N_LAYER = 2
N_FF = 128
N_CTX = 1024
ANCHOR = 10.0  # the constant in dimension 0 of every token embedding
BIAS = 4.0  # how strongly dimension 0 favours printable tokens over the others


def vocabulary():
    """Tokens, scores and types (SentencePiece order: specials, bytes, pieces)."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [
        gguf.TokenType.UNKNOWN,
        gguf.TokenType.CONTROL,
        gguf.TokenType.CONTROL,
    ]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(gguf.TokenType.BYTE)
    chars = [chr(c) for c in range(33, 127)]
    pieces = ["\u2581"] + chars + ["\u2581" + c for c in chars if c.isalnum()]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    # Longer pieces win a merge; single characters are the fallback.
    scores = [0.0] * (3 + 256) + [-float(100 - len(p)) for p in pieces]
    return tokens, scores, types


def main(out):
    rng = np.random.default_rng(SEED)
    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)

    def rand(*shape, scale=0.02):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = gguf.GGUFWriter(out, "llama")
    w.add_name("mst-search tiny random llama")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)

    embd = rand(n_vocab, N_EMBD, scale=0.5)
    embd[:, 0] = ANCHOR
    w.add_tensor("token_embd.weight", embd)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(p + name + ".weight", rand(N_EMBD, N_EMBD, scale=0.2))
        # No layer writes to dimension 0, so the anchor survives to the output.
        attn_out = rand(N_EMBD, N_EMBD, scale=0.2)
        attn_out[0, :] = 0.0
        w.add_tensor(p + "attn_output.weight", attn_out)
        w.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", rand(N_FF, N_EMBD, scale=0.2))
        w.add_tensor(p + "ffn_up.weight", rand(N_FF, N_EMBD, scale=0.2))
        down = rand(N_EMBD, N_FF, scale=0.2)
        down[0, :] = 0.0
        w.add_tensor(p + "ffn_down.weight", down)
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    output = rand(n_vocab, N_EMBD, scale=1.0)
    printable = np.array([t == gguf.TokenType.NORMAL for t in types])
    output[:, 0] = np.where(printable, BIAS, -BIAS)
    w.add_tensor("output.weight", output)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tiny_gguf.py OUT.gguf")
    main(sys.argv[1])
