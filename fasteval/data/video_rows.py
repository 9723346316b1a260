"""Video benchmark rows: each row's sampled frames, extracted ahead of the requests by worker processes.

A video dataset is the generated TSV (read like any VLMEvalKit table: `datasets.load`) plus its videos.
Each row becomes a `Sample` whose `images` are the row's frames in time order, as `FileImageRef`s to
the JPEG files of the frame cache: their bytes are read only when the row's request body is built, so
a run holds file names, not pixels.

Decoding and JPEG encoding never run on the event loop: `aiter_samples` hands one task per video to a
pool of worker processes and keeps a bounded number of videos in flight ahead of the row being sent,
so rows whose frames are ready go out while later videos are still decoding, and the work stays
paced by the request slots. A video whose frames are all cached costs a directory check.

One extraction per frame folder, defined by the first row in file order that uses it: VLMEvalKit keys
its frame cache by video name only, so a second MVBench row on the same video with another bound gets
the first row's frames (`mvbench.py` `save_video_frames`; the video kit's `image_frame_ids`).

A row whose video is missing or cannot be decoded is a `Sample` with `unavailable` set: the runner
records it failed (`ErrorKind.INPUT`) without a request, and it is never scored as an answer.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncGenerator, Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from fasteval.data.datasets import (
    _REF,
    _ROW,
    Dataset,
    DatasetFile,
    _sample,
    load,
    locate,
)
from fasteval.data.tabular import vlmeval_keys
from fasteval.data.video.dataset import prepare_dataset
from fasteval.data.video.plan import (
    VideoPreset,
)
from fasteval.data.video.snapshot import HF_ENDPOINT, HubDataset
from fasteval.data.video_tasks import FrameTask, RowFrames, cached_row_frames, frame_task, prepare_frames
from fasteval.types import BenchmarkSpec, FileImageRef, Sample, VideoSpec

AHEAD_PER_WORKER = 2
"""Videos in flight per worker process: enough to keep every worker busy while rows are sent."""


def default_workers() -> int:
    """Decoding processes: every core but one for the event loop (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True, slots=True)
class VideoRows(Dataset):
    """A video benchmark: the TSV's rows in memory, each row's frames prepared on demand."""

    video: VideoSpec | None = None
    root: Path = Path()  # the dataset's snapshot folder (videos, subtitles)
    frames: Path = Path()  # where new frames go: `{frames}/images/{dataset}/{video}/frame-i-of-n.jpg`
    reuse: Path | None = None  # `$LMUData`: VLMEvalKit's frames in its `images/` are read when complete
    workers: int = 1

    def tasks(self, skip: Collection[str] = ()) -> tuple[list[dict[str, Any]], dict[str, FrameTask]]:
        """The rows to send (file order) and one frame task per frame folder they use, defined by the
        first row of the whole file on that folder (VLMEvalKit's cache keying)."""
        assert self.video is not None
        frame = self._frame.sort(_ROW)
        todo = frame.filter(~vlmeval_keys(frame["index"]).is_in(list(skip))) if skip else frame
        rows = list(todo.iter_rows(named=True))
        wanted = {frame_task(self.video, self.root, self.frames, self.reuse, row).folder for row in rows}
        tasks: dict[str, FrameTask] = {}
        for row in frame.iter_rows(named=True):
            task = frame_task(self.video, self.root, self.frames, self.reuse, row)
            if task.folder in wanted and task.folder not in tasks:
                tasks[task.folder] = task
        return rows, tasks

    def iter_samples(self, skip: Collection[str] = ()) -> Iterator[Sample]:
        """The rows in file order, each video's frames prepared in this process when first needed
        (`--dry-run`, tests); a run uses `aiter_samples`."""
        rows, tasks = self.tasks(skip)
        done: dict[str, RowFrames] = {}
        for row in rows:
            folder = self._folder(row)
            if folder not in done:
                done[folder] = prepare_frames(tasks[folder])
            yield self._row_sample(row, done[folder])

    async def aiter_samples(
        self, skip: Collection[str] = (), *, work: Callable[[FrameTask], RowFrames] = prepare_frames
    ) -> AsyncGenerator[Sample]:
        """The rows in file order, each yielded once its video's frames are ready; videos are prepared
        (`work`) by `workers` processes, at most `AHEAD_PER_WORKER * workers` of them ahead of the row
        yielded. Cached frames of an nframe preset are found here, without starting a worker.

        A worker that dies (a decoder crash on a corrupt file) breaks the pool: its videos are tried
        once more in a fresh pool, and a video that breaks it again fails its rows alone."""
        rows, tasks = self.tasks(skip)
        loop = asyncio.get_running_loop()
        pools: list[ProcessPoolExecutor] = []  # the live pool, started on the first cache miss

        def pool() -> ProcessPoolExecutor:
            if not pools:
                pools.append(
                    ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
                )
            return pools[0]

        async def extract(task: FrameTask) -> RowFrames:
            for _ in range(2):
                used = pool()
                try:
                    return await loop.run_in_executor(used, work, task)
                except BrokenProcessPool:
                    if pools and pools[0] is used:
                        pools.pop().shutdown(wait=False, cancel_futures=True)
            return RowFrames(error=f"decoding {task.source.path} killed its worker process twice; "
                             "the file is corrupt: download it again")  # fmt: skip

        def prepare(task: FrameTask) -> asyncio.Future[RowFrames]:
            hit = cached_row_frames(task)
            if hit is not None:
                done: asyncio.Future[RowFrames] = loop.create_future()
                done.set_result(hit)
                return done
            return asyncio.ensure_future(extract(task))

        try:
            async for sample in self._pipelined(rows, tasks, prepare):
                yield sample
        finally:
            for p in pools:
                p.shutdown(wait=False, cancel_futures=True)

    async def _pipelined(
        self,
        rows: Sequence[dict[str, Any]],
        tasks: dict[str, FrameTask],
        prepare: Callable[[FrameTask], asyncio.Future[RowFrames]],
    ) -> AsyncGenerator[Sample]:
        folders = [self._folder(row) for row in rows]
        last_use = {folder: i for i, folder in enumerate(folders)}
        queue = deque(dict.fromkeys(folders))  # each folder once, in the order rows need it
        running: dict[str, asyncio.Future[RowFrames]] = {}
        ahead = AHEAD_PER_WORKER * self.workers
        try:
            for i, (row, folder) in enumerate(zip(rows, folders, strict=True)):
                while queue and (len(running) < ahead or folder not in running):
                    nxt = queue.popleft()
                    running[nxt] = prepare(tasks[nxt])
                frames = await running[folder]
                yield self._row_sample(row, frames)
                if last_use[folder] == i:
                    del running[folder]
        finally:
            for future in running.values():
                future.cancel()

    def _folder(self, row: dict[str, Any]) -> str:
        assert self.video is not None
        return frame_task(self.video, self.root, self.frames, self.reuse, row).folder

    def _row_sample(self, row: dict[str, Any], frames: RowFrames) -> Sample:
        columns = [c for c in self._frame.columns if c not in (_ROW, _REF)]
        sample = _sample(self.name, row, columns, (), self._frame.schema["index"].is_integer())
        if frames.error is not None:
            return replace(sample, unavailable=frames.error)
        images = tuple(FileImageRef(path) for path in frames.paths)
        meta = {**sample.meta, **frames.meta()}
        return replace(sample, images=images, meta=meta)


def video_rows(
    base: Dataset,
    video: VideoSpec,
    root: Path,
    frames: Path,
    *,
    reuse: Path | None = None,
    workers: int | None = None,
) -> VideoRows:
    """The video dataset over `base` (the TSV generated from the snapshot at `root`): new frames are
    written under `frames` (fasteval's cache), VLMEvalKit's complete ones under `reuse` are read."""
    frame: pl.DataFrame = base._frame
    return VideoRows(
        base.name,
        base.md5,
        True,
        frame,
        None,
        video=video,
        root=root,
        frames=frames,
        reuse=reuse,
        workers=workers or default_workers(),
    )


def locate_video(
    spec: BenchmarkSpec,
    lmudata: Path,
    *,
    cache_dir: Path,
    env: Mapping[str, str],
    download: bool = True,
    progress: bool = False,
) -> tuple[DatasetFile, Path]:
    """A video benchmark's TSV and snapshot folder (`prepare_dataset`: found under `$LMUData/<repo
    name>/` or in the Hugging Face cache, else downloaded; the TSV generated as VLMEvalKit does).
    `env` gives the Hugging Face cache, endpoint and token (`HF_HOME`, `HF_ENDPOINT`, `HF_TOKEN`)."""
    video = spec.video
    assert video is not None
    hub = HubDataset(video.repo, video.revision or "main") if video.repo else None
    ds = prepare_dataset(
        VideoPreset.of(video),
        hub,
        lmudata,
        env,
        expected_md5=spec.md5,
        download=download,
        token=env.get("HF_TOKEN"),
        endpoint=env.get("HF_ENDPOINT") or HF_ENDPOINT,
        progress=progress,
    )
    file = DatasetFile(spec.name, ds.tsv.path, ds.tsv.md5, spec.md5, ds.downloaded, cache_dir=cache_dir)
    return file, ds.snapshot


def open_video(
    spec: BenchmarkSpec,
    lmudata: Path,
    *,
    cache_dir: Path,
    frames: Path,
    env: Mapping[str, str] | None = None,
    download: bool = True,
    progress: bool = False,
    workers: int | None = None,
) -> tuple[DatasetFile, VideoRows]:
    """A video benchmark's TSV and its rows: new frames written under `frames`, VLMEvalKit's under
    `$LMUData/images` reused."""
    assert spec.video is not None
    where = dict(env or {})
    file, root = locate_video(
        spec, lmudata, cache_dir=cache_dir, env=where, download=download, progress=progress
    )
    base = load(spec, file)
    return file, video_rows(base, spec.video, root, frames, reuse=lmudata, workers=workers)


def frame_cache(dataset_cache: Path, configured: Path | None) -> Path:
    """Where fasteval writes frames: the configured folder, else `frames/` beside its dataset cache."""
    return configured if configured is not None else dataset_cache.parent / "frames"


def open_dataset(
    spec: BenchmarkSpec,
    lmudata: Path,
    *,
    cache_dir: Path,
    frames: Path,
    env: Mapping[str, str] | None = None,
    download: bool = True,
    progress: bool = False,
) -> tuple[DatasetFile, Dataset]:
    """Any benchmark's file and rows: a video preset's frame-backed rows, or an image TSV's."""
    if spec.video is not None:
        return open_video(
            spec, lmudata, cache_dir=cache_dir, frames=frames, env=env, download=download, progress=progress
        )
    file = locate(spec, lmudata, download=download, progress=progress, cache_dir=cache_dir)
    return file, load(spec, file)
