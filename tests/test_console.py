"""Score tables on an 80-column console: every column name whole, the score file still complete."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from rich.table import Table

from fasteval.cli.console import RESULT_COLUMNS, ResultRow, fit_table, results_table
from fasteval.data.tabular import read_table
from tests.fixtures import conformance_case, conformance_lmudata

REPO = Path(__file__).resolve().parents[1]


def rendered(renderable: object, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


@pytest.mark.parametrize(("case", "score_file"), [("MME", "_score.csv"), ("MMStar", "_acc.csv")])
def test_the_eval_commands_table_shows_every_column_name_whole_at_80_columns(
    case: str, score_file: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", case, "--model", "KitModel",
         "--pred", str(conformance_case(case) / "input" / f"KitModel_{case}.xlsx"),
         "--work-dir", str(tmp_path / "out"), "--no-download"],
        env={**os.environ, "COLUMNS": "80", "LMUData": str(conformance_lmudata()),
             "FASTEVAL_CACHE": str(tmp_path / "cache")},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    table = lines[: next(i for i, line in enumerate(lines) if line.startswith("KitModel / "))]
    assert max(len(line) for line in table) <= 80 and "…" not in done.stdout
    columns = read_table(tmp_path / "out" / "KitModel" / f"KitModel_{case}{score_file}").columns
    assert len(columns) > 6  # too wide for 80 columns side by side: the case this test is about
    for name in columns:  # each name whole, on one line of the table
        assert any(f" {name} " in line for line in table), name


def test_a_table_that_fits_keeps_the_score_files_layout() -> None:
    frame = pl.DataFrame({"split": ["dev", "test"], "Overall": [0.5, 0.25], "acc": [50.0, 25.0]})
    table = fit_table(frame, "Toy  [rules]", 80)
    assert isinstance(table, Table) and [str(c.header) for c in table.columns] == ["split", "Overall", "acc"]
    lines = rendered(table, 80)
    assert lines[0].strip() == "Toy  [rules]"  # the title as written, not read as markup
    assert any(all(f" {h} " in line for h in ("split", "Overall", "acc")) for line in lines)
    assert any(all(v in line for v in ("dev", "0.5000", "50.00")) for line in lines)


def test_a_wide_table_is_transposed_and_split_until_every_part_fits() -> None:
    names = [f"category number {i} with a long name" for i in range(8)]
    frame = pl.DataFrame({"split": [f"part-{k}" for k in range(12)], **{n: [0.5] * 12 for n in names}})
    lines = rendered(fit_table(frame, "Wide", 80), 80)
    assert max(len(line) for line in lines) <= 80 and "…" not in "\n".join(lines)
    for name in names:
        assert sum(f" {name} " in line for line in lines) > 1  # one line per part, name whole in each
    for k in range(12):
        assert sum(f" part-{k} " in line for line in lines) == 1  # every score-file row, once
    assert [line.strip() for line in lines].count("Wide") == 1


def test_one_row_without_labels_becomes_a_name_value_list() -> None:
    frame = pl.DataFrame({f"[subtask {i}]": [float(10 * i)] for i in range(12)})
    lines = rendered(fit_table(frame, "MME-like", 80), 80)
    assert max(len(line) for line in lines) <= 80
    for i in range(12):
        assert any(f" [subtask {i}] " in line and f"{10 * i}.00" in line for line in lines)


def results(n: int) -> list[ResultRow]:
    perf = {"request_throughput": 12.5, "output_throughput": 4321.0, "mean_ttft_ms": 87.25}
    head = {"perception": 1503.25, "reasoning": 351.5}
    return [
        ResultRow("InternVL2_5-8B-MPO", f"MMBench_DEV_EN_V11_{i}", "4329/4329", head, perf) for i in range(n)
    ]


def test_the_end_of_run_table_keeps_its_layout_on_a_wide_terminal() -> None:
    lines = rendered(results_table(["vlmevalkit-2026.06"], results(2), 200), 200)
    assert any(all(f" {c} " in line for c in RESULT_COLUMNS) for line in lines)  # one header line
    assert "fasteval results (rules: vlmevalkit-2026.06)" in lines[0]


def test_the_end_of_run_table_at_80_columns_shows_every_name_and_figure_whole() -> None:
    lines = rendered(results_table(["vlmevalkit-2026.06"], results(5), 80), 80)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 80 and "…" not in text
    assert all(any(f" {c} " in line for line in lines) for c in RESULT_COLUMNS)
    for i in range(5):
        assert f" MMBench_DEV_EN_V11_{i} " in text
    for whole in (
        "InternVL2_5-8B-MPO",
        "4329/4329",
        "perception 1503.25",
        "reasoning 351.50",
        "4321.00",
        "87.25",
    ):
        assert text.count(whole) >= 5, whole
