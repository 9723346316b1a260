"""MMVet's score tables: VLMEvalKit's `MMVet_acc` (`dataset/utils/mmvet.py`).

Input rows carry `category` (a comma list such as `ocr,spat,math`) and `score` (the judge's grade
in [0, 1], 0.0 after 5 failed tries; from `fasteval.kinds.mmvet.fold_tries`).

* `_{judge}_score.csv` (`table`): `Category, tot, acc`, rows `rec, ocr, know, gen, spat, math,
  Overall`. A row counts for every capability whose name is a *substring* of its `category`;
  acc = sum of scores / count x 100. A capability with no row is a division by zero upstream.
* `_{judge}_score_fine.csv` (`extra_tables["score_fine"]`): one row per exact `category` string
  with commas turned into `_`, in first-seen order, then `Overall`.

Sums run in row order, as upstream's loop adds them, so the floats match bit for bit.
"""

from __future__ import annotations

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns

CAPABILITIES: tuple[str, ...] = ("rec", "ocr", "know", "gen", "spat", "math")
OVERALL = "Overall"
FINE_SUFFIX = "score_fine"


def _table(names: list[str], tot: dict[str, int], score: dict[str, float]) -> pl.DataFrame:
    empty = [k for k in names if tot.get(k, 0) == 0]
    if empty:
        raise ScoringError(
            f"MMVet scoring: no row has capability {', '.join(empty)} (VLMEvalKit divides by zero here); "
            "score the full benchmark"
        )
    return pl.DataFrame(
        {"Category": names, "tot": [tot[k] for k in names], "acc": [score[k] / tot[k] * 100 for k in names]},
        schema={"Category": pl.String(), "tot": pl.Int64(), "acc": pl.Float64()},
    )


def score_mmvet(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Per-capability (substring) and per-combination averages of the judge's grades (x100)."""
    del opts  # MMVet has one aggregation
    require_columns(rows, ("category", "score"), "MMVet scoring")
    tot: dict[str, int] = {}
    score: dict[str, float] = {}
    fine: list[str] = []
    for cate_value, grade_value in zip(rows["category"].to_list(), rows["score"].to_list(), strict=True):
        cate = as_vlmeval_str(cate_value)
        cate2 = cate.replace(",", "_")
        if cate2 not in fine:
            fine.append(cate2)
        grade = float(grade_value)
        for capa in CAPABILITIES:
            if capa in cate:
                tot[capa] = tot.get(capa, 0) + 1
                score[capa] = score.get(capa, 0) + grade
        tot[OVERALL] = tot.get(OVERALL, 0) + 1
        tot[cate2] = tot.get(cate2, 0) + 1
        score[OVERALL] = score.get(OVERALL, 0) + grade
        score[cate2] = score.get(cate2, 0) + grade
    table = _table([*CAPABILITIES, OVERALL], tot, score)
    fine_table = _table([*fine, OVERALL], tot, score)
    return ScoreResult(
        table=table,
        rows=rows,
        headline={OVERALL: float(table["acc"][-1])},
        extra_tables={FINE_SUFFIX: fine_table},
    )
