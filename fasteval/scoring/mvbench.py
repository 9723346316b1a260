"""MVBench's `_rating.json`: VLMEvalKit's `get_dimension_rating` (dataset/utils/mvbench.py L14-33 in
ms-vlmeval 0.0.20; the same in every generation).

Input rows carry `task_type` and `score` (from `fasteval.kinds.mvbench`: None for a skipped empty
prediction, -1 for a failed call, else 1 / 0). `evaluate` writes each score at row label `index`
(`data.loc[idx, 'score']`, mvbench.py L415/417 in every generation), for the rows it scored.

The rating is `{task_type: [correct, total, 'xx.xx%'], ..., 'overall': [...]}`, tasks in order of
first appearance; a row counts as correct when its score is truthy, so NaN (skipped) and -1 (failed
call) count as correct, as upstream's `if item['score']` does.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns
from fasteval.scoring.video import Score, by_label, score_rows

OVERALL: Final = "overall"


def counted_correct(score: Score) -> bool:
    """`if item['score']`: NaN is truthy, and so is -1."""
    return score is None or score != 0


def mvbench_rating(tasks: list[str], scores: list[Score]) -> dict[str, Any]:
    """`{task: [correct, total, 'xx.xx%'], ..., 'overall': [correct, total, 'xx.xx%']}`."""
    board: dict[str, list[int]] = {}
    for task, score in zip(tasks, scores, strict=True):
        counts = board.setdefault(task, [0, 0])
        counts[1] += 1
        counts[0] += int(counted_correct(score))
    if not board:
        raise ScoringError("MVBench scoring: no rows to rate (VLMEvalKit divides by zero here)")
    out: dict[str, Any] = {k: [c, t, f"{c / t * 100:.2f}%"] for k, (c, t) in board.items()}
    correct = sum(c for c, _ in board.values())
    total = sum(t for _, t in board.values())
    out[OVERALL] = [correct, total, f"{correct / total * 100:.2f}%"]
    return out


def score_mvbench(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Scores written at row label `index`, then the per-task rating."""
    del opts  # every generation rates MVBench alike (its extraction differences are the kind's)
    require_columns(rows, ("index", "task_type", "score"), "MVBench scoring")
    own: list[Score] = [None if s is None else float(s) for s in rows["score"].to_list()]
    scored = [s is not None for s in own]  # evaluate iterates the rows with a prediction only
    scores = by_label(rows["index"].to_list(), own, scored, "MVBench scoring")
    tasks = [as_vlmeval_str(t) for t in rows["task_type"].to_list()]
    rating = mvbench_rating(tasks, scores)
    table = pl.DataFrame(
        [{"task_type": k, "correct": v[0], "total": v[1], "acc": v[2]} for k, v in rating.items()],
        schema={"task_type": pl.String, "correct": pl.Int64, "total": pl.Int64, "acc": pl.String},
    )
    correct, total = rating[OVERALL][0], rating[OVERALL][1]
    written = pl.Series("score", scores, dtype=pl.Float64)
    hit = pl.Series("hit", [int(counted_correct(s)) for s in scores], dtype=pl.Int64)
    scored_rows = rows.with_columns(written, hit)
    return ScoreResult(
        table=table,
        rows=scored_rows,
        headline={OVERALL: correct / total * 100},
        json=rating,
        row_table=score_rows(scored_rows, ("task_type", "gt")),
    )
