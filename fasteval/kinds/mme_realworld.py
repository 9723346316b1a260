"""MME-RealWorld (+ CN, Lite): VLMEvalKit's `MMERealWorld` (vlmeval/dataset/image_mcq.py at
e8e78f05, 893-1102; `extract_characters_regex` and `get_dimension_rating` in
dataset/utils/multiple_choice.py 585-606 and 625-686; the same in ms-vlmeval 0.0.20).

Prompt (`build_prompt`, 1029-1049): the question, a space, the `multi-choice options` cell and a
newline, then the benchmark's answer line (`SYS`, 902-918: the TOML's `suffix`). The Lite file
stores the options as a list literal that `load_data` (979-993) joins under "The choices are
listed below:\\n"; a list cell is joined so here (the full sets' cells are already joined).
InternVL2 sends the dataset prompt (`use_custom_prompt` is False for MME-RealWorld,
vlm/internvl/internvl_chat.py:230), and so does Qwen2-VL (its type is `MMERealWorld`, not MCQ:
vlm/qwen2_vl/prompt.py:26-41).
Extraction (`evaluate`, 1053-1102; no judge): the text inside `<answer>...</answer>` (stripped,
upper-cased) if any, then `extract_characters_regex`: strip; delete the answer prefixes (two
pairs of them joined by missing commas before 2026-06); more
than ten words without any of A-E: nothing; else the first capital A-E anywhere; else the first of
'(A)'..'(E)' that contains the whole lowercased reply (so an empty reply reads 'A'). Nothing read
scores 0. Ground truth: the prediction file's `answer`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.kinds.base import (
    PROMPT_STYLES,
    Column,
    Extraction,
    Item,
    PromptError,
    TaskKind,
    Verdict,
    normalise_columns,
    require,
)
from fasteval.kinds.extract import RULES_2024, RULES_2025, RULES_2026
from fasteval.types import BenchmarkSpec, Method, Sample

OPTIONS_COLUMN: Final = "multi-choice options"
LITE_HEADER: Final = "The choices are listed below:\n"
ANSWER_PREFIXES: Final = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
)
"""The prefixes `extract_characters_regex` deletes since 1445ec4f (2026-06-17, in e8e78f05)."""
ANSWER_PREFIXES_BEFORE_2026: Final = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
)
"""Before it (ms-vlmeval 0.0.20): two missing commas joined four prefixes into two that never occur."""


def answer_prefixes(rules: str) -> tuple[str, ...]:
    """The prefix list of a VLMEvalKit generation (unknown names: the newest)."""
    return ANSWER_PREFIXES_BEFORE_2026 if rules in (RULES_2024, RULES_2025) else ANSWER_PREFIXES


CHOICES: Final = ("(A)", "(B)", "(C)", "(D)", "(E)")
_TAGGED = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_LETTER = re.compile(r"[ABCDE]")


def options_text(cell: object) -> str:
    """The `multi-choice options` cell as `build_prompt` reads it (a Lite list literal joined)."""
    text = as_vlmeval_str(cell)
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(parsed, list):
            return LITE_HEADER + "\n".join(str(o) for o in parsed)
    return text


def extract_characters(reply: str, rules: str = RULES_2026) -> str:
    """`extract_characters_regex`: a letter A-E, or '' when nothing can be read."""
    s = reply.strip()
    for prefix in answer_prefixes(rules):
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not _LETTER.search(s):
        return ""
    found = _LETTER.search(s)
    if found is None:
        return next((choice[1] for choice in CHOICES if s.lower() in choice.lower()), "")
    return found[0]


def extract_answer(prediction: str, rules: str = RULES_2026) -> str:
    """`evaluate`'s reading of one prediction: the `<answer>` tag's content first."""
    tagged = _TAGGED.search(prediction)
    return extract_characters(tagged.group(1).strip().upper() if tagged else prediction, rules)


class MMERealWorldKind(TaskKind):
    """A letter A-E read by MME-RealWorld's own rules; no judge; the rating JSON per task."""

    name: ClassVar[str] = "mme_realworld"
    row_columns: ClassVar[tuple[Column, ...]] = (
        Column("score", "1 when the letter read equals the answer, else 0 (VLMEvalKit's `score`)"),
    )

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        if style not in PROMPT_STYLES:
            raise PromptError(f"unknown prompt style {style!r}; use one of: {', '.join(PROMPT_STYLES)}")
        if OPTIONS_COLUMN not in sample.meta:
            raise PromptError(f"{spec.name} row {sample.index} has no `{OPTIONS_COLUMN}` column; use its TSV")
        return f"{sample.question} {options_text(sample.meta[OPTIONS_COLUMN])}\n{spec.suffix}"

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        preds = normalise_columns(predictions)
        require(preds, spec, "predictions", "index", "prediction")
        require(preds, spec, "predictions (MME-RealWorld reads its answers from them)", "answer")
        require(preds, spec, "predictions (the rating groups by them)", "category", "l2-category")
        return preds

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        return Item(
            key=as_vlmeval_str(row["index"]),
            question=as_vlmeval_str(row.get("question")),
            prediction=as_vlmeval_str(row["prediction"]),
            answer=as_vlmeval_str(row["answer"]),
        )

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        letter = extract_answer(item.prediction, rules)
        return Extraction(letter, Method.EXACT) if letter else Extraction(None, Method.UNRESOLVED)

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        hit = exact.answer is not None and exact.answer == item.answer
        return {"hit": hit, "score": int(hit)}
