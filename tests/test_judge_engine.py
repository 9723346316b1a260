"""The whole judge path on real engines: bench.py with the fault server as the model and tiny-judge,
served by the CPU build of vLLM, as the judge. tiny-judge's replies are gibberish (random weights),
so what is pinned is the plumbing: the right rows asked, replies recorded and cached, identity on file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import TinyServer
from tests.test_bench_e2e import CONFORMANCE_LMU, REPO, Server

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(not CONFORMANCE_LMU.is_dir(), reason=f"needs {CONFORMANCE_LMU}"),
]


def test_bench_with_tiny_judge_on_vllm_cpu(vllm_tiny_judge: TinyServer, tmp_path: Path) -> None:
    lmu = tmp_path / "LMUData"
    lmu.mkdir()
    (lmu / "MME.tsv").write_bytes((CONFORMANCE_LMU / "MME.tsv").read_bytes())
    model = Server()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")}
    env |= {
        "PRED_FORMAT": "tsv",
        "OPENAI_API_BASE": vllm_tiny_judge.base_url,
        "LOCAL_LLM": vllm_tiny_judge.model,
    }
    args = [sys.executable, str(REPO / "bench.py"), "--data", "MME", "--api-base", model.url,
            "--lmudata", str(lmu), "--work-dir", "out", "--limit", "24"]  # fmt: skip
    try:
        first = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stderr
        out = tmp_path / "out" / "fake-vlm"
        j1 = json.loads((out / "summary.json").read_text())["datasets"]["MME"]["judge"]
        second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert second.returncode == 0, second.stderr
        j2 = json.loads((out / "summary.json").read_text())["datasets"]["MME"]["judge"]
    finally:
        model.close()
    assert (j1["mode"], j1["model"]) == ("judge", vllm_tiny_judge.model)
    assert j1["calls"] > 0 and set(j1["reported_models"]) == {vllm_tiny_judge.model}
    samples = pl.read_parquet(out / "fake-vlm_MME_samples.parquet")
    asked = samples.filter(pl.col("method") != "exact")
    assert asked.height == j1["rows_sent"] > 0  # exactly the rows YOrN_Extraction left Unknown
    assert asked["judge_reply"].null_count() == 0 and set(asked["judge_model"]) == {vllm_tiny_judge.model}
    assert asked["extracted"].is_in(["Yes", "No", "Unknown"]).all()
    # the rerun answers every try from the cache: no request reaches the judge
    assert j2["calls"] == 0 and j2["cached_replies"] == j1["calls"] - j1["failed_calls"]
