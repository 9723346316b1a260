"""Every exact-matching case of the conformance kit through the user's command:
`bench.py --mode eval --pred FILE` must write VLMEvalKit's own score file, cell for cell, under
each rule generation the kit has an output folder for.

Rows and columns that VLMEvalKit orders by Python-set iteration (POPE tracks, HallusionBench
categories, VQA splits) are compared by name; every cell's text must be equal.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance_kit import VERSIONS
from tests.fixtures import conformance_dir

REPO = Path(__file__).resolve().parents[1]
KIT = conformance_dir()

CASES = (
    "TextVQA_VAL",
    "ChartQA_TEST",
    "DocVQA_VAL",
    "InfoVQA_VAL",
    "OCRBench",
    "MMMU_DEV_VAL",
    "HallusionBench",
    "AI2D_TEST",
    "ScienceQA_TEST",
    "RealWorldQA",
    "MMBench_DEV_CN",
    "MMBench_DEV_EN_V11",
)


def cells(path: Path) -> dict[str, dict[str, str]]:
    """A score file as {row name: {column: cell text}} (JSON: one row of its values, as dumped)."""
    if path.suffix == ".json":
        return {"": {k: json.dumps(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}}
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if len(body) == 1:
        return {"": dict(zip(header, body[0], strict=True))}
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}


def expected_runs() -> list[tuple[str, str]]:
    """Every (case, rule generation) with an output folder; nvidia 26.3's OCRBench json has another
    layout ({group: {sum, count}}), so its sums are checked by the scorer test instead."""
    runs = [(c, v) for c in CASES for v in VERSIONS if (KIT / c / v).is_dir()]
    return [r for r in runs if r != ("OCRBench", "alt_nvidia_vlmeval_26.3")]


@pytest.mark.parametrize(("case", "version"), expected_runs())
def test_the_eval_command_writes_vlmevalkits_score_file(case: str, version: str, tmp_path: Path) -> None:
    expected = [
        p
        for p in (KIT / case / version).iterdir()
        if p.name.endswith(("_acc.csv", "_score.csv", "_score.json"))
    ]
    assert len(expected) == 1, expected
    done = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", case, "--model", "KitModel",
         "--pred", str(KIT / case / "input" / f"KitModel_{case}.xlsx"), "--work-dir", str(tmp_path / "out"),
         "--rules", VERSIONS[version], "--no-download"],
        env={**os.environ, "LMUData": str(KIT / "LMUData"), "FASTEVAL_CACHE": str(tmp_path / "cache")},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = tmp_path / "out" / "KitModel" / expected[0].name
    assert cells(written) == cells(expected[0])
    if written.suffix == ".json":
        assert written.read_text(encoding="utf-8") == expected[0].read_text(encoding="utf-8")
