"""Video rows: the frames each row sends are the frames VLMEvalKit shows, read from the cache only when
the request is built, extracted by worker processes ahead of the requests; a missing video fails its
rows without a request."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from PIL import Image

from fasteval.catalog import get_spec
from fasteval.data.video_rows import VideoRows, open_video
from fasteval.data.video_tasks import FrameTask, RowFrames, prepare_frames
from fasteval.inference.client import build_body
from fasteval.inference.runner import Target, make_job, over_image_limit, run_target
from fasteval.kinds import kind_named
from fasteval.kinds.extract import DEFAULT_RULES
from fasteval.types import (
    BenchmarkSpec,
    ErrorKind,
    FileImageRef,
    GenParams,
    ImagePart,
    Prompt,
    Sample,
    TextPart,
    VideoSpec,
)
from tests.fault_server import FaultServer
from tests.fixtures import REPO, video_frame_id, video_kit_dir, video_kit_prompts

PRESETS = {  # preset -> its [video] table (benchmarks/<preset>.toml)
    "Video-MME_8frame": VideoSpec("Video-MME", "uniform", nframe=8, repo="lmms-lab/Video-MME"),
    "Video-MME_1fps": VideoSpec("Video-MME", "uniform", fps=1.0, repo="lmms-lab/Video-MME"),
    "MVBench_8frame": VideoSpec("MVBench", "mvbench", nframe=8, repo="OpenGVLab/MVBench"),
    "MVBench_MP4_8frame": VideoSpec("MVBench_MP4", "mvbench_mp4", nframe=8, repo="OpenGVLab/MVBench"),
    "MVBench_MP4_1fps": VideoSpec("MVBench_MP4", "mvbench_mp4", fps=1.0, repo="OpenGVLab/MVBench"),
    "MMBench_Video_8frame_nopack": VideoSpec(
        "MMBench-Video", "uniform", nframe=8, repo="opencompass/MMBench-Video"
    ),
}


def _spec(preset: str) -> BenchmarkSpec:
    return BenchmarkSpec(preset, "mcq", None, None, "mcq", video=PRESETS[preset])


def _open(preset: str, tmp_path: Path, lmudata: Path | None = None, workers: int = 1) -> VideoRows:
    root = lmudata or video_kit_dir() / "data"
    _, dataset = open_video(
        _spec(preset), root, cache_dir=tmp_path / "cache", frames=tmp_path / "frames", workers=workers
    )
    return dataset


def _frame_ids(images: tuple[Any, ...]) -> list[int]:
    read = video_frame_id()
    return [read(np.asarray(Image.open(io.BytesIO(base64.b64decode(i.b64))).convert("RGB"))) for i in images]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_row_sends_the_frames_vlmevalkit_shows_under_its_file_names(preset: str, tmp_path: Path) -> None:
    kit = {row["index"]: row for row in video_kit_prompts(preset)["rows"]}
    samples = list(_open(preset, tmp_path).iter_samples())
    assert [s.index for s in samples] == list(kit)
    for sample in samples:
        expected = kit[sample.index]
        if "error" in expected:  # VLMEvalKit raises on this row (MVBench_MP4 below 1 s at 1 fps)
            assert sample.unavailable and not sample.images, sample.index
            continue
        assert sample.unavailable is None
        names = [m["value"] for m in expected["messages"] if m["type"] == "image"]
        assert [str(i.path.relative_to(tmp_path / "frames")) for i in sample.images] == names
        assert _frame_ids(sample.images) == expected["image_frame_ids"], sample.index


def test_worker_processes_yield_the_same_rows_in_file_order(tmp_path: Path) -> None:
    inline = [(s.index, s.images, s.meta) for s in _open("MVBench_8frame", tmp_path / "a").iter_samples()]

    async def collect() -> list[tuple[Any, ...]]:
        dataset = _open("MVBench_8frame", tmp_path / "b", workers=2)
        return [(s.index, s.images, s.meta) async for s in dataset.aiter_samples()]

    pooled = asyncio.run(collect())
    assert [(i, [p.path.name for p in imgs]) for i, imgs, _ in pooled] == [
        (i, [p.path.name for p in imgs]) for i, imgs, _ in inline
    ]
    assert _frame_ids(pooled[0][1]) == _frame_ids(inline[0][1])


def test_complete_vlmevalkit_frames_under_lmudata_are_reused_not_rewritten(tmp_path: Path) -> None:
    first = list(_open("Video-MME_8frame", tmp_path / "run1").iter_samples())
    lmudata = tmp_path / "LMUData"
    shutil.copytree(video_kit_dir() / "data" / "Video-MME", lmudata / "Video-MME")
    shutil.copytree(tmp_path / "run1" / "frames" / "images", lmudata / "images")  # as VLMEvalKit left it
    again = list(_open("Video-MME_8frame", tmp_path / "run2", lmudata).iter_samples())
    assert all(str(i.path).startswith(str(lmudata / "images")) for s in again for i in s.images)
    assert not (tmp_path / "run2" / "frames").exists()  # nothing decoded, nothing written
    assert [s.index for s in again] == [s.index for s in first]


def _without_video(tmp_path: Path) -> tuple[Path, str]:
    lmudata = tmp_path / "LMUData"
    shutil.copytree(video_kit_dir() / "data" / "MMBench-Video", lmudata / "MMBench-Video")
    gone = sorted((lmudata / "MMBench-Video" / "video").iterdir())[0]
    gone.unlink()
    return lmudata, gone.stem


def test_a_missing_video_makes_its_rows_unavailable_and_the_others_are_unaffected(tmp_path: Path) -> None:
    lmudata, gone = _without_video(tmp_path)
    samples = list(_open("MMBench_Video_8frame_nopack", tmp_path, lmudata).iter_samples())
    missing = [s for s in samples if s.meta["video"] == gone]
    assert missing and all(not s.images and f"{gone}.mp4 not found" in (s.unavailable or "") for s in missing)
    assert all(len(s.images) == 8 and s.unavailable is None for s in samples if s.meta["video"] != gone)


def test_frame_bytes_are_read_when_the_body_is_built_not_when_the_row_is_made(tmp_path: Path) -> None:
    frame = tmp_path / "frame-1-of-1.jpg"
    sample = Sample("V", 0, "q", (FileImageRef(frame),), {}, None)  # the file need not exist yet
    Image.new("RGB", (8, 8), (200, 10, 10)).save(frame)
    body = json.loads(build_body("m", Prompt((ImagePart(sample.images[0]), TextPart("q"))), GenParams()))
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    assert url == "data:image/jpeg;base64," + base64.b64encode(frame.read_bytes()).decode()


class _Recorder(FaultServer):
    """The fault server, keeping every chat request body it received."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(json.loads(await request.read()))
        return await super()._chat(request)


async def test_a_run_sends_every_available_row_with_its_frames_and_records_missing_videos_failed(
    tmp_path: Path,
) -> None:
    lmudata, gone = _without_video(tmp_path)
    spec = _spec("MMBench_Video_8frame_nopack")
    file, dataset = open_video(spec, lmudata, cache_dir=tmp_path / "cache", frames=tmp_path / "f", workers=2)
    kit = {row["index"]: row for row in video_kit_prompts(spec.name)["rows"]}
    async with _Recorder() as server:
        target = Target("m", server.config.model, (server.url,), max_images=8)
        params = GenParams(max_tokens=4)
        job = make_job(target, spec, dataset, file, tmp_path / "work", params)
        await run_target(target, [job], concurrency=4, retry=0, params=params, api_key=None)
    gone_rows = {r for r, row in kit.items() if "/" + gone + "/" in str(row["messages"])}
    assert job.failed == len(gone_rows) and job.ok == len(kit) - len(gone_rows)
    sent = [[p for p in b["messages"][-1]["content"] if p["type"] == "image_url"] for b in server.bodies]
    assert len(sent) == job.ok and all(len(images) == 8 for images in sent)
    seen = sorted(_frame_ids_of_urls([p["image_url"]["url"] for p in images]) for images in sent)
    want = sorted(row["image_frame_ids"] for r, row in kit.items() if r not in gone_rows)
    assert seen == want
    stored = job.stored()
    failed = stored.filter(stored["status"] == "failed")
    assert set(failed["error_kind"].to_list()) == {ErrorKind.INPUT.value}
    assert failed.height == len(gone_rows)


def _frame_ids_of_urls(urls: list[str]) -> list[int]:
    read = video_frame_id()
    out = []
    for url in urls:
        raw = base64.b64decode(url.split(",", 1)[1])
        out.append(read(np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))))
    return out


SHIPPED_KIT_PRESETS = [  # every kit preset with a benchmarks/<preset>.toml (the pack preset is API-only)
    "MMBench_Video_8frame_nopack",
    "MVBench_8frame",
    "MVBench_MP4_1fps",
    "MVBench_MP4_8frame",
    "Video-MME_0.5fps_subs",
    "Video-MME_1fps",
    "Video-MME_8frame",
    "Video-MME_8frame_subs",
]


def frames_and_text(body: dict[str, Any]) -> tuple[list[int], str]:
    """What a request body shows: the frame number in each image sent, and its texts run together
    (the system message first)."""
    contents = [m["content"] for m in body["messages"]]
    parts = [p for c in contents if isinstance(c, list) for p in c]
    text = "".join(c for c in contents if isinstance(c, str)) + "".join(p.get("text", "") for p in parts)
    return _frame_ids_of_urls([p["image_url"]["url"] for p in parts if p["type"] == "image_url"]), text


def texts_in_order(texts: list[str], body_text: str) -> bool:
    """Each text occurs in `body_text`, each after the one before it."""
    at = 0
    for text in texts:
        found = body_text.find(text, at)
        if found < 0:
            return False
        at = found + len(text)
    return True


@pytest.mark.parametrize("preset", SHIPPED_KIT_PRESETS)
async def test_a_run_sends_each_row_vlmevalkits_frames_and_texts(preset: str, tmp_path: Path) -> None:
    spec = get_spec(preset)  # the shipped TOML: kind, sampler, nframe or fps, subtitles
    file, dataset = open_video(
        spec, video_kit_dir() / "data", cache_dir=tmp_path / "cache", frames=tmp_path / "f", workers=2
    )
    async with _Recorder() as server:
        target = Target("m", server.config.model, (server.url,), max_images=64)
        params = GenParams(max_tokens=4)
        job = make_job(target, spec, dataset, file, tmp_path / "work", params)
        await run_target(target, [job], concurrency=4, retry=0, params=params, api_key=None)
    rows = [row for row in video_kit_prompts(preset)["rows"] if "error" not in row]
    assert job.ok == len(rows) and job.failed == len(video_kit_prompts(preset)["rows"]) - len(rows)
    sent = [frames_and_text(body) for body in server.bodies]
    for row in rows:
        texts = [m["value"] for m in row["messages"] if m["type"] == "text" and m["value"]]
        match = [t for ids, t in sent if ids == row["image_frame_ids"] and texts_in_order(texts, t)]
        assert match, f"row {row['index']}: no request carried its frames and texts"


def test_dry_run_prints_8_frame_bodies_with_internvl2s_one_tile_without_a_server(tmp_path: Path) -> None:
    env = dict(os.environ, LMUData=str(video_kit_dir() / "data"), FASTEVAL_CACHE=str(tmp_path / "cache"))
    r = subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--data", "Video-MME_8frame", "MVBench_8frame",
         "--model", "InternVL2-2B", "--dry-run", "1", "--state-dir", str(tmp_path / "servers")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    bodies = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(bodies) == 2
    for body in bodies:
        content = body["messages"][-1]["content"]
        urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
        assert len(urls) == 8 and all(u.startswith("data:image/jpeg;base64,<") for u in urls)
        assert body["mm_processor_kwargs"] == {"max_dynamic_patch": 1}
        assert content[-1]["text"].startswith("Frame-1: <image>\nFrame-2: <image>\n")
    assert "InternVL2-2B / MVBench_8frame: first 1 of 28 requests; family internvl2" in r.stderr


@pytest.mark.parametrize("preset", ["MVBench_8frame", "Video-MME_8frame"])
def test_the_live_accuracy_hint_reads_a_video_row_as_its_kind_scores_it(preset: str, tmp_path: Path) -> None:
    spec = get_spec(preset)
    sample = next(iter(_open(preset, tmp_path).iter_samples()))
    kind = kind_named(spec.kind)
    item = kind.live_item(spec, sample, "")
    right = (
        f"({item.answer}) {item.choices[item.answer or '']}" if preset.startswith("MVBench") else item.answer
    )
    wrong = next(letter for letter in "ABCD" if letter != item.answer)
    assert kind.live_hit(spec, kind.live_item(spec, sample, right), DEFAULT_RULES) is True
    assert kind.live_hit(spec, kind.live_item(spec, sample, f"({wrong})"), DEFAULT_RULES) is False


def crash_on_one_video(task: FrameTask) -> RowFrames:
    """A decoder that kills its worker process on one video (a corrupt file crashing FFmpeg)."""
    if task.source.key == CRASHING:
        os._exit(1)
    return prepare_frames(task)


CRASHING = "6gflkmpn6u"  # an MMBench-Video kit video (4 rows)


def test_a_video_that_kills_its_worker_fails_its_own_rows_and_the_others_are_sent(tmp_path: Path) -> None:
    dataset = _open("MMBench_Video_8frame_nopack", tmp_path, workers=2)
    assert any(row["video"] == CRASHING for row in dataset.tasks()[0])

    async def collect() -> list[Sample]:
        return [s async for s in dataset.aiter_samples(work=crash_on_one_video)]

    samples = asyncio.run(collect())
    assert [s.index for s in samples] == [s.index for s in dataset.iter_samples()]
    for sample in samples:
        if sample.meta["video"] == CRASHING:
            assert sample.unavailable and "killed its worker process twice" in sample.unavailable
        else:
            assert sample.unavailable is None and len(sample.images) == 8


def test_a_row_with_more_frames_than_the_model_takes_fails_before_it_is_sent(tmp_path: Path) -> None:
    spec = get_spec("Video-MME_8frame")
    sample = next(iter(_open("Video-MME_8frame", tmp_path).iter_samples()))
    failed = over_image_limit(
        Target("small", "small", ("http://127.0.0.1:9/v1",), max_images=4), spec, sample
    )
    assert failed is not None and failed.error_kind is ErrorKind.BAD_REQUEST
    assert "sends 8 images; small accepts 4 per prompt: raise images_per_prompt" in (failed.error or "")
    assert over_image_limit(Target("big", "big", ("u",), max_images=64), spec, sample) is None


async def test_a_limited_run_decodes_only_the_videos_of_the_rows_it_sends(tmp_path: Path) -> None:
    spec = get_spec("MMBench_Video_8frame_nopack")
    file, dataset = open_video(
        spec, video_kit_dir() / "data", cache_dir=tmp_path / "cache", frames=tmp_path / "f", workers=1
    )
    first = [row["video"] for row in dataset.tasks()[0][:2]]
    async with _Recorder() as server:
        target = Target("m", server.config.model, (server.url,))
        params = GenParams(max_tokens=4)
        job = make_job(target, spec, dataset, file, tmp_path / "work", params, limit=2)
        await run_target(target, [job], concurrency=4, retry=0, params=params, api_key=None)
    assert job.ok == 2 and len(server.bodies) == 2
    decoded = {p.name for p in (tmp_path / "f" / "images" / "MMBench-Video").iterdir()}
    assert decoded == set(first)
