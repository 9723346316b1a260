"""Extract a whole preset's frames ahead of time, in worker processes, with progress.

Decoding and JPEG encoding are CPU-bound: they run in a process pool (never on an event loop), one
video per task, and a worker returns only counts, so memory stays flat however large the dataset.
Videos whose cache is complete are skipped without being opened (nframe presets) or after a probe
(fps presets, whose file names depend on the video's length). One video's failure (missing,
undecodable) is recorded and the others go on; an unwritable cache stops the run, since every other
video would fail the same way.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasteval.data.video.cache import FrameCacheError
from fasteval.data.video.decode import VideoError
from fasteval.data.video.plan import (
    VideoPreset,
    VideoSource,
    cached_frames,
    ensure_frames,
    sample_frames,
    video_source,
)


@dataclass(frozen=True, slots=True)
class VideoFailure:
    """A video whose frames could not be made, with the one-line reason (it names the file and the fix)."""

    key: str
    path: Path
    error: str


@dataclass(frozen=True, slots=True)
class ExtractProgress:
    """The state after each finished video, for a progress line."""

    done: int  # videos finished (cached, extracted or failed)
    total: int
    cached: int  # already complete before this run
    failed: int
    frames: int  # frames written by this run
    elapsed_s: float

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace of the videos decoded so far (None before the first one)."""
        worked = self.done - self.cached
        left = self.total - self.done
        if left == 0:
            return 0.0
        return self.elapsed_s / worked * left if worked > 0 and self.elapsed_s > 0 else None


@dataclass(frozen=True, slots=True)
class ExtractResult:
    total: int
    cached: int
    extracted: int
    frames: int
    failures: tuple[VideoFailure, ...]
    elapsed_s: float


def dataset_sources(
    preset: VideoPreset, snapshot: Path, rows: Iterable[Mapping[str, Any]]
) -> list[VideoSource]:
    """One source per cache key, taken from the key's first row in table order: VLMEvalKit caches frames
    by video name, so the first row of an MVBench video (and its bound) decides them."""
    seen: dict[str, VideoSource] = {}
    for row in rows:
        source = video_source(preset, snapshot, row)
        seen.setdefault(source.key, source)
    return list(seen.values())


def extract_one(preset: VideoPreset, source: VideoSource, lmudata: Path) -> tuple[int, str | None, bool]:
    """Make one video's frames: (frames written, error line or None, cache error)."""
    try:
        plan = sample_frames(preset, source, lmudata)
        missing = [i for i, p in enumerate(plan.paths) if not p.exists()]
        if not missing:
            return 0, None, False
        ensure_frames(plan)
        return len(missing), None, False
    except FrameCacheError as exc:
        return 0, str(exc), True
    except VideoError as exc:
        return 0, str(exc), False


def extract_frames(
    preset: VideoPreset,
    sources: Sequence[VideoSource],
    lmudata: Path,
    *,
    workers: int,
    on_progress: Callable[[ExtractProgress], None] | None = None,
    reuse: Path | None = None,
) -> ExtractResult:
    """Every source's frames into the cache under `lmudata` (the frame root); `workers` processes (0:
    in this process). A video whose frames are complete under `reuse` (VLMEvalKit's `$LMUData`, when
    fasteval writes to its own cache) counts as cached, as a run would read them from there."""
    start = time.monotonic()
    roots = [lmudata] if reuse is None else [reuse, lmudata]
    todo = [s for s in sources if all(cached_frames(preset, s, root) is None for root in roots)]
    cached = len(sources) - len(todo)
    state = {"done": cached, "frames": 0, "extracted": 0}
    failures: list[VideoFailure] = []

    def report() -> None:
        if on_progress is not None:
            progress = ExtractProgress(
                state["done"], len(sources), cached, len(failures), state["frames"], time.monotonic() - start
            )
            on_progress(progress)

    def finish(source: VideoSource, outcome: tuple[int, str | None, bool]) -> None:
        written, error, _ = outcome
        state["done"] += 1
        state["frames"] += written
        if error is not None:
            failures.append(VideoFailure(source.key, source.path, error))
        elif written:
            state["extracted"] += 1
        report()

    report()
    if workers <= 0:
        for source in todo:
            outcome = extract_one(preset, source, lmudata)
            finish(source, outcome)
            if outcome[2]:
                raise FrameCacheError(str(outcome[1]))
    elif todo:
        _run_pool(preset, todo, lmudata, workers, finish)
    return ExtractResult(
        total=len(sources),
        cached=cached,
        extracted=state["extracted"],
        frames=state["frames"],
        failures=tuple(failures),
        elapsed_s=time.monotonic() - start,
    )


def _run_pool(
    preset: VideoPreset,
    todo: Sequence[VideoSource],
    lmudata: Path,
    workers: int,
    finish: Callable[[VideoSource, tuple[int, str | None, bool]], None],
) -> None:
    """At most `2 * workers` videos in flight, so a 900-video dataset does not queue 900 futures."""
    context = multiprocessing.get_context("spawn")  # safe next to threads (an event loop's executor)
    pending = iter(todo)
    running: dict[Future[tuple[int, str | None, bool]], VideoSource] = {}
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context) as pool:
        try:
            while True:
                while len(running) < 2 * workers and (source := next(pending, None)) is not None:
                    running[pool.submit(extract_one, preset, source, lmudata)] = source
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        raise VideoError(
                            f"a frame-decoding worker died while reading {running[future].path} (out of "
                            "memory, or killed); run again (finished videos are kept), with fewer workers"
                        ) from None
                    finish(running.pop(future), outcome)
                    if outcome[2]:
                        raise FrameCacheError(str(outcome[1]))
        except BaseException:
            for future in running:
                future.cancel()
            raise
