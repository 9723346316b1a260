"""Evaluate predictions: extract every answer, score it, write VLMEvalKit's files.

`score_predictions` works on frames already in memory (the runner's path); `evaluate_file` is the
`--mode eval` path that reads VLMEvalKit's files first. Ground truth follows VLMEvalKit: Y/N takes
`answer` from the prediction file, MCQ from the dataset TSV (keyed by `index`), while MCQ options
come from the prediction file's `A`..`Z` columns (the TSV's when the predictions carry none).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from fasteval.data.tabular import as_vlmeval_str, read_table
from fasteval.kinds.extract import (
    DEFAULT_RULES,
    OFFICIAL,
    UNKNOWN,
    effective_rules,
    extract_mcq,
    extract_yorn,
)
from fasteval.scoring import SCORERS, ScoreOptions, ScoreResult, ScoringError, apply_judge
from fasteval.types import BenchmarkSpec, Method

if TYPE_CHECKING:
    from fasteval.judge.core import Verdict
    from fasteval.report.coverage import Coverage

_LETTERS = tuple(string.ascii_uppercase)
_META = ("category", "l2-category", "split", "image_path")


@dataclass(frozen=True, slots=True)
class Scored:
    """Scores of one benchmark from in-memory frames, before anything is written."""

    spec: BenchmarkSpec
    rules: str  # as asked: a VLMEvalKit generation or "official"
    effective_rules: str  # what applied: e.g. "vlmevalkit-2025.08" or "official:mme"
    result: ScoreResult
    n_predictions: int
    n_unresolved: int  # rows exact matching could not decide (scored as misses)

    @property
    def official(self) -> bool:
        return self.effective_rules.startswith(OFFICIAL + ":")


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What `evaluate_file` produced: scores, the table as written, and the files it wrote."""

    scored: Scored
    headline: dict[str, float]
    table: pl.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def rules(self) -> str:
        return self.scored.effective_rules


def _normalise_columns(preds: pl.DataFrame) -> pl.DataFrame:
    """VLMEvalKit lowercases prediction column names, except single uppercase letters (options)."""
    renames = {c: c.lower() for c in preds.columns if not (len(c) == 1 and c.isupper()) and c != c.lower()}
    return preds.rename(renames) if renames else preds


def _key(frame: pl.DataFrame) -> list[str]:
    return [as_vlmeval_str(v) for v in frame["index"].to_list()]


def _base_rows(preds: pl.DataFrame) -> dict[str, list[object]]:
    cols: dict[str, list[object]] = {
        "index": preds["index"].to_list(),
        "prediction": [as_vlmeval_str(v) for v in preds["prediction"].to_list()],
    }
    for m in _META:
        if m in preds.columns:
            cols[m] = [None if v is None else as_vlmeval_str(v) for v in preds[m].to_list()]
    return cols


def _frame(cols: dict[str, list[object]], index_dtype: pl.DataType) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {k: pl.String() for k in cols}
    schema["index"] = index_dtype
    return pl.DataFrame(cols, schema=schema)


def _yorn_rows(spec: BenchmarkSpec, preds: pl.DataFrame, rules: str) -> pl.DataFrame:
    if "answer" not in preds.columns:
        raise ScoringError(
            f"{spec.name} predictions have no `answer` column; Y/N ground truth is read from it"
        )
    cols = _base_rows(preds)
    cols["answer"] = [as_vlmeval_str(v) for v in preds["answer"].to_list()]
    extracted = [extract_yorn(str(p), rules, official_rule=spec.official_rule) for p in cols["prediction"]]
    cols["extracted"] = list(extracted)
    cols["method"] = [Method.UNRESOLVED.value if e == UNKNOWN else Method.EXACT.value for e in extracted]
    return _frame(cols, preds.schema["index"])


def _mcq_rows(
    spec: BenchmarkSpec, dataset: pl.DataFrame, preds: pl.DataFrame, rules: str, article_a_guard: bool
) -> pl.DataFrame:
    for frame, what in ((dataset, "dataset"), (preds, "predictions")):
        if "index" not in frame.columns:
            raise ScoringError(f"{spec.name} {what} have no `index` column; add it")
    if "answer" not in dataset.columns:
        raise ScoringError(
            f"{spec.name} dataset TSV has no `answer` column; MCQ ground truth is read from it"
        )
    gt = dict(zip(_key(dataset), (as_vlmeval_str(a) for a in dataset["answer"].to_list()), strict=True))
    keys = _key(preds)
    unknown = [k for k in keys if k not in gt]
    if unknown:
        raise ScoringError(
            f"{len(unknown)} prediction index(es) are not in the {spec.name} dataset (first: {unknown[0]}); "
            "use the dataset file the predictions were made from"
        )
    letters = [c for c in _LETTERS if c in preds.columns]
    option_rows: list[tuple[object, ...]]
    if letters:
        option_rows = list(preds.select(letters).iter_rows())
    elif letters := [c for c in _LETTERS if c in dataset.columns]:
        by_key = dict(zip(_key(dataset), dataset.select(letters).iter_rows(), strict=True))
        option_rows = [by_key[k] for k in keys]
    else:
        option_rows = [()] * len(keys)
    cols = _base_rows(preds)
    cols["answer"] = [gt[k] for k in keys]
    extracted: list[object] = []
    for pred, opts in zip(cols["prediction"], option_rows, strict=True):
        choices = {ch: as_vlmeval_str(v) for ch, v in zip(letters, opts, strict=True) if v is not None}
        extracted.append(
            extract_mcq(
                str(pred), choices, rules, official_rule=spec.official_rule, article_a_guard=article_a_guard
            )
        )
    cols["extracted"] = extracted
    cols["method"] = [None if e is None else Method.EXACT.value for e in extracted]
    return _frame(cols, preds.schema["index"])


def score_predictions(
    spec: BenchmarkSpec,
    predictions: pl.DataFrame,
    *,
    dataset: pl.DataFrame | None = None,
    rules: str = DEFAULT_RULES,
    judge_answers: Mapping[object, str] | None = None,
    verdicts: Mapping[str, Verdict] | None = None,
    article_a_guard: bool = False,
    partial: bool = False,
) -> Scored:
    """Extract and score predictions held in memory.

    `predictions` needs `index` and `prediction` (plus `answer` for Y/N, and the meta columns the
    scorer groups by); `dataset` (the TSV without images) is required for MCQ ground truth.
    `judge_answers` (index -> letter) resolves rows exact matching could not; rows still
    unresolved are misses, as under VLMEvalKit's `exact_matching`. `verdicts` (str(index) ->
    the judge stage's `Verdict`) do the same for either kind and record how each row was decided
    (method, the judge's raw reply and identity). `partial`: rows are missing
    because their requests failed for good; pair metrics then cover complete pairs only.
    """
    eff = effective_rules(rules, spec.official_rule)
    preds = _normalise_columns(predictions)
    for col in ("index", "prediction"):
        if col not in preds.columns:
            raise ScoringError(f"{spec.name} predictions have no `{col}` column; add it")
    if spec.kind == "yorn":
        rows = _yorn_rows(spec, preds, rules)
        if verdicts:
            rows = apply_verdicts(rows, verdicts, unresolved=pl.col("extracted") == UNKNOWN)
        unresolved = rows.filter(pl.col("extracted") == UNKNOWN).height
    else:
        if dataset is None:
            raise ScoringError(
                f"{spec.name} is multiple choice: pass the dataset table (ground truth lives there)"
            )
        rows = _mcq_rows(spec, _normalise_columns(dataset), preds.sort("index"), rules, article_a_guard)
        if judge_answers:
            rows = apply_judge(rows, judge_answers)
        if verdicts:
            rows = apply_verdicts(rows, verdicts, unresolved=pl.col("extracted").is_null())
        unresolved = rows.filter(pl.col("extracted").is_null()).height
    opts = ScoreOptions(circular=spec.circular, official=eff.startswith(OFFICIAL + ":"), partial=partial)
    result = SCORERS[spec.scorer](rows, opts)
    return Scored(
        spec=spec,
        rules=rules,
        effective_rules=eff,
        result=result,
        n_predictions=predictions.height,
        n_unresolved=unresolved,
    )


JUDGE_COLUMNS: tuple[tuple[str, pl.DataType], ...] = (
    ("judge_reply", pl.String()),
    ("judge_tries", pl.Int64()),
    ("judge_model", pl.String()),
    ("judge_reported_model", pl.String()),
    ("judge_host", pl.String()),
)


def apply_verdicts(
    rows: pl.DataFrame, verdicts: Mapping[str, Verdict], *, unresolved: pl.Expr
) -> pl.DataFrame:
    """Fold the judge stage's verdicts into rows exact matching left `unresolved`; add the per-row
    record (raw reply, tries, judge model asked and reported, host). Exact rows keep nulls there."""
    open_rows = rows.select(unresolved.fill_null(False)).to_series().to_list()
    picked = [verdicts.get(k) if is_open else None for k, is_open in zip(_key(rows), open_rows, strict=True)]
    values: dict[str, list[object]] = {
        "judge_reply": [v.reply if v else None for v in picked],
        "judge_tries": [v.tries if v else None for v in picked],
        "judge_model": [v.model if v else None for v in picked],
        "judge_reported_model": [v.reported_model if v else None for v in picked],
        "judge_host": [v.host if v else None for v in picked],
    }
    extracted = [v.answer if v else e for v, e in zip(picked, rows["extracted"].to_list(), strict=True)]
    methods = [v.method.value if v else m for v, m in zip(picked, rows["method"].to_list(), strict=True)]
    return rows.with_columns(
        pl.Series("extracted", extracted, dtype=pl.String),
        pl.Series("method", methods, dtype=pl.String),
        *(pl.Series(name, values[name], dtype=dtype) for name, dtype in JUDGE_COLUMNS),
    )


def judge_table(spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None) -> pl.DataFrame:
    """The columns the judge reads, taken where the scorer takes them: `index`, `question`,
    `prediction`; Y/N `answer` from the predictions; MCQ `answer` from the dataset and options from
    the predictions' `A`..`Z` columns (the dataset's when the predictions carry none)."""
    preds = _normalise_columns(predictions)
    if "question" not in preds.columns and dataset is not None and "question" in dataset.columns:
        preds = preds.join(
            _normalise_columns(dataset).select("index", "question"),
            on="index",
            how="left",
            maintain_order="left",
        )
    if spec.kind == "yorn" or dataset is None:
        return preds
    data = _normalise_columns(dataset)
    letters = [c for c in _LETTERS if c in preds.columns]
    base = preds.drop([c for c in ("answer",) if c in preds.columns])
    extra = ["answer", *([] if letters else [c for c in _LETTERS if c in data.columns])]
    keyed = data.select("index", *[c for c in extra if c in data.columns]).with_columns(
        pl.Series("__key", _key(data))
    )
    base = base.with_columns(pl.Series("__key", _key(base)))
    return base.join(keyed.drop("index"), on="__key", how="left", maintain_order="left").drop("__key")


def read_dataset(dataset_path: Path) -> pl.DataFrame:
    """A benchmark TSV as VLMEvalKit loads it for scoring: rows without an image dropped
    (`skip_noimg`), the image column itself never converted and not kept."""
    frame = read_table(dataset_path, raw_columns=("image",))
    if "image" in frame.columns:
        frame = frame.filter(pl.col("image").is_not_null()).drop("image")
    return frame


def evaluate_file(
    spec: BenchmarkSpec,
    dataset_path: Path,
    pred_path: Path,
    *,
    model: str,
    work_dir: Path,
    rules: str = DEFAULT_RULES,
    judge_answers: Mapping[object, str] | None = None,
    verdicts: Mapping[str, Verdict] | None = None,
    coverage: Coverage | None = None,
) -> EvalResult:
    """`--mode eval`: score a VLMEvalKit prediction file (.xlsx/.tsv) and write the score files
    into `{work_dir}/{model}/`; a file covering fewer rows than the dataset (`coverage`) is scored
    as a partial run and its score file named so."""
    from fasteval.report.files import headline, write_reports  # report imports this module's types

    dataset = read_dataset(dataset_path) if spec.kind == "mcq" else None
    scored = score_predictions(
        spec,
        read_table(pred_path),
        dataset=dataset,
        rules=rules,
        judge_answers=judge_answers,
        verdicts=verdicts,
        partial=coverage is not None and coverage.partial,
    )
    paths = write_reports(scored, model=model, out_dir=work_dir / model, coverage=coverage)
    return EvalResult(scored=scored, headline=headline(scored), table=scored.result.table, paths=paths)
