"""Decode the frames VLMEvalKit decodes, with PyAV, to the same RGB arrays decord 0.6.0 gives.

VLMEvalKit reads videos with decord (`VideoReader(path)`, `len(vr)`, `vr.get_avg_fps()`, `vr[i]`);
decord has had no release since 2021, so fasteval reads them with PyAV (FFmpeg's libraries, kept
current), matching decord's definitions:

* frame count = the number of packets of the video stream (decord `IndexKeyframes` counts every
  demuxed packet, `GetFrameCount` returns that count: dmlc/decord d2e5619 `src/video/video_reader.cc`
  L255-273, L466-505);
* average fps = the stream's `avg_frame_rate` as a float (`GetAverageFPS`, L538-544), e.g.
  29.97002997002997 for 30000/1001;
* the stream = FFmpeg's best video stream (`av_find_best_stream`, L149);
* frame k = the decoded frame whose pts is the k-th smallest packet pts, converted to packed RGB24 by
  libswscale (PyAV's `to_ndarray(format="rgb24")` with its defaults).

On the video kit (mp4/H.264, webm/VP8, avi/MPEG-4 Part 2) every sampled frame is byte-identical to
decord's, and so is every frame checked on six stress videos decoded by decord itself (long GOPs,
open GOP, 4:4:4, VP9, variable frame rate, MJPEG; `tests/test_video_decode.py`). Frames are reached
by seeking to the key frame at or before each wanted one and decoding forward, as decord does, so an
8-frame sample of an hour-long video decodes a few GOPs, not the whole file.

MVBench's frame-folder tasks are JPEG files read with Pillow (`mvbench.py` L253-261).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fasteval.errors import FastevalError

RGB = NDArray[np.uint8]
"""One frame: height x width x 3, uint8, C order (decord's `vr[i].asnumpy()`)."""


class VideoError(FastevalError):
    """A video that is missing or cannot be decoded as VLMEvalKit decodes it."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What VLMEvalKit's samplers read from a video: decord's `len(vr)` and `get_avg_fps()`."""

    frame_count: int
    avg_fps: float


@dataclass(frozen=True, slots=True)
class _Index:
    pts: tuple[int, ...]  # every packet's pts, sorted: frame k has pts[k]
    keys: tuple[int, ...]  # positions (in that order) of the key frames, sorted
    avg_fps: float


def probe(path: Path) -> VideoInfo:
    """Frame count and average fps of a video file, without decoding a frame."""
    index = _index(path)
    return VideoInfo(len(index.pts), index.avg_fps)


def read_frames(path: Path, indices: Sequence[int]) -> list[RGB]:
    """The RGB frames at `indices` (0-based, any order, repeats allowed), in the order asked."""
    got = dict(iter_frames(path, indices))
    return [got[i] for i in indices]


def iter_frames(path: Path, indices: Sequence[int]) -> Iterator[tuple[int, RGB]]:
    """Each distinct index of `indices` with its frame, in increasing order, one frame in memory at a
    time (an fps preset of an hour-long video samples thousands)."""
    if not indices:
        return
    index = _index(path)
    n = len(index.pts)
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise VideoError(
            f"{path} has {n} frames, frame {bad[0]} was asked for: the video is shorter than "
            "its metadata says; re-download it"
        )
    yield from _decode_at(path, index, sorted(set(indices)))


def _index(path: Path) -> _Index:
    """The packet index, demuxed once per (path, size, mtime): rows sharing a video reuse it."""
    try:
        st = path.stat()
    except OSError:
        raise VideoError(
            f"video {path} not found; download the dataset again or place the file there"
        ) from None
    return _read_index_cached(path, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)  # an hour of 30 fps video indexes ~100k pts: a few MB each
def _read_index_cached(path: Path, size: int, mtime_ns: int) -> _Index:
    return _read_index(path)


def _open(path: Path) -> object:
    import av

    if not path.is_file():
        raise VideoError(f"video {path} not found; download the dataset again or place the file there")
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(
            f"cannot open video {path} ({_why(exc)}); the file is corrupt: download it again"
        ) from None


def _stream(container: Any) -> Any:
    """The stream decord reads: FFmpeg's best video stream (`av_find_best_stream`, `video_reader.cc`
    L149), which passes over cover-art pictures that can come first."""
    return container.streams.best("video")


def _read_index(path: Path) -> _Index:
    import av

    container = _open(path)
    assert isinstance(container, av.container.InputContainer)
    with container:
        stream = _stream(container)
        if stream is None:
            raise VideoError(f"{path} has no video stream; download the file again")
        rate = stream.average_rate
        entries: list[tuple[int, bool]] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None:  # the flush packet PyAV appends
                    continue
                if packet.pts is None:
                    raise VideoError(f"{path} has packets without timestamps; re-encode it (e.g. ffmpeg -i)")
                entries.append((packet.pts, packet.is_keyframe))
        except av.FFmpegError as exc:
            raise VideoError(
                f"cannot read video {path} ({_why(exc)}); the file is corrupt: download it again"
            ) from None
    if not entries or rate is None or rate.denominator == 0 or rate.numerator == 0:
        raise VideoError(f"{path} has no frames or no frame rate; the file is corrupt: download it again")
    entries.sort(key=lambda e: e[0])
    return _Index(
        pts=tuple(p for p, _ in entries),
        keys=tuple(i for i, (_, key) in enumerate(entries) if key) or (0,),
        avg_fps=rate.numerator / rate.denominator,
    )


def _decode_at(path: Path, index: _Index, wanted: list[int]) -> Iterator[tuple[int, RGB]]:
    """Decode the frames at the sorted positions `wanted`: seek to a key frame only when the next
    wanted frame lies beyond the current GOP, otherwise keep decoding forward."""
    import av

    position = {pts: i for i, pts in enumerate(index.pts)}
    container = _open(path)
    assert isinstance(container, av.container.InputContainer)
    with container:
        stream = _stream(container)
        frames: Iterator[av.VideoFrame] | None = None
        at = -1  # position of the last frame decoded
        try:
            for target in wanted:
                key = index.keys[bisect.bisect_right(index.keys, target) - 1]
                if frames is None or at >= target or key > at:
                    container.seek(index.pts[key], stream=stream, backward=True, any_frame=False)
                    frames = container.decode(stream)
                    at = -1
                found: RGB | None = None
                for frame in frames:
                    if frame.pts is None or frame.pts not in position:
                        continue
                    at = position[frame.pts]
                    if at == target:
                        found = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                        break
                    if at > target:
                        break
                if found is None:
                    raise VideoError(
                        f"{path}: frame {target} could not be decoded; the file is damaged: download it again"
                    )
                yield target, found
        except av.FFmpegError as exc:
            raise VideoError(
                f"cannot decode video {path} ({_why(exc)}); the file is corrupt: download it again"
            ) from None


# ---------------------------------------------------------------------------------------------
# MVBench frame folders
# ---------------------------------------------------------------------------------------------


def folder_frame_count(folder: Path) -> int:
    """MVBench's `max_frame` for a frame folder: every entry in it (`len(os.listdir(...))`, L254)."""
    try:
        return len(os.listdir(folder))
    except OSError as exc:
        raise VideoError(
            f"frame folder {folder} cannot be read ({exc.strerror}); download the dataset again"
        ) from None


def read_folder_frames(folder: Path, names: Sequence[str]) -> list[RGB]:
    """The frames `names` of a frame folder, as Pillow decodes them (`mvbench.py` L258)."""
    from PIL import Image, UnidentifiedImageError

    out: list[RGB] = []
    cache: dict[str, RGB] = {}
    for name in names:
        if name not in cache:
            path = folder / name
            try:
                with Image.open(path) as im:
                    cache[name] = np.asarray(im.convert("RGB"), dtype=np.uint8)
            except FileNotFoundError:
                raise VideoError(f"frame {path} not found; download the dataset again") from None
            except (UnidentifiedImageError, OSError) as exc:
                raise VideoError(
                    f"frame {path} cannot be decoded ({_why(exc)}); download the dataset again"
                ) from None
        out.append(cache[name])
    return out


def _why(exc: Exception) -> str:
    """FFmpeg's reason without the path PyAV repeats in its message."""
    return str(getattr(exc, "strerror", None) or exc)
