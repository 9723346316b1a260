"""Scorers: pure functions from per-row extracted answers (a polars frame) to VLMEvalKit's tables.

`SCORERS` is keyed by `BenchmarkSpec.scorer`; nothing here looks at a dataset's name.
"""

from __future__ import annotations

from collections.abc import Mapping

from fasteval.scoring.base import ScoreOptions, Scorer, ScoreResult, ScoringError
from fasteval.scoring.mathvista import score_mathvista
from fasteval.scoring.mcq import apply_judge, pending_judge, report_acc, score_mcq
from fasteval.scoring.mmvet import score_mmvet
from fasteval.scoring.stats import wilson_interval
from fasteval.scoring.yorn import score_hallusion, score_mme, score_pope, score_yorn

SCORERS: Mapping[str, Scorer] = {
    "mme": score_mme,
    "pope": score_pope,
    "hallusion": score_hallusion,
    "yorn": score_yorn,
    "mcq": score_mcq,
    "mathvista": score_mathvista,
    "mmvet": score_mmvet,
}

__all__ = [
    "SCORERS",
    "ScoreOptions",
    "ScoreResult",
    "Scorer",
    "ScoringError",
    "apply_judge",
    "pending_judge",
    "report_acc",
    "score_hallusion",
    "score_mathvista",
    "score_mcq",
    "score_mme",
    "score_mmvet",
    "score_pope",
    "score_yorn",
    "wilson_interval",
]
