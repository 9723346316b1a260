"""Every flag value is checked before anything is read or sent: one line, exit 2, zero requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from fasteval.data.demo import write_demo_benchmarks
from tests.fault_server import spawn

REPO = Path(__file__).resolve().parents[1]

BAD_FLAGS = [
    (["--rules", "nope"], "--rules 'nope': unknown rule set"),
    (["--concurrency", "0"], "--concurrency 0: must be at least 1"),
    (["--concurrency", "-3"], "--concurrency -3: must be at least 1"),
    (["--retry", "-1"], "--retry -1: must be 0 or more"),
    (["--max-tokens", "-5"], "--max-tokens -5: must be at least 1"),
    (["--limit", "-1"], "--limit -1: must be at least 1"),
    (["--limit", "0"], "--limit 0: must be at least 1"),
    (["--temperature", "-1"], "--temperature -1.0: must be 0 or more"),
    (["--timeout", "0"], "--timeout 0.0: must be above 0"),
    (["--judge-concurrency", "0"], "--judge-concurrency 0: must be at least 1"),
    (["--prompt-style", "llava"], "--prompt-style 'llava': use one of default, internvl2, qwen2vl"),
    (["--percentiles", "50,120"], "--percentiles '50,120': each must be between 0 and 100"),
    (["--goodput", "ttft"], "--goodput ttft: bad goodput SLO"),
    (["--pred", "x.xlsx"], "--pred scores an existing prediction file: add --mode eval"),
]


@pytest.fixture(scope="module")
def lmudata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("LMUData")
    write_demo_benchmarks(d)
    return d


def _requests_seen(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats") as r:
        stats = json.loads(r.read())
    return int(stats["requests"])


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_a_bad_flag_value_is_one_line_and_exit_2_before_any_request(
    flags: list[str], message: str, lmudata: Path, tmp_path: Path
) -> None:
    with spawn("--model", "fake-vlm") as (url, _):
        env = {**os.environ, "LMUData": str(lmudata)}
        env.pop("OPENAI_API_KEY", None)
        done = subprocess.run(
            [sys.executable, str(REPO / "bench.py"), "--data", "DEMO_YN", "--api-base", url, *flags],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        seen = _requests_seen(url)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fasteval: error: ") and message in lines[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert seen == 0  # no chat request reached the server


@pytest.mark.parametrize(
    "judge_flags", [[], ["--judge", "exact_matching"], ["--judge-base-url", "http://127.0.0.1:9/v1"]]
)
def test_a_benchmark_that_needs_a_judge_stops_before_any_request_without_one(
    judge_flags: list[str], tmp_path: Path
) -> None:
    from tests.fixtures import conformance_lmudata

    with spawn("--model", "fake-vlm") as (url, _):
        env = {
            k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")
        }
        env["LMUData"] = str(conformance_lmudata())
        argv = [sys.executable, str(REPO / "bench.py"), "--data", "MathVista_MINI", "--api-base", url]
        done = subprocess.run(
            [*argv, *judge_flags], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        seen = _requests_seen(url)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fasteval: error: "), done.stderr
    assert "MathVista_MINI" in lines[0] or "judge" in lines[0]
    assert seen == 0
