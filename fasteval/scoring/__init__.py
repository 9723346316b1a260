"""Scorers: pure functions from per-row extracted answers (a polars frame) to VLMEvalKit's tables.

`SCORERS` is keyed by `BenchmarkSpec.scorer`; each entry declares the dataset columns it reads
(besides index, prediction, answer and the extraction), so the rows it receives carry exactly
those, and what its output means: the score file's headline cell, the per-row outcome (hit or
grade, and groups), the per-row columns the samples file keeps. `declaration(spec)` joins that
with the kind's own columns: it is all the report reads. Nothing here looks at a dataset's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fasteval.kinds import kind_named
from fasteval.scoring.base import (
    Column,
    Declaration,
    Headline,
    Outcome,
    ScoreOptions,
    Scorer,
    ScoreResult,
    ScoringError,
)
from fasteval.scoring.grounding import score_grounding
from fasteval.scoring.llavabench import score_llavabench
from fasteval.scoring.mathvista import score_mathvista
from fasteval.scoring.mcq import report_acc, score_mcq
from fasteval.scoring.mmbench_video import score_mmbench_video
from fasteval.scoring.mme_realworld import score_mme_realworld
from fasteval.scoring.mmmu import score_mmmu
from fasteval.scoring.mmt import score_mmt
from fasteval.scoring.mmvet import score_mmvet
from fasteval.scoring.mvbench import score_mvbench
from fasteval.scoring.ocrbench import score_ocrbench
from fasteval.scoring.stats import wilson_interval
from fasteval.scoring.videomme import score_videomme
from fasteval.scoring.vqa import score_anls, score_relaxed_acc, score_vqa_acc
from fasteval.scoring.yorn import score_hallusion, score_mme, score_pope, score_yorn
from fasteval.types import BenchmarkSpec

# Per-row columns several scorers share, with what they hold.
HIT = Column("hit", "1 when the row (its group, under circular evaluation) scored, else 0")
SCORE = Column("score", "the row's grade in [0, 1]")
SCORE_OF_HIT = Column("score", "the row's hit as a float (VLMEvalKit's `score` column)")
CATEGORY = Column("category", "the dataset's category (results break down by it)")
L2 = Column("l2-category", "the dataset's second-level category")
SPLIT = Column("split", "the dataset's split")
ROW_HIT = Column("row_hit", "1 when the row itself extracted its ground truth, else 0")

HITS = Outcome("hit")  # one 0/1 hit per row
GRADES = Outcome("score", graded=True)  # one grade in [0, 1] per row
OVERALL = Headline(columns=("Overall",), rows=("Overall",))
VIDEOMME_GROUPS = tuple(
    Column(name, f"the question's {name} (the rating breaks down by it)")
    for name in ("duration", "domain", "sub_category", "task_type")
)  # VLMEvalKit's `Overall` column and row


@dataclass(frozen=True, slots=True)
class ScorerEntry:
    """A scorer and what it declares: the dataset columns it reads, and, for the report, what its
    rows and score table mean (the report reads these and knows no scorer by its columns)."""

    score: Scorer
    columns: tuple[str, ...]  # dataset columns the scorer groups by, passed through when present
    headline: Headline  # the score file's headline cell
    outcome: Outcome | None  # the per-row outcome (hit or grade; groups); None: whole-benchmark only
    row_columns: tuple[Column, ...] = ()  # per-row columns of its rows the samples file keeps
    category: str | None = "category"  # the column results break down by, when the rows carry it
    cluster: str | None = None  # rows resampled together for a bootstrap interval
    requires: tuple[str, ...] = ()  # dataset columns it cannot score without (checked before sending)
    distribution: str | None = None  # a per-row number in [0, 1] the report draws as a histogram


SCORERS: Mapping[str, ScorerEntry] = {
    "mme": ScorerEntry(
        score_mme,
        ("category", "image_path"),
        Headline(columns=("perception",)),
        HITS,
        (HIT, CATEGORY, Column("image_path", "the image a question pair shares (acc+ pairs rows by it)")),
        cluster="image_path",
        requires=("category", "image_path"),
    ),
    "pope": ScorerEntry(
        score_pope,
        ("category",),
        Headline(("Overall", "acc"), ("Overall",)),
        HITS,
        (HIT, CATEGORY),
        requires=("category",),
    ),
    "hallusion": ScorerEntry(
        score_hallusion,
        ("category", "l2-category"),
        Headline(("aAcc",), ("Overall",)),
        HITS,
        (HIT, CATEGORY, L2),
        requires=("l2-category",),
    ),
    "yorn": ScorerEntry(score_yorn, ("category", "l2-category"), OVERALL, HITS, (HIT, CATEGORY, L2)),
    "mcq": ScorerEntry(
        score_mcq,
        ("split", "category", "l2-category"),
        Headline(("Overall", "acc"), ("Overall", "validation")),
        Outcome("hit", group="g_index", own="row_hit"),
        (
            ROW_HIT,
            HIT,
            Column("g_index", "the row's circular group (index % 1e6); circular evaluation only"),
            CATEGORY,
            L2,
            SPLIT,
        ),
    ),
    "mathvista": ScorerEntry(
        score_mathvista,
        ("task", "skills"),
        Headline(("acc",), ("Overall",)),
        HITS,
        requires=("task", "skills"),
    ),
    "mmvet": ScorerEntry(
        score_mmvet,
        ("category",),
        Headline(("acc",), ("Overall",)),
        GRADES,
        (CATEGORY,),
        requires=("category",),
    ),
    "vqa_acc": ScorerEntry(score_vqa_acc, ("split", "category"), OVERALL, GRADES, (CATEGORY, SPLIT, SCORE)),
    "anls": ScorerEntry(score_anls, ("split", "category"), OVERALL, GRADES, (CATEGORY, SPLIT, SCORE)),
    "relaxed_acc": ScorerEntry(
        score_relaxed_acc, ("split", "category"), OVERALL, HITS, (HIT, CATEGORY, SPLIT, SCORE_OF_HIT)
    ),
    "ocrbench": ScorerEntry(
        score_ocrbench,
        ("category",),
        Headline(("Final Score",)),
        HITS,
        (HIT, CATEGORY, SCORE_OF_HIT),
        requires=("category",),
    ),
    # MMMU also needs the open-question conversion (fasteval.kinds.mmmu.mmmu_rows): the option
    # columns and the prediction file's answer, which the generic MCQ rows do not carry
    "mmmu": ScorerEntry(
        score_mmmu,
        ("split", "category", "l2-category", "open_question", *"ABCDEFGHI"),
        Headline(("Overall",), ("Overall", "validation")),
        HITS,
        (ROW_HIT, HIT, CATEGORY, L2, SPLIT, SCORE_OF_HIT),
    ),
    "mmt": ScorerEntry(
        score_mmt,
        ("split", "category", "l2-category"),
        Headline(("Overall",), ("ALL",)),  # report_acc_MMT: splits, then the `ALL` row
        HITS,
        (ROW_HIT, HIT, CATEGORY, L2, SPLIT, SCORE_OF_HIT),
    ),
    # Video: VLMEvalKit's `_rating.json` is the score file (ScoreResult.json), `_score.xlsx` its rows
    "videomme": ScorerEntry(
        score_videomme,
        ("duration", "domain", "sub_category", "task_type"),
        Headline(json=("overall", "overall"), label="overall"),
        HITS,
        (HIT, Column("score", "the row's score as VLMEvalKit writes it (1 hit, 0 miss)"), *VIDEOMME_GROUPS),
        category="task_type",
        requires=("duration", "domain", "sub_category", "task_type"),
    ),
    "mvbench": ScorerEntry(
        score_mvbench,
        ("task_type",),
        Headline(json=("overall", 2), label="overall (%)"),
        HITS,
        (
            Column("hit", "1 when the row counts as correct in VLMEvalKit's rating (a truthy score)"),
            Column("score", "VLMEvalKit's score: 1, 0, -1 (failed call) or empty (empty prediction)"),
            Column("task_type", "the MVBench task (results break down by it)"),
        ),
        category="task_type",
        requires=("task_type",),
    ),
    "mmbench_video": ScorerEntry(
        score_mmbench_video,
        ("dimensions",),
        Headline(json=("coarse_all", "Overall"), label="coarse_all Overall (0-3)"),
        Outcome("grade", graded=True),
        (
            Column("score", "the judge's 0-3 grade as VLMEvalKit parses it (-1: unusable or not asked)"),
            Column("grade", "max(score, 0) / 3: the row's share of coarse_all's Overall"),
            Column("dimensions", "the row's MMBench-Video dimensions"),
        ),
        category=None,
        requires=("dimensions",),
    ),
    "grounding": ScorerEntry(
        score_grounding,
        ("split",),
        Headline(("Precision@1",), ("Average",)),  # refcoco.py: the macro `Average` row
        HITS,
        (HIT, SPLIT),
        category="split",
        distribution="iou",
    ),
    "llavabench": ScorerEntry(
        score_llavabench,
        ("category",),
        Headline(("Relative Score (main)",), ("overall",)),
        None,  # a ratio of two means: no per-row outcome
        (CATEGORY,),
    ),
    "mme_realworld": ScorerEntry(
        score_mme_realworld,
        ("category", "l2-category"),
        Headline(("Overall",)),  # the rating JSON's top-level `Overall`
        HITS,
        (HIT, CATEGORY, L2),
    ),
}


def declaration(spec: BenchmarkSpec) -> Declaration:
    """What `spec`'s rows and score file mean: its scorer's declaration plus its kind's own columns."""
    entry = SCORERS[spec.scorer]
    own = tuple(
        c for c in kind_named(spec.kind).row_columns if c.name not in {d.name for d in entry.row_columns}
    )
    return Declaration(
        headline=entry.headline,
        outcome=entry.outcome,
        columns=entry.row_columns + own,
        category=entry.category,
        cluster=entry.cluster,
        distribution=entry.distribution,
    )


__all__ = [
    "SCORERS",
    "Column",
    "Declaration",
    "Headline",
    "Outcome",
    "ScoreOptions",
    "ScoreResult",
    "Scorer",
    "ScorerEntry",
    "ScoringError",
    "declaration",
    "report_acc",
    "score_anls",
    "score_grounding",
    "score_hallusion",
    "score_llavabench",
    "score_mathvista",
    "score_mcq",
    "score_mme",
    "score_mme_realworld",
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
