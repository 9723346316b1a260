"""A new kind needs `kinds/`, `scoring/` and a benchmark spec only: the report follows its declaration.

The toy kind lives in a module written for this test (numeric answers, graded by closeness) with
per-row columns, a score table and a headline no real kind has; it is registered for this test only
(the kind and scorer tables, and the catalog, monkeypatched). Scored through `score_predictions`,
written by `write_reports` and read back by `fasteval report`'s collector, it gets its leaderboard
cell, its samples and its summary headline without a line of `fasteval/report/` knowing it.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from fasteval import catalog
from fasteval.kinds import KINDS
from fasteval.report import board, html
from fasteval.report.collect import collect
from fasteval.report.files import headline, samples_frame, write_reports
from fasteval.scoring import SCORERS
from fasteval.scoring.evaluate import score_predictions
from fasteval.types import BenchmarkSpec

TOY_MODULE = '''
"""A toy kind: the answer is a number; a row is graded by how close the first number said is."""

from __future__ import annotations

import re
from typing import ClassVar

import polars as pl

from fasteval.kinds.base import Column, Extraction, Item, TaskKind, normalise_columns
from fasteval.scoring import Headline, Outcome, ScorerEntry
from fasteval.scoring.base import ScoreOptions, ScoreResult
from fasteval.types import Method


def first_number(text: str) -> float | None:
    found = re.search(r"-?\\d+(?:\\.\\d+)?", text)
    return None if found is None else float(found.group())


class NumberKind(TaskKind):
    name: ClassVar[str] = "toy_number"
    row_columns: ClassVar[tuple[Column, ...]] = (Column("gap", "|said - answer|, null when no number"),)

    def prompt_text(self, spec, sample, style):
        return sample.question

    def table(self, spec, predictions, dataset):
        return normalise_columns(predictions)

    def extract(self, spec, item: Item, rules: str) -> Extraction:
        said = first_number(item.prediction)
        return Extraction(None, Method.UNRESOLVED) if said is None else Extraction(str(said), Method.EXACT)

    def row_fields(self, spec, item, exact, verdict, rules):
        if exact.answer is None or item.answer is None:
            return {"gap": None}
        return {"gap": abs(float(exact.answer) - float(item.answer))}


def score_closeness(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    closeness = [0.0 if g is None else 1 / (1 + g) for g in rows["gap"].to_list()]
    scored = rows.with_columns(pl.Series("closeness", closeness, dtype=pl.Float64))
    groups = ["all", *sorted(set(scored["topic"].to_list()))]
    means = [scored["closeness"].mean()] + [
        scored.filter(pl.col("topic") == g)["closeness"].mean() for g in groups[1:]
    ]
    table = pl.DataFrame({"group": groups, "Mean closeness": [100 * float(m) for m in means]})
    return ScoreResult(table=table, rows=scored, headline={"Mean closeness": float(table[0, 1])})


ENTRY = ScorerEntry(
    score_closeness,
    ("topic",),
    Headline(columns=("Mean closeness",), rows=("all",)),
    Outcome("closeness", graded=True),
    (Column("closeness", "1 / (1 + gap): the row's grade"), Column("topic", "the question's topic")),
    category="topic",
)
'''

SPEC = BenchmarkSpec(name="ToyNumbers", kind="toy_number", url=None, md5=None, scorer="toy_closeness")


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The toy module imported from a temporary folder, its kind, scorer and benchmark registered."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy_number_kind.py").write_text(textwrap.dedent(TOY_MODULE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("toy_number_kind")
    monkeypatch.delitem(sys.modules, "toy_number_kind")
    monkeypatch.setitem(KINDS, "toy_number", module.NumberKind())  # type: ignore[index]
    monkeypatch.setitem(SCORERS, "toy_closeness", module.ENTRY)  # type: ignore[index]
    specs = {**catalog.all_specs(), SPEC.name: SPEC}
    monkeypatch.setattr(catalog, "all_specs", lambda: specs)
    return module


def _predictions(shift: int) -> pl.DataFrame:
    n = 12
    return pl.DataFrame(
        {
            "index": list(range(n)),
            "question": [f"How many dots in picture {i}?" for i in range(n)],
            "answer": [str(i) for i in range(n)],
            "prediction": [f"I count {i + (i + shift) % 3}" if i != 5 else "no idea" for i in range(n)],
            "topic": ["dots" if i % 2 else "lines" for i in range(n)],
        }
    )


def test_a_new_kind_gets_a_report_from_its_declaration_alone(toy: ModuleType, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    for model, shift in (("A", 0), ("B", 1)):
        scored = score_predictions(SPEC, _predictions(shift))
        write_reports(scored, model=model, out_dir=work_dir / model)

    samples = samples_frame(scored)  # model B's
    assert {"gap", "closeness", "topic", "extracted", "method"} <= set(samples.columns)
    summary = headline(scored)
    closeness = samples["closeness"].to_list()
    assert summary["score"] == pytest.approx(sum(closeness) / len(closeness))  # graded: mean and normal CI
    assert summary["n"] == len(closeness) and "accuracy" not in summary

    report = board.build(collect([work_dir]), resamples=0)
    cell = report.cells[("B", "ToyNumbers")]
    assert (cell.metric, cell.value) == ("Mean closeness", pytest.approx(100 * summary["score"]))
    assert cell.interval is not None and cell.interval.method == "normal"
    assert cell.interval.lo == pytest.approx(100 * summary["score_ci95_lo"])
    (cmp,) = report.comparisons
    assert cmp.paired.test == "paired bootstrap" and cmp.paired.n == len(closeness)
    (section,) = report.sections
    assert {name for name, _ in section.categories} == {"dots", "lines"}
    shown = {r.index: r.answers["B"] for r in section.samples if "B" in r.answers}
    assert shown["5"].method == "unresolved" and shown["5"].outcome == 0.0
    assert shown["0"].outcome == pytest.approx(closeness[0])
    assert "Mean closeness" in html.render(report)


def test_the_toy_registration_ends_with_its_test() -> None:
    assert "toy_number" not in KINDS and "toy_closeness" not in SCORERS
    assert "ToyNumbers" not in catalog.all_specs()
