"""LLaVABench against VLMEvalKit's own `evaluate()` with the kit's scripted judge (cases from
scripts/make_llavabench_cases.py).

`bench.py --mode eval --pred FILE`, judged by a fresh judge_server.py, must write VLMEvalKit's
`_score.csv` cell for cell (rows by name: upstream orders categories by Python-set iteration),
send the judge exactly the requests VLMEvalKit sent (per distinct prompt and temperature: count,
HTTP 500s, max_tokens), and read every reply into the same two scores.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

from tests.conformance_kit import VERSIONS, cells
from tests.fixtures import DATA, judge_server_script
from tests.judge_kit import judge_server

REPO = Path(__file__).resolve().parents[1]
CASE = DATA / "conformance" / "llavabench" / "LLaVABench"
RUNS = [v for v in VERSIONS if (CASE / v).is_dir()]
SCORE = "KitModel_LLaVABench_score.csv"


@contextmanager
def kit_judge(log: Path) -> Iterator[str]:
    """A fresh judge_server.py (fresh HTTP-500 counters) logging every request; yields its base URL."""
    with judge_server(judge_server_script(), log.with_suffix(".port"), log) as base:
        yield f"{base}/v1"


def calls(log: Path) -> list[tuple[str, str, str, int, int, str]]:
    """The server's log folded per (kind, prompt, temperature), the health probe left out."""
    rows: dict[tuple[str, str, str], list[object]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["kind"] == "other":
            continue
        entry = rows.setdefault((r["kind"], r["prompt_sha256"], r["temperature"]), [0, 0, ""])
        entry[0] = int(entry[0]) + 1  # type: ignore[call-overload]
        entry[1] = int(entry[1]) + int(r["status"] == 500)  # type: ignore[call-overload]
        entry[2] = str(r["max_tokens"])
    return sorted((k, s, t, int(n), int(e), str(m)) for (k, s, t), (n, e, m) in rows.items())  # type: ignore[call-overload]


def expected_calls(path: Path) -> list[tuple[str, str, str, int, int, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] != "other"]
    return sorted(
        (
            r["kind"],
            r["prompt_sha256"],
            r["temperature"],
            int(r["requests"]),
            int(r["http_500"]),
            r["max_tokens"],
        )
        for r in rows
    )


@pytest.mark.parametrize("version", RUNS)
def test_the_eval_command_rates_every_reply_as_vlmevalkit_did(version: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with kit_judge(log) as url:
        env = {
            k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")
        }
        env.update(
            LMUData=str(CASE / "LMUData"),
            OPENAI_API_BASE=f"{url}/chat/completions",
            OPENAI_API_KEY="sk-kit-judge",
            LOCAL_LLM="kit-judge",
            FASTEVAL_CACHE=str(tmp_path / "cache"),
        )
        done = subprocess.run(
            [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", "LLaVABench", "--model",
             "KitModel", "--pred", str(CASE / "input" / "KitModel_LLaVABench.xlsx"), "--work-dir",
             str(tmp_path / "out"), "--rules", VERSIONS[version], "--no-download"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr  # 3: some judge calls failed for good (scored -1, -1)
    out = tmp_path / "out" / "KitModel"
    assert cells(out / SCORE) == cells(CASE / version / SCORE)
    assert calls(log) == expected_calls(CASE / version / "judge_calls.csv")
    samples = pl.read_parquet(out / "KitModel_LLaVABench_samples.parquet")
    expected = pl.read_csv(CASE / version / "per_row.csv", infer_schema=False)
    assert samples["index"].cast(pl.String).to_list() == expected["index"].to_list()
    for column in ("gpt4_score", "score"):  # kept in the samples file by the kind's declaration
        got = [repr(float(v)) for v in samples[column].to_list()]
        assert got == [repr(float(v)) if v else "nan" for v in expected[column].to_list()], column
