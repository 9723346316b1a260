"""`fasteval frames`: a preset's frames extracted on their own, with a progress line and one-line errors.

The benchmark TOMLs of the video presets are vpipe's; here `video_preset` is pointed at the kit's
presets so the command is exercised on its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fasteval.cli import args, frames
from fasteval.data.video.plan import Sampler, VideoPreset
from fasteval.data.video.snapshot import HubDataset
from tests.fixtures import video_kit_dir
from tests.http_server import serve
from tests.test_video_snapshot import _video_mme_repo

KIT = video_kit_dir()
PRESETS = {
    "Video-MME_8frame": (
        VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8),
        HubDataset("lmms-lab/Video-MME"),
    ),
    "MVBench_MP4_1fps": (
        VideoPreset("MVBench_MP4", Sampler.MVBENCH_MP4, fps=1.0),
        HubDataset("OpenGVLab/MVBench", "video"),
    ),
}


@pytest.fixture(autouse=True)
def kit_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog_preset = frames.video_preset

    def preset(name: str) -> tuple[VideoPreset, HubDataset | None, str | None]:
        if name not in PRESETS:
            return catalog_preset(name)
        return (*PRESETS[name], None)

    monkeypatch.setattr(frames, "video_preset", preset)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fasteval's cache (where `fasteval frames` writes, as a run does) inside the test's folder."""
    cache = tmp_path / "fasteval-cache"
    monkeypatch.setenv("FASTEVAL_CACHE", str(cache))
    return cache


def _lmudata(tmp_path: Path, *folders: str) -> Path:
    for folder in folders:
        (tmp_path / folder).symlink_to(KIT / "data" / folder, target_is_directory=True)
    return tmp_path


def test_frames_command_extracts_then_finds_everything_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lmu = _lmudata(tmp_path, "Video-MME")
    argv = ["frames", "--data", "Video-MME_8frame", "--lmudata", str(lmu), "--workers", "1"]
    assert args.main(argv) == 0
    err = capsys.readouterr().err
    assert "Video-MME_8frame: 12/12 videos (0 cached, 0 failed)" in err and "frames/s, ETA 0m00s" in err
    assert "12 extracted, 0 failed), 96 frames written" in err
    # written where a run reads and writes them (fasteval's cache), never into $LMUData
    written = tmp_path / "fasteval-cache" / "frames" / "images" / "Video-MME"
    assert len(list(written.rglob("frame-*-of-8.jpg"))) == 96 and not (lmu / "images").exists()
    assert args.main(argv) == 0
    assert "(12 already cached, 0 extracted, 0 failed), 0 frames written" in capsys.readouterr().err


def test_frames_vlmevalkit_already_wrote_are_reused_not_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lmu = _lmudata(tmp_path, "Video-MME")
    argv = ["--data", "Video-MME_8frame", "--lmudata", str(lmu), "--workers", "0"]
    assert frames.main(argv) == 0
    cache = tmp_path / "fasteval-cache" / "frames"
    shutil.move(cache / "images", lmu / "images")  # as if VLMEvalKit had written them under $LMUData
    capsys.readouterr()
    assert frames.main(argv) == 0
    assert "(12 already cached, 0 extracted, 0 failed), 0 frames written" in capsys.readouterr().err
    assert not (cache / "images").exists()


def test_a_failing_video_is_one_line_and_a_nonzero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(KIT / "data" / "MVBench", tmp_path / "MVBench")
    (tmp_path / "MVBench" / "video" / "vlnqa" / "ypwZ4_ci0rx.mp4").write_bytes(b"not a video")
    assert frames.main(["--data", "MVBench_MP4_1fps", "--lmudata", str(tmp_path), "--workers", "0"]) == 1
    err = capsys.readouterr().err
    broken = [line for line in err.splitlines() if "ypwZ4_ci0rx.mp4" in line]
    assert (
        len(broken) == 1
        and broken[0].startswith("fasteval: error: cannot")
        and "download it again" in broken[0]
    )
    # three of the kit's videos are shorter than 1 s: VLMEvalKit raises for them, they are failures here too
    assert "4 failed)" in err and err.count("gives no frame") == 3


def test_a_missing_dataset_is_downloaded_from_the_hub_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(_video_mme_repo(tmp_path)) as server:
        env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{server.port}/normal"}
        argv = ["--data", "Video-MME_8frame", "--lmudata", str(tmp_path / "lmu"), "--workers", "0"]
        assert frames.main(argv, environ=env) == 0
    assert "96 frames written" in capsys.readouterr().err
    assert (tmp_path / "lmu" / "Video-MME" / "Video-MME.tsv").read_bytes() == (
        KIT / "data/Video-MME/Video-MME.tsv"
    ).read_bytes()


def test_bad_names_fail_first_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert frames.main(["--data", "Video-MME_8frame", "NoSuchBench", "--lmudata", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fasteval: error: unknown benchmark 'NoSuchBench'") and err.count("\n") == 1
    assert not (tmp_path / "images").exists()
    assert frames.main(["--data", "MME", "--lmudata", str(tmp_path)]) == 2
    assert "MME is not a video benchmark" in capsys.readouterr().err


def test_no_download_names_where_to_put_the_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frames.main(["--data", "Video-MME_8frame", "--lmudata", str(tmp_path), "--no-download"]) == 2
    err = capsys.readouterr().err
    assert "downloading is off; place the published files in $LMUData/Video-MME/" in err
