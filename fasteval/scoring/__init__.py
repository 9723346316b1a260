"""Scorers: pure functions from per-row extracted answers (a polars frame) to VLMEvalKit's tables.

`SCORERS` is keyed by `BenchmarkSpec.scorer`; each entry declares the dataset columns it reads
(besides index, prediction, answer and the extraction), so the rows it receives carry exactly
those. Nothing here looks at a dataset's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fasteval.scoring.base import ScoreOptions, Scorer, ScoreResult, ScoringError
from fasteval.scoring.grounding import score_grounding
from fasteval.scoring.llavabench import score_llavabench
from fasteval.scoring.mathvista import score_mathvista
from fasteval.scoring.mcq import report_acc, score_mcq
from fasteval.scoring.mmmu import score_mmmu
from fasteval.scoring.mmt import score_mmt
from fasteval.scoring.mmvet import score_mmvet
from fasteval.scoring.ocrbench import score_ocrbench
from fasteval.scoring.stats import wilson_interval
from fasteval.scoring.vqa import score_anls, score_relaxed_acc, score_vqa_acc
from fasteval.scoring.yorn import score_hallusion, score_mme, score_pope, score_yorn


@dataclass(frozen=True, slots=True)
class ScorerEntry:
    score: Scorer
    columns: tuple[str, ...]  # dataset columns the scorer groups by, passed through when present


SCORERS: Mapping[str, ScorerEntry] = {
    "mme": ScorerEntry(score_mme, ("category", "image_path")),
    "pope": ScorerEntry(score_pope, ("category",)),
    "hallusion": ScorerEntry(score_hallusion, ("category", "l2-category")),
    "yorn": ScorerEntry(score_yorn, ("category", "l2-category")),
    "mcq": ScorerEntry(score_mcq, ("split", "category", "l2-category")),
    "mathvista": ScorerEntry(score_mathvista, ("task", "skills")),
    "mmvet": ScorerEntry(score_mmvet, ("category",)),
    "vqa_acc": ScorerEntry(score_vqa_acc, ("split", "category")),
    "anls": ScorerEntry(score_anls, ("split", "category")),
    "relaxed_acc": ScorerEntry(score_relaxed_acc, ("split", "category")),
    "ocrbench": ScorerEntry(score_ocrbench, ("category",)),
    # MMMU also needs the open-question conversion (fasteval.scoring.mmmu.mmmu_rows): the option
    # columns and the prediction file's answer, which the generic MCQ rows do not carry
    "mmmu": ScorerEntry(score_mmmu, ("split", "category", "l2-category", "open_question", *"ABCDEFGHI")),
    "mmt": ScorerEntry(score_mmt, ("split", "category", "l2-category")),
    "grounding": ScorerEntry(score_grounding, ("split",)),
    "llavabench": ScorerEntry(score_llavabench, ("category",)),
}

__all__ = [
    "SCORERS",
    "ScoreOptions",
    "ScoreResult",
    "Scorer",
    "ScorerEntry",
    "ScoringError",
    "report_acc",
    "score_anls",
    "score_grounding",
    "score_hallusion",
    "score_llavabench",
    "score_mathvista",
    "score_mcq",
    "score_mme",
    "score_mmmu",
    "score_mmt",
    "score_mmvet",
    "score_ocrbench",
    "score_pope",
    "score_relaxed_acc",
    "score_vqa_acc",
    "score_yorn",
    "wilson_interval",
]
