"""MMVet (VLMEvalKit `MMVet`, `dataset/image_vqa.py` + `dataset/utils/mmvet.py`).

Judge policy: grade-every-row, judge required (VLMEvalKit asserts a working judge). Each row's
prediction is *graded* by the judge with a few-shot table prompt; the first reply that `float()`
parses and that lies in [0, 1] is the row's score; after 5 failed tries the score is 0.0.

Quirks reproduced (research/next_benchmarks.md §2.4, conformance README §8.9):

* `float()` is Python's: surrounding whitespace, '1', '1.0e+00' and '1_0' parse; 'nan' parses and
  passes both range tests, so it would be accepted;
* `max_tokens` is 3 in ms-vlmeval 0.0.20 and nvidia-vlmeval 26.3, 2048 in upstream e8e78f05;
* the ground truth's `<AND>` / `<OR>` are padded with spaces; the prompt ends with ' | '.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.kinds.base import (
    Column,
    Extraction,
    Item,
    JudgeContext,
    JudgeGradedKind,
    Verdict,
    ask_in_turn,
    prediction_table,
)
from fasteval.kinds.extract import RULES_2024, RULES_2025, RULES_2026
from fasteval.kinds.judge_calls import FAILED_CALL, TrySchedule
from fasteval.types import BenchmarkSpec, Method, Sample

# ---------------------------------------------------------------------------------------------
# What the model is asked
# ---------------------------------------------------------------------------------------------

# default: ImageBaseDataset.build_prompt (images, then the question). internvl2: question only
# for MMVet (§3). qwen2vl: Qwen2VLPromptMixin.use_custom_prompt excludes MMVet, so the dataset
# prompt applies.
STYLE_SUFFIX: Mapping[str, str] = {"default": "", "internvl2": "", "qwen2vl": ""}


def model_prompt_text(question: str, style: str = "default") -> str:
    """The text part sent to the model (images come first), for a prompt style in STYLE_SUFFIX."""
    return question + STYLE_SUFFIX[style]


# ---------------------------------------------------------------------------------------------
# The judge prompt (build_mmvet_gpt4_prompt)
# ---------------------------------------------------------------------------------------------

JUDGE_HEADER: Final = (
    "\n"
    "Compare the ground truth and prediction from AI models, to give a correctness "
    "score for the prediction.\n"
    "<AND> in the ground truth means it is totally right\n"
    "only when all elements in the ground truth are present in the prediction,\n"
    "and <OR> means it is totally right when any one element in the ground truth is "
    "present in the prediction.\n"
    "The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, "
    "0.7, 0.8, 0.9, or 1.0 (totally right).\n"
    "Just complete the last space of the correctness score.\n"
    "\n"
    "Question | Ground truth | Prediction | Correctness\n"
    "--- | --- | --- | ---\n"
    "What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0\n"
    "What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0\n"
    "Can you explain this meme? | This meme is poking fun at the fact that the names of the countries\n"
    "Iceland and Greenland are misleading. Despite its name, Iceland is known for "
    "its beautiful green landscapes,\n"
    "while Greenland is mostly covered in ice and snow. The meme is saying that the "
    "person has trust issues\n"
    "because the names of these countries do not accurately represent their landscapes. |\n"
    "The meme talks about Iceland and Greenland. It's pointing out that despite their names,\n"
    "Iceland is not very icy and Greenland isn't very green. | 0.4\n"
    "Can you explain this meme? | This meme is poking fun at the fact that the names of the countries\n"
    "Iceland and Greenland are misleading. Despite its name, Iceland is known for "
    "its beautiful green landscapes,\n"
    "while Greenland is mostly covered in ice and snow. The meme is saying that the "
    "person has trust issues\n"
    "because the names of these countries do not accurately represent their landscapes. |\n"
    "The meme is using humor to point out the misleading nature of Iceland's and Greenland's names.\n"
    "Iceland, despite its name, has lush green landscapes while Greenland is mostly "
    "covered in ice and snow.\n"
    "The text 'This is why I have trust issues' is a playful way to suggest\n"
    "that these contradictions can lead to distrust or confusion.\n"
    "The humor in this meme is derived from the unexpected contrast between the names of the countries\n"
    "and their actual physical characteristics. | 1.0\n"
)
"""The fixed few-shot table, up to the row being graded. Third-party text, verbatim."""

TEMPERATURES: Final = (0.0, 0.5, 1.0, 1.5, 2.0)  # MMVet_auxeval: 5 tries at temperature 0.5*i
MAX_TOKENS: Mapping[str, int] = {RULES_2024: 3, RULES_2025: 3, RULES_2026: 2048}
"""build_judge max_tokens by VLMEvalKit generation (nvidia 26.3 / ms-vlmeval 0.0.20: 3; e8e78f05: 2048)."""
SCHEDULE: Final = TrySchedule(temperatures=TEMPERATURES, max_tokens=2048)


def schedule(rules: str) -> TrySchedule:
    """The try schedule of a VLMEvalKit generation (unknown names: the newest, 2048 tokens)."""
    return TrySchedule(temperatures=TEMPERATURES, max_tokens=MAX_TOKENS.get(rules, 2048))


def judge_prompt(question: str, answer: str, prediction: str) -> str:
    """`build_mmvet_gpt4_prompt`: header, newline, then `question | gt | prediction | `."""
    gt = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return JUDGE_HEADER + "\n" + " | ".join([question, gt, prediction, ""])


# ---------------------------------------------------------------------------------------------
# Judge replies -> per-row outcome
# ---------------------------------------------------------------------------------------------


def parse_grade(reply: str) -> float | None:
    """`float_cvt`: the reply as a float, None when float() raises ValueError."""
    try:
        return float(reply)
    except ValueError:
        return None


def grade_accepted(score: float) -> bool:
    """`not (score < 0 or score > 1)`: NaN fails neither test, so it is accepted."""
    return not (score < 0 or score > 1)


@dataclass(frozen=True, slots=True)
class MMVetOutcome:
    """One row's `score` and `log` as MMVet_auxeval returns them."""

    score: float
    log: str


def fold_tries(replies: Sequence[str]) -> MMVetOutcome | None:
    """The outcome once the replies so far decide it, else None (call again at
    `TEMPERATURES[len(replies)]`). A reply is a judge call's return value."""
    tries = len(TEMPERATURES)
    log = ""
    for i, output in enumerate(replies[:tries]):
        score = parse_grade(output)
        if score is None:
            log += f"Try {i}: output is {output}, failed to parse.\n"
        elif not grade_accepted(score):
            log += f"Try {i}: output is {output}, invalid score: {score}.\n"
        else:
            return MMVetOutcome(score=score, log=log + "Succeed")
    if len(replies) < tries:
        return None
    return MMVetOutcome(score=0.0, log=log + f"All {tries} retries failed.\n")


# ---------------------------------------------------------------------------------------------
# The kind
# ---------------------------------------------------------------------------------------------


class MMVetKind(JudgeGradedKind):
    """Every row graded 0-1 by the judge (required); the grade is the row's score."""

    name: ClassVar[str] = "mmvet"
    row_columns: ClassVar[tuple[Column, ...]] = (
        Column("score", "the judge's grade in [0, 1] (null when no judge graded the row)"),
        Column("log", "VLMEvalKit's per-row log of the judge's tries"),
    )

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        return model_prompt_text(sample.question, style)

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        return prediction_table(predictions, spec, "MMVet's", "index", "prediction", "question")

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        """`MMVet_auxeval`: up to 5 calls; the first reply that parses as a float in [0, 1] is the
        grade; after 5 failures the grade is 0.0."""
        plan = schedule(ctx.rules)
        prompt = judge_prompt(item.question, item.answer or "nan", item.prediction)
        outcome, last, calls = await ask_in_turn(
            ctx, item.key, prompt, plan.temperatures, plan.max_tokens, fold_tries, FAILED_CALL
        )
        method = Method.UNRESOLVED if outcome.log.endswith("retries failed.\n") else Method.JUDGE
        return Verdict.from_reply(None, method, last, calls, score=outcome.score, log=outcome.log)

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        return {
            "score": None if verdict is None else verdict.score,
            "log": None if verdict is None else verdict.log,
        }

    def score_file(self, model: str, spec: BenchmarkSpec, *, official: bool = False) -> str:
        return f"{model}_{spec.name}_{spec.judge}_score.csv"
