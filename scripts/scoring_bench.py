"""Timing probes for `make perf`: how long extraction + scoring of n MCQ (or TextVQA) predictions takes."""

from __future__ import annotations

import random
import time

import polars as pl

from fasteval.types import BenchmarkSpec

_STYLES = (
    "{L}",
    "{L}.",
    "({L}) {T}",
    "The answer is {L}.",
    "{T}",
    "I think the answer is {L} or {M}",
    "A close look at the picture helps. Several details stand out. Therefore, the answer is {L}.",
    "nan",
)


def bench_mcq_scoring(n: int, *, seed: int = 0) -> float:
    """Seconds to extract and score `n` synthetic 4-option predictions (circular groups of 4)
    with the default rules; the frames are built before the clock starts."""
    from fasteval.scoring.evaluate import score_predictions  # deferred: evaluate imports this package

    rng = random.Random(seed)
    letters = "ABCD"
    texts = {ch: f"option text {ch.lower()}{i}" for i, ch in enumerate(letters)}
    index = [(i % 4) * 1_000_000 + i // 4 for i in range(n)]
    answers = [rng.choice(letters) for _ in range(n)]
    preds = []
    for _ in range(n):
        ch, other = rng.sample(letters, 2)
        preds.append(rng.choice(_STYLES).format(L=ch, M=other, T=texts[ch]))
    options = {ch: [texts[ch]] * n for ch in letters}
    meta = {"category": [f"cat{i % 7}" for i in range(n)], "split": ["dev"] * n}
    predictions = pl.DataFrame({"index": index, **options, "prediction": preds, **meta})
    dataset = pl.DataFrame({"index": index, **options, "answer": answers})
    spec = BenchmarkSpec(name="PERF_MCQ", kind="mcq", url=None, md5=None, scorer="mcq", circular=True)
    start = time.perf_counter()
    score_predictions(spec, predictions, dataset=dataset)
    return time.perf_counter() - start


_VQA_WORDS = (
    "stop",
    "Dr. Pepper",
    "coca cola",
    "2",
    "two",
    "the two",
    "1,000",
    "1000",
    "u.s.a.",
    "e-mail",
    "yes",
)
_VQA_STYLES = (
    "{A}",
    "{A}.",
    "The answer is {A}.",
    "{A}\n",
    'It says "{A}" on the sign, next to the door; the rest is unreadable.',
    "nan",
)


def bench_vqa_scoring(n: int, *, seed: int = 0) -> float:
    """Seconds to turn `n` synthetic TextVQA-style predictions (10 answers each, as list literals)
    into scorer rows and score them with VQA accuracy; the frame is built before the clock starts."""
    from fasteval.scoring.base import ScoreOptions
    from fasteval.scoring.vqa import score_vqa_acc, vqa_rows

    rng = random.Random(seed)
    answers = [str([rng.choice(_VQA_WORDS) for _ in range(10)]) for _ in range(n)]
    preds = [rng.choice(_VQA_STYLES).format(A=rng.choice(_VQA_WORDS)) for _ in range(n)]
    predictions = pl.DataFrame({"index": list(range(n)), "answer": answers, "prediction": preds})
    start = time.perf_counter()
    score_vqa_acc(vqa_rows(predictions), ScoreOptions())
    return time.perf_counter() - start
