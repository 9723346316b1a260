"""CCBench, BLINK, MMT-Bench_VAL_MI and MUIRBench against VLMEvalKit's own `evaluate()` (exact
matching) and MUIRBench's own `build_prompt` (cases from scripts/make_mcq_sets_cases.py).

`bench.py --mode eval --pred FILE` must write VLMEvalKit's `_acc.csv` cell for cell under each
rule generation with a folder (BLINK and CCBench also with the kit's scripted judge, which must
receive exactly VLMEvalKit's requests); MUIRBench's message must place every image where its `<image>` tag
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
from tests.conformance_kit import VERSIONS, cells
from tests.fixtures import DATA, judge_server_script
from tests.judge_kit import judge_server

REPO = Path(__file__).resolve().parents[1]
KIT = DATA / "conformance" / "mcq_sets"
CASES = ["BLINK", "CCBench", "MMT-Bench_VAL_MI", "MUIRBench"]
RUNS = [(case, v) for case in CASES for v in VERSIONS if (KIT / case / v).is_dir()]


def test_every_case_has_vlmevalkits_output() -> None:
    cases = sorted(p.name for p in KIT.iterdir() if (p / "input").is_dir())
    assert cases == sorted([*CASES, "BLINK__judge", "CCBench__judge"])
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


JUDGED = ["BLINK", "CCBench"]
JUDGED_RUNS = [(case, v) for case in JUDGED for v in VERSIONS if (KIT / f"{case}__judge" / v).is_dir()]


def judge_calls(log: Path) -> list[tuple[str, str, str, int, int]]:
    """The server's log folded per (kind, prompt, temperature), the health probe left out."""
    rows: dict[tuple[str, str, str], list[int]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["kind"] != "other":
            entry = rows.setdefault((r["kind"], r["prompt_sha256"], r["temperature"]), [0, 0])
            entry[0] += 1
            entry[1] += int(r["status"] == 500)
    return sorted((*key, n, e) for key, (n, e) in rows.items())


def expected_judge_calls(path: Path) -> list[tuple[str, str, str, int, int]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] != "other"]
    return sorted(
        (r["kind"], r["prompt_sha256"], r["temperature"], int(r["requests"]), int(r["http_500"]))
        for r in rows
    )


@pytest.mark.parametrize(("case", "version"), JUDGED_RUNS)
def test_the_judge_gets_vlmevalkits_requests_and_the_table_matches(
    case: str, version: str, tmp_path: Path
) -> None:
    folder = KIT / f"{case}__judge"
    log, port_file = tmp_path / "calls.jsonl", tmp_path / "port"
    with judge_server(judge_server_script(), port_file, log) as base:
        env = {
            k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")
        }
        env.update(
            LMUData=str(folder / "LMUData"),
            FASTEVAL_CACHE=str(tmp_path / "cache"),
            OPENAI_API_BASE=f"{base}/v1/chat/completions",
            OPENAI_API_KEY="sk-kit-judge",
            LOCAL_LLM="kit-judge",
        )
        done = subprocess.run(
            [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", case, "--model", "KitModel",
             "--pred", str(folder / "input" / f"KitModel_{case}.xlsx"), "--work-dir", str(tmp_path / "out"),
             "--rules", VERSIONS[version], "--no-download"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    name = f"KitModel_{case}_acc.csv"
    assert cells(tmp_path / "out" / "KitModel" / name) == cells(folder / version / name)
    assert judge_calls(log) == expected_judge_calls(folder / version / "judge_calls.csv")
