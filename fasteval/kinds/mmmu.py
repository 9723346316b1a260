"""MMMU's rows as VLMEvalKit scores them: open questions become 2-option multiple choice.

`MMMU_preproc` (`utils/multiple_choice.py`; research/next_benchmarks.md §2.1, conformance README
§8.6): options come from the prediction file, a row whose `A` is NaN is an open question with
`A` = its answer and `B` = 'Other Answers'; the ground-truth letter comes from the TSV, anything
but a single capital letter becoming 'A'. Everything else is the multiple-choice kind: prompt
text, extraction, the judge on rows the matcher cannot read, report_acc per split.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import ScoringError
from fasteval.kinds.base import Column, normalise_columns, require, require_columns, with_question
from fasteval.kinds.mcq import McqKind
from fasteval.types import OPTION_LETTERS, BenchmarkSpec

_LETTERS = OPTION_LETTERS
_META = ("split", "category", "l2-category")


def _keys(frame: pl.DataFrame) -> list[str]:
    return [as_vlmeval_str(v) for v in frame["index"].to_list()]


OTHER_ANSWERS = "Other Answers"


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


class MmmuKind(McqKind):
    """Multiple choice over `mmmu_rows`: converted options and the TSV's letter as ground truth."""

    name: ClassVar[str] = "mmmu"
    row_columns: ClassVar[tuple[Column, ...]] = (
        Column("open_question", "True for an open question scored as a 2-option MCQ (MMMU_preproc)"),
    )

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        preds = normalise_columns(predictions)
        require(preds, spec, "predictions", "index", "prediction")
        if dataset is None:
            raise ScoringError(f"{spec.name}: its ground truth is read from the dataset TSV; pass it")
        data = normalise_columns(dataset)
        rows = mmmu_rows(preds.sort("index"), data)
        if "question" in preds.columns:
            rows = rows.with_columns(question=preds.sort("index")["question"])
        return with_question(rows, data)
