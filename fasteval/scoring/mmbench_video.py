"""MMBench-Video's `_{judge}_rating.json`: VLMEvalKit's `get_dimension_rating`
(dataset/utils/mmbench_video.py L22-68 in ms-vlmeval 0.0.20; the same in every generation).

Input rows carry `dimensions` (a list literal of L3 dimension names) and `score` (the judge's grade,
-1 when there is none; from `fasteval.kinds.mmbench_video`).

* fine: each of the 26 L3 dimensions collects the scores of the rows that name it;
* coarse: CP, FP-S, FP-C, HL, LR, AR, RR, CSR, TR, then Perception (CP, FP-C, FP-S, HL), Reasoning
  (LR, AR, RR, CSR, TR) and Overall; a row counts once per group any of its dimensions is in;
* `*_all`: mean of `max(score, 0)`; `*_valid`: mean of the scores >= 0; both `'%.2f'` text, 'nan'
  for an empty group. An unknown dimension raises upstream (KeyError): a one-line error here.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns
from fasteval.scoring.video import mean_text, score_rows

L2_DIMENSIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "CP": ("Video Topic", "Video Emotion", "Video Scene", "Video Style"),
    "FP-S": (
        "OCR",
        "Object Recognition",
        "Attribute Recognition",
        "Event Recognition",
        "Human Motion",
        "Counting",
    ),
    "FP-C": ("Spatial Relationship", "Human-object Interaction", "Human Interaction"),
    "HL": ("Hallucination",),
    "LR": ("Structuralized Image-Text Understanding", "Mathematical Calculation"),
    "AR": ("Physical Property", "Function Reasoning", "Identity Reasoning"),
    "RR": ("Natural Relation", "Physical Relation", "Social Relation"),
    "CSR": ("Common Sense Reasoning",),
    "TR": ("Counterfactual Reasoning", "Causal Reasoning", "Future Prediction"),
}
L3_DIMENSIONS: Final = tuple(d for dims in L2_DIMENSIONS.values() for d in dims)
COARSE: Final[Mapping[str, frozenset[str]]] = {
    **{k: frozenset(v) for k, v in L2_DIMENSIONS.items()},
    "Perception": frozenset(d for k in ("CP", "FP-C", "FP-S", "HL") for d in L2_DIMENSIONS[k]),
    "Reasoning": frozenset(d for k in ("LR", "AR", "RR", "CSR", "TR") for d in L2_DIMENSIONS[k]),
    "Overall": frozenset(L3_DIMENSIONS),
}


def _dimensions(raw: str) -> list[str]:
    """The row's `dimensions` cell, a list literal upstream `eval`s."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        raise ScoringError(
            f"MMBench-Video dimensions {raw[:60]!r} is not a list literal; fix the data"
        ) from None
    if not isinstance(value, list | tuple) or not all(isinstance(d, str) for d in value):
        raise ScoringError(f"MMBench-Video dimensions {raw[:60]!r} must be a list of names")
    unknown = [d for d in value if d not in L3_DIMENSIONS]
    if unknown:
        raise ScoringError(f"MMBench-Video dimension {unknown[0]!r} is not one of its 26; fix the data")
    return list(value)


def mmbench_video_rating(dimensions: list[str], scores: list[int]) -> dict[str, dict[str, str]]:
    """`{coarse_all, coarse_valid, fine_all, fine_valid}`, keys in VLMEvalKit's order."""
    coarse: dict[str, list[int]] = {k: [] for k in COARSE}
    fine: dict[str, list[int]] = {k: [] for k in L3_DIMENSIONS}
    for raw, score in zip(dimensions, scores, strict=True):
        cates = _dimensions(raw)
        for c in cates:
            fine[c].append(score)
        for group, members in COARSE.items():
            if any(c in members for c in cates):
                coarse[group].append(score)

    def all_(groups: dict[str, list[int]]) -> dict[str, str]:
        return {k: mean_text([float(max(x, 0)) for x in v], 2) for k, v in groups.items()}

    def valid(groups: dict[str, list[int]]) -> dict[str, str]:
        return {k: mean_text([float(x) for x in v if x >= 0], 2) for k, v in groups.items()}

    return {
        "coarse_all": all_(coarse),
        "coarse_valid": valid(coarse),
        "fine_all": all_(fine),
        "fine_valid": valid(fine),
    }


def score_mmbench_video(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Coarse and fine means of the judge's 0-3 grades, over all rows and over graded rows."""
    del opts  # one aggregation in every generation
    require_columns(rows, ("dimensions", "score"), "MMBench-Video scoring")
    scores = [-1 if s is None else int(s) for s in rows["score"].to_list()]
    dims = [as_vlmeval_str(d) for d in rows["dimensions"].to_list()]
    rating = mmbench_video_rating(dims, scores)
    table = pl.DataFrame(
        [
            {
                "level": level,
                "dimension": k,
                "all": rating[f"{level}_all"][k],
                "valid": rating[f"{level}_valid"][k],
            }
            for level, names in (("coarse", tuple(COARSE)), ("fine", L3_DIMENSIONS))
            for k in names
        ],
        schema={"level": pl.String, "dimension": pl.String, "all": pl.String, "valid": pl.String},
    )
    scored_rows = rows.with_columns(pl.Series("score", scores, dtype=pl.Int64))
    return ScoreResult(
        table=table,
        rows=scored_rows,
        headline={"Overall": float(rating["coarse_all"]["Overall"])},
        json=rating,
        row_table=score_rows(scored_rows, ("dimensions",)),
    )
