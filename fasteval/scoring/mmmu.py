"""MMMU_DEV_VAL: open questions turned into 2-option MCQs, then ordinary MCQ scoring per split.

Follows VLMEvalKit's `MMMUDataset` evaluation (`mcq_vanilla_eval` with `MMMU_preproc`,
`utils/multiple_choice.py`; research/next_benchmarks.md §2.1, conformance README §8.6):

* options `A`..`I` come from the prediction file; a row whose `A` is NaN is an open question:
  `A` = the row's `answer` from the prediction file, `B` = 'Other Answers';
* the ground-truth letter comes from the dataset TSV's `answer`; anything that is not a single
  capital letter becomes 'A' (so an open question whose answer is itself a capital letter keeps
  it, e.g. 'B' = the "Other Answers" slot);
* extraction is the kind's (`fasteval.kinds.mmmu.MmmuKind.extract`, the ordinary MCQ matcher of
  the rule set); the 2025+ text-length gate therefore becomes 2 x (len(answer) + 13) for open
  questions; unresolved rows are 'Z';
* `report_acc` per split (`dev`, `validation`): `Overall` then the sorted `category` values, as
  fractions. Splits are sorted (upstream: Python-set order).
"""

from __future__ import annotations

import polars as pl

from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns
from fasteval.scoring.mcq import score_mcq


def score_mmmu(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Vanilla MCQ scoring of the letters `TaskKind.extract` (or the judge) decided: `hit`/`score`
    per row and `report_acc` per split."""
    if "open_question" not in rows.columns:
        raise ScoringError(
            "MMMU scoring needs the rows fasteval.kinds.mmmu.mmmu_rows prepares (open questions "
            "converted, ground truth letters from the TSV); generic MCQ rows would score open questions wrong"
        )
    require_columns(rows, ("index", "prediction", "answer", "extracted"), "MMMU scoring")
    result = score_mcq(rows, ScoreOptions(circular=False, rules=opts.rules))
    scored = result.rows.with_columns(score=pl.col("hit").cast(pl.Float64))
    return ScoreResult(table=result.table, rows=scored, headline=result.headline)
