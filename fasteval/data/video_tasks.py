"""One video's frames for the rows that use it: the unit of work a frame-extraction worker process runs.

Kept apart from `video_rows` (the run's side: rows, the process pool, the order rows are sent in):
everything a worker process runs is here and in `fasteval.data.video`, and it reads no table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasteval.data.video.cache import complete, frame_paths
from fasteval.data.video.plan import (
    VideoPreset,
    VideoSource,
    cached_frames,
    ensure_frames,
    sample_frames,
    video_source,
)
from fasteval.data.video.subtitles import subtitle_lines
from fasteval.errors import FastevalError
from fasteval.types import VideoSpec


@dataclass(frozen=True, slots=True)
class FrameTask:
    """What one worker does for one frame folder: everything it needs, picklable."""

    folder: str  # the video's name in the frame cache (VLMEvalKit's cache key)
    source: VideoSource
    video: VideoSpec
    frames: Path  # fasteval's frame cache: new frames go to `{frames}/images/{dataset}/{video}/`
    reuse: Path | None = None  # `$LMUData`: VLMEvalKit's frames there are read when complete
    subtitle: Path | None = None  # Video-MME's .srt (the `_subs` presets)


@dataclass(frozen=True, slots=True)
class RowFrames:
    """A prepared frame folder: the JPEG files in prompt order, or why there are none."""

    paths: tuple[Path, ...] = ()
    indices: tuple[int, ...] = ()
    subtitles: tuple[str, ...] | None = None
    error: str | None = None

    def meta(self) -> dict[str, Any]:
        """What the kinds read besides the TSV's columns: the sampled frame numbers (when the video
        was opened) and, for the subtitle presets, the subtitle lines at the sampled frames."""
        out: dict[str, Any] = {"frame_indices": list(self.indices)}
        if self.subtitles is not None:
            out["subtitles"] = list(self.subtitles)
        return out


def frame_task(
    video: VideoSpec, root: Path, frames: Path, reuse: Path | None, row: dict[str, Any]
) -> FrameTask:
    """Where a row's video is and how it is sampled (`plan.video_source`), and its subtitle file
    (`{root}/{subtitle_path}`, `videomme.py`) for the subtitle presets."""
    source = video_source(VideoPreset.of(video), root, row)
    subtitle = None
    if video.subtitles and row.get("subtitle_path") is not None:
        subtitle = root / str(row["subtitle_path"])
    return FrameTask(source.key, source, video, frames, reuse, subtitle)


def cached_row_frames(task: FrameTask) -> RowFrames | None:
    """The folder's frames when an nframe preset without subtitles finds all of them cached (their
    names are known without opening the video: a few `stat` calls, cheap enough for the event loop),
    VLMEvalKit's cache under `$LMUData` first; None when a worker must open the video."""
    preset = VideoPreset.of(task.video)
    if preset.subtitles:
        return None
    for root in (r for r in (task.reuse, task.frames) if r is not None):
        hit = cached_frames(preset, task.source, root)
        if hit is not None:
            return RowFrames(tuple(hit))
    return None


def prepare_frames(task: FrameTask) -> RowFrames:
    """Sample, decode and save one video's frames (a worker process runs this), or reuse them when
    every file exists, VLMEvalKit's cache under `$LMUData` first. A failure is a value: the rows on
    this video become `unavailable`."""
    try:
        hit = cached_row_frames(task)
        if hit is not None:
            return hit
        preset = VideoPreset.of(task.video)
        plan = sample_frames(preset, task.source, task.frames)
        subtitles = None
        if preset.subtitles:  # Video-MME's lines at the sampled frames; none when the file is absent
            srt = task.subtitle
            subtitles = () if srt is None else tuple(subtitle_lines(srt, plan.indices, plan.info.avg_fps))
        if task.reuse is not None:
            theirs = frame_paths(task.reuse, preset.dataset, task.source.key, len(plan.paths), preset.fps)
            if complete(theirs):
                return RowFrames(theirs, plan.indices, subtitles)
        return RowFrames(tuple(ensure_frames(plan)), plan.indices, subtitles)
    except FastevalError as exc:
        return RowFrames(error=str(exc))
