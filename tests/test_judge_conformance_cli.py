"""The judge-scored conformance cases through the user's command: `bench.py --mode eval --pred` with
the kit's scripted judge (`judge_server.py`, a fresh one per case and rule set) as the judge.

Every cell of VLMEvalKit's tables must come out equal, the judge must receive exactly the requests
VLMEvalKit sent (`judge_calls.csv`: per distinct prompt and temperature, how many requests, how
many HTTP 500s, which max_tokens), a rerun must send none, and a rescore with the judge stopped
must give the same tables from the recorded calls.
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

import pytest

from tests.conformance_kit import VERSIONS
from tests.judge_kit import find_kit, judge_server

REPO = Path(__file__).resolve().parents[1]
KIT = find_kit()

# case -> (dataset, the score files VLMEvalKit wrote that we must reproduce)
CASES = {
    "MathVista_MINI": ("MathVista_MINI", ["KitModel_MathVista_MINI_gpt-4o-mini_score.csv"]),
    "MMVet": ("MMVet", ["KitModel_MMVet_gpt-4-turbo_score.csv", "KitModel_MMVet_gpt-4-turbo_score_fine.csv"]),
    "MMBench_DEV_EN__judge": ("MMBench_DEV_EN", ["KitModel_MMBench_DEV_EN_acc.csv"]),
}


@contextmanager
def kit_judge(log: Path) -> Iterator[str]:
    """A fresh judge_server.py (fresh HTTP-500 counters) logging every request; yields its base URL."""
    with judge_server(KIT / "judge_server.py", log.with_suffix(".port"), log) as base:
        yield f"{base}/v1"


def bench(case: str, rules: str, work: Path, judge_url: str) -> subprocess.CompletedProcess[str]:
    dataset, _ = CASES[case]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")}
    env.update(
        LMUData=str(KIT / "public" / "LMUData"),
        OPENAI_API_BASE=f"{judge_url}/chat/completions",  # the full URL, as the kit gave VLMEvalKit
        OPENAI_API_KEY="sk-kit-judge",
        LOCAL_LLM="kit-judge",  # the id the kit server lists; it ignores the id (the kit left it unset)
        FASTEVAL_CACHE=str(work / "cache"),
    )
    pred = KIT / "public" / case / "input" / f"KitModel_{dataset}.xlsx"
    return subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", dataset, "--model", "KitModel",
         "--pred", str(pred), "--work-dir", str(work / "out"), "--rules", rules, "--no-download"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def calls_table(log: Path) -> list[tuple[str, ...]]:
    """The server's request log folded like the kit's judge_calls.csv. The health probe is left out:
    VLMEvalKit's is a `hello` chat (kind `other`), fasteval's a GET of /v1/models."""
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    for line in log.read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "other":
            continue
        entry = rows.setdefault((r["kind"], r["prompt_sha256"], _t(r["temperature"])), {"n": 0, "e": 0})
        entry["n"] = int(entry["n"]) + 1  # type: ignore[call-overload]
        entry["e"] = int(entry["e"]) + int(r["status"] == 500)  # type: ignore[call-overload]
        entry["max_tokens"] = str(r["max_tokens"])
        if r["reply"] is not None:
            entry["reply"] = r["reply"]
    return sorted(
        (k, sha, t, str(v["n"]), str(v["e"]), str(v["max_tokens"]), str(v.get("reply", "")))
        for (k, sha, t), v in rows.items()
    )


def expected_calls(path: Path) -> list[tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] != "other"]
    keys = ("kind", "prompt_sha256", "temperature", "requests", "http_500", "max_tokens", "reply")
    return sorted(tuple(_t(r[k]) if k == "temperature" else r[k] for k in keys) for r in rows)


def _t(text: str) -> str:
    return repr(round(float(text), 6))


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("case", list(CASES))
def test_judge_case_through_bench_py_matches_vlmevalkit(case: str, version: str, tmp_path: Path) -> None:
    expected = KIT / "public" / case / version
    log = tmp_path / "judge.log"
    with kit_judge(log) as url:
        done = bench(case, VERSIONS[version], tmp_path, url)
        assert done.returncode in (0, 3), done.stderr
        assert "Traceback" not in done.stderr
        for name in CASES[case][1]:
            got = (tmp_path / "out" / "KitModel" / name).read_text(encoding="utf-8")
            assert got == (expected / name).read_text(encoding="utf-8"), name
        first = calls_table(log)
        again = bench(case, VERSIONS[version], tmp_path, url)  # a rerun: every call is on record
        assert again.returncode == done.returncode, again.stderr
        assert calls_table(log) == first
    want = expected_calls(expected / "judge_calls.csv")
    assert [c[:6] for c in first] == [c[:6] for c in want]
    stopped = bench(case, VERSIONS[version], tmp_path, "http://127.0.0.1:9/v1")  # judge gone: replay
    for name in CASES[case][1]:
        got = (tmp_path / "out" / "KitModel" / name).read_text(encoding="utf-8")
        assert got == (expected / name).read_text(encoding="utf-8"), f"{name} after the judge stopped"
    assert stopped.returncode in (0, 3), stopped.stderr
