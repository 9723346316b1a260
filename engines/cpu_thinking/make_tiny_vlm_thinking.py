#!/usr/bin/env python3
"""Build tiny-vlm-thinking: tiny-vlm (engines/cpu/make_tiny_vlm.py) with `<think>` / `</think>` tokens and
a chat template that opens the thinking block, as Qwen3-VL Thinking's does, fully offline.

    python make_tiny_vlm_thinking.py OUT_DIR [--seed 0]

vLLM's reasoning parsers need both tags in the vocabulary; with them, `--reasoning-parser qwen3` returns
what the model writes before `</think>` as `reasoning_content`. Random weights never close the block, so
every reply stops at `max_tokens` inside its thinking: the engine path of a reply cut while thinking
(tests/test_thinking_engine.py). It lives in its own folder so that its build key (every .py beside the
builder) leaves the shared tiny-vlm's alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cpu"))

import make_tiny_vlm as base  # engines/cpu, put on the path above

base.SPECIALS = [*base.SPECIALS, "<think>", "</think>"]
base.CHAT_TEMPLATE = base.CHAT_TEMPLATE.replace(
    "<|im_start|>assistant\n{% endif %}", "<|im_start|>assistant\n<think>\n{% endif %}"
)
assert base.CHAT_TEMPLATE.endswith("<think>\n{% endif %}")

if __name__ == "__main__":
    sys.exit(base.main())
