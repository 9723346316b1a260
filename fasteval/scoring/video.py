"""What the video scorers share: how VLMEvalKit writes a row's score back, and how it prints a mean.

VLMEvalKit's video `evaluate()`s compute a score per `index` value and write it into the prediction
table either by mask (`data.loc[data['index'] == idx, 'score']`: every row with that index) or by row
label (`data.loc[idx, 'score']`: the row at position `idx` of the file, whatever its index). The two
agree while `index` equals the row position (VLMEvalKit's own TSVs); otherwise the label form
scores other rows than the ones read, and leaves the rest NaN (kit EXPECTED.md §4.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import ScoringError

Score = float | None  # None: NaN (no score written)


def by_index(indices: Sequence[object], scores: Sequence[Score]) -> list[Score]:
    """Mask assignment: every row with an index gets the score computed from the first row with it."""
    first: dict[str, Score] = {}
    for idx, score in zip(indices, scores, strict=True):
        first.setdefault(as_vlmeval_str(idx), score)
    return [first[as_vlmeval_str(idx)] for idx in indices]


def by_label(
    indices: Sequence[object], scores: Sequence[Score], scored: Sequence[bool], what: str
) -> list[Score]:
    """Label assignment: for each row that is scored (in file order), the score computed from the
    first row with its index goes to the row at position `index`; rows never written stay NaN. An
    index that is not a row position would add a row upstream and fail later: a one-line error."""
    n = len(indices)
    first: dict[str, Score] = {}
    for idx, score in zip(indices, scores, strict=True):
        first.setdefault(as_vlmeval_str(idx), score)
    out: list[Score] = [None] * n
    for idx, is_scored in zip(indices, scored, strict=True):
        if not is_scored:
            continue
        pos = idx if isinstance(idx, int) else None
        if pos is None or not 0 <= pos < n:
            raise ScoringError(
                f"{what}: index {as_vlmeval_str(idx)!r} is not a row position of the prediction file "
                "(VLMEvalKit writes each score at row `index`); number the rows 0..n-1 in file order"
            )
        out[pos] = first[as_vlmeval_str(idx)]
    return out


def mean_text(values: Sequence[float], digits: int) -> str:
    """`f'{np.mean(values):.{digits}f}'`: 'nan' for no values (numpy's mean of nothing)."""
    if not values:
        return "nan"
    return f"{math.fsum(values) / len(values):.{digits}f}"


def score_rows(rows: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """The per-row file VLMEvalKit writes beside the rating (`_score.xlsx`): each prediction row with
    the columns it is rated by, its answer, its prediction and the score written for it."""
    keep = ["index", *columns, "answer", "prediction", "score"]
    return rows.select([c for c in keep if c in rows.columns])
