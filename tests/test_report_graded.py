"""Graded benchmarks (a float `score` per row, as VQA scorers write): the report treats the
headline as a mean score, with a normal interval, and compares two models by paired bootstrap."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from fasteval.report import board, html, markdown
from fasteval.report.collect import BenchRun

N = 60


def _run(model: str, shift: int) -> BenchRun:
    scores = [((i + shift) % 4) / 3 for i in range(N)]
    samples = pl.DataFrame(
        {
            "index": list(range(N)),
            "prediction": [f"answer {i}" for i in range(N)],
            "answer": [f"truth {i}" for i in range(N)],
            "extracted": [f"answer {i}" for i in range(N)],
            "method": ["exact"] * N,
            "score": scores,
            "category": ["charts" if i % 2 else "documents" for i in range(N)],
        }
    )
    table = pl.DataFrame({"Overall": [100 * sum(scores) / N]})  # VQA files report percentages
    return BenchRun(model, "GradedVQA", Path(f"{model}_GradedVQA_acc.csv"), table, samples)


@pytest.fixture(scope="module")
def report() -> board.Report:
    return board.build([_run("A", 0), _run("B", 1)])


def test_graded_headline_gets_a_normal_interval_on_the_files_scale(report: board.Report) -> None:
    c = report.cells[("A", "GradedVQA")]
    assert c.interval is not None and c.interval.method == "normal"
    assert c.interval.value == pytest.approx(c.value)
    assert c.interval.lo < c.value < c.interval.hi <= 100


def test_graded_models_are_compared_by_paired_bootstrap(report: board.Report) -> None:
    (cmp,) = report.comparisons
    assert cmp.paired.test == "paired bootstrap" and cmp.paired.n == N
    assert cmp.paired.diff.value == pytest.approx(cmp.paired.mean_b - cmp.paired.mean_a)


def test_graded_rows_render_as_scores(report: board.Report) -> None:
    page = html.render(report)
    assert "paired bootstrap" in page and "mean score by category" in page
    assert "paired bootstrap" in markdown.render(report)
    (section,) = report.sections
    assert {t for t, _ in section.filters} >= {"wrong:A", "wrong:B", "disagree:A|B"}


def test_judge_extracted_rows_have_their_filter_and_show_the_reply() -> None:
    judged = _run("A", 0)
    assert judged.samples is not None
    samples = judged.samples.with_columns(
        method=pl.when(pl.col("index") < 3).then(pl.lit("judge")).otherwise(pl.col("method")),
        judge_reply=pl.when(pl.col("index") < 3).then(pl.lit("The answer is B")).otherwise(None),
    )
    report = board.build([BenchRun("A", "GradedVQA", judged.score_path, judged.table, samples)])
    (section,) = report.sections
    rows = [r for r in section.samples if "judge:A" in r.tags]
    assert [r.index for r in rows] == ["0", "1", "2"]
    assert "judge: The answer is B" in html.render(report)
