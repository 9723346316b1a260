"""Video presets through the real vLLM CPU engine serving tiny-vlm (marked `engine`: slow).

A recording proxy sits between bench.py and the engine, so the test sees the exact bytes the engine
received: for each row, the frames VLMEvalKit samples (the kit's `frame_pattern` reads each frame's
number back from the pixels of the JPEG sent) and every text VLMEvalKit builds, in order. The engine's
own counter says every request was answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fasteval.data.demo import write_demo_benchmarks
from tests.fixtures import REPO, video_kit_dir, video_kit_prompts
from tests.test_engine_e2e import finished_requests
from tests.test_video_rows import frames_and_text, texts_in_order

pytestmark = pytest.mark.engine

PRESETS = ("Video-MME_8frame_subs", "MVBench_8frame")
LIMIT = 6


class RecordingProxy:
    """Forwards every request to `upstream` unchanged and keeps the chat request bodies."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removesuffix("/v1")
        self.bodies: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _forward(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.path.endswith("/chat/completions"):
            self.bodies.append(json.loads(raw))
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(request.method, self.upstream + request.path_qs, data=raw, headers=headers) as r,
        ):
            body = await r.read()
            return web.Response(body=body, status=r.status, content_type=r.content_type)

    async def __aenter__(self) -> RecordingProxy:
        app = web.Application(client_max_size=256 << 20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_limit_n_sends_vlmevalkits_frames_and_texts_and_the_engine_answers_each(
    vllm_tiny: Any, tmp_path: Path
) -> None:
    before = finished_requests(vllm_tiny.base_url)
    env = dict(os.environ, LMUData=str(video_kit_dir() / "data"), FASTEVAL_CACHE=str(tmp_path / "cache"))
    async with RecordingProxy(vllm_tiny.base_url) as proxy:
        bench = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "bench.py"), "--data", *PRESETS, "--api-base", proxy.url,
            "--model", "tiny-vlm", "--limit", str(LIMIT), "--max-tokens", "8", "--work-dir", "out",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await bench.communicate()
    assert bench.returncode == 0, err.decode()
    summary = json.loads((tmp_path / "out" / "tiny-vlm" / "summary.json").read_text())
    for preset in PRESETS:
        assert summary["datasets"][preset]["answered"] == LIMIT and summary["datasets"][preset]["failed"] == 0
    assert len(proxy.bodies) == LIMIT * len(PRESETS)
    assert finished_requests(vllm_tiny.base_url) - before == len(proxy.bodies)
    sent = [frames_and_text(body) for body in proxy.bodies]
    for preset in PRESETS:
        for row in video_kit_prompts(preset)["rows"][:LIMIT]:
            texts = [m["value"] for m in row["messages"] if m["type"] == "text" and m["value"]]
            assert any(ids == row["image_frame_ids"] and texts_in_order(texts, t) for ids, t in sent), (
                f"{preset} row {row['index']}: no request carried VLMEvalKit's frames and texts"
            )


def test_the_demo_video_benchmark_runs_and_is_rated_on_the_engine(vllm_tiny: Any, tmp_path: Path) -> None:
    """`make demo`'s video set: every row answered by the engine, then rated as Video-MME is."""
    lmudata = tmp_path / "LMUData"
    assert "DEMO_VIDEO" in write_demo_benchmarks(lmudata)
    env = dict(os.environ, LMUData=str(lmudata), FASTEVAL_CACHE=str(tmp_path / "cache"))
    r = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--data", "DEMO_VIDEO", "--api-base", vllm_tiny.base_url,
         "--model", "tiny-vlm", "--max-tokens", "8", "--work-dir", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "tiny-vlm"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["datasets"]["DEMO_VIDEO"]["answered"] == 8
    rating = json.loads((out / "tiny-vlm_DEMO_VIDEO_rating.json").read_text())
    assert set(rating) == {"short", "medium", "long", "overall"}
