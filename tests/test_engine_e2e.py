"""bench.py against the real vLLM CPU engine serving the tiny offline VLM (marked `engine`: slow).

The model is random-weight, so scores are meaningless; what is pinned is the protocol: every row is
one real request with its real image, answers land in VLMEvalKit's files, and load spreads over
replicas. Request counts come from the engine's own Prometheus counter, not from fasteval.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from fasteval.serving.registry import get_model
from fasteval.serving.serve import serve, stop

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FASTEVAL_SHARED", REPO.parent / "shared"))
MME_TSV = SHARED / "conformance" / "public" / "LMUData" / "MME.tsv"

pytestmark = [pytest.mark.engine, pytest.mark.skipif(not MME_TSV.is_file(), reason=f"needs {MME_TSV}")]


def finished_requests(base_url: str) -> float:
    """vLLM's own count of finished requests (all finish reasons), from /metrics."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics") as r:
        text = r.read().decode()
    return sum(float(m) for m in re.findall(r"^vllm:request_success_total\{[^}]*\} ([0-9.e+]+)$", text, re.M))


def bench(*args: str, cwd: Path, lmudata: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LMUData=str(lmudata))
    return subprocess.run(
        [sys.executable, str(REPO / "bench.py"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture
def lmudata(tmp_path: Path) -> Path:
    d = tmp_path / "LMUData"
    d.mkdir()
    shutil.copy(MME_TSV, d / "MME.tsv")
    return d


def test_bench_finds_the_served_model_and_sends_one_request_per_row(vllm_tiny, lmudata: Path, tmp_path: Path):
    before = finished_requests(vllm_tiny.base_url)
    r = bench(
        "--data", "MME", "--state-dir", str(vllm_tiny.state_dir), "--max-tokens", "8", "--work-dir", "out",
        cwd=tmp_path, lmudata=lmudata,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "tiny-vlm"
    summary = json.loads((out / "summary.json").read_text())
    mme = summary["datasets"]["MME"]
    assert mme["answered"] == mme["rows"] and mme["failed"] == 0
    assert (out / "tiny-vlm_MME.xlsx").is_file() and (out / "tiny-vlm_MME_score.csv").is_file()
    assert mme["perf"]["completed"] == mme["rows"]
    assert mme["perf"]["total_output_tokens"] <= 8 * mme["rows"]
    assert finished_requests(vllm_tiny.base_url) - before == mme["rows"]
    assert summary["run"]["endpoints"][0]["base_url"] == vllm_tiny.base_url


def test_two_engine_replicas_split_the_load(vllm_tiny, lmudata: Path, tmp_path: Path, free_port: int):
    state = tmp_path / "second"
    second = serve(get_model("tiny-vlm"), port=free_port, state_dir=state, timeout_s=300).state
    try:
        before = (finished_requests(vllm_tiny.base_url), finished_requests(second.base_url))
        r = bench(
            "--data", "MME", "--api-base", vllm_tiny.base_url, second.base_url, "--model", "tiny-vlm",
            "--max-tokens", "8", "--work-dir", "out", cwd=tmp_path, lmudata=lmudata,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        got = (
            finished_requests(vllm_tiny.base_url) - before[0],
            finished_requests(second.base_url) - before[1],
        )
    finally:
        stop(state_dir=state)
    rows = json.loads((tmp_path / "out" / "tiny-vlm" / "summary.json").read_text())["datasets"]["MME"]["rows"]
    assert sum(got) == rows
    assert min(got) >= rows // 5  # least-outstanding routing gives both replicas a real share
