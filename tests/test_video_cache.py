"""The frame cache: VLMEvalKit's file names and JPEG bytes, its reuse rule, and atomic writes.

End to end per preset: every row of the kit's TSVs is sampled, decoded and written into an empty
`$LMUData`, then compared with the messages VLMEvalKit's `build_prompt` returned (image paths relative
to `$LMUData`, and the frame number each image shows).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fasteval.data.tabular import read_table
from fasteval.data.video import cache, decode, plan
from fasteval.data.video.cache import FrameCacheError
from fasteval.data.video.plan import NoFrames, Sampler, VideoPreset
from tests.fixtures import video_frame_id, video_kit_dir, video_kit_frames, video_kit_prompts

KIT = video_kit_dir()
SAMPLER = {
    "VideoMME": Sampler.UNIFORM,
    "MMBenchVideo": Sampler.UNIFORM,
    "MVBench": Sampler.MVBENCH,
    "MVBench_MP4": Sampler.MVBENCH_MP4,
}
SNAPSHOT = {
    "Video-MME": "Video-MME",
    "MMBench-Video": "MMBench-Video",
    "MVBench": "MVBench",
    "MVBench_MP4": "MVBench",
}
PRESETS = [
    "Video-MME_8frame",
    "Video-MME_8frame_subs",
    "Video-MME_1fps",
    "Video-MME_0.5fps_subs",
    "MVBench_8frame",
    "MVBench_MP4_8frame",
    "MVBench_MP4_1fps",
    "MMBench_Video_8frame_nopack",
]


def _preset(meta: dict[str, Any]) -> VideoPreset:
    nframe = meta["nframe"] if meta["nframe"] > 0 else None
    fps = float(meta["fps"]) if meta["fps"] > 0 else None
    return VideoPreset(
        meta["dataset_name"], SAMPLER[meta["dataset_class"]], nframe, fps, "_subs" in meta["preset"]
    )


def _rows(dataset: str) -> list[dict[str, Any]]:
    return read_table(KIT / "data" / SNAPSHOT[dataset] / f"{dataset}.tsv").to_dicts()


@pytest.mark.parametrize("name", PRESETS)
def test_every_row_gets_vlmevalkits_frame_files_showing_its_frames(name: str, tmp_path: Path) -> None:
    kit = video_kit_prompts(name)
    preset = _preset(kit)
    root = KIT / "data" / SNAPSHOT[preset.dataset]
    read = video_frame_id()
    rows = _rows(preset.dataset)
    assert len(rows) == len(kit["rows"])
    for row, expected in zip(rows, kit["rows"], strict=True):  # in row order: MVBench's cache sharing
        source = plan.video_source(preset, root, row)
        if expected.get("error"):
            assert expected["error"].startswith("IndexError")
            with pytest.raises(NoFrames, match=r"shorter than 1/1\.0 s"):
                plan.sample_frames(preset, source, tmp_path)
            continue
        files = plan.ensure_frames(plan.sample_frames(preset, source, tmp_path))
        images = [m["value"] for m in expected["messages"] if m["type"] == "image"]
        assert [str(f.relative_to(tmp_path)) for f in files] == images
        assert [read(np.asarray(Image.open(f).convert("RGB"))) for f in files] == expected["image_frame_ids"]


def test_mvbench_rows_on_one_video_share_the_first_rows_frames(tmp_path: Path) -> None:
    """VLMEvalKit keys MVBench's cache by video name only: row 1 (bound 8.3-20.5 s) shows row 0's frames."""
    preset = VideoPreset("MVBench", Sampler.MVBENCH, nframe=8)
    root = KIT / "data" / "MVBench"
    first, second = (plan.video_source(preset, root, r) for r in _rows("MVBench")[:2])
    assert first.key == second.key and first.bound != second.bound
    plan.ensure_frames(plan.sample_frames(preset, first, tmp_path))
    second_plan = plan.sample_frames(preset, second, tmp_path)
    assert second_plan.indices == (90, 105, 120, 136, 151, 166, 182, 197) and second_plan.cached
    files = plan.ensure_frames(second_plan)
    assert [video_frame_id()(np.asarray(Image.open(f))) for f in files] == [
        36,
        69,
        101,
        134,
        166,
        199,
        232,
        264,
    ]


def test_jpeg_bytes_equal_vlmevalkits() -> None:
    """Pillow's default JPEG of the same RGB: every hashed JPEG of the kit, byte for byte."""
    matched = total = 0
    kit = video_kit_frames()
    for function in ("VideoMME.save_video_frames", "VideoBaseDataset.save_video_frames"):
        for video, entry in kit["functions"][function].items():
            setting = entry["settings"]["nframe=8"]
            path = KIT / "videos" / f"{video}.mp4"
            for rgb, expected in zip(
                decode.read_frames(path, setting["indices"]), setting["jpeg_sha256"], strict=True
            ):
                matched += hashlib.sha256(cache.encode_jpeg(rgb)).hexdigest() == expected
                total += 1
    assert (matched, total) == (192, 192)


def test_a_complete_cache_is_reused_without_opening_the_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    preset = VideoPreset("MMBench-Video", Sampler.UNIFORM, nframe=2)
    source = plan.VideoSource(tmp_path / "nowhere.mp4", plan.SourceKind.FILE, "vid")
    paths = cache.frame_paths(tmp_path, "MMBench-Video", "vid", 2, None)
    for p in paths:  # VLMEvalKit's (or an earlier run's) frames
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"theirs")
    assert plan.frame_files(preset, source, tmp_path) == list(paths)
    assert [p.read_bytes() for p in paths] == [b"theirs", b"theirs"]


def test_only_missing_files_are_written(tmp_path: Path) -> None:
    preset = VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8)
    source = plan.VideoSource(KIT / "videos" / "p02.mp4", plan.SourceKind.FILE, "p02")
    frame_plan = plan.sample_frames(preset, source, tmp_path)
    frame_plan.paths[3].parent.mkdir(parents=True)
    frame_plan.paths[3].write_bytes(b"kept")
    plan.ensure_frames(frame_plan)
    assert frame_plan.paths[3].read_bytes() == b"kept"
    assert video_frame_id()(np.asarray(Image.open(frame_plan.paths[4]))) == frame_plan.indices[4]


def test_a_killed_write_leaves_no_frame_a_later_run_would_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "images" / "Video-MME" / "v" / "frame-1-of-8.jpg"

    def killed(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.write_atomic(target, b"\xff\xd8" + b"x" * 1000)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    assert not cache.complete([target])


def test_an_unwritable_cache_is_a_one_line_error_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "images").write_text("a file where the cache folder should be")
    preset = VideoPreset("Video-MME", Sampler.UNIFORM, nframe=1)
    source = plan.VideoSource(KIT / "videos" / "p01.mp4", plan.SourceKind.FILE, "p01")
    with pytest.raises(FrameCacheError, match=r"cannot write frames to .*images/Video-MME/p01 .*writable"):
        plan.frame_files(preset, source, tmp_path)


def test_video_names_cannot_leave_the_cache(tmp_path: Path) -> None:
    with pytest.raises(FrameCacheError, match="would leave the frame cache"):
        cache.video_dir(tmp_path, "MVBench", "../../etc")


def test_mvbench_float_round_trip_is_the_identity_on_every_byte() -> None:
    """MVBench sends frames through a float tensor before saving (`ToTorchFormatTensor` divides by 255,
    `ToPILImage` multiplies by 255 and truncates): for every uint8 value that gives the value back, so
    its JPEGs are encoded from decord's RGB as the kit records (`jpeg_input_equals_rgb`)."""
    v = np.arange(256, dtype=np.uint8)
    assert np.array_equal((v.astype(np.float32) / np.float32(255) * np.float32(255)).astype(np.uint8), v)
    assert np.array_equal((v.astype(np.float32) * np.float32(1 / 255) * np.float32(255)).astype(np.uint8), v)


def test_each_frame_is_on_disk_before_the_next_is_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    preset = VideoPreset("Video-MME", Sampler.UNIFORM, fps=2.0)
    frame_plan = plan.sample_frames(
        preset, plan.VideoSource(KIT / "videos" / "p02.mp4", plan.SourceKind.FILE, "p02"), tmp_path
    )
    assert len(frame_plan.indices) == 80
    real = decode.iter_frames
    on_disk: list[int] = []

    def watched(path: Path, indices: list[int]):  # type: ignore[no-untyped-def]
        for k, (index, rgb) in enumerate(real(path, indices)):
            on_disk.append(sum(p.exists() for p in frame_plan.paths))
            assert on_disk[-1] == k  # the frames before this one are written, none after
            yield index, rgb

    monkeypatch.setattr(decode, "iter_frames", watched)
    plan.ensure_frames(frame_plan)
    assert on_disk == list(range(80)) and frame_plan.cached
