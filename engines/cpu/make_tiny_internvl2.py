#!/usr/bin/env python3
"""Build fasteval's tiny random-weight InternVL2 (InternViT + MLP projector + Qwen2 LM) fully offline.

    python make_tiny_internvl2.py OUT_DIR [--seed 0]

Why it exists: InternVL2's per-benchmark tile limit (`max_dynamic_patch`) is the setting that moves its
published numbers most, and only a real engine shows whether a request's limit reaches the image processor.
vLLM serves this folder with its native `InternVLChatModel` and its own InternVL image processor; the only
remote code is the config class (`internvl_chat` is not a transformers model type), written here as
`configuration_internvl_chat.py`, so the folder needs `--trust-remote-code` but nothing from the hub.

Tiling is InternVL2's exactly (448-px tiles, thumbnail when more than one tile, checkpoint default
`max_dynamic_patch` 12 as in InternVL2-1B..8B's config.json); only the ViT patch is coarse (56 px instead of
14), so a tile is 16 image tokens instead of 256 and a 24-tile request still fits a CPU engine. Weights are
seeded and the tokenizer is trained here: same bytes every build.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from tiny_common import MAX_POS, build_tokenizer

IMAGE_SIZE = 448  # InternVL2's tile size: the tiling decisions depend on it, so it is the real one
PATCH = 56  # real: 14. (448/56)^2 = 64 patches, pixel-shuffled by 0.5 -> 16 tokens per tile
DOWNSAMPLE = 0.5
MAX_DYNAMIC_PATCH = (
    12  # InternVL2 checkpoints' default (config.json), i.e. what a request without a limit gets
)
VIS_HIDDEN = 64
VIS_LAYERS = 2
VIS_HEADS = 2  # head_dim 32
VIS_FFN = 128
TEXT_HIDDEN = 128
TEXT_LAYERS = 2
TEXT_HEADS = 4  # head_dim 32: vLLM's CPU attention supports 32, 64, 80, ...
TEXT_KV_HEADS = 2
TEXT_FFN = 256

SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>",
    "<image>",  # vLLM's placeholder; one token, so its replacement is found by token ids
]  # fmt: skip

# InternVL2-1B's `Hermes-2` conversation template (ChatML with InternVL's default system message) as a
# string-content chat template: vLLM then writes one `<image>` line per image ahead of the text.
SYSTEM = (
    "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，"
    "英文名叫InternVL, 是一个有用无害的人工智能助手。"
)
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The remote-code config class: a minimal InternVLChatConfig with the fields vLLM's InternVL path reads.
CONFIG_CODE = '''"""Minimal InternVLChatConfig for fasteval's tiny InternVL2 (vLLM reads these fields)."""

from transformers import PretrainedConfig, Qwen2Config


class InternVisionConfig(PretrainedConfig):
    model_type = "intern_vit_6b"

    def __init__(self, hidden_size=64, image_size=448, patch_size=14, intermediate_size=128,
                 num_attention_heads=2, num_hidden_layers=2, qkv_bias=True, qk_normalization=False,
                 norm_type="layer_norm", layer_norm_eps=1e-6, hidden_act="gelu", initializer_factor=1.0,
                 num_channels=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.image_size, self.patch_size = hidden_size, image_size, patch_size
        self.intermediate_size, self.num_attention_heads = intermediate_size, num_attention_heads
        self.num_hidden_layers, self.qkv_bias = num_hidden_layers, qkv_bias
        self.qk_normalization = qk_normalization
        self.norm_type, self.layer_norm_eps, self.hidden_act = norm_type, layer_norm_eps, hidden_act
        self.initializer_factor, self.num_channels = initializer_factor, num_channels


class InternVLChatConfig(PretrainedConfig):
    model_type = "internvl_chat"

    def __init__(self, vision_config=None, llm_config=None, select_layer=-1, force_image_size=None,
                 downsample_ratio=0.5, template=None, dynamic_image_size=False, use_thumbnail=False,
                 ps_version="v1", min_dynamic_patch=1, max_dynamic_patch=6, **kwargs):
        super().__init__(**kwargs)
        self.vision_config = InternVisionConfig(**(vision_config or {}))
        self.llm_config = Qwen2Config(**(llm_config or {}))
        self.select_layer, self.force_image_size = select_layer, force_image_size
        self.downsample_ratio, self.template = downsample_ratio, template
        self.dynamic_image_size, self.use_thumbnail = dynamic_image_size, use_thumbnail
        self.ps_version = ps_version
        self.min_dynamic_patch, self.max_dynamic_patch = min_dynamic_patch, max_dynamic_patch
'''


def vision_weights(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """InternViT tensors under the checkpoint names vLLM's loader expects (fused qkv, layer scales)."""

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.02

    d, f, n_pos = VIS_HIDDEN, VIS_FFN, (IMAGE_SIZE // PATCH) ** 2 + 1
    w = {
        "vision_model.embeddings.class_embedding": rnd(1, 1, d),
        "vision_model.embeddings.position_embedding": rnd(1, n_pos, d),
        "vision_model.embeddings.patch_embedding.weight": rnd(d, 3, PATCH, PATCH),
        "vision_model.embeddings.patch_embedding.bias": torch.zeros(d),
    }
    for i in range(VIS_LAYERS):
        p = f"vision_model.encoder.layers.{i}."
        w |= {
            p + "attn.qkv.weight": rnd(3 * d, d),
            p + "attn.qkv.bias": torch.zeros(3 * d),
            p + "attn.proj.weight": rnd(d, d),
            p + "attn.proj.bias": torch.zeros(d),
            p + "mlp.fc1.weight": rnd(f, d),
            p + "mlp.fc1.bias": torch.zeros(f),
            p + "mlp.fc2.weight": rnd(d, f),
            p + "mlp.fc2.bias": torch.zeros(d),
            p + "norm1.weight": torch.ones(d),
            p + "norm1.bias": torch.zeros(d),
            p + "norm2.weight": torch.ones(d),
            p + "norm2.bias": torch.zeros(d),
            p + "ls1": torch.ones(d),
            p + "ls2": torch.ones(d),
        }
    shuffled = d * int(1 / DOWNSAMPLE) ** 2
    w |= {
        "mlp1.0.weight": torch.ones(shuffled),
        "mlp1.0.bias": torch.zeros(shuffled),
        "mlp1.1.weight": rnd(TEXT_HIDDEN, shuffled),
        "mlp1.1.bias": torch.zeros(TEXT_HIDDEN),
        "mlp1.3.weight": rnd(TEXT_HIDDEN, TEXT_HIDDEN),
        "mlp1.3.bias": torch.zeros(TEXT_HIDDEN),
    }
    return w


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(args.seed)

    from safetensors.torch import save_file
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = build_tokenizer(SPECIALS, CHAT_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    vocab_size = len(tok)
    assert max(ids.values()) < vocab_size, ids

    llm_config = dict(
        architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=TEXT_FFN, num_hidden_layers=TEXT_LAYERS, num_attention_heads=TEXT_HEADS,
        num_key_value_heads=TEXT_KV_HEADS, max_position_embeddings=MAX_POS, rope_theta=1000000.0,
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False, torch_dtype="bfloat16",
    )  # fmt: skip
    lm = Qwen2ForCausalLM(Qwen2Config(**llm_config)).to(torch.bfloat16).eval()
    weights = {f"language_model.{k}": v.contiguous() for k, v in lm.state_dict().items()}
    gen = torch.Generator().manual_seed(args.seed)
    weights |= {k: v.to(torch.bfloat16).contiguous() for k, v in vision_weights(gen).items()}
    save_file(dict(sorted(weights.items())), os.path.join(args.out_dir, "model.safetensors"))

    config = {
        "architectures": ["InternVLChatModel"],
        "auto_map": {"AutoConfig": "configuration_internvl_chat.InternVLChatConfig"},
        "model_type": "internvl_chat",
        "torch_dtype": "bfloat16",
        "vision_config": dict(
            architectures=["InternVisionModel"], model_type="intern_vit_6b", hidden_size=VIS_HIDDEN,
            image_size=IMAGE_SIZE, patch_size=PATCH, intermediate_size=VIS_FFN, num_attention_heads=VIS_HEADS,
            num_hidden_layers=VIS_LAYERS, qkv_bias=True, qk_normalization=False, norm_type="layer_norm",
            layer_norm_eps=1e-6, hidden_act="gelu", initializer_factor=1.0, num_channels=3,
        ),
        "llm_config": llm_config,
        "select_layer": -1, "force_image_size": IMAGE_SIZE, "downsample_ratio": DOWNSAMPLE,
        "template": "Hermes-2", "dynamic_image_size": True, "use_thumbnail": True, "ps_version": "v2",
        "min_dynamic_patch": 1, "max_dynamic_patch": MAX_DYNAMIC_PATCH,
    }  # fmt: skip
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.out_dir, "configuration_internvl_chat.py"), "w") as f:
        f.write(CONFIG_CODE)
    GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    ).save_pretrained(args.out_dir)
    tok.save_pretrained(args.out_dir)
    n = sum(v.numel() for v in weights.values())
    print(f"built tiny-internvl2 (InternVL2, {n / 1e6:.2f}M params, vocab {vocab_size}) in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
