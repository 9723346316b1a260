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

import string
from collections.abc import Mapping

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.kinds.extract import extract_mcq
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns
from fasteval.scoring.mcq import score_mcq

OTHER_ANSWERS = "Other Answers"
_LETTERS = tuple(string.ascii_uppercase)
_META = ("split", "category", "l2-category")


def _keys(frame: pl.DataFrame) -> list[str]:
    return [as_vlmeval_str(v) for v in frame["index"].to_list()]


def mmmu_gt_letter(answer: object) -> str:
    """The TSV answer as MMMU scoring reads it: a single capital letter stays, anything else is 'A'."""
    return answer if isinstance(answer, str) and answer in _LETTERS else "A"


def mmmu_choices(predictions: pl.DataFrame, dataset: pl.DataFrame) -> list[tuple[dict[str, str], str]]:
    """Per prediction row, in order: (choices letter -> text, ground-truth letter).

    `predictions` is the prediction file as read (`index`, option columns `A`..`Z`, `answer`);
    `dataset` the TSV (`index`, `answer`). NA option cells are absent from the choices; an open
    question (NA `A`) gets A = the prediction file's answer and B = 'Other Answers'.
    """
    for frame, what in ((predictions, "predictions"), (dataset, "dataset")):
        require_columns(frame, ("index", "answer"), f"MMMU scoring ({what})")
    gt = dict(zip(_keys(dataset), (mmmu_gt_letter(a) for a in dataset["answer"].to_list()), strict=True))
    keys = _keys(predictions)
    missing = [k for k in keys if k not in gt]
    if missing:
        raise ScoringError(
            f"{len(missing)} MMMU prediction index(es) are not in the dataset (first: {missing[0]}); "
            "use the dataset file the predictions were made from"
        )
    letters = [c for c in _LETTERS if c in predictions.columns]
    if "A" not in letters:
        raise ScoringError("MMMU predictions have no option column `A`; MMMU scoring reads options from them")
    out: list[tuple[dict[str, str], str]] = []
    answers = predictions["answer"].to_list()
    for key, answer, options in zip(keys, answers, predictions.select(letters).iter_rows(), strict=True):
        values: dict[str, object] = dict(zip(letters, options, strict=True))
        if values["A"] is None:  # MMMU_preproc: an open question becomes a 2-option question
            values["A"] = answer
            values["B"] = OTHER_ANSWERS
        choices = {ch: as_vlmeval_str(v) for ch, v in values.items() if v is not None}
        out.append((choices, gt[key]))
    return out


def mmmu_rows(predictions: pl.DataFrame, dataset: pl.DataFrame) -> pl.DataFrame:
    """The rows `score_mmmu` takes: `index`, `prediction` (`str()`-ed), `answer` (the ground-truth
    letter), `open_question`, the converted options `A`..`I` (null when absent) and the meta
    columns `split` / `category` / `l2-category` when the predictions carry them."""
    require_columns(predictions, ("prediction",), "MMMU scoring")
    prepared = mmmu_choices(predictions, dataset)
    letters = [c for c in _LETTERS if c in predictions.columns]
    cols: dict[str, pl.Series] = {
        "index": predictions["index"],
        "prediction": pl.Series(
            "prediction", [as_vlmeval_str(v) for v in predictions["prediction"].to_list()], dtype=pl.String
        ),
        "answer": pl.Series("answer", [g for _, g in prepared], dtype=pl.String),
        "open_question": pl.Series("open_question", [v is None for v in predictions["A"].to_list()]),
    }
    for ch in letters:
        cols[ch] = pl.Series(ch, [c.get(ch) for c, _ in prepared], dtype=pl.String)
    for m in _META:
        if m in predictions.columns:
            cols[m] = pl.Series(
                m,
                [None if v is None else as_vlmeval_str(v) for v in predictions[m].to_list()],
                dtype=pl.String,
            )
    return pl.DataFrame(list(cols.values()))


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
        letters = [c for c in _LETTERS if c in rows.columns]
        extracted = [
            extract_mcq(str(r["prediction"]), _choices_of(r, letters), opts.rules)
            for r in rows.iter_rows(named=True)
        ]
        rows = rows.with_columns(pl.Series("extracted", extracted, dtype=pl.String))
    result = score_mcq(rows, ScoreOptions(circular=False, rules=opts.rules))
    scored = result.rows.with_columns(score=pl.col("hit").cast(pl.Float64))
    return ScoreResult(table=result.table, rows=scored, headline=result.headline)
