"""Graded benchmarks (a float `score` per row, as VQA scorers write): the report treats the
headline as a mean score, with a normal interval, and compares two models by paired bootstrap."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from fasteval.catalog import get_spec
from fasteval.report import board, html, markdown
from fasteval.report.collect import BenchRun
from fasteval.scoring import SCORERS, declaration

N = 60
GRADED = declaration(get_spec("TextVQA_VAL"))  # a graded benchmark's declaration: `score` per row


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
    return BenchRun(
        model, "GradedVQA", Path(f"{model}_GradedVQA_acc.csv"), table, samples, declaration=GRADED
    )


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
    report = board.build(
        [BenchRun("A", "GradedVQA", judged.score_path, judged.table, samples, declaration=GRADED)]
    )
    (section,) = report.sections
    rows = [r for r in section.samples if "judge:A" in r.tags]
    assert [r.index for r in rows] == ["0", "1", "2"]
    assert "judge: The answer is B" in html.render(report)


@pytest.mark.parametrize(
    ("scorer", "table", "headline"),
    [
        ("mcq", {"split": ["dev"], "Overall": [0.4], "AR": [0.5]}, ("Overall", 0.4)),
        ("mme", {"perception": [910.0], "reasoning": [345.0]}, ("perception", 910.0)),
        (
            "pope",
            {"split": ["Overall", "random"], "Overall": [61.2, 62.0], "acc": [52.1, 53.7]},
            ("Overall", 61.2),
        ),
        (
            "hallusion",
            {"split": ["Overall", "VD"], "aAcc": [57.4, 54.4], "fAcc": [38.8, 41.0]},
            ("aAcc", 57.4),
        ),
        (
            "relaxed_acc",
            {"test_human": [61.0], "test_augmented": [63.0], "Overall": [62.0]},
            ("Overall", 62.0),
        ),
        ("mmvet", {"Category": ["rec", "Overall"], "tot": [62, 120], "acc": [73.2, 71.1]}, ("acc", 71.1)),
        ("mmmu", {"split": ["dev", "validation"], "Overall": [0.6, 0.575]}, ("Overall", 0.575)),
        (
            "ocrbench",
            {"Text Recognition": [194], "Final Score": [600], "Final Score Norm": [60.0]},
            ("Final Score", 600.0),
        ),
    ],
)
def test_headline_is_the_cell_the_scorer_declares(
    scorer: str, table: dict[str, list[object]], headline: tuple[str, float]
) -> None:
    assert SCORERS[scorer].headline.of(pl.DataFrame(table)) == headline


def test_samples_without_per_row_results_still_show_the_score_file() -> None:
    bare = _run("A", 0)
    assert bare.samples is not None
    runs = [
        BenchRun(m, "GradedVQA", bare.score_path, bare.table, bare.samples.drop("score"), declaration=GRADED)
        for m in "AB"
    ]
    report = board.build(runs)
    c = report.cells[("A", "GradedVQA")]
    assert c.value == bare.table["Overall"][0] and c.interval is None
    assert report.comparisons == () and report.sections[0].samples
