"""Open-ended answers scored by a metric (VLMEvalKit's `VQA` type: TextVQA, ChartQA, DocVQA,
InfoVQA, OCRBench).

Prompt: the question plus the benchmark's suffix (`ImageVQADataset.build_prompt`: "Answer the
question using a single word or phrase." for most, nothing for OCRBench); a model style's own
suffix where its class sets one (declared per benchmark in its TOML, `[style_suffix]`).
Extraction: none. The prediction is what the metric reads; its normalisation (VQA accuracy's
punctuation and articles, ANLS's whitespace, relaxed accuracy's numbers) belongs to the scorer.
Ground truth: the prediction file's `answer` (a list literal for several reference answers).
Judge: never (rule-based scoring, as in VLMEvalKit).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from fasteval.kinds.base import Extraction, Item, TaskKind, prediction_table
from fasteval.types import BenchmarkSpec, Method, Sample


def question_with_suffix(spec: BenchmarkSpec, sample: Sample, style: str) -> str:
    """The bare question plus the dataset's suffix, or the style's own where the benchmark names one."""
    styled = dict(spec.style_suffix).get(style) if style != "default" else None
    return sample.question + (spec.suffix if styled is None else styled)


class VqaKind(TaskKind):
    name: ClassVar[str] = "vqa"
    score_suffix: ClassVar[str] = "acc"

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        return question_with_suffix(spec, sample, style)

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        return prediction_table(predictions, spec, "VQA", "index", "prediction")

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        return Extraction(item.prediction, Method.EXACT)

    def live_hit(self, spec: BenchmarkSpec, item: Item, rules: str) -> bool | None:
        return None  # a graded metric: no per-row yes/no worth showing live
