"""MVBench and MVBench_MP4 (VLMEvalKit `MVBench` / `MVBench_MP4`, vlmeval/dataset/mvbench.py +
dataset/utils/mvbench.py).

Line numbers are ms-vlmeval 0.0.20 (vlmevalkit-2025.08) unless a line says otherwise.

Message (`build_prompt`, L352-372; MVBench_MP4 L598-616): the system text `SYS` (role system), the
frames, `qa_template`'s `'Question: q\\nOptions:\\n(A) c1\\n(B) c2...'` (rstripped, L284-295), then
`'\\nOnly give the best option.'` and `'Best option:('` (role assistant). vlmevalkit-2024.07
(nvidia-vlmeval 26.3, mvbench.py L358-368 / L600-611) puts the question block before the frames.
InternVL2 (`build_video_prompt`): `'Best option:('` removed.

Scoring (`evaluate`, L374-436; `check_ans_with_model`, utils/mvbench.py L54-71), per row:

* an empty prediction cell is skipped: its score stays NaN (and NaN counts as correct in the rating);
* a prediction containing `Failed to obtain answer via API.` scores -1 (counted as correct too);
* the ground truth is `'(X) answer'` (X: the last candidate equal to the answer, '@' for none); with
  p / g the first space-separated tokens of the lower-cased, stripped prediction / ground truth, the
  row is right if `p.replace('.', '') in g` or `g in p` (so `b`, `(`, and a blank prediction hit);
* otherwise `extract_answer_from_item` with options A.. from `candidates` must give the answer's
  letter: `can_infer` of the rule generation, then the judge (3 tries) when one is configured, else Z.

Not reproduced: a prediction cell pandas reads as a number makes upstream raise (`FAIL_MSG in pred`,
TypeError); here it is scored as its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import ScoringError
from fasteval.kinds.base import (
    Extraction,
    Item,
    JudgeContext,
    JudgeUse,
    Verdict,
    prediction_table,
)
from fasteval.kinds.extract import REFUSED, RULES_2024, extract_mcq
from fasteval.kinds.judge_calls import FAILED_CALL
from fasteval.kinds.video import Msg, VideoKind, ask_option, candidates, frames, is_missing, parse_candidates
from fasteval.types import BenchmarkSpec, Method, Sample

SYS: Final = (
    "Carefully watch the video and pay attention to the cause and sequence of events, "
    "the detail and movement of objects, and the action and pose of persons. "
    "Based on your observations, select the best option that accurately addresses the question.\n"
)
ONLY_BEST: Final = "\nOnly give the best option."
BEST_OPTION: Final = "Best option:("


def qa_question(question: str, options: list[str]) -> str:
    """`qa_template`'s question block (L284-295)."""
    text = f"Question: {question}\nOptions:\n"
    text += "".join(f"({chr(ord('A') + i)}) {c}\n" for i, c in enumerate(options))
    return text.rstrip()


def ground_truth(answer: str, options: list[str]) -> str:
    """`'(X) answer'`, X the letter of the *last* candidate equal to the answer; '@' (chr(ord('A') - 1))
    when none is (`evaluate` L401-406)."""
    at = -1
    for i, c in enumerate(options):
        if c == answer:
            at = i
    return f"({chr(ord('A') + at)}) {answer}"


def answer_letter(answer: str, options: list[str]) -> str:
    """The `answer` field `extract_answer_from_item` compares with (L407-410): rewritten to the letter
    of the first equal candidate, then compared on with that letter, as upstream's loop does."""
    out = answer
    for i, c in enumerate(options):
        if c == out:
            out = chr(ord("A") + i)
    return out


def first_token_hit(prediction: str, gt: str) -> bool:
    """`check_ans_with_model`'s first test (utils/mvbench.py L57-68): substring tests on the first
    space-separated tokens; `gt_content[-1]` fails upstream when the answer text is empty."""
    pred_option = prediction.lower().strip().split(" ")[0]
    gt_option, *gt_rest = gt.lower().strip().split(" ")
    if not " ".join(gt_rest):
        raise ScoringError(
            f"MVBench ground truth {gt!r} has no answer text (VLMEvalKit fails on it); fix the data"
        )
    return pred_option.replace(".", "") in gt_option or gt_option in pred_option


class MVBenchKind(VideoKind):
    """MVBench / MVBench_MP4: first-token match, then the option matcher (judge on a miss)."""

    name: ClassVar[str] = "mvbench"
    judge_use: ClassVar[JudgeUse] = JudgeUse.ON_MISS

    # -- prompts ----------------------------------------------------------------------------

    def messages(self, spec: BenchmarkSpec, sample: Sample, rules: str) -> list[Msg]:
        question = Msg(qa_question(sample.question, candidates(sample)))
        system = Msg(SYS, role="system")
        tail = [Msg(ONLY_BEST), Msg(BEST_OPTION, role="assistant")]
        if rules == RULES_2024:  # question block before the frames (26.3 mvbench.py L358-368)
            return [system, question, *frames(sample), *tail]
        return [system, *frames(sample), question, *tail]

    def internvl2_edit(self, prompt: str) -> str:
        return prompt.replace(BEST_OPTION, "")

    # -- rows and extraction ---------------------------------------------------------------

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        """The prediction file itself: VLMEvalKit scores MVBench from its columns."""
        return prediction_table(
            predictions, spec, "MVBench's", "index", "prediction", "question", "candidates"
        )

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        key = as_vlmeval_str(row["index"])
        options = parse_candidates(as_vlmeval_str(row["candidates"]), f"{spec.name} row {key}")
        answer = as_vlmeval_str(row.get("answer"))
        return Item(
            key=key,
            question=as_vlmeval_str(row.get("question")),
            prediction=as_vlmeval_str(row["prediction"]),
            answer=answer_letter(answer, options),
            choices={chr(ord("A") + i): c for i, c in enumerate(options)},
            fields={"gt": ground_truth(answer, options)},
        )

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        """A skipped or failed row decides nothing (EXACT, no letter); a first-token hit is the
        answer's letter; else `can_infer`'s letter, or UNRESOLVED (the judge's turn)."""
        if is_missing(item.prediction) or FAILED_CALL in item.prediction:
            return Extraction(None, Method.EXACT)
        if first_token_hit(item.prediction, str(item.fields["gt"])):
            return Extraction(item.answer, Method.EXACT)
        letter = extract_mcq(item.prediction, item.choices, rules)
        return Extraction(letter, Method.EXACT) if letter else Extraction(None, Method.UNRESOLVED)

    def live_hit(self, spec: BenchmarkSpec, item: Item, rules: str) -> bool | None:
        if is_missing(item.prediction):
            return None
        return self.extract(spec, item, rules).answer == item.answer

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        return await ask_option(ctx, item.key, item.question, item.choices, item.prediction)

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        """`score` as `evaluate` writes it: None (NaN) for a skipped row, -1 for a failed call, else
        1 / 0 (L414-420); and the `(X) text` ground truth it was checked against."""
        return {"gt": item.fields["gt"], "score": self._score(item, exact, verdict)}

    @staticmethod
    def _score(item: Item, exact: Extraction, verdict: Verdict | None) -> int | None:
        if is_missing(item.prediction):
            return None
        if FAILED_CALL in item.prediction:
            return -1
        extracted = verdict.answer if verdict is not None else exact.answer
        return int((extracted or REFUSED) == item.answer)
