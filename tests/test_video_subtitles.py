"""Video-MME subtitles: the listing VLMEvalKit put into every `_subs` prompt of the kit."""

from __future__ import annotations

from pathlib import Path

import pytest

from fasteval.data.tabular import read_table
from fasteval.data.video import plan
from fasteval.data.video.plan import Sampler, VideoPreset
from fasteval.data.video.rows import row_frames
from fasteval.data.video.subtitles import subtitle_lines, subtitle_listing
from tests.fixtures import video_kit_dir, video_kit_prompts

ROOT = video_kit_dir() / "data" / "Video-MME"
HEAD = "\nThese are the frames of a video. This video's subtitles are listed below:\n"
TAIL = (
    "\nSelect the best answer to the following multiple-choice question based on the video. "
    "Respond with only the letter (A, B, C, or D) of the correct option.\n"
)


def _listing_in(messages: list[dict[str, str]]) -> str:
    template = next(m["value"] for m in messages if m["type"] == "text" and m["value"].startswith(HEAD))
    assert template.endswith(TAIL)
    return template[len(HEAD) : -len(TAIL)]


@pytest.mark.parametrize(
    ("name", "preset"),
    [
        ("Video-MME_8frame_subs", VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8, subtitles=True)),
        ("Video-MME_0.5fps_subs", VideoPreset("Video-MME", Sampler.UNIFORM, fps=0.5, subtitles=True)),
    ],
)
@pytest.mark.parametrize("generation", ["expected", "alt_upstream_e8e78f05", "alt_nvidia_vlmeval_26.3"])
def test_every_row_lists_vlmevalkits_subtitles(
    name: str, preset: VideoPreset, generation: str, tmp_path: Path
) -> None:
    rows = read_table(ROOT / "Video-MME.tsv").to_dicts()
    kit = video_kit_prompts(name, generation)["rows"]
    nonempty = missing = 0
    for row, expected in zip(rows, kit, strict=True):
        frame_plan = plan.sample_frames(preset, plan.video_source(preset, ROOT, row), tmp_path)
        srt = ROOT / str(row["subtitle_path"])
        listing = subtitle_listing(srt, frame_plan.indices, frame_plan.info.avg_fps)
        assert listing == _listing_in(expected["messages"]), (row["index"], row["video"])
        nonempty += bool(listing)
        missing += not srt.exists()
    assert nonempty > 0 and missing > 0  # both kinds of row are exercised


def test_a_missing_subtitle_file_lists_nothing(tmp_path: Path) -> None:
    assert subtitle_lines(tmp_path / "absent.srt", [1, 2], 25.0) == []


def test_selection_is_strict_first_in_file_order_and_keeps_tags_and_repeats(tmp_path: Path) -> None:
    srt = tmp_path / "x.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\n<i>first</i>\\Nline\n\n"
        "2\n00:00:00,500 --> 00:00:05,000\nsecond\n\n"
        "3\n00:00:06,000 --> 00:00:07,000\n   \n",
        encoding="utf-8",
    )
    # 10 fps: frame 10 = 1000 ms is not strictly after entry 1's start, so entry 2 (0.5-5 s) shows;
    # frames 15 and 20 fall in both: the first in file order wins; frame 65 hits a blank entry
    assert subtitle_lines(srt, [10, 15, 20, 65, 80], 10.0) == [
        "second",
        "{\\i1}first{\\i0} line",
        "{\\i1}first{\\i0} line",
    ]


def test_row_frames_gives_a_rows_images_and_listing_as_build_prompt_does(tmp_path: Path) -> None:
    preset = VideoPreset("Video-MME", Sampler.UNIFORM, fps=0.5, subtitles=True)
    rows = read_table(ROOT / "Video-MME.tsv").to_dicts()
    for row, expected in zip(rows, video_kit_prompts("Video-MME_0.5fps_subs")["rows"], strict=True):
        got = row_frames(preset, ROOT, row, tmp_path)
        images = [m["value"] for m in expected["messages"] if m["type"] == "image"]
        assert [str(f.relative_to(tmp_path)) for f in got.files] == images
        assert got.subtitles == _listing_in(expected["messages"])
    plain = row_frames(VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8), ROOT, rows[0], tmp_path)
    assert plain.subtitles is None and len(plain.files) == 8
