"""Extracting a whole preset ahead of time: worker processes, progress, cache reuse, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fasteval.data.tabular import read_table
from fasteval.data.video import extract, plan
from fasteval.data.video.cache import FrameCacheError
from fasteval.data.video.extract import ExtractProgress
from fasteval.data.video.plan import Sampler, SourceKind, VideoPreset, VideoSource
from tests.fixtures import video_frame_id, video_kit_dir

KIT = video_kit_dir()
VIDEO_MME = VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8)
MVBENCH = VideoPreset("MVBench", Sampler.MVBENCH, nframe=8)


def _sources(preset: VideoPreset, folder: str) -> list[VideoSource]:
    root = KIT / "data" / folder
    return extract.dataset_sources(preset, root, read_table(root / f"{preset.dataset}.tsv").to_dicts())


def test_a_preset_is_extracted_in_worker_processes_then_reused(tmp_path: Path) -> None:
    sources = _sources(VIDEO_MME, "Video-MME")
    assert len(sources) == len({s.key for s in sources}) == 12  # one per video, not per row
    seen: list[ExtractProgress] = []
    result = extract.extract_frames(VIDEO_MME, sources, tmp_path, workers=2, on_progress=seen.append)
    assert (result.total, result.cached, result.extracted, result.frames, result.failures) == (
        12,
        0,
        12,
        96,
        (),
    )
    assert [p.done for p in seen] == list(range(13)) and seen[-1].eta_s == 0.0
    assert seen[-1].frames == 96
    for source in sources:  # every frame shows the frame VLMEvalKit samples
        frame_plan = plan.sample_frames(VIDEO_MME, source, tmp_path)
        shown = [video_frame_id()(np.asarray(Image.open(p))) for p in frame_plan.paths]
        assert shown == list(frame_plan.indices)

    again: list[ExtractProgress] = []
    second = extract.extract_frames(VIDEO_MME, sources, tmp_path, workers=2, on_progress=again.append)
    assert (second.cached, second.extracted, second.frames) == (12, 0, 0)
    assert [(p.done, p.cached) for p in again] == [(12, 12)]


def test_mvbench_takes_each_videos_first_row(tmp_path: Path) -> None:
    sources = _sources(MVBENCH, "MVBench")
    chpuz = [s for s in sources if s.key == "CHPUZ.mp4"]
    assert len(chpuz) == 1 and chpuz[0].bound == (2.05, 28.1)  # row 0's bound, not row 1's
    result = extract.extract_frames(MVBENCH, sources, tmp_path, workers=0)
    assert result.failures == () and result.extracted == len(sources)


def test_a_missing_video_is_a_failure_naming_it_and_the_others_go_on(tmp_path: Path) -> None:
    sources = _sources(VIDEO_MME, "Video-MME")[:2]
    absent = VideoSource(tmp_path / "video" / "gone.mp4", SourceKind.FILE, "gone")
    result = extract.extract_frames(VIDEO_MME, [absent, *sources], tmp_path / "lmu", workers=0)
    assert result.extracted == 2 and len(result.failures) == 1
    failure = result.failures[0]
    assert failure.key == "gone" and "gone.mp4 not found" in failure.error and "\n" not in failure.error


def test_an_unwritable_cache_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "images").write_text("not a folder")
    with pytest.raises(FrameCacheError, match="cannot write frames to"):
        extract.extract_frames(VIDEO_MME, _sources(VIDEO_MME, "Video-MME"), tmp_path, workers=1)


def test_rate_and_eta_count_only_the_videos_decoded() -> None:
    p = ExtractProgress(done=30, total=110, cached=10, failed=0, frames=160, elapsed_s=8.0)
    assert p.frames_per_s == 20.0
    assert p.eta_s == pytest.approx(8.0 / 20 * 80)
    assert ExtractProgress(10, 110, 10, 0, 0, 1.0).eta_s is None
