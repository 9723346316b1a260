"""Video-MME's `_rating.json`: VLMEvalKit's `get_dimension_rating` (dataset/utils/videomme.py L73-117 in
ms-vlmeval 0.0.20; the same in every generation).

Input rows carry `duration`, `domain`, `sub_category`, `task_type` and `score` (the row's 0/1 from
`fasteval.kinds.videomme`). Scores are written back by mask (0.0.20 / e8e78f05, `videomme.py`
L274/276) or, in vlmevalkit-2024.07, by row label (nvidia-vlmeval 26.3 `videomme.py` L281/283).

The rating: for `short`, `medium`, `long` and `overall`, `overall` then `domain`, `sub_category` and
`task_type` in VLMEvalKit's fixed order, each the mean of the group's scores that are >= 0 as
`'%.3f'` text (`'nan'` when the group is empty). A value outside the lists raises upstream (KeyError):
a one-line error here.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns
from fasteval.scoring.video import Score, by_index, by_label, mean_text, score_rows

DURATIONS: Final = ("short", "medium", "long")
DOMAINS: Final = (
    "Knowledge",
    "Film & Television",
    "Sports Competition",
    "Artistic Performance",
    "Life Record",
    "Multilingual",
)
SUB_CATEGORIES: Final = (
    "Humanity & History",
    "Literature & Art",
    "Biology & Medicine",
    "Finance & Commerce",
    "Astronomy",
    "Geography",
    "Law",
    "Life Tip",
    "Technology",
    "Animation",
    "Movie & TV Show",
    "Documentary",
    "News Report",
    "Esports",
    "Basketball",
    "Football",
    "Athletics",
    "Other Sports",
    "Stage Play",
    "Magic Show",
    "Variety Show",
    "Acrobatics",
    "Handicraft",
    "Food",
    "Fashion",
    "Daily Life",
    "Travel",
    "Pet & Animal",
    "Exercise",
    "Multilingual",
)
TASK_CATEGORIES: Final = (
    "Temporal Perception",
    "Spatial Perception",
    "Attribute Perception",
    "Action Recognition",
    "Object Recognition",
    "OCR Problems",
    "Counting Problem",
    "Temporal Reasoning",
    "Spatial Reasoning",
    "Action Reasoning",
    "Object Reasoning",
    "Information Synopsis",
)
GROUPS: Final = (("domain", DOMAINS), ("sub_category", SUB_CATEGORIES), ("task_type", TASK_CATEGORIES))
OVERALL: Final = "overall"
RULES_BY_LABEL: Final = "vlmevalkit-2024.07"


def _valid(values: list[Score]) -> list[float]:
    """`[x for x in v if x >= 0]`: NaN (None) fails the test."""
    return [float(x) for x in values if x is not None and x >= 0]


def videomme_rating(rows: list[dict[str, Any]], scores: list[Score]) -> dict[str, Any]:
    """The nested rating dict, keys in VLMEvalKit's order."""
    lists: dict[str, dict[str, dict[str, list[Score]]]] = {
        d: {group: {k: [] for k in names} for group, names in GROUPS} for d in (*DURATIONS, OVERALL)
    }
    for row, score in zip(rows, scores, strict=True):
        duration = as_vlmeval_str(row["duration"])
        for target in (duration, OVERALL):
            if target not in lists:
                raise ScoringError(
                    f"Video-MME duration {duration!r} is not one of {', '.join(DURATIONS)}; fix the data"
                )
            for group, names in GROUPS:
                value = as_vlmeval_str(row[group])
                if value not in lists[target][group]:
                    raise ScoringError(
                        f"Video-MME {group} {value!r} is not one of Video-MME's {len(names)}; fix the data"
                    )
                lists[target][group][value].append(score)
    out: dict[str, Any] = {}
    for d in (*DURATIONS, OVERALL):
        everything = [x for values in lists[d]["domain"].values() for x in values]
        out[d] = {OVERALL: mean_text(_valid(everything), 3)}
        for group, names in GROUPS:
            out[d][group] = {k: mean_text(_valid(lists[d][group][k]), 3) for k in names}
    return out


def score_videomme(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Per-row scores written back as the rule generation does, then `get_dimension_rating`."""
    needed = ("index", "duration", "domain", "sub_category", "task_type", "score")
    require_columns(rows, needed, "Video-MME scoring")
    own: list[Score] = [None if s is None else float(s) for s in rows["score"].to_list()]
    indices = rows["index"].to_list()
    if opts.rules == RULES_BY_LABEL:
        scores = by_label(indices, own, [True] * len(own), "Video-MME scoring")
    else:
        scores = by_index(indices, own)
    records = rows.select("duration", "domain", "sub_category", "task_type").to_dicts()
    rating = videomme_rating(records, scores)
    table = pl.DataFrame(
        _table_rows(rating),
        schema={"group": pl.String, "name": pl.String, **dict.fromkeys((*DURATIONS, OVERALL), pl.String)},
    )
    written = pl.Series("score", scores, dtype=pl.Float64)
    hit = pl.Series("hit", [int(s == 1) for s in scores], dtype=pl.Int64)
    overall = rating[OVERALL][OVERALL]
    scored_rows = rows.with_columns(written, hit)
    return ScoreResult(
        table=table,
        rows=scored_rows,
        headline={"overall": float(overall)},
        json=rating,
        row_table=score_rows(scored_rows, ("duration", "domain", "sub_category", "task_type")),
    )


def _table_rows(rating: dict[str, Any]) -> list[dict[str, str]]:
    """The rating as a flat table for the console: one row per (group, name), a column per duration."""
    out = [{"group": OVERALL, "name": OVERALL, **{d: rating[d][OVERALL] for d in (*DURATIONS, OVERALL)}}]
    for group, names in GROUPS:
        out.extend(
            {"group": group, "name": k, **{d: rating[d][group][k] for d in (*DURATIONS, OVERALL)}}
            for k in names
        )
    return out
