"""MathVista (VLMEvalKit `MathVista`, `dataset/image_vqa.py` + `dataset/utils/mathvista.py`).

Judge policy: extract-on-miss, judge required (VLMEvalKit asserts a working judge). Every row is
first *prefetched* from the raw prediction (`post_check(line, prefetch=True)`); rows whose
prefetch is falsy go to the judge, which is asked to *extract* the answer (not to grade it); the
first judge reply that is not the API-failure message is taken as-is. The final check
(`post_check(line, prefetch=False)`) then compares that extraction with the ground truth.

Quirks reproduced (research/next_benchmarks.md §2.2, conformance README §8.9):

* multi_choice prefetch returns whatever the MCQ matcher finds over the `choices` list literal,
  right or wrong, `Z` included: a wrong letter skips the judge and is scored wrong;
* integer/float prefetch succeeds only on exact `int()` / `float()` equality, and a correct value
  of 0 is falsy, so such a row still goes to the judge;
* the final check never rounds: `int("14.0")` raises (wrong), `float` equality is exact;
* list and text answers are always wrong: `post_check` compares `str(None)` with the answer;
* the reply is written to and read back from `.xlsx`, so an NA-like reply ('', 'None', 'N/A',
  ...) reaches the final check as NaN, i.e. the text 'nan'. (Not modelled: if *every* `res` of a
  file looked numeric, pandas would read the column as numbers and '14.0' would pass int(); a real
  MathVista file always has option letters or sentences in it.)
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.data.tabular import NA_STRINGS, as_vlmeval_str
from fasteval.kinds.base import (
    Column,
    Extraction,
    Item,
    JudgeContext,
    JudgeUse,
    TaskKind,
    Verdict,
    ask_in_turn,
    normalise_columns,
    require,
)
from fasteval.kinds.extract import DEFAULT_RULES, extract_mcq
from fasteval.kinds.judge_calls import FAILED_CALL, TrySchedule
from fasteval.types import BenchmarkSpec, Method, Sample

Value = str | int | float | None
"""A cell as pandas would hold it (None for NaN); post_check applies int()/float() to it."""

# ---------------------------------------------------------------------------------------------
# What the model is asked
# ---------------------------------------------------------------------------------------------

# `question` already holds the official MathVista query ("Hint: ... Question: ... Choices: ...").
# default: ImageBaseDataset.build_prompt (images, then the question; no suffix, no system prompt).
# internvl2: InternVLChat.build_prompt sends the question only for MathVista (§3).
# qwen2vl: Qwen2VLPromptMixin._build_vqa_prompt appends VQA_PROMPT (MathVista is a 'VQA' dataset
#   not excluded there); some later Qwen mixins (listinstr(['MathVista', 'MMMU'])) opt out instead.
QWEN2VL_VQA_SUFFIX: Final = "\nPlease try to answer the question with short words or phrases if possible."
STYLE_SUFFIX: Mapping[str, str] = {"default": "", "internvl2": "", "qwen2vl": QWEN2VL_VQA_SUFFIX}


def model_prompt_text(question: str, style: str = "default") -> str:
    """The text part sent to the model (images come first), for a prompt style in STYLE_SUFFIX."""
    return question + STYLE_SUFFIX[style]


# ---------------------------------------------------------------------------------------------
# The judge prompt (build_mathvista_gpt4_prompt: task description + get_gpt4_ICE examples)
# ---------------------------------------------------------------------------------------------

JUDGE_HEADER: Final = (
    "\n"
    "Please read the following example.\n"
    "Then extract the answer from the model response and type it at the end of the prompt.\n"
    "\n"
    "\n"
    "Hint: Please answer the question requiring an integer answer and provide the final value,\n"
    "e.g., 1, 2, 3, at the end.\n"
    "\n"
    "Question: Which number is missing?\n"
    "\n"
    "Model response: The number missing in the sequence is 14.\n"
    "\n"
    "Extracted answer: 14\n"
    "\n"
    "\n"
    "Hint: Please answer the question requiring a floating-point number with one "
    "decimal place and provide the final value,\n"
    "e.g., 1.2, 1.3, 1.4, at the end.\n"
    "\n"
    "Question: What is the fraction of females facing the camera?\n"
    "\n"
    "Model response: The fraction of females facing the camera is 0.6,\n"
    "which means that six out of ten females in the group are facing the camera.\n"
    "\n"
    "Extracted answer: 0.6\n"
    "\n"
    "\n"
    "Hint: Please answer the question requiring a floating-point number with two "
    "decimal places and provide the final value,\n"
    "e.g., 1.23, 1.34, 1.45, at the end.\n"
    "\n"
    "Question: How much money does Luca need to buy a sour apple candy and a "
    "butter-scotch candy? (Unit: $)\n"
    "\n"
    "Model response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.\n"
    "\n"
    "Extracted answer: 1.45\n"
    "\n"
    "\n"
    "Hint: Please answer the question requiring a Python list as an answer and provide the final list,\n"
    "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.\n"
    "\n"
    "Question: Between which two years does the line graph saw its maximum peak?\n"
    "\n"
    "Model response: The line graph saw its maximum peak between 2007 and 2008.\n"
    "\n"
    "Extracted answer: [2007, 2008]\n"
    "\n"
    "\n"
    "Hint: Please answer the question and provide the correct option letter, e.g., "
    "A, B, C, D, at the end.\n"
    "\n"
    "Question: What fraction of the shape is blue?\n"
    "\n"
    "Choices: (A) 3/11 (B) 8/11 (C) 6/11 (D) 3/5\n"
    "\n"
    "Model response: The correct answer is (B) 8/11.\n"
    "\n"
    "Extracted answer: B\n"
    "\n"
)
"""Everything before the row: the task description and the 5 in-context examples, each followed
by '\\n'. Third-party text, verbatim."""

SCHEDULE: Final = TrySchedule(temperatures=(0.0, 0.5, 1.0, 1.5, 2.0), max_tokens=128)
"""MathVista_auxeval: 5 calls at temperature 0.5*i; build_judge(max_tokens=128)."""

PREFETCH_LOG: Final = "Prefetch succeed"


def judge_prompt(question: str, prediction: str) -> str:
    """`build_mathvista_gpt4_prompt`: the 'respone' typo and the missing newline are upstream's."""
    return JUDGE_HEADER + question + "\n" + "Model respone: " + prediction + "Extracted answer:"


# ---------------------------------------------------------------------------------------------
# post_check
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MathVistaRow:
    """The columns post_check reads, as the prediction file holds them.

    `prediction` is already `str()`-ed (MathVista.evaluate does it: a missing one is 'nan');
    `answer` is the pandas value (an int column stays int); `choices` is the list literal.
    """

    prediction: str
    answer: Value
    answer_option: Value
    choices: Value
    question_type: str
    answer_type: str

    @classmethod
    def from_record(cls, r: Mapping[str, object]) -> MathVistaRow:
        """From a prediction-table row (pandas-typed values, None for NaN)."""

        def value(v: object) -> Value:
            return v if v is None or isinstance(v, str | int | float) else str(v)

        return cls(
            prediction=as_vlmeval_str(r["prediction"]),
            answer=value(r["answer"]),
            answer_option=value(r["answer_option"]),
            choices=value(r["choices"]),
            question_type=as_vlmeval_str(r["question_type"]),
            answer_type=as_vlmeval_str(r["answer_type"]),
        )


def choices_dict(choices: Value) -> dict[str, str] | None:
    """`list_to_dict(eval(line['choices']))`, values as can_infer_text sees them (`str()`); None
    when the literal does not parse (upstream: the exception ends post_check as a miss)."""
    try:
        items = ast.literal_eval(as_vlmeval_str(choices))
    except (ValueError, SyntaxError):
        return None
    if not isinstance(items, (list, tuple)):
        return None
    return {chr(65 + i): str(v) for i, v in enumerate(items)}


def _int(value: Value) -> int | None:
    if value is None:
        return None  # NaN: int() raises ValueError
    try:
        return int(value)
    except ValueError:
        return None


def _float(value: Value) -> float | None:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except ValueError:
        return None


def _check(row: MathVistaRow, response: Value, rules: str) -> tuple[bool, Value]:
    """post_check's comparison: (res == ans, res)."""
    if row.question_type == "multi_choice":
        choices = choices_dict(row.choices)
        if choices is None:
            return False, None
        letter = extract_mcq(as_vlmeval_str(response), choices, rules)
        return letter is not None and letter == row.answer_option, letter
    if row.answer_type == "integer":
        res_i = _int(response)
        if res_i is None:
            return False, None
        ans_i = _int(row.answer)
        return ans_i is not None and res_i == ans_i, res_i
    if row.answer_type == "float":
        res_f = _float(response)
        if res_f is None:
            return False, None
        ans_f = _float(row.answer)
        return ans_f is not None and res_f == ans_f, res_f
    return str(None) == as_vlmeval_str(row.answer), str(None)


def prefetch(row: MathVistaRow, rules: str = DEFAULT_RULES) -> str | int | float | None:
    """`post_check(line, prefetch=True)` when truthy (the row skips the judge), else None.

    multi_choice: the matcher's letter or 'Z' whatever its correctness (None: it found nothing).
    integer/float: the value when it equals the answer exactly and is not 0. Other types: never
    (unless the answer is literally the text 'None', which pandas would have read as NaN).
    """
    if row.question_type == "multi_choice":
        choices = choices_dict(row.choices)
        return None if choices is None else extract_mcq(row.prediction, choices, rules)
    equal, res = _check(row, row.prediction, rules)
    return res if equal and res else None


def is_hit(row: MathVistaRow, res: Value, rules: str = DEFAULT_RULES) -> bool:
    """`post_check(line, prefetch=False)` on the stored `res` (None for NaN)."""
    return _check(row, res, rules)[0]


def res_as_read(res: str | int | float) -> Value:
    """`res` after the `.xlsx` round trip: NA-like text becomes NaN (None); numbers stay numbers."""
    if isinstance(res, str) and res in NA_STRINGS:
        return None
    return res


# ---------------------------------------------------------------------------------------------
# Judge replies -> per-row outcome
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MathVistaOutcome:
    """One row's `res` and `log` as MathVista_auxeval returns them (before the xlsx round trip)."""

    res: str | int | float
    log: str
    prefetched: bool


def prefetched_outcome(value: str | int | float) -> MathVistaOutcome:
    return MathVistaOutcome(res=value, log=PREFETCH_LOG, prefetched=True)


def fold_tries(prediction: str, replies: Sequence[str]) -> MathVistaOutcome | None:
    """The outcome once the replies so far decide it, else None (call again at
    `SCHEDULE.temperatures[len(replies)]`). A reply is a judge call's return value."""
    log = ""
    for i, reply in enumerate(replies[: SCHEDULE.tries]):
        if FAILED_CALL in reply:
            log += f"Try {i}: output is {prediction}, failed to parse.\n"
        else:
            return MathVistaOutcome(res=reply, log=log + "Succeed", prefetched=False)
    if len(replies) < SCHEDULE.tries:
        return None
    return MathVistaOutcome(res="", log=log + f"All {SCHEDULE.tries} retries failed.\n", prefetched=False)


@dataclass(frozen=True, slots=True)
class MathVistaRecord:
    """The per-row columns the scorer reads: `res` as read back (None = NaN), `log`, `hit`."""

    res: str | None
    log: str
    prefetched: bool
    hit: bool


def record(row: MathVistaRow, outcome: MathVistaOutcome, rules: str = DEFAULT_RULES) -> MathVistaRecord:
    """Final check of one row; `res` is kept as text (str of the number for a prefetched value:
    int/float round-trip exactly through str, so the check is unchanged)."""
    res = res_as_read(outcome.res)
    return MathVistaRecord(
        res=None if res is None else str(res),
        log=outcome.log,
        prefetched=outcome.prefetched,
        hit=is_hit(row, res, rules),
    )


# ---------------------------------------------------------------------------------------------
# The kind
# ---------------------------------------------------------------------------------------------


class MathVistaKind(TaskKind):
    """Prefetch from the raw answer; the judge extracts where prefetch finds nothing (required)."""

    name: ClassVar[str] = "mathvista"
    row_columns: ClassVar[tuple[Column, ...]] = (
        Column("hit", "1 when `res` passes VLMEvalKit's post_check against the answer, else 0"),
        Column("res", "the answer the judge (or the prefetch rule) extracted, as VLMEvalKit stores it"),
        Column("log", "VLMEvalKit's per-row log ('Prefetch succeed' marks a prefetched row)"),
    )
    judge_use: ClassVar[JudgeUse] = JudgeUse.ON_MISS
    judge_required: ClassVar[bool] = True

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        return model_prompt_text(sample.question, style)

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        preds = normalise_columns(predictions)
        require(preds, spec, "predictions", "index", "prediction", "question")
        require(preds, spec, "predictions (MathVista reads them)", "answer", "question_type", "answer_type")
        for col in ("answer_option", "choices"):
            if col not in preds.columns:
                preds = preds.with_columns(pl.lit(None, dtype=pl.String).alias(col))
        return preds

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        answer = row.get("answer")
        return Item(
            key=as_vlmeval_str(row["index"]),
            question=as_vlmeval_str(row.get("question")),
            prediction=as_vlmeval_str(row["prediction"]),
            answer=None if answer is None else as_vlmeval_str(answer),
            fields={"row": MathVistaRow.from_record(row)},
        )

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        value = prefetch(_row(item), rules)
        return Extraction(None, Method.UNRESOLVED) if value is None else Extraction(str(value), Method.EXACT)

    def live_hit(self, spec: BenchmarkSpec, item: Item, rules: str) -> bool | None:
        return None  # the judge decides most rows

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        """`MathVista_auxeval`: up to 5 calls at rising temperature; the first reply that is not the
        API-failure message is the extraction, whatever it says."""
        prompt = judge_prompt(item.question, item.prediction)
        outcome, last, calls = await ask_in_turn(
            ctx,
            item.key,
            prompt,
            SCHEDULE.temperatures,
            SCHEDULE.max_tokens,
            lambda replies: fold_tries(item.prediction, replies),
            FAILED_CALL,
        )
        method = Method.UNRESOLVED if outcome.log.endswith("retries failed.\n") else Method.JUDGE
        return Verdict.from_reply(str(outcome.res), method, last, calls, log=outcome.log)

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        row = _row(item)
        if verdict is not None:
            outcome = MathVistaOutcome(res=verdict.answer or "", log=verdict.log, prefetched=False)
        elif exact.answer is not None:
            outcome = prefetched_outcome(prefetch(row, rules) or exact.answer)
        else:  # no judge answered: VLMEvalKit never gets here (it requires one); an empty `res`
            outcome = MathVistaOutcome(res="", log="", prefetched=False)
        rec = record(row, outcome, rules)
        return {"res": rec.res, "log": rec.log, "hit": rec.hit}

    def score_file(self, model: str, spec: BenchmarkSpec, *, official: bool = False) -> str:
        return f"{model}_{spec.name}_{spec.judge}_score.csv"


def _row(item: Item) -> MathVistaRow:
    row = item.fields["row"]
    assert isinstance(row, MathVistaRow)
    return row
