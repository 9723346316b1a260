"""One row's visual input: its frame files and, for subtitle presets, its subtitle listing.

This is the unit of work a request needs, shaped to run in a worker process (plain, picklable
arguments and result): `row_frames(preset, snapshot, row, lmudata)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasteval.data.video.plan import VideoPreset, ensure_frames, frame_files, sample_frames, video_source
from fasteval.data.video.subtitles import subtitle_listing


@dataclass(frozen=True, slots=True)
class RowFrames:
    """The frames a row shows, in order, and Video-MME's subtitle listing (None without subtitles)."""

    files: tuple[Path, ...]
    subtitles: str | None = None


def row_frames(preset: VideoPreset, snapshot: Path, row: Mapping[str, Any], lmudata: Path) -> RowFrames:
    """Sample, decode and cache the row's frames (reusing the cache), and list its subtitles.

    Subtitles follow `videomme.py` L207-224: only with a subtitle preset, read from
    `<snapshot>/<subtitle_path>`; a missing file gives an empty listing. Raises `VideoError` (incl.
    `NoFrames`) and `FrameCacheError`, each one line naming the file and the fix.
    """
    source = video_source(preset, snapshot, row)
    if not preset.subtitles:
        return RowFrames(tuple(frame_files(preset, source, lmudata)))
    plan = sample_frames(preset, source, lmudata)
    files = ensure_frames(plan)
    srt = snapshot / str(row["subtitle_path"])
    return RowFrames(tuple(files), subtitle_listing(srt, plan.indices, plan.info.avg_fps))
