"""A reply cut while thinking, through a real engine: vLLM's CPU build serving tiny-vlm-thinking with its
`qwen3` reasoning parser (slow).

The tiny model's chat template opens `<think>` as Qwen3-VL Thinking's does, and its random weights never
close it, so the engine returns every reply as `reasoning_content` with `finish_reason: length`: each row
must fail as `thinking_cut`, keep its thinking in the store, and never be scored.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fasteval.inference.store import RunStore
from fasteval.models.registry import get_model
from fasteval.serving.serve import ensure_cpu_engine, serve, stop
from tests.fixtures import conformance_lmudata

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[1]
MODEL = "tiny-vlm-thinking"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    ensure_cpu_engine()
    state = tmp_path_factory.mktemp("tiny_thinking") / "servers"
    serve(get_model(MODEL), port=_free_port(), state_dir=state, timeout_s=420)
    try:
        yield state
    finally:
        stop(state_dir=state)


def test_replies_cut_while_thinking_are_counted_kept_and_never_scored(
    state_dir: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE")}
    env["LMUData"] = str(conformance_lmudata())
    r = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--data", "MME", "--model", MODEL,
         "--state-dir", str(state_dir), "--limit", "3", "--max-tokens", "12", "--temperature", "0",
         "--no-download"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "thinking_cut 3" in r.stdout, r.stdout + r.stderr
    assert f"{MODEL}: qwen3-vl-thinking family" in r.stdout  # the settings line, before the first request
    summary = json.loads((tmp_path / "outputs" / MODEL / "summary.json").read_text())
    entry = summary["datasets"]["MME"]
    assert entry["failures_by_kind"] == {"thinking_cut": 3} and entry["scores"] is None
    stored = RunStore.for_run(tmp_path / "outputs", MODEL, "MME").read()
    assert stored["error_kind"].to_list() == ["thinking_cut"] * 3
    assert all(t for t in stored["thinking"].to_list())  # the engine's reasoning_content, kept
    assert stored["text"].to_list() == [None] * 3 and stored["n_out"].to_list() == [12] * 3
