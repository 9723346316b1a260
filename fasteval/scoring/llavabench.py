"""LLaVABench's score table: VLMEvalKit's `LLaVABench_score` (dataset/utils/llavabench.py:82-92 at
e8e78f05), rounded as `evaluate` rounds it (`.round(1)`, image_vqa.py:1930).

Input rows carry `category`, `gpt4_score` (the judge's score for the reference answer) and `score`
(for the model's), both -1 where the reply could not be read. Rows: `overall`, then each category
(upstream: Python-set order; sorted here). Columns: `split`, `Relative Score (main)` =
mean(score) / mean(gpt4_score) x 100, `VLM Score` = mean(score) x 10, `GPT4 Score` =
mean(gpt4_score) x 10, each rounded to one decimal as numpy rounds.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.scoring.base import ScoreOptions, ScoreResult, require_columns

OVERALL = "overall"
RELATIVE, VLM, REFERENCE = "Relative Score (main)", "VLM Score", "GPT4 Score"


def _mean(values: list[float]) -> float:
    """`np.mean` of a pandas column, which is the Series' own mean: NaN cells (a judge line such
    as 'nan 7') are left out, the rest summed pairwise with zeros in their place."""
    arr = np.array(values, dtype=np.float64)
    missing = np.isnan(arr)
    count = int((~missing).sum())
    if count == 0:
        return float("nan")
    return float(np.where(missing, 0.0, arr).sum() / count)


def _row(scores: list[float], reference: list[float]) -> tuple[float, float, float]:
    model_mean, ref_mean = _mean(scores), _mean(reference)
    with np.errstate(divide="ignore", invalid="ignore"):  # numpy's inf / nan where upstream divides by 0
        relative = float(np.float64(model_mean) / np.float64(ref_mean) * 100)
    return (
        float(np.round(relative, 1)),
        float(np.round(model_mean * 10, 1)),
        float(np.round(ref_mean * 10, 1)),
    )


def score_llavabench(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Relative score (model over reference), per category and overall."""
    del opts  # one aggregation
    require_columns(rows, ("category", "gpt4_score", "score"), "LLaVABench scoring")
    categories = [as_vlmeval_str(c) for c in rows["category"].to_list()]
    scores = [float(v) for v in rows["score"].to_list()]
    reference = [float(v) for v in rows["gpt4_score"].to_list()]
    names = [OVERALL, *sorted(set(categories))]
    table_rows = []
    for name in names:
        keep = [i for i, c in enumerate(categories) if name == OVERALL or c == name]
        table_rows.append((name, *_row([scores[i] for i in keep], [reference[i] for i in keep])))
    table = pl.DataFrame(
        table_rows,
        schema={"split": pl.String(), RELATIVE: pl.Float64(), VLM: pl.Float64(), REFERENCE: pl.Float64()},
        orient="row",
    )
    return ScoreResult(table=table, rows=rows, headline={RELATIVE: float(table[RELATIVE][0])})
