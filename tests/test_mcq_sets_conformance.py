"""CCBench, BLINK, MMT-Bench_VAL_MI and MUIRBench against VLMEvalKit's own `evaluate()` (exact
matching) and MUIRBench's own `build_prompt` (cases from scripts/make_mcq_sets_cases.py).

`bench.py --mode eval --pred FILE` must write VLMEvalKit's `_acc.csv` cell for cell under each
rule generation with a folder; MUIRBench's message must place every image where its `<image>` tag
puts it, with the text pieces verbatim.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fasteval.catalog import get_spec
from fasteval.data.datasets import load, locate
from fasteval.kinds.prompts import build_prompt, images_sent
from fasteval.types import ImagePart, TextPart
from tests.conformance_kit import VERSIONS
from tests.fixtures import DATA

REPO = Path(__file__).resolve().parents[1]
KIT = DATA / "conformance" / "mcq_sets"
CASES = ["BLINK", "CCBench", "MMT-Bench_VAL_MI", "MUIRBench"]
RUNS = [(case, v) for case in CASES for v in VERSIONS if (KIT / case / v).is_dir()]


def cells(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        header, *body = list(csv.reader(f))
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}


def test_every_case_has_vlmevalkits_output() -> None:
    assert sorted(p.name for p in KIT.iterdir() if (p / "input").is_dir()) == CASES
    assert all((KIT / case / "expected" / f"KitModel_{case}_acc.csv").is_file() for case in CASES)


@pytest.mark.parametrize(("case", "version"), RUNS)
def test_the_eval_command_writes_vlmevalkits_score_file(case: str, version: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")}
    env.update(LMUData=str(KIT / case / "LMUData"), FASTEVAL_CACHE=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", case, "--model", "KitModel",
         "--pred", str(KIT / case / "input" / f"KitModel_{case}.xlsx"), "--work-dir", str(tmp_path / "out"),
         "--rules", VERSIONS[version], "--no-download", "--judge", "exact_matching"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    name = f"KitModel_{case}_acc.csv"
    assert cells(tmp_path / "out" / "KitModel" / name) == cells(KIT / case / version / name)


@pytest.mark.parametrize(
    "version", [v for v in VERSIONS if (KIT / "MUIRBench" / v / "prompts.json").is_file()]
)
def test_muirbench_places_each_image_at_its_tag(version: str, tmp_path: Path) -> None:
    spec = get_spec("MUIRBench")
    (tmp_path / "MUIRBench.tsv").write_bytes((KIT / "MUIRBench" / "LMUData" / "MUIRBench.tsv").read_bytes())
    samples = {str(s.index): s for s in load(spec, locate(spec, tmp_path, download=False)).iter_samples()}
    expected = json.loads((KIT / "MUIRBench" / version / "prompts.json").read_text(encoding="utf-8"))
    assert len(expected) == len(samples)
    for row in expected:
        sample = samples[row["index"]]
        got = []
        for part in build_prompt(spec, sample).parts:
            if isinstance(part, ImagePart):
                got.append({"image": [i.b64 for i in sample.images].index(part.image.b64)})
            else:
                assert isinstance(part, TextPart)
                got.append({"text": part.text})
        assert got == row["parts"], row["index"]
        assert images_sent(spec, sample) == sum("image" in p for p in row["parts"])
