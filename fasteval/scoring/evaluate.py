"""Evaluate predictions: one typed record per row, then the benchmark's scorer.

The benchmark's kind decides where ground truth and options come from (`TaskKind.table`) and how
each prediction is extracted (`TaskKind.extract`); the judge stage's verdicts, when there are
any, decide the rows the kind hands to the judge. Each row becomes a `SampleRecord`, and the
records plus the columns the scorer declares become the frame the scorer reads.

`score_predictions` is the one way a benchmark is scored: every `bench.py` mode (`all`, `eval` from
the store, `eval --pred FILE`) and the conformance tests call it with the frames they read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fasteval.data.tabular import as_vlmeval_str, read_table
from fasteval.kinds import kind_named
from fasteval.kinds.base import Extraction, Item, TaskKind, Verdict
from fasteval.kinds.extract import DEFAULT_RULES, OFFICIAL, effective_rules
from fasteval.scoring import SCORERS, Declaration, ScoreOptions, ScoreResult, declaration
from fasteval.types import BenchmarkSpec, Method


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """One row from extraction to the samples file: what was extracted, how, and by whom."""

    item: Item
    extracted: str | None  # None: nothing decided (scored as a miss)
    method: Method
    verdict: Verdict | None = None  # the judge's decision, when it decided this row
    fields: Mapping[str, object] = field(default_factory=dict)  # the kind's own per-row columns

    @classmethod
    def decide(
        cls, item: Item, exact: Extraction, verdict: Verdict | None, fields: Mapping[str, object]
    ) -> SampleRecord:
        """The judge's verdict wins over exact matching only where the kind sent the row to it."""
        if verdict is None:
            return cls(item, exact.answer, exact.method, None, fields)
        return cls(item, verdict.answer, verdict.method, verdict, fields)


RECORD_COLUMNS: tuple[tuple[str, pl.DataType], ...] = (
    ("extracted", pl.String()),
    ("method", pl.String()),
    ("judge_reply", pl.String()),
    ("judge_tries", pl.Int64()),
    ("judge_model", pl.String()),
    ("judge_reported_model", pl.String()),
    ("judge_host", pl.String()),
    ("judge_score", pl.Float64()),
)


def records_frame(records: Sequence[SampleRecord]) -> pl.DataFrame:
    """The records' own columns (extraction, method, the judge's record), one row per record."""
    v = [r.verdict for r in records]
    values: dict[str, list[object]] = {
        "extracted": [r.extracted for r in records],
        "method": [r.method.value for r in records],
        "judge_reply": [x.reply if x else None for x in v],
        "judge_tries": [x.tries if x else None for x in v],
        "judge_model": [x.model if x else None for x in v],
        "judge_reported_model": [x.reported_model if x else None for x in v],
        "judge_host": [x.host if x else None for x in v],
        "judge_score": [x.score if x else None for x in v],
    }
    frame = pl.DataFrame(values, schema=dict(RECORD_COLUMNS))
    names = list(dict.fromkeys(name for r in records for name in r.fields))
    if names:  # the kind's own columns (MathVista's hit and log, MMVet's score ...)
        own = pl.DataFrame({n: [r.fields.get(n) for r in records] for n in names}, strict=False)
        frame = pl.concat([frame, own.drop([n for n in names if n in frame.columns])], how="horizontal")
    return frame


# Rows turned into records, then into columns, at a time: a record holds its row's question,
# options and fields as Python objects (~1 KB), so a whole 50,000-row benchmark's records at once
# cost ~50 MB of peak memory (issue 22); chunks of this size cost ~4 MB and the same time.
_RECORDS_AT_ONCE = 4096


def _record_columns(records: Sequence[SampleRecord]) -> pl.DataFrame:
    """A chunk of records as columns: prediction and answer, then `records_frame`'s."""
    given = pl.DataFrame(
        {
            "prediction": [r.item.prediction for r in records],
            "answer": [r.item.answer for r in records],
        },
        schema={"prediction": pl.String, "answer": pl.String},
    )
    return pl.concat([given, records_frame(records)], how="horizontal")


@dataclass(frozen=True, slots=True)
class Scored:
    """Scores of one benchmark from in-memory frames, before anything is written."""

    spec: BenchmarkSpec
    rules: str  # as asked: a VLMEvalKit generation or "official"
    effective_rules: str  # what applied: e.g. "vlmevalkit-2025.08" or "official:mme"
    result: ScoreResult
    n_predictions: int
    n_unresolved: int  # rows nothing could decide (scored as misses)

    @property
    def official(self) -> bool:
        return self.effective_rules.startswith(OFFICIAL + ":")

    @property
    def kind(self) -> TaskKind:
        return kind_named(self.spec.kind)

    @property
    def declaration(self) -> Declaration:
        """What the rows and the score table mean (the report reads only this)."""
        return declaration(self.spec)


def rules_of(effective: str) -> str:
    """The VLMEvalKit generation a rule-dependent scorer applies (official rules: the newest)."""
    return DEFAULT_RULES if effective.startswith(OFFICIAL + ":") or effective == OFFICIAL else effective


def items(spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None) -> list[Item]:
    """The rows of `predictions` as the benchmark's kind reads them (ground truth joined in)."""
    kind = kind_named(spec.kind)
    table = kind.table(spec, predictions, dataset)
    return [kind.item(spec, row) for row in table.iter_rows(named=True)]


def last_per_index(meta: pl.DataFrame) -> pl.DataFrame:
    """The dataset as VLMEvalKit's index-keyed maps see it: one row per index, the last one winning.

    VLMEvalKit (e8e78f0) reads ground truth and images through dicts built from the index column
    (vlmeval/dataset/utils/multiple_choice.py:479 `answer_map = {i: c for i, c in zip(meta['index'],
    meta['answer'])}`, vlmeval/dataset/image_base.py:164 `image_map`), so a repeated index takes its
    last row's values; joining on the full table would multiply rows instead (issue 22).
    """
    if meta.height == 0 or not meta.get_column("index").is_duplicated().any():
        return meta
    return meta.filter(meta.get_column("index").is_last_distinct())


def shared_prediction(pred: pl.DataFrame) -> pl.DataFrame:
    """A prediction file's repeated index scored as VLMEvalKit scores it: every row of the index
    carries the last row's prediction (VLMEvalKit e8e78f0, vlmeval/dataset/image_yorn.py:53
    `ans_map = {k: ... for k, v in zip(data['index'], data['prediction'])}`, then line 60 maps each
    row through it); every row stays. (Its MCQ path takes the first row's instead,
    multiple_choice.py:492; the two agree on any file VLMEvalKit's own inference wrote, where
    every row of an index carries the same answer.)"""
    if not {"index", "prediction"} <= set(pred.columns):
        return pred
    if not pred.get_column("index").is_duplicated().any():
        return pred
    last = pred.filter(pred.get_column("index").is_last_distinct()).select("index", "prediction")
    return (
        pred.drop("prediction").join(last, on="index", how="left", maintain_order="left").select(pred.columns)
    )


def kind_dataset(spec: BenchmarkSpec, dataset: pl.DataFrame | None) -> pl.DataFrame | None:
    """`dataset` where the benchmark's kind reads ground truth or options from it, else None: what
    the scorer and the judge see (a kind that reads the prediction file never sees the TSV)."""
    return dataset if kind_named(spec.kind).needs_dataset else None


def score_predictions(
    spec: BenchmarkSpec,
    predictions: pl.DataFrame,
    *,
    dataset: pl.DataFrame | None = None,
    rules: str = DEFAULT_RULES,
    verdicts: Mapping[str, Verdict] | None = None,
    partial: bool = False,
) -> Scored:
    """Extract and score predictions held in memory.

    `predictions` needs `index` and `prediction` (plus what the kind reads from them, and the
    columns the scorer groups by); `dataset` is the TSV without images (`read_dataset`), used only
    where the kind takes ground truth from it (`kind_dataset`). `verdicts` (str(index) -> the
    judge stage's `Verdict`) decide the rows the kind sent to the judge. `partial`: rows are
    missing (failed for good, `--limit`, absent from a file); pair metrics cover complete pairs.
    """
    eff = effective_rules(rules, spec.official_rule)
    kind = kind_named(spec.kind)
    predictions = shared_prediction(predictions)  # repeated indices, as VLMEvalKit's maps read them
    dataset = None if dataset is None else last_per_index(dataset)
    table = kind.table(spec, predictions, kind_dataset(spec, dataset))
    verdicts = verdicts or {}
    parts, unresolved = [], 0
    for chunk in table.iter_slices(_RECORDS_AT_ONCE):  # records live one chunk at a time (below)
        records = []
        for row in chunk.iter_rows(named=True):
            item = kind.item(spec, row)
            exact = kind.extract(spec, item, rules)
            verdict = verdicts.get(item.key) if kind.needs_judge(spec, item, exact) else None
            fields = kind.row_fields(spec, item, exact, verdict, rules)
            records.append(SampleRecord.decide(item, exact, verdict, fields))
        unresolved += sum(1 for r in records if r.method is Method.UNRESOLVED)
        parts.append(_record_columns(records))
        del records
    recorded = pl.concat(parts, how="diagonal_relaxed") if parts else _record_columns([])
    entry = SCORERS[spec.scorer]
    columns: dict[str, pl.Series] = {
        "index": table["index"],
        "prediction": recorded["prediction"],
        "answer": recorded["answer"],
    }
    for col in entry.columns:  # the scorer's columns, as pandas' str() prints them (flags stay flags)
        if col in table.columns and table[col].dtype == pl.Boolean:
            columns[col] = table[col]
        elif col in table.columns:
            values = [None if v is None else as_vlmeval_str(v) for v in table[col].to_list()]
            columns[col] = pl.Series(values, dtype=pl.String)
    base = pl.DataFrame({name: s.alias(name) for name, s in columns.items()})
    rows = pl.concat([base, recorded.drop("prediction", "answer")], how="horizontal")
    official = eff.startswith(OFFICIAL + ":")
    opts = ScoreOptions(circular=spec.circular, official=official, partial=partial, rules=rules_of(eff))
    result = entry.score(rows, opts)
    return Scored(
        spec=spec,
        rules=rules,
        effective_rules=eff,
        result=result,
        n_predictions=predictions.height,
        n_unresolved=unresolved,
    )


def read_dataset(dataset_path: Path) -> pl.DataFrame:
    """A benchmark TSV as VLMEvalKit loads it for scoring: rows without an image dropped
    (`skip_noimg`), the image column itself never converted and not kept."""
    frame = read_table(dataset_path, raw_columns=("image",))
    if "image" in frame.columns:
        frame = frame.filter(pl.col("image").is_not_null()).drop("image")
    return frame
