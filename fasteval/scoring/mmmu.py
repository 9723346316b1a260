"""MMMU_DEV_VAL: open questions turned into 2-option MCQs, then ordinary MCQ scoring per split.

Follows VLMEvalKit's `MMMUDataset` evaluation (`mcq_vanilla_eval` with `MMMU_preproc`,
`utils/multiple_choice.py`; research/next_benchmarks.md §2.1, conformance README §8.6):

* options `A`..`I` come from the prediction file; a row whose `A` is NaN is an open question:
  `A` = the row's `answer` from the prediction file, `B` = 'Other Answers';
* the ground-truth letter comes from the dataset TSV's `answer`; anything that is not a single
  capital letter becomes 'A' (so an open question whose answer is itself a capital letter keeps
  it, e.g. 'B' = the "Other Answers" slot);
* extraction is the ordinary MCQ matcher of the rule set (`extract_mcq`); the 2025+ text-length
  gate therefore becomes 2 x (len(answer) + 13) for open questions; unresolved rows are 'Z';
* `report_acc` per split (`dev`, `validation`): `Overall` then the sorted `category` values, as
  fractions. Splits are sorted (upstream: Python-set order).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fasteval.kinds.extract import extract_mcq
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns
from fasteval.scoring.mcq import score_mcq
from fasteval.types import OPTION_LETTERS


def _choices_of(row: Mapping[str, object], letters: list[str]) -> dict[str, str]:
    return {ch: str(row[ch]) for ch in letters if row[ch] is not None}


def score_mmmu(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Extract letters with `opts.rules` (unless `extracted` is already there, e.g. judge-resolved
    rows), then vanilla MCQ scoring: `hit`/`score` per row and `report_acc` per split."""
    if "open_question" not in rows.columns:
        raise ScoringError(
            "MMMU scoring needs the rows fasteval.scoring.mmmu.mmmu_rows prepares (open questions "
            "converted, ground truth letters from the TSV); generic MCQ rows would score open questions wrong"
        )
    require_columns(rows, ("index", "prediction", "answer"), "MMMU scoring")
    if "extracted" not in rows.columns:
        letters = [c for c in OPTION_LETTERS if c in rows.columns]
        extracted = [
            extract_mcq(str(r["prediction"]), _choices_of(r, letters), opts.rules)
            for r in rows.iter_rows(named=True)
        ]
        rows = rows.with_columns(pl.Series("extracted", extracted, dtype=pl.String))
    result = score_mcq(rows, ScoreOptions(circular=False, rules=opts.rules))
    scored = result.rows.with_columns(score=pl.col("hit").cast(pl.Float64))
    return ScoreResult(table=result.table, rows=scored, headline=result.headline)
