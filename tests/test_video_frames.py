"""Frame indices: fasteval's samplers against every index vector VLMEvalKit computed in the video kit.

`frames/<GEN>.json` records, per sampling function of each VLMEvalKit generation, the indices its own
code produced for every kit video and setting (nframe 4..64, fps 0.5..2, MVBench's bound rows and
frame folder). Each is recomputed here from the video's frame count and average fps alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from fasteval.data.video import cache, sampling
from fasteval.data.video.plan import PresetError, Sampler, VideoPreset
from tests.fixtures import video_kit_frames

GENERATIONS = ("expected", "alt_upstream_e8e78f05", "alt_nvidia_vlmeval_26.3")


def _settings(generation: str, function: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    kit = video_kit_frames(generation)
    return [
        (video, name, setting, entry)
        for video, entry in kit["functions"][function].items()
        for name, setting in entry["settings"].items()
    ]


def _video(generation: str, video: str) -> tuple[int, float]:
    info = video_kit_frames(generation)["videos"][video]
    return info["decord_len"], info["decord_avg_fps"]


def _mode(name: str) -> tuple[str, float]:
    key, value = name.split("=")
    return key, float(value)


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("function", ["VideoMME.save_video_frames", "VideoBaseDataset.save_video_frames"])
def test_uniform_sampler_and_file_names_match_every_setting(generation: str, function: str) -> None:
    checked = 0
    for video, name, setting, entry in _settings(generation, function):
        n, fps = _video(generation, video)
        mode, value = _mode(name)
        if mode == "nframe":
            indices = sampling.uniform_nframe(n, int(value))
            names = cache.frame_names(int(value), None)
        else:
            indices = sampling.uniform_fps(n, fps, value)
            names = cache.frame_names(len(indices), value)
        assert indices == setting["indices"], (video, name)
        folder = entry.get("dataset_video", video)
        assert [f"{folder}/{n}" for n in names] == [f.split("/", 2)[2] for f in setting["frame_files"]]
        checked += 1
    assert checked == 12 * 8  # 12 videos x (5 nframe + 3 fps settings)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_mvbench_get_index_matches_files_and_folders(generation: str) -> None:
    checked = 0
    for video, name, setting, entry in _settings(generation, "MVBench.get_index"):
        mode, value = _mode(name)
        if mode == "fps":
            assert "error" in setting  # MVBench.build_prompt raises for fps > 0: so does the preset
            with pytest.raises(PresetError, match="MVBench does not support an fps"):
                VideoPreset("MVBench", Sampler.MVBENCH, fps=value)
            continue
        if "read_frame_args" in entry:  # a frame folder: files 00001.jpg.. read at 3 fps
            args = entry["read_frame_args"]
            assert (args["fps"], args["first_idx"]) == (
                sampling.MVBENCH_FOLDER_FPS,
                sampling.MVBENCH_FOLDER_FIRST,
            )
            indices = sampling.mvbench_get_index(
                int(value), max_frame=args["max_frame"], fps=args["fps"], first_idx=1, bound=None
            )
            assert sampling.folder_files(indices) == setting["files"]
        else:
            n, fps = _video(generation, video)
            assert entry["read_video_args"] == {"max_frame": n - 1, "fps": fps}
            indices = sampling.mvbench_get_index(
                int(value), max_frame=n - 1, fps=fps, first_idx=0, bound=None
            )
        assert indices == setting["indices"], (video, name)
        checked += 1
    assert checked == 15 * 5


@pytest.mark.parametrize("generation", GENERATIONS)
def test_mvbench_bound_rows_round_half_to_even(generation: str) -> None:
    rows = video_kit_frames(generation)["functions"]["MVBench.get_index[bound rows, nframe=8]"]
    assert len(rows) == 6
    for row in rows.values():
        args = row["args"]
        got = sampling.mvbench_get_index(
            8,
            max_frame=args["max_frame"],
            fps=args["fps"],
            first_idx=args["first_idx"],
            bound=tuple(row["bound"]),
        )
        assert got == row["indices"], row["video"]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_mvbench_mp4_nframe_and_fps(generation: str) -> None:
    checked = empty = 0
    for video, name, setting, _ in _settings(generation, "MVBench_MP4.get_index_by_frame / get_index_by_fps"):
        n, fps = _video(generation, video)
        mode, value = _mode(name)
        if mode == "nframe":
            indices = sampling.mvbench_mp4_nframe(n, int(value))
        else:
            indices = sampling.uniform_fps(n, fps, value)
        assert indices == setting["indices"], (video, name)
        if not indices:  # VLMEvalKit's read_video raises on a video shorter than 1/fps s
            assert setting["read_video_error"].startswith("IndexError")
            empty += 1
        checked += 1
    assert checked == 14 * 8
    assert empty > 0


def test_half_even_rounding_differs_from_half_up() -> None:
    """`np.round(2.5) == 2`: a segment of 5 frames over 2 samples starts its second one at 2, not 3."""
    assert sampling.mvbench_get_index(2, max_frame=5, fps=1.0, first_idx=0, bound=None) == [1, 3]
    assert sampling.mvbench_mp4_nframe(6, 2) == [1, 3]


def test_fps_file_names_print_the_rate_as_a_python_float() -> None:
    assert cache.frame_names(2, 1.0) == ["frame-1-of-2-1.0fps.jpg", "frame-2-of-2-1.0fps.jpg"]
    assert cache.frame_names(1, 0.5) == ["frame-1-of-1-0.5fps.jpg"]
    assert cache.frame_names(2, None) == ["frame-1-of-2.jpg", "frame-2-of-2.jpg"]


def test_presets_set_exactly_one_of_nframe_and_fps() -> None:
    with pytest.raises(PresetError, match="both"):
        VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8, fps=1.0)
    with pytest.raises(PresetError, match="neither"):
        VideoPreset("Video-MME", Sampler.UNIFORM)
    assert VideoPreset("MVBench_MP4", Sampler.MVBENCH_MP4, fps=1.0).fps == 1.0
