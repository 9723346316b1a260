"""The report shows RefCOCO as its declaration says: Precision@1 of the `Average` row, per-split
hit rates, and a histogram of every row's IoU (VLMEvalKit's own IoUs, from the conformance case)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

from fasteval.report.board import histogram
from tests.fixtures import DATA

REPO = Path(__file__).resolve().parents[1]
CASE = DATA / "conformance" / "grounding" / "RefCOCO"


def test_histogram_bins_are_tenths_with_one_in_the_last() -> None:
    assert histogram([0.0, 0.0999, 0.1, 0.5, 0.99, 1.0, float("nan")]) == (2, 1, 0, 0, 0, 1, 0, 0, 0, 2)


def test_the_report_draws_the_iou_histogram_of_the_rows(tmp_path: Path) -> None:
    env = {**os.environ, "LMUData": str(CASE / "LMUData"), "FASTEVAL_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", "RefCOCO", "--model", "KitModel",
         "--pred", str(CASE / "input" / "KitModel_RefCOCO.xlsx"), "--work-dir", str(tmp_path / "out"),
         "--no-download"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = tmp_path / "report.html"
    made = subprocess.run(
        [sys.executable, "-m", "fasteval.cli.report", str(tmp_path / "out"), "--out", str(page)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    html = page.read_text(encoding="utf-8")
    assert "Distribution of iou" in html
    drawn = [int(n) for n in re.findall(r"KitModel: (\d+) rows in \[", html)]
    with (CASE / "expected" / "per_row.csv").open(newline="", encoding="utf-8") as f:
        ious = [float(r["iou"]) for r in csv.DictReader(f)]
    assert tuple(drawn) == histogram(ious) and sum(drawn) == len(ious)
