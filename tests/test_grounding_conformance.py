"""RefCOCO grounding against VLMEvalKit's own `evaluate()` (cases from scripts/make_grounding_cases.py).

`bench.py --mode eval --pred FILE` must write VLMEvalKit's `_acc.csv` cell for cell, and every
row's box, IoU and hit must equal its detail file's, under each rule generation with a folder
(nvidia-vlmeval 26.3 has no RefCOCO).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from fasteval.catalog import get_spec
from fasteval.data.tabular import read_table
from fasteval.scoring.evaluate import read_dataset, score_predictions
from tests.conformance_kit import VERSIONS, cells
from tests.fixtures import DATA

REPO = Path(__file__).resolve().parents[1]
KIT = DATA / "conformance" / "grounding"
CASES = sorted(p.name for p in KIT.iterdir() if (p / "input").is_dir())
RUNS = [(case, v) for case in CASES for v in VERSIONS if (KIT / case / v).is_dir()]
SCORE = "KitModel_RefCOCO_acc.csv"


def test_every_case_has_vlmevalkits_output() -> None:
    assert CASES == ["RefCOCO", "RefCOCO__answers", "RefCOCO__pixels"]
    assert all((KIT / case / "expected" / SCORE).is_file() for case in CASES)


@pytest.mark.parametrize(("case", "version"), RUNS)
def test_the_eval_command_writes_vlmevalkits_score_file(case: str, version: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", "RefCOCO", "--model", "KitModel",
         "--pred", str(KIT / case / "input" / "KitModel_RefCOCO.xlsx"), "--work-dir", str(tmp_path / "out"),
         "--rules", VERSIONS[version], "--no-download"],
        env={**os.environ, "LMUData": str(KIT / case / "LMUData"), "FASTEVAL_CACHE": str(tmp_path / "cache")},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = tmp_path / "out" / "KitModel" / SCORE  # not `_partial`: every row is matched to the TSV
    assert cells(written) == cells(KIT / case / version / SCORE)


@pytest.mark.parametrize(("case", "version"), RUNS)
def test_every_row_has_vlmevalkits_box_iou_and_hit(case: str, version: str) -> None:
    expected = pl.read_csv(KIT / case / version / "per_row.csv", infer_schema=False)
    scored = score_predictions(
        get_spec("RefCOCO"),
        read_table(KIT / case / "input" / "KitModel_RefCOCO.xlsx"),
        dataset=read_dataset(KIT / case / "LMUData" / "RefCOCO.tsv"),
        rules=VERSIONS[version],
    )
    rows = scored.result.rows
    assert rows["index"].to_list() == expected["index"].to_list()
    assert rows["pred_bbox"].to_list() == [b or "" for b in expected["pred_bbox"].to_list()]
    assert [repr(v) for v in rows["iou"].to_list()] == [repr(float(v)) for v in expected["iou"].to_list()]
    assert [int(h) for h in rows["hit"].to_list()] == [int(h) for h in expected["hit"].to_list()]
    assert rows["split"].to_list() == expected["split"].to_list()
