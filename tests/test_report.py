"""`fasteval report` on a demo-like work dir: the page shows the score files' numbers, with
intervals, paired comparisons, speed and a capped sample viewer, and fetches nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from fasteval.catalog import get_spec
from fasteval.cli.args import main as fasteval_main
from fasteval.data.tabular import read_table
from fasteval.report import board, html
from fasteval.report.collect import collect
from fasteval.scoring import declaration
from tests.fixtures import conformance_dir
from tests.report_fixture import DATASETS, LOST_ROWS, MODELS, build_work_dir

KIT = conformance_dir()
MAX_PAGE_BYTES = 5 * 1024 * 1024
CELL = re.compile(r'data-model="([^"]+)" data-dataset="([^"]+)" data-metric="([^"]+)" data-value="([^"]+)"')


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_work_dir(KIT, tmp_path_factory.mktemp("report") / "outputs")


@pytest.fixture(scope="module")
def report(work_dir: Path) -> board.Report:
    return board.build(collect([work_dir]), sources=[work_dir])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, work_dir: Path) -> str:
    out = tmp_path_factory.mktemp("page") / "report.html"
    argv = ["report", str(work_dir), "--out", str(out), "--lmudata", str(KIT / "LMUData")]
    assert fasteval_main(argv) == 0
    return out.read_text(encoding="utf-8")


def _summary(work_dir: Path, model: str, dataset: str) -> dict[str, object]:
    entry: dict[str, object] = json.loads((work_dir / model / "summary.json").read_text())["datasets"][
        dataset
    ]
    return entry


def _score_file_headline(work_dir: Path, model: str, dataset: str) -> tuple[str, float]:
    (path,) = (work_dir / model).glob(f"{model}_{dataset}_*.csv")
    return declaration(get_spec(dataset)).headline.of(read_table(path))


def test_leaderboard_shows_every_score_file_number_exactly(work_dir: Path, page: str) -> None:
    shown = {(m, d): (metric, float(v)) for m, d, metric, v in CELL.findall(page)}
    assert set(shown) == {(m, d) for m in MODELS for d in DATASETS}
    for (model, dataset), value in shown.items():
        assert value == _score_file_headline(work_dir, model, dataset)


def test_leaderboard_headline_is_the_one_fasteval_summarised(work_dir: Path, report: board.Report) -> None:
    for (model, dataset), c in report.cells.items():
        scores = _summary(work_dir, model, dataset)["scores"]
        assert isinstance(scores, dict) and scores[c.metric] == c.value


def test_hit_rate_headline_has_the_summary_wilson_interval(work_dir: Path, report: board.Report) -> None:
    for model in MODELS:
        c = report.cells[(model, "MMBench_DEV_EN")]
        scores = _summary(work_dir, model, "MMBench_DEV_EN")["scores"]
        assert isinstance(scores, dict) and c.interval is not None
        assert c.interval.method == "wilson"
        assert (c.interval.lo, c.interval.hi) == pytest.approx(
            (scores["accuracy_ci95_lo"], scores["accuracy_ci95_hi"]), abs=1e-12
        )


def test_composite_headline_gets_a_bootstrap_interval_around_it(report: board.Report) -> None:
    for model in MODELS:
        c = report.cells[(model, "MME")]
        assert c.metric == "perception" and c.interval is not None
        assert c.interval.method == "bootstrap"
        assert c.interval.lo < c.value < c.interval.hi


def test_partial_run_is_marked_with_rows_scored_of_total(work_dir: Path, report: board.Report) -> None:
    for dataset in DATASETS:
        full, partial = report.cells[("A", dataset)], report.cells[("B", dataset)]
        assert not full.partial and full.scored == full.total
        assert partial.partial and partial.scored == partial.total - LOST_ROWS  # type: ignore[operator]
        assert partial.rules == _summary(work_dir, "B", dataset)["rules"]
        assert partial.judge == "exact matching"


def test_paired_comparison_counts_circular_groups_both_answered(work_dir: Path, report: board.Report) -> None:
    (cmp,) = [c for c in report.comparisons if c.dataset == "MMBench_DEV_EN"]
    assert (cmp.model_a, cmp.model_b, cmp.unit) == ("A", "B", "circular groups")

    def groups(model: str) -> dict[int, int]:
        s = pl.read_parquet(work_dir / model / f"{model}_MMBench_DEV_EN_samples.parquet")
        main = s.filter(pl.col("index") == pl.col("g_index"))
        return dict(zip(main["index"].to_list(), main["hit"].to_list(), strict=True))

    a, b = groups("A"), groups("B")
    both = a.keys() & b.keys()
    assert cmp.paired.n == len(both)
    assert cmp.paired.b_only == sum(1 for k in both if b[k] and not a[k])
    assert cmp.paired.a_only == sum(1 for k in both if a[k] and not b[k])
    assert cmp.paired.diff.lo <= cmp.paired.diff.value <= cmp.paired.diff.hi
    assert 0.0 <= cmp.paired.p_value <= 1.0


def test_speed_table_comes_from_the_runs_perf_entries(work_dir: Path, page: str) -> None:
    speed = page[page.index('<table id="speed">') :]
    speed = speed[: speed.index("</table>")]
    for model in MODELS:
        for dataset in DATASETS:
            perf = _summary(work_dir, model, dataset)["perf"]
            assert isinstance(perf, dict)
            for key in ("request_throughput", "output_throughput", "p99_ttft_ms", "mean_tpot_ms"):
                assert f'data-value="{float(perf[key])!r}"' in speed


def test_markdown_prints_the_same_leaderboard(
    work_dir: Path, report: board.Report, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fasteval_main(["report", str(work_dir), "--format", "md"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    for (model, _), c in report.cells.items():
        value = f"{c.value:.4f}" if abs(c.value) <= 1 else f"{c.value:.2f}"
        assert value in rows[model]
    assert "mid-p McNemar" in out


def test_sample_viewer_is_capped_per_filter(work_dir: Path) -> None:
    cap = 3
    small = board.build(collect([work_dir]), samples=cap, resamples=0)
    for s in small.sections:
        assert {tag for tag, _ in s.filters} >= {"wrong:A", "wrong:B", "disagree:A|B"}
        for tag, _ in s.filters:
            assert 0 < sum(tag in r.tags for r in s.samples) <= cap
        assert len(s.samples) <= cap * len(s.filters)


def test_sample_viewer_shows_questions_and_thumbnails_from_the_dataset(work_dir: Path) -> None:
    report = board.build(collect([work_dir]), samples=2, lmudata=KIT / "LMUData", resamples=0)
    for s in report.sections:
        assert all(r.question and r.thumbnail.startswith("data:image/jpeg") for r in s.samples)
    without = board.build(collect([work_dir]), samples=2, lmudata=KIT / "LMUData", images=False, resamples=0)
    assert all(r.question and not r.thumbnail for s in without.sections for r in s.samples)


def test_page_is_self_contained_and_small(page: str) -> None:
    assert len(page.encode()) < MAX_PAGE_BYTES
    for fetches in ("<link", "url(", "@import", "<iframe", "<script src"):
        assert fetches not in page
    sources = re.findall(r' src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/jpeg;base64,") for s in sources)  # thumbnails, inline
    assert "<svg" in page  # category chart, inline


def test_a_vlmevalkit_only_folder_shows_its_numbers_without_interval(tmp_path: Path) -> None:
    model_dir = tmp_path / "KitModel"
    model_dir.mkdir()
    shutil.copy(KIT / "MME" / "expected" / "KitModel_MME_score.csv", model_dir)
    page = html.render(board.build(collect([tmp_path])))
    ((model, dataset, metric, value),) = CELL.findall(page)
    assert (model, dataset) == ("KitModel", "MME")
    assert (metric, float(value)) == _score_file_headline(tmp_path, "KitModel", "MME")
    assert "no interval" in page and "VLMEvalKit file" in page


def test_missing_work_dir_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fasteval_main(["report", str(tmp_path / "nope")]) == 2
    assert "no such work dir" in capsys.readouterr().err


def test_readme_report_commands_parse() -> None:
    from fasteval.cli.report import build_parser
    from tests.test_readme import COMMANDS

    lines = [c for c in COMMANDS if c.startswith("fasteval report")]
    assert lines
    for line in lines:
        build_parser().parse_args(line.split()[2:])
