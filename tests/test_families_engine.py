"""The per-benchmark tile limit reaches a real engine: vLLM's CPU build serving the tiny InternVL2 (slow).

The tiny model tiles exactly as InternVL2 does (448-px tiles plus a thumbnail) at 16 tokens per tile, so
`usage.prompt_tokens` of one request is its text tokens + 16 x `internvl_tiles(w, h, limit)`. The requests
are built by `runner.request_body`, the function a run sends, for benchmarks that differ only in name.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from fasteval.catalog import get_spec
from fasteval.data.datasets import load, locate
from fasteval.data.tabular import read_table
from fasteval.inference.client import build_body, complete
from fasteval.inference.runner import Target, request_body
from fasteval.inference.store import RunStore
from fasteval.models.families import (
    NO_PLAN,
    ImageSettings,
    RequestPlan,
    internvl_tiles,
    make_plan,
    wire_fields,
)
from fasteval.models.registry import get_model
from fasteval.serving.serve import ensure_cpu_engine, serve, stop
from fasteval.types import BenchmarkSpec, GenParams, ImagePart, ImageRef, Prompt, Sample, TextPart
from tests.fixtures import conformance_lmudata, video_kit_dir

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[1]
TOKENS_PER_TILE = 16  # tiny-internvl2: (448 / 56)^2 patches, pixel-shuffled by 0.5
CHECKPOINT_DEFAULT = 12  # its config.json max_dynamic_patch, as InternVL2-1B..8B's
SIZES = [(448, 448), (1000, 700), (1920, 1080), (800, 1600), (3000, 500)]
LIMITS = {"MME": 6, "ChartQA_TEST": 12, "DocVQA_VAL": 18, "OCRBench": 24}


@pytest.fixture(scope="module")
def internvl2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    ensure_cpu_engine()
    state_dir = tmp_path_factory.mktemp("tiny_internvl2") / "servers"
    res = serve(get_model("tiny-internvl2"), port=_free_port(), state_dir=state_dir, timeout_s=420)
    try:
        yield res.state.base_url, res.state.served_name, state_dir
    finally:
        stop(state_dir=state_dir)


@pytest.fixture(scope="module")
def internvl2_url(internvl2_server: tuple[str, str, Path]) -> tuple[str, str]:
    return internvl2_server[0], internvl2_server[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sample(width: int, height: int) -> Sample:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (180, 40, 40)).save(buf, "PNG")
    image = ImageRef(base64.b64encode(buf.getvalue()).decode(), "image/png")
    return Sample("X", 1, "Is the picture red?", (image,), {}, None)


def _spec(name: str) -> BenchmarkSpec:
    return BenchmarkSpec(name=name, kind="yorn", url=None, md5=None, scorer="yorn")


def _prompt_tokens(url: str, served: str, plan: RequestPlan, bench: str, size: tuple[int, int]) -> int:
    target = Target(
        name="tiny-internvl2", served_name=served, endpoints=(url,), prompt_style="internvl2", plan=plan
    )
    params = GenParams(max_tokens=1, timeout_s=120)
    body = request_body(target, _spec(bench), _sample(*size), params)

    async def go() -> int:
        async with aiohttp.ClientSession() as session:
            c = await complete(session, url, body, params, retry=0)
        assert c.ok, c.error
        assert c.n_in is not None
        return c.n_in

    return asyncio.run(go())


def test_tile_limit_per_benchmark_changes_prompt_tokens_as_internvl2_tiling_predicts(
    internvl2_url: tuple[str, str],
) -> None:
    url, served = internvl2_url
    plan = make_plan("internvl2", "vllm-cpu", max_tokens_given=True)
    text = _prompt_tokens(url, served, plan, "MME", (448, 448)) - TOKENS_PER_TILE  # one tile, no thumbnail
    seen = {}
    for bench, limit in LIMITS.items():
        for w, h in SIZES:
            got = _prompt_tokens(url, served, plan, bench, (w, h))
            assert got == text + TOKENS_PER_TILE * internvl_tiles(w, h, limit), (bench, w, h)
            seen[bench, w, h] = got
    # without family settings the checkpoint's default limit applies
    for w, h in SIZES:
        got = _prompt_tokens(url, served, NO_PLAN, "MME", (w, h))
        assert got == text + TOKENS_PER_TILE * internvl_tiles(w, h, CHECKPOINT_DEFAULT), (w, h)
    # and the limit really moved something: a 16:9 image is 3 tiles for MME, 16 for OCRBench
    assert seen["MME", 1920, 1080] < seen["OCRBench", 1920, 1080]


def test_lmdeploy_form_is_not_read_by_vllm(internvl2_url: tuple[str, str]) -> None:
    """The per-image `max_dynamic_patch` is LMDeploy's field: vLLM ignores it (so the wire must match)."""
    url, served = internvl2_url
    lmdeploy = make_plan("internvl2", "lmdeploy", max_tokens_given=True)
    got = _prompt_tokens(url, served, lmdeploy, "MME", (1920, 1080))
    default = _prompt_tokens(url, served, NO_PLAN, "MME", (1920, 1080))
    assert got == default


def test_registry_launch_allows_request_kwargs(tmp_path: Path) -> None:
    assert "--trust-request-mm-kwargs" in get_model("tiny-internvl2").vllm_args


MME_TSV = conformance_lmudata("MME")  # the repository's copy of the conformance kit's MME


def test_bench_run_sends_the_registry_familys_tiles(
    internvl2_server: tuple[str, str, Path], tmp_path: Path
) -> None:
    """bench.py finds the recorded server, and its MME requests carry 6 tiles: per row, the stored
    prompt tokens drop from the checkpoint default's by exactly 16 x (tiles at 12 - tiles at 6)."""
    _, _, state_dir = internvl2_server
    lmu = tmp_path / "LMUData"
    lmu.mkdir()
    shutil.copy(MME_TSV, lmu / "MME.tsv")
    env = dict(os.environ, LMUData=str(lmu), FASTEVAL_CACHE=str(tmp_path / "cache"))
    n_in = {}
    for label, extra in {"family": [], "none": ["--model-family", "none"]}.items():
        work = tmp_path / label
        argv = ["--data", "MME", "--state-dir", str(state_dir), "--limit", "6", "--max-tokens", "1"]
        argv += ["--mode", "infer", "--work-dir", str(work), *extra]
        r = subprocess.run(
            [sys.executable, str(REPO / "bench.py"), *argv], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        rows = RunStore.for_run(work, "tiny-internvl2", "MME").read().select("key", "n_in").rows()
        n_in[label] = dict(rows)
    spec = get_spec("MME")
    ds = load(spec, locate(spec, lmu, download=False, progress=False, cache_dir=tmp_path / "cache"))
    sizes = {}
    for sample in ds.iter_samples():
        if str(sample.index) in n_in["family"]:
            with Image.open(io.BytesIO(base64.b64decode(sample.images[0].b64))) as im:
                sizes[str(sample.index)] = im.size
    assert len(sizes) == 6
    for key, (w, h) in sizes.items():
        saved = TOKENS_PER_TILE * (internvl_tiles(w, h, CHECKPOINT_DEFAULT) - internvl_tiles(w, h, 6))
        assert n_in["none"][key] - n_in["family"][key] == saved, (key, w, h)


def test_qwen2_vl_pixel_range_per_request_reaches_the_engine(vllm_tiny: Any) -> None:
    """The qwen2-vl family's fields (`mm_processor_kwargs` min/max_pixels) resize the image in vLLM's
    Qwen2-VL processor: on tiny-vlm (14-px patches merged 2x2) a 112x112 image is 16 tokens, and a
    request capping it at 56x56 pixels makes it 4, so the prompt is 12 tokens shorter."""
    url, served = vllm_tiny.base_url, vllm_tiny.model
    big = ImageSettings(min_pixels=112 * 112, max_pixels=112 * 112)
    small = ImageSettings(min_pixels=56 * 56, max_pixels=56 * 56)
    prompt = Prompt((ImagePart(_sample(112, 112).images[0]), TextPart("Is the picture red?")))
    params = GenParams(max_tokens=1, timeout_s=120)

    async def tokens(s: ImageSettings) -> int:
        body = build_body(served, prompt, params, extras=wire_fields(s, "vllm"))
        async with aiohttp.ClientSession() as session:
            c = await complete(session, url, body, params, retry=0)
        assert c.ok and c.n_in is not None, c.error
        return c.n_in

    assert asyncio.run(tokens(big)) - asyncio.run(tokens(small)) == 16 - 4


def test_internvl2_video_rows_reach_vllm_as_frames_at_one_tile_each(
    internvl2_server: tuple[str, str, Path], tmp_path: Path
) -> None:
    """A Video-MME_8frame row in InternVL2's style (`Frame-k: <image>` in the text, the 8 frames as an
    image list, `max_dynamic_patch` 1) is answered by vLLM's InternVL2: its placeholders are the
    frames' (none added), and each frame is one tile: against the same rows sent with no family
    settings (the checkpoint's 12 tiles), every row's prompt is shorter by exactly 16 x the extra
    tiles InternVL2 would cut of its frames."""
    _, _, state_dir = internvl2_server
    lmu = tmp_path / "LMUData"
    lmu.mkdir()
    (lmu / "Video-MME").symlink_to(video_kit_dir() / "data" / "Video-MME", target_is_directory=True)
    env = dict(os.environ, LMUData=str(lmu), FASTEVAL_CACHE=str(tmp_path / "cache"))
    n_in = {}
    for label, extra in {"family": [], "none": ["--model-family", "none"]}.items():
        work = tmp_path / label
        argv = ["--data", "Video-MME_8frame", "--state-dir", str(state_dir), "--limit", "3"]
        argv += ["--max-tokens", "1", "--mode", "infer", "--work-dir", str(work), *extra]
        r = subprocess.run(
            [sys.executable, str(REPO / "bench.py"), *argv], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr
        stored = RunStore.for_run(work, "tiny-internvl2", "Video-MME_8frame").read()
        assert stored.height == 3 and stored["status"].to_list() == ["ok"] * 3, stored
        n_in[label] = dict(stored.select("key", "n_in").rows())
    frames = tmp_path / "cache" / "frames" / "images" / "Video-MME"
    tsv = read_table(lmu / "Video-MME" / "Video-MME.tsv")
    video_of = {str(i): str(v) for i, v in zip(tsv["index"].to_list(), tsv["video"].to_list(), strict=True)}
    for key, tokens in n_in["family"].items():
        paths = sorted((frames / video_of[key]).glob("frame-*-of-8.jpg"))
        assert len(paths) == 8, (key, paths)
        extra = 0
        for path in paths:
            with Image.open(path) as im:
                extra += internvl_tiles(*im.size, CHECKPOINT_DEFAULT) - 1
        assert n_in["none"][key] - tokens == TOKENS_PER_TILE * extra, key
