"""Decoding: PyAV gives decord 0.6.0's frame count, average fps and RGB frames on every kit video.

The evidence VLMEvalKit's own run left in `frames/expected.json`: `decord_len`, `decord_avg_fps`, and
for every 8-frame sample the SHA-256 of decord's RGB array (mp4/H.264, webm/VP8, avi/MPEG-4). Every
other sampled index is checked through the frame number drawn into its pixels (`frame_pattern.py`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from fasteval.data.video import decode, sampling
from fasteval.data.video.decode import VideoError
from tests.fixtures import video_frame_id, video_kit_dir, video_kit_frames

KIT = video_kit_dir()
VIDEOS = {k: v for k, v in video_kit_frames()["videos"].items() if "decord_len" in v}


def _file(video: str) -> Path:
    return KIT / json.loads((KIT / "videos.json").read_text())["videos"][video]["file"]


@pytest.mark.parametrize("video", sorted(VIDEOS))
def test_frame_count_and_average_fps_are_decords(video: str) -> None:
    info = decode.probe(_file(video))
    assert info.frame_count == VIDEOS[video]["decord_len"]
    assert info.avg_fps == VIDEOS[video]["decord_avg_fps"]  # e.g. 30000/1001 -> 29.97002997002997


def test_every_hashed_frame_is_byte_identical_to_decords() -> None:
    """All 8-frame samples of all sampling functions: 416 frames over 14 videos, all exact."""
    kit = video_kit_frames()
    matched, total, videos = 0, 0, set()
    for function in kit["functions"].values():
        for video, entry in function.items():
            setting = entry.get("settings", {}).get("nframe=8", {})
            if "rgb_sha256" not in setting:
                continue
            frames = decode.read_frames(_file(video), setting["indices"])
            for rgb, expected in zip(frames, setting["rgb_sha256"], strict=True):
                assert list(rgb.shape) == setting["rgb_shape"]
                matched += hashlib.sha256(rgb.tobytes()).hexdigest() == expected
                total += 1
            videos.add(video)
    assert (matched, total, len(videos)) == (416, 416, 14)


@pytest.mark.parametrize("video", sorted(VIDEOS))
def test_every_sampled_index_shows_its_own_frame(video: str) -> None:
    """Seeking to key frames and decoding forward lands on the right frame for every setting's indices."""
    read = video_frame_id()
    for function in video_kit_frames()["functions"].values():
        for name, setting in function.get(video, {}).get("settings", {}).items():
            indices = setting.get("indices") or []
            got = [read(rgb) for rgb in decode.read_frames(_file(video), indices)]
            assert got == indices, name


def test_frames_come_back_in_the_order_asked_with_repeats() -> None:
    read = video_frame_id()
    frames = decode.read_frames(_file("p02"), [900, 3, 900, 0, 1199])
    assert [read(f) for f in frames] == [900, 3, 900, 0, 1199]


def test_frame_folder_files_are_read_with_pillow() -> None:
    folder = KIT / "data/MVBench/video/tvqa/frames_fps3_hq/s03e16_seg02_clip_20"
    assert decode.folder_frame_count(folder) == 45
    frames = decode.read_folder_frames(folder, sampling.folder_files([1, 45, 1]))
    assert all(f.dtype == np.uint8 and f.ndim == 3 and f.shape[2] == 3 for f in frames)
    assert np.array_equal(frames[0], frames[2])
    assert video_frame_id()(frames[0]) != video_frame_id()(frames[1])


def test_missing_and_corrupt_videos_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"not found; download the dataset again"):
        decode.probe(tmp_path / "absent.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 10)
    with pytest.raises(VideoError, match=r"broken.mp4 .*download it again"):
        decode.probe(broken)
    with pytest.raises(VideoError, match="has 5 frames, frame 5 was asked for"):
        decode.read_frames(_file("p01"), [5])


STRESS = Path(__file__).parent / "data" / "video_decord"


@pytest.mark.parametrize(
    "video", ["long_gop.mp4", "open_gop.mp4", "yuv444.mp4", "vp9.webm", "vfr.mp4", "mjpeg.avi"]
)
def test_stress_videos_decode_as_decord_decodes_them(video: str) -> None:
    """Beyond the kit: long GOPs with B-frames, an open GOP, 4:4:4, VP9, variable frame rate, MJPEG/AVI,
    each with decord 0.6.0's own len, fps and frame hashes (`tests/data/video_decord/make.py`): 219
    frames, all identical."""
    expected = json.loads((STRESS / "decord.json").read_text())["videos"][video]
    info = decode.probe(STRESS / video)
    assert (info.frame_count, info.avg_fps) == (expected["len"], expected["avg_fps"])
    frames = decode.read_frames(STRESS / video, expected["indices"])
    got = [hashlib.sha256(f.tobytes()).hexdigest() for f in frames]
    assert got == expected["rgb_sha256"]
