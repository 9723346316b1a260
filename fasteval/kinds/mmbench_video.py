"""MMBench-Video, one question per request (VLMEvalKit `MMBenchVideo` with `pack=False`,
vlmeval/dataset/mmbench_video.py + dataset/utils/mmbench_video.py).

Line numbers are ms-vlmeval 0.0.20 (vlmevalkit-2025.08); the three generations agree here (kit
EXPECTED.md §4.8).

Message (`build_prompt_nopack`, L131-149): `FRAMES_TMPL_NOPACK` with the number of frames sent, the
frames, then `'Question: q\\nAnswer: '`. InternVL2 (`build_video_prompt`): `'\\nAnswer:'` removed.
Pack mode (several questions of a video in one JSON request) is an API-only layout not offered here.

Judge (required: `evaluate` asserts `model.working()`, L232-233): every row whose prediction cell is
not empty is graded once (one call, up to 6 HTTP attempts) with the 0-3 rubric as the judge's system
prompt (`build_judge(system_prompt=...)`) and `build_prompt`'s user text (utils L71-73). The reply
becomes the row's `score`: `int(reply)` when `eval(reply)` is an int, else -1 (L257-259); an empty
prediction or a failed call scores -1.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.kinds.base import (
    Extraction,
    Item,
    JudgeContext,
    JudgeGradedKind,
    Verdict,
    prediction_table,
)
from fasteval.kinds.video import Msg, VideoKind, frames, is_missing
from fasteval.types import BenchmarkSpec, Method, Sample

FRAMES_TMPL_NOPACK: Final = (
    "\nYou will be provided with {} separate frames uniformly sampled from a video, "
    "the frames are provided in chronological order of the video.\n"
    "Please analyze these images and provide the answer to the question about the video content.\n"
    "Please directly reply with your response to the only question.\n"
)

# utils/mmbench_video.py L9-20: the judge's system prompt, verbatim (leading and trailing newline kept).
JUDGE_SYSTEM: Final = (
    "\nAs an AI assistant, your task is to evaluate a candidate answer "
    "in comparison to a given correct answer.\n"
    "The question itself, the correct 'groundtruth' answer, "
    "and the candidate answer will be provided to you.\n"
    "Your assessment should range from 0 to 3, "
    "based solely on the semantic similarity between the groundtruth and the candidate answer, "
    "disregarding any grammatical differences.\n"
    "A rating of 0 suggests no similarity, implying the candidate answer is entirely incorrect.\n"
    "A rating of 1 suggests low similarity, meaning the candidate answer is largely incorrect.\n"
    "A rating of 2 suggests high similarity, meaning the candidate answer is largely correct.\n"
    "Lastly, a rating of 3 indicates complete similarity, "
    "which means the candidate answer is entirely correct.\n"
    "Your response should be a single integer from 0, 1, 2, or 3.\n"
)
JUDGE_USER: Final = "Question: {}\nGroundtruth answer: {}\nCandidate answer: {}\nYour response: "
NO_SCORE: Final = -1

# The replies for which `int(x) if istype(x, int)` gives a number: `eval` must give an int and `int()`
# must parse the same text, i.e. an optionally signed decimal literal (no leading zeros, `_` between
# digits). Replies whose `eval` is an int that `int()` cannot parse ('True', '1+2', '(3)') make
# VLMEvalKit raise; they score -1 here.
_INT_LITERAL = re.compile(r"[+-]?(?:0(?:_?0)*|[1-9](?:_?[0-9])*)")


def parse_grade(reply: str) -> int:
    """The score VLMEvalKit keeps for one judge reply (already stripped by the judge call)."""
    text = reply.strip()
    return int(text) if _INT_LITERAL.fullmatch(text) else NO_SCORE


def judge_prompt(question: str, answer: str, prediction: str) -> str:
    """The user text of one grading call (`build_prompt`, utils L71-73)."""
    return JUDGE_USER.format(question, answer, prediction)


class MMBenchVideoKind(VideoKind, JudgeGradedKind):
    """Every answered row graded 0-3 by the judge (required); the grade is the row's score."""

    name: ClassVar[str] = "mmbench_video"

    # -- prompts ----------------------------------------------------------------------------

    def messages(self, spec: BenchmarkSpec, sample: Sample, rules: str) -> list[Msg]:
        return [
            Msg(FRAMES_TMPL_NOPACK.format(len(sample.images))),
            *frames(sample),
            Msg(f"Question: {sample.question}\nAnswer: "),
        ]

    def internvl2_edit(self, prompt: str) -> str:
        return prompt.replace("\nAnswer:", "")

    # -- rows and the judge ------------------------------------------------------------------

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        """The prediction file itself: VLMEvalKit grades MMBench-Video from its columns."""
        return prediction_table(
            predictions, spec, "MMBench-Video's", "index", "prediction", "question", "dimensions"
        )

    def needs_judge(self, spec: BenchmarkSpec, item: Item, exact: Extraction) -> bool:
        """Rows with an empty prediction cell are not sent (`data_un`, L245-246)."""
        return not is_missing(item.prediction)

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        prompt = judge_prompt(item.question, item.answer or "nan", item.prediction)
        reply = await ctx.ask(item.key, prompt, 0.0, 0, system=JUDGE_SYSTEM)
        grade = parse_grade(reply.text) if reply.ok and reply.text is not None else NO_SCORE
        method = Method.JUDGE if reply.ok else Method.UNRESOLVED
        return Verdict.from_reply(None, method, reply, 1, score=float(grade))

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        """`score`: the grade, -1 for a row not graded (empty prediction, failed call)."""
        grade = NO_SCORE if verdict is None or verdict.score is None else int(verdict.score)
        return {"score": grade}

    def score_file(self, model: str, spec: BenchmarkSpec, *, official: bool = False) -> str:
        return f"{model}_{spec.name}_{spec.judge}_score.csv"

    def json_score_file(self, model: str, spec: BenchmarkSpec) -> str:
        return f"{model}_{spec.name}_{spec.judge}_rating.json"
