"""The bundled demo video benchmark: Video-MME's snapshot layout, and answers the sampled frames show."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fasteval.data.demo import COLORS, VIDEO_DATASET, write_demo_benchmarks
from fasteval.data.video_rows import open_video
from fasteval.types import BenchmarkSpec, FileImageRef, VideoSpec

SPEC = BenchmarkSpec(
    "DEMO_VIDEO", "mcq", None, None, "mcq", video=VideoSpec(VIDEO_DATASET, "uniform", nframe=8)
)


@pytest.fixture(scope="module")
def lmudata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("LMUData")
    write_demo_benchmarks(root)
    return root


def _square(frame: Path) -> tuple[str, float]:
    """The colour name and the horizontal centre of the square drawn in a frame."""
    rgb = np.asarray(Image.open(frame).convert("RGB")).astype(int)
    ink = (rgb.min(axis=2) < 200).nonzero()
    mean = rgb[ink].mean(axis=0)
    name = min(COLORS, key=lambda c: float(np.abs(np.array(COLORS[c]) - mean).sum()))
    return name, float(ink[1].mean())


def test_the_demo_is_a_video_mme_snapshot(lmudata: Path) -> None:
    table = pd.read_csv(lmudata / VIDEO_DATASET / f"{VIDEO_DATASET}.tsv", sep="\t")
    assert list(table.columns) == [
        "index", "video", "video_path", "duration", "domain", "candidates",
        "sub_category", "task_type", "subtitle_path", "question", "answer",
    ]  # fmt: skip
    assert all((lmudata / VIDEO_DATASET / p).is_file() for p in table["video_path"])
    assert set(table["answer"]) <= set("ABCD") and len(table) == 8


def test_each_answer_is_what_the_eight_sampled_frames_show(lmudata: Path, tmp_path: Path) -> None:
    _, dataset = open_video(SPEC, lmudata, cache_dir=tmp_path / "c", frames=tmp_path / "f", workers=1)
    for sample in dataset.iter_samples():
        assert len(sample.images) == 8 and sample.unavailable is None
        options = dict(t.split(". ", 1) for t in ast.literal_eval(sample.meta["candidates"]))
        truth = options[sample.answer or ""]
        squares = [_square(image.path) for image in sample.images if isinstance(image, FileImageRef)]
        if sample.meta["task_type"] == "Attribute Perception":
            assert truth == squares[-1][0]
        else:
            rightwards = squares[-1][1] > squares[0][1]
            assert truth == ("From left to right." if rightwards else "From right to left.")
