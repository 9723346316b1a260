"""A score file's headline number, read from its layout: shared by the leaderboard and the resampler."""

from __future__ import annotations

import polars as pl

OVERALL, ACC = "Overall", "acc"  # VLMEvalKit's names for a headline row or column
FINAL = "Final Score"  # OCRBench's `_score.json` headline


def headline_of(table: pl.DataFrame) -> tuple[str, float]:
    """The score file's headline, as VLMEvalKit's files lay it out: the `Overall` row (where rows
    are splits or categories; else the `validation` split, MMMU's leaderboard figure) and the
    `Overall` column, else `acc`, else OCRBench's `Final Score`, else the first numeric column
    (MME's perception, HallusionBench's aAcc)."""
    numeric = [c for c in table.columns if table.schema[c].is_numeric()]
    if not numeric or not table.height:
        raise ValueError("score file has no numeric column")
    labels = [c for c in table.columns if c not in numeric]
    names = [tuple(map(str, r)) for r in table.select(labels).iter_rows()]
    wanted = (OVERALL, "validation")
    row = next((i for want in wanted for i, r in enumerate(names) if want in r), 0)
    column = next((c for c in (OVERALL, ACC, FINAL) if c in numeric), numeric[0])
    return column, float(table[column][row])
