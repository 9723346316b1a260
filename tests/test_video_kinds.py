"""Video prompts: the message list each video kind builds equals VLMEvalKit's `build_prompt` for every row
of the video kit (text verbatim, roles, the frames' count and order), under each rule generation; and
what the two request paths (API, InternVL2) make of it."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fasteval.catalog import all_specs, get_spec
from fasteval.data.tabular import read_table
from fasteval.kinds import kind_named
from fasteval.kinds.mmbench_video import FRAMES_TMPL_NOPACK
from fasteval.kinds.mvbench import SYS as MVBENCH_SYS
from fasteval.kinds.prompts import build_prompt, images_sent
from fasteval.kinds.video import Msg, VideoKind
from fasteval.kinds.videomme import FRAMES_TMPL_NOSUB
from fasteval.types import ImagePart, ImageRef, Prompt, Sample, TextPart
from tests.fixtures import video_kit_dir

KIT = video_kit_dir()
GENERATIONS = {
    "expected": "vlmevalkit-2025.08",  # ms-vlmeval 0.0.20
    "alt_upstream_e8e78f05": "vlmevalkit-2026.06",
    "alt_nvidia_vlmeval_26.3": "vlmevalkit-2024.07",
}
# VLMEvalKit dataset name -> the kit's TSV
TSVS = {
    "Video-MME": KIT / "data" / "Video-MME" / "Video-MME.tsv",
    "MVBench": KIT / "data" / "MVBench" / "MVBench.tsv",
    "MVBench_MP4": KIT / "data" / "MVBench" / "MVBench_MP4.tsv",
    "MMBench-Video": KIT / "data" / "MMBench-Video" / "MMBench-Video.tsv",
}
# Presets in the kit that fasteval offers (pack mode, one JSON prompt per video, is not one of them)
PRESETS = sorted(p.stem for p in (KIT / "prompts" / "expected").glob("*.json") if p.stem in all_specs())
_FRAME_FILE = re.compile(r"/frame-(\d+)-of-\d+(?:-[0-9.]+fps)?\.jpg$")
_SUBS = re.compile(r"This video's subtitles are listed below:\n(.*)\nSelect the best answer", re.DOTALL)


@cache
def _kit_prompts(generation: str, preset: str) -> dict[str, Any]:
    return json.loads((KIT / "prompts" / generation / f"{preset}.json").read_text(encoding="utf-8"))


@cache
def _tsv_rows(dataset: str) -> list[dict[str, Any]]:
    return read_table(TSVS[dataset]).to_dicts()


def _frame(k: int) -> ImageRef:
    """A stand-in for the k-th sampled frame (0-based): distinct, so order is checked."""
    return ImageRef(f"frame{k}", "image/jpeg")


def _sample(dataset: str, row: int, kit_messages: list[dict[str, Any]]) -> Sample:
    """The kit row as the data layer hands it over: its frames in order, its candidates, and (for
    subtitle presets) the subtitle lines, read back from VLMEvalKit's own text (line selection is
    the data layer's, tested there)."""
    data = _tsv_rows(dataset)[row]
    n_frames = sum(m["type"] == "image" for m in kit_messages)
    subs = None
    for m in kit_messages:
        found = _SUBS.search(m["value"]) if m["type"] == "text" else None
        if found:
            subs = found.group(1).split("\n") if found.group(1) else []
    meta = {**data, "subtitles": subs}
    return Sample(
        dataset,
        data["index"],
        str(data["question"]),
        tuple(map(_frame, range(n_frames))),
        {},
        None,
        meta=meta,
    )


def _as_kit(msgs: list[Msg]) -> list[dict[str, Any]]:
    """Our messages in the kit's shape (images by their frame position)."""
    out: list[dict[str, Any]] = []
    for m in msgs:
        entry: dict[str, Any] = (
            {"type": "image", "frame": m.frame} if m.frame is not None else {"type": "text", "value": m.text}
        )
        if m.role is not None:
            entry["role"] = m.role
        out.append(entry)
    return out


def _kit_shape(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["type"] == "image":
            found = _FRAME_FILE.search(m["value"])
            assert found, m["value"]
            entry: dict[str, Any] = {"type": "image", "frame": int(found.group(1)) - 1}
        else:
            entry = {"type": "text", "value": m["value"]}
        if "role" in m:
            entry["role"] = m["role"]
        out.append(entry)
    return out


@pytest.mark.parametrize("generation", list(GENERATIONS))
@pytest.mark.parametrize("preset", PRESETS)
def test_every_kit_row_gets_vlmevalkits_message(preset: str, generation: str) -> None:
    kit = _kit_prompts(generation, preset)
    spec = get_spec(preset)
    kind = kind_named(spec.kind)
    assert isinstance(kind, VideoKind)
    checked = 0
    for row in kit["rows"]:
        if row.get("error"):  # VLMEvalKit raises for this row (MVBench_MP4 fps: no frames); no prompt
            continue
        sample = _sample(kit["dataset_name"], row["row"], row["messages"])
        got = _as_kit(kind.messages(spec, sample, GENERATIONS[generation]))
        assert got == _kit_shape(row["messages"]), f"{preset} row {row['index']}"
        checked += 1
    assert checked == len([r for r in kit["rows"] if not r.get("error")]) > 0


# ---------------------------------------------------------------------------------------------
# The API path (default style)
# ---------------------------------------------------------------------------------------------


def _kit_sample(preset: str, index: int, generation: str = "expected") -> tuple[Sample, list[dict[str, Any]]]:
    kit = _kit_prompts(generation, preset)
    row = next(r for r in kit["rows"] if r["index"] == index)
    return _sample(kit["dataset_name"], row["row"], row["messages"]), row["messages"]


def _parts(prompt: Prompt) -> list[str]:
    return [f"<{p.image.b64}>" if isinstance(p, ImagePart) else p.text for p in prompt.parts]  # type: ignore[union-attr]


FRAMES8 = [f"<frame{k}>" for k in range(8)]


def test_mvbench_default_moves_the_system_text_and_sends_best_option_as_user_text() -> None:
    """preprocess_message_with_role: the system text plus '\\n' becomes the system prompt; the
    assistant role is dropped, so 'Best option:(' is the last user text part."""
    spec = get_spec("MVBench_8frame")
    sample, kit = _kit_sample("MVBench_8frame", 0)
    prompt = build_prompt(spec, sample, "default", "vlmevalkit-2025.08")
    assert prompt.system == MVBENCH_SYS + "\n"
    question = kit[9]["value"]
    assert question.startswith("Question: ") and "\nOptions:\n(A) " in question
    assert _parts(prompt) == [*FRAMES8, question, "\nOnly give the best option.", "Best option:("]
    old = build_prompt(spec, sample, "default", "vlmevalkit-2024.07")
    assert _parts(old) == [question, *FRAMES8, "\nOnly give the best option.", "Best option:("]


def test_videomme_default_skips_the_empty_sys_text_except_in_2024() -> None:
    """prepare_itlist skips empty texts from 2025.08 on (gpt.py 'Skip empty string'); 26.3 sends them."""
    spec = get_spec("Video-MME_8frame")
    sample, kit = _kit_sample("Video-MME_8frame", 0)
    question = kit[-1]["value"]
    new = build_prompt(spec, sample, "default", "vlmevalkit-2025.08")
    assert new.system is None
    assert _parts(new) == [*FRAMES8, FRAMES_TMPL_NOSUB, question]
    assert _parts(build_prompt(spec, sample, "default", "vlmevalkit-2024.07")) == [
        "",
        *FRAMES8,
        FRAMES_TMPL_NOSUB,
        question,
    ]


def test_a_row_without_frames_is_one_text_joined_by_newlines() -> None:
    """prepare_itlist without images: every text (the empty one too) joined by '\\n'."""
    spec = get_spec("Video-MME_1fps")
    sample, kit = _kit_sample("Video-MME_1fps", 0)
    assert not sample.images
    prompt = build_prompt(spec, sample, "default", "vlmevalkit-2025.08")
    assert _parts(prompt) == ["\n" + FRAMES_TMPL_NOSUB + "\n" + kit[-1]["value"]]
    assert images_sent(spec, sample, "default") == 0


def test_mmbench_video_default_counts_the_frames_it_sends() -> None:
    spec = get_spec("MMBench_Video_8frame_nopack")
    sample, kit = _kit_sample("MMBench_Video_8frame_nopack", 0)
    prompt = build_prompt(spec, sample, "default")
    assert _parts(prompt) == [FRAMES_TMPL_NOPACK.format(8), *FRAMES8, kit[-1]["value"]]
    assert kit[-1]["value"].endswith("\nAnswer: ")


# ---------------------------------------------------------------------------------------------
# The InternVL2 path
# ---------------------------------------------------------------------------------------------

FRAME_LINES8 = "".join(f"Frame-{k}: <image>\n" for k in range(1, 9))


def _internvl(prompt: Prompt) -> tuple[list[str], str]:
    *images, text = prompt.parts
    assert all(isinstance(p, ImagePart) for p in images) and isinstance(text, TextPart)
    return [f"<{p.image.b64}>" for p in images], text.text  # type: ignore[union-attr]


def test_internvl2_videomme_frame_lines_then_texts_without_answer_and_with_the_letter_line() -> None:
    spec = get_spec("Video-MME_8frame")
    sample, kit = _kit_sample("Video-MME_8frame", 0)
    images, text = _internvl(build_prompt(spec, sample, "internvl2"))
    question = kit[-1]["value"]
    assert images == FRAMES8
    assert text == (
        FRAME_LINES8
        + FRAMES_TMPL_NOSUB
        + question.replace("\nAnswer:", "")
        + "\nAnswer with the option's letter from the given choices directly."
    )
    assert text.count("<image>") == len(images)


def test_internvl2_mvbench_concatenates_roles_away_and_drops_best_option() -> None:
    """Roles are ignored: the system text leads the concatenated texts; 'Best option:(' is removed.
    Under 2024.07 the question precedes the frames, so it stays before the removed image markers."""
    spec = get_spec("MVBench_8frame")
    sample, kit = _kit_sample("MVBench_8frame", 0)
    question = kit[9]["value"]
    _, new = _internvl(build_prompt(spec, sample, "internvl2", "vlmevalkit-2025.08"))
    assert new == FRAME_LINES8 + MVBENCH_SYS + question + "\nOnly give the best option."
    _, old = _internvl(build_prompt(spec, sample, "internvl2", "vlmevalkit-2024.07"))
    assert old == new  # the markers sit between system text and question or after it: both removed


def test_internvl2_mmbench_video_drops_the_answer_cue() -> None:
    spec = get_spec("MMBench_Video_8frame_nopack")
    sample, kit = _kit_sample("MMBench_Video_8frame_nopack", 0)
    _, text = _internvl(build_prompt(spec, sample, "internvl2"))
    question = kit[-1]["value"]
    assert text == FRAME_LINES8 + FRAMES_TMPL_NOPACK.format(8) + question.replace("\nAnswer:", "")


def test_internvl2_one_frame_and_no_frame_follow_reorganize_prompt() -> None:
    """One image: '<image>\\n' + the texts joined by '\\n'; none: the texts concatenated."""
    spec = get_spec("Video-MME_1fps")
    one, kit_one = _kit_sample("Video-MME_1fps", 16)
    assert len(one.images) == 1
    _, text = _internvl(build_prompt(spec, one, "internvl2"))
    joined = "\n".join(m["value"] for m in kit_one if m["type"] == "text")
    suffix = "\nAnswer with the option's letter from the given choices directly."
    assert text == ("<image>\n" + joined).replace("\nAnswer:", "") + suffix
    none, kit_none = _kit_sample("Video-MME_1fps", 0)
    images, text = _internvl(build_prompt(spec, none, "internvl2"))
    assert images == []
    assert text == "".join(m["value"] for m in kit_none).replace("\nAnswer:", "") + suffix


def test_qwen2vl_style_sends_the_dataset_message() -> None:
    """Qwen2-VL is a video LLM in VLMEvalKit; as frames it gets the dataset's own message."""
    spec = get_spec("MVBench_8frame")
    sample, _ = _kit_sample("MVBench_8frame", 3)
    assert build_prompt(spec, sample, "qwen2vl") == build_prompt(spec, sample, "default")


def test_image_kinds_lay_out_nothing_themselves() -> None:
    """Every image kind keeps `build_prompt`'s images-first layout (TaskKind.message is None), but
    for a dataset prompt that places its own images (MUIRBench's `<image>` tags, default style)."""
    sample = Sample("X", 0, "q", (_frame(0),), {}, "A")
    rules = "vlmevalkit-2025.08"
    for name, spec in all_specs().items():
        kind = kind_named(spec.kind)
        if spec.video is None and not spec.interleave_images:
            assert kind.message(spec, sample, "default", rules) is None, name
        if spec.video is None:  # model styles always put the images first
            assert kind.message(spec, sample, "internvl2", rules) is None, name


def test_kit_has_what_these_tests_read() -> None:
    assert {"Video-MME_8frame", "MVBench_8frame", "MVBench_MP4_8frame", "MMBench_Video_8frame_nopack"} <= set(
        PRESETS
    )
    assert all(path.is_file() for path in TSVS.values())
    assert Path(KIT / "README.md").is_file()
