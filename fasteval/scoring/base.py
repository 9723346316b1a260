"""The shared shapes of scoring: what a scorer takes, what it returns, and one-line scoring errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from fasteval.errors import ScoringError
from fasteval.kinds.base import require_columns

__all__ = ["ScoreOptions", "ScoreResult", "Scorer", "ScoringError", "require_columns"]


@dataclass(frozen=True, slots=True)
class ScoreOptions:
    """How to aggregate: VLMEvalKit's way, or the benchmark's official way; circular MCQ or not."""

    circular: bool = False
    official: bool = False
    # Some rows failed for good and were left out (the runner's case): a question pair with a
    # missing partner is left out of pair metrics (MME acc+) instead of being an error.
    partial: bool = False
    # The VLMEvalKit generation for rule-dependent scorers (VQA period regex, ChartQA argument
    # order); the default is kinds.extract.DEFAULT_RULES, spelled out to keep scoring import-free.
    rules: str = "vlmevalkit-2026.06"


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A scorer's output.

    `table` has VLMEvalKit's `_score.csv` / `_acc.csv` layout (or the official layout under
    official rules); `rows` is the per-row frame with `hit` (and `group_hit` for circular MCQ);
    `headline` holds the few numbers a summary shows, on the table's own scale.
    """

    table: pl.DataFrame
    rows: pl.DataFrame
    headline: dict[str, float] = field(default_factory=dict)
    # More tables a scorer writes beside `table`, by file suffix (MMVet: "score_fine").
    extra_tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    json: dict[str, Any] | None = None  # a JSON score file's payload (OCRBench `_score.json`), else None
    # The per-row scores VLMEvalKit writes beside a JSON rating (the video `_score.xlsx`: the prediction
    # file's rows with their `score`), written as the kind's `score_file`; None: no such file
    row_table: pl.DataFrame | None = None


Scorer = Callable[[pl.DataFrame, ScoreOptions], ScoreResult]
