"""From a dataset row to its frame files: the preset, the row's video, the sampled indices, the cache.

`sample_frames` decides (probes the video, applies the preset's sampler, names the cache files);
`ensure_frames` acts (decodes and writes only when the cache lacks a file). Both are synchronous and
CPU-bound: callers run them in worker processes (`fasteval.data.video.extract`), never on an event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from fasteval.data.video import cache, decode, sampling
from fasteval.data.video.decode import VideoError, VideoInfo
from fasteval.data.video.sampling import Bound


class Sampler(StrEnum):
    """VLMEvalKit's frame-index rules, one per dataset class."""

    UNIFORM = "uniform"  # VideoBaseDataset / VideoMME / MMBenchVideo (`video_base.py` L95-150)
    MVBENCH = "mvbench"  # MVBench.get_index with bounds and frame folders (`mvbench.py` L211-261)
    MVBENCH_MP4 = "mvbench_mp4"  # MVBench_MP4 (`mvbench.py` L532-565)


class PresetFields(Protocol):
    """Anything that carries a preset's fields (the catalog's `VideoSpec` does)."""

    @property
    def dataset(self) -> str: ...
    @property
    def sampler(self) -> str: ...
    @property
    def nframe(self) -> int | None: ...
    @property
    def fps(self) -> float | None: ...
    @property
    def subtitles(self) -> bool: ...


class PresetError(VideoError):
    """A preset VLMEvalKit would refuse (both or neither of nframe and fps, fps for MVBench)."""


@dataclass(frozen=True, slots=True)
class VideoPreset:
    """One of VLMEvalKit's video presets (`vlmeval/dataset/video_dataset_config.py`).

    `dataset` is VLMEvalKit's dataset name: the snapshot's TSV name and the frame cache's folder
    (`Video-MME`, `MVBench`, `MVBench_MP4`, `MMBench-Video`). Exactly one of `nframe` and `fps`
    (`video_base.py` L64-65; `run.py` asserts one is set); MVBench has no fps mode (`mvbench.py` L353-354).
    """

    dataset: str
    sampler: Sampler
    nframe: int | None = None
    fps: float | None = None
    subtitles: bool = False

    def __post_init__(self) -> None:
        if (self.nframe is None) == (self.fps is None):
            raise PresetError(
                f"video preset of {self.dataset} sets {'both' if self.nframe else 'neither'} "
                "of nframe and fps; set exactly one"
            )
        if self.nframe is not None and self.nframe < 1:
            raise PresetError(f"video preset of {self.dataset} has nframe {self.nframe}; use at least 1")
        if self.fps is not None and not self.fps > 0:
            raise PresetError(f"video preset of {self.dataset} has fps {self.fps}; use a positive rate")
        if self.fps is not None and self.sampler is Sampler.MVBENCH:
            raise PresetError(
                "MVBench does not support an fps setting (VLMEvalKit raises); use nframe, "
                "or MVBench_MP4 for fps"
            )

    @classmethod
    def of(cls, spec: PresetFields) -> VideoPreset:
        """The preset of a benchmark's video settings (e.g. `BenchmarkSpec.video`)."""
        try:
            sampler = Sampler(spec.sampler)
        except ValueError:
            raise PresetError(
                f"unknown video sampler {spec.sampler!r}; use one of {', '.join(s.value for s in Sampler)}"
            ) from None
        fps = None if spec.fps is None else float(spec.fps)
        return cls(spec.dataset, sampler, spec.nframe, fps, spec.subtitles)


class SourceKind(StrEnum):
    FILE = "file"  # a video file decoded like decord
    FOLDER = "folder"  # an MVBench frame folder (`data_type` frame): 00001.jpg, ... read at 3 fps


@dataclass(frozen=True, slots=True)
class VideoSource:
    """One row's video: where it is, how it is read, and its name in the frame cache.

    `key` is the TSV's `video` value: VLMEvalKit keys the cache by it alone, so two MVBench rows on
    the same video with different bounds share (the first row's) frames, as in VLMEvalKit.
    """

    path: Path
    kind: SourceKind
    key: str
    bound: Bound | None = None


@dataclass(frozen=True, slots=True)
class FramePlan:
    """What one row shows: the sampled frame indices and the cache files that hold them, in order."""

    source: VideoSource
    info: VideoInfo  # decord's len(vr) / get_avg_fps(); a frame folder: file count and 3 fps
    indices: tuple[int, ...]
    paths: tuple[Path, ...]

    @property
    def cached(self) -> bool:
        return cache.complete(self.paths)


class NoFrames(VideoError):
    """A video shorter than one sampling interval in fps mode, where VLMEvalKit's MVBench_MP4 raises."""


def video_source(preset: VideoPreset, root: Path, row: Mapping[str, Any]) -> VideoSource:
    """The video of a TSV row under the dataset snapshot `root`, per VLMEvalKit's class:

    * uniform (Video-MME, MMBench-Video): `root/video/<video>.mp4` (`videomme.py` L169; MMBench-Video's
      data root is `root/video`, `mmbench_video.py` L103, read as `<video>.mp4` by `video_base.py` L141);
    * MVBench / MVBench_MP4: `root/<prefix>/<video>` (`mvbench.py` L345, L589), a frame folder when
      MVBench's `data_type` is `frame`, with the row's bound (`start`, `end`) when `bound` is true.
    """
    video = str(row["video"])
    if preset.sampler is Sampler.UNIFORM:
        return VideoSource(root / "video" / f"{video}.mp4", SourceKind.FILE, video)
    path = root / str(row["prefix"]) / video
    if preset.sampler is Sampler.MVBENCH_MP4:
        return VideoSource(path, SourceKind.FILE, video)
    data_type = str(row.get("data_type", "video"))
    if data_type not in ("video", "frame"):
        raise VideoError(f"MVBench row of {video} has data_type {data_type!r}; only video and frame are read")
    bound = None
    if _truthy(row.get("bound")):
        bound = (float(row["start"]), float(row["end"]))
    kind = SourceKind.FOLDER if data_type == "frame" else SourceKind.FILE
    return VideoSource(path, kind, video, bound)


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def sample_frames(preset: VideoPreset, source: VideoSource, lmudata: Path) -> FramePlan:
    """Probe the video and apply the preset's sampler: the frames VLMEvalKit would show for the row."""
    if source.kind is SourceKind.FOLDER:
        info = VideoInfo(decode.folder_frame_count(source.path), float(sampling.MVBENCH_FOLDER_FPS))
    else:
        info = decode.probe(source.path)
    indices = tuple(_indices(preset, source, info))
    if preset.fps is not None and not indices and preset.sampler is Sampler.MVBENCH_MP4:
        raise NoFrames(
            f"{source.path} is shorter than 1/{preset.fps} s, so fps sampling gives no frame "
            "(VLMEvalKit's MVBench_MP4 raises IndexError for this row); use an nframe preset"
        )
    count = preset.nframe if preset.nframe is not None else len(indices)
    paths = cache.frame_paths(lmudata, preset.dataset, source.key, count, preset.fps)
    return FramePlan(source, info, indices, paths)


def _indices(preset: VideoPreset, source: VideoSource, info: VideoInfo) -> list[int]:
    n, fps = info.frame_count, info.avg_fps
    if preset.sampler is Sampler.MVBENCH:
        assert preset.nframe is not None  # VideoPreset refuses fps for MVBench
        if source.kind is SourceKind.FOLDER:
            return sampling.mvbench_get_index(
                preset.nframe,
                max_frame=n,
                fps=fps,
                first_idx=sampling.MVBENCH_FOLDER_FIRST,
                bound=source.bound,
            )
        return sampling.mvbench_get_index(
            preset.nframe, max_frame=n - 1, fps=fps, first_idx=0, bound=source.bound
        )
    if preset.fps is not None:
        return sampling.uniform_fps(n, fps, preset.fps)
    assert preset.nframe is not None
    if preset.sampler is Sampler.MVBENCH_MP4:
        return sampling.mvbench_mp4_nframe(n, preset.nframe)
    return sampling.uniform_nframe(n, preset.nframe)


def ensure_frames(plan: FramePlan) -> list[Path]:
    """The plan's frame files, decoding and writing only those missing (VLMEvalKit's reuse rule)."""
    targets: dict[int, list[Path]] = {}
    for index, path in zip(plan.indices, plan.paths, strict=True):
        if not path.exists():
            targets.setdefault(index, []).append(path)
    if plan.source.kind is SourceKind.FOLDER:
        for index, paths in targets.items():
            (rgb,) = decode.read_folder_frames(plan.source.path, sampling.folder_files([index]))
            cache.write_frames([rgb] * len(paths), paths)
    else:  # decoded in order, each frame written as it comes: memory holds one frame
        for index, rgb in decode.iter_frames(plan.source.path, list(targets)):
            cache.write_frames([rgb] * len(targets[index]), targets[index])
    return list(plan.paths)


def cached_frames(preset: VideoPreset, source: VideoSource, lmudata: Path) -> list[Path] | None:
    """An nframe preset's cache files when all exist, without opening the video (VLMEvalKit's base
    class returns them unopened too, `video_base.py` L133-136); None when the video must be read."""
    if preset.nframe is None:
        return None
    paths = cache.frame_paths(lmudata, preset.dataset, source.key, preset.nframe, None)
    return list(paths) if cache.complete(paths) else None


def frame_files(preset: VideoPreset, source: VideoSource, lmudata: Path) -> list[Path]:
    """A row's frame files, from the cache when complete, else sampled, decoded and written."""
    hit = cached_frames(preset, source, lmudata)
    return hit if hit is not None else ensure_frames(sample_frames(preset, source, lmudata))
