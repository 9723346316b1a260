"""MME-RealWorld (+ CN, Lite) against VLMEvalKit's own `MMERealWorld.evaluate()` and `build_prompt`
(cases from scripts/make_mme_realworld_cases.py).

`bench.py --mode eval --pred FILE` must write VLMEvalKit's `_rating.json` payload, byte for byte,
as the benchmark's JSON score file; every prompt style must send the text its `build_prompt` sends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fasteval.catalog import get_spec
from fasteval.data.datasets import load, locate
from fasteval.kinds.base import PROMPT_STYLES
from fasteval.kinds.prompts import prompt_text
from tests.conformance_kit import VERSIONS
from tests.fixtures import DATA

REPO = Path(__file__).resolve().parents[1]
KIT = DATA / "conformance" / "mme_realworld"
CASES = ["MME-RealWorld", "MME-RealWorld-CN", "MME-RealWorld-Lite"]
RUNS = [(case, v) for case in CASES for v in VERSIONS if (KIT / case / v).is_dir()]


def test_every_case_has_vlmevalkits_output() -> None:
    assert all((KIT / case / "expected" / f"KitModel_{case}_rating.json").is_file() for case in CASES)


@pytest.mark.parametrize(("case", "version"), RUNS)
def test_the_eval_command_writes_vlmevalkits_rating(case: str, version: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")}
    env.update(LMUData=str(KIT / case / "LMUData"), FASTEVAL_CACHE=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", case, "--model", "KitModel",
         "--pred", str(KIT / case / "input" / f"KitModel_{case}.xlsx"), "--work-dir", str(tmp_path / "out"),
         "--rules", VERSIONS[version], "--no-download"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "out" / "KitModel" / f"KitModel_{case}_score.json").read_text(encoding="utf-8")
    expected = (KIT / case / version / f"KitModel_{case}_rating.json").read_text(encoding="utf-8")
    assert json.loads(written) == json.loads(expected)
    assert written == expected


@pytest.mark.parametrize(("case", "version"), RUNS)
def test_every_style_sends_the_datasets_prompt(case: str, version: str, tmp_path: Path) -> None:
    spec = get_spec(case)
    (tmp_path / f"{case}.tsv").write_bytes((KIT / case / "LMUData" / f"{case}.tsv").read_bytes())
    samples = {str(s.index): s for s in load(spec, locate(spec, tmp_path, download=False)).iter_samples()}
    expected = json.loads((KIT / case / version / "prompts.json").read_text(encoding="utf-8"))
    assert len(expected) == len(samples)
    for row in expected:
        for style in PROMPT_STYLES:
            assert [prompt_text(spec, samples[row["index"]], style)] == row["text"], (row["index"], style)
