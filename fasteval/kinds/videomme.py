"""Video-MME (VLMEvalKit `VideoMME`, vlmeval/dataset/videomme.py + dataset/utils/videomme.py).

Line numbers are ms-vlmeval 0.0.20 (vlmevalkit-2025.08); the kit's EXPECTED.md §4 lists where the
other generations differ.

Message (`build_prompt`, L195-233): `SYS` (an empty text), the frames, the frames template (with the
subtitle lines when the preset uses subtitles: `spec.video.subtitles`, lines from
`sample.meta["subtitles"]`), then `'Question: ' + question + '\\n' + '\\n'.join(candidates) +
'\\nAnswer: '` (`candidates` items already read `A. ...`). InternVL2 (`build_video_prompt`): every
`'\\nAnswer:'` removed and "\\nAnswer with the option's letter from the given choices directly." added.

Extraction (`evaluate`, L264-276): `extract_characters_regex` on `str(prediction)`; when it finds
nothing, `extract_option` (L120-126): the options it finds in the question's own lines (Video-MME's
questions hold none, so none), then `extract_answer_from_item`: `can_infer`, the judge when one is
configured (3 tries), else 'Z'. Score per row: `int(extracted == answer)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.kinds.base import (
    Extraction,
    Item,
    JudgeContext,
    JudgeUse,
    Verdict,
    prediction_table,
)
from fasteval.kinds.extract import REFUSED, extract_mcq
from fasteval.kinds.video import Msg, VideoKind, ask_option, candidates, frames
from fasteval.types import BenchmarkSpec, Method, Sample

SYS: Final = ""
FRAMES_TMPL_NOSUB: Final = (
    "\nThese are the frames of a video. Select the best answer to the following multiple-choice question "
    "based on the video. Respond with only the letter (A, B, C, or D) of the correct option.\n"
)
FRAMES_TMPL_SUB: Final = (
    "\nThese are the frames of a video. This video's subtitles are listed below:\n{}\n"
    "Select the best answer to the following multiple-choice question based on the video. "
    "Respond with only the letter (A, B, C, or D) of the correct option.\n"
)
INTERNVL2_SUFFIX: Final = "\nAnswer with the option's letter from the given choices directly."

# extract_characters_regex (utils/videomme.py L129-151): two commas are missing upstream, so Python
# joins "The best option is" "The correct option is" and "Best answer:" "Best option:" into one
# string each; those four phrases are therefore never removed on their own. Kept as upstream has it.
ANSWER_PREFIXES: Final = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
    "Answer:",
    "Option:",
)
_LETTER = re.compile(r"[ABCD]")


def extract_characters_regex(prediction: str) -> str:
    """The first uppercase A-D of the stripped prediction after the prefixes are deleted; '' when
    none occurs, or when more than 10 words remain and none occurs (utils/videomme.py L129-151)."""
    s = prediction.strip()
    for prefix in ANSWER_PREFIXES:
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not _LETTER.search(s):
        return ""
    match = _LETTER.search(s)
    return "" if match is None else match[0]


def question_options(question: str) -> dict[str, str]:
    """`extract_option`'s options: line k (k >= 1) of the question that contains `X.` (X the k-th
    letter) gives option X, the text after it stripped of `. \\n`."""
    out: dict[str, str] = {}
    for i, line in enumerate(question.split("\n")[1:]):
        if i >= 26:  # build_choices reads ascii_uppercase keys only
            break
        letter = chr(ord("A") + i)
        at = line.find(letter + ".")
        if at >= 0:
            out[letter] = line[at + 2 :].strip(". \n")
    return out


class VideoMMEKind(VideoKind):
    """Video-MME: the letter from the regex, else the option matcher (judge on a miss), else Z."""

    name: ClassVar[str] = "videomme"
    judge_use: ClassVar[JudgeUse] = JudgeUse.ON_MISS

    # -- prompts ----------------------------------------------------------------------------

    def messages(self, spec: BenchmarkSpec, sample: Sample, rules: str) -> list[Msg]:
        if spec.video is not None and spec.video.subtitles:
            # no subtitle file: VLMEvalKit still uses the subtitle template, with an empty listing
            lines = sample.meta.get("subtitles") or []
            template = FRAMES_TMPL_SUB.format("\n".join(lines))
        else:
            template = FRAMES_TMPL_NOSUB
        question = sample.question + "\n" + "\n".join(candidates(sample))
        return [
            Msg(SYS),
            *frames(sample),
            Msg(template),
            Msg(f"Question: {question}\nAnswer: "),
        ]

    def internvl2_edit(self, prompt: str) -> str:
        return prompt.replace("\nAnswer:", "") + INTERNVL2_SUFFIX

    # -- rows and extraction ---------------------------------------------------------------

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        """The prediction file itself: VLMEvalKit scores Video-MME from its columns."""
        return prediction_table(predictions, spec, "Video-MME's", "index", "prediction", "question")

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        question = as_vlmeval_str(row.get("question"))
        answer = row.get("answer")
        return Item(
            key=as_vlmeval_str(row["index"]),
            question=question,
            prediction=as_vlmeval_str(row["prediction"]),
            answer=None if answer is None else as_vlmeval_str(answer),
            choices=question_options(question),
        )

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        letter = extract_characters_regex(item.prediction)
        if letter:
            return Extraction(letter, Method.EXACT)
        matched = extract_mcq(item.prediction, item.choices, rules)  # can_infer, before any judge
        return Extraction(matched, Method.EXACT) if matched else Extraction(None, Method.UNRESOLVED)

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        return await ask_option(ctx, item.key, item.question, item.choices, item.prediction)

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        """`score` (L274/276): 1 if the extraction (the judge's when it decided, else exact matching's,
        else 'Z') equals the answer."""
        extracted = verdict.answer if verdict is not None else exact.answer
        return {"score": int((extracted or REFUSED) == item.answer)}
