"""The task-kind interface: everything that differs between answer types, in one place per kind.

A kind (`yorn`, `mcq`, ...) owns the text a benchmark row becomes for each prompt style, how a
model's raw answer becomes an extraction (one function, used alike by the live progress, the judge
stage and the scorer), whether and how a judge is asked and how its reply is read, where ground
truth comes from, the per-row columns it adds (`row_columns`, declared with what they hold), and the
name of the score file VLMEvalKit writes. The rest of the pipeline holds a `TaskKind` and never asks
which one it is.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

import polars as pl

from fasteval.config import Unparsed
from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import FastevalError, ScoringError
from fasteval.types import BenchmarkSpec, Method, Prompt, Sample

T = TypeVar("T")

PROMPT_STYLES: tuple[str, ...] = ("default", "internvl2", "qwen2vl")
"""Prompt styles a registry entry may name (VLMEvalKit's dataset prompt, or a model class's own)."""


class PromptError(FastevalError):
    """A prompt that cannot be built as asked."""


class JudgeUse(StrEnum):
    """When a kind asks the judge about a row."""

    NEVER = "never"  # scored by its own rules only
    ON_MISS = "on_miss"  # extract with the judge when exact matching cannot decide (VLMEvalKit MCQ, Y/N)
    EVERY_ROW = "every_row"  # the judge grades (or extracts from) every row that needs it


@dataclass(frozen=True, slots=True)
class Item:
    """One answered row as a kind reads it: the prediction, and ground truth from where VLMEvalKit
    takes it (the kind's `table`)."""

    key: str  # str(index), the store's and the judge cache's row key
    question: str
    prediction: str  # already str()-ed as VLMEvalKit does (a missing answer is 'nan')
    answer: str | None  # ground truth
    choices: Mapping[str, str] = field(default_factory=dict)  # present options, letter -> text
    group: int | None = None  # circular group (g_index), else None
    fields: Mapping[str, Any] = field(default_factory=dict)  # other columns a kind reads

    @classmethod
    def from_sample(cls, sample: Sample, prediction: str) -> Item:
        """The live view of a row (progress): the dataset's own answer and options."""
        return cls(as_vlmeval_str(sample.index), sample.question, prediction, sample.answer, sample.options)


@dataclass(frozen=True, slots=True)
class Extraction:
    """What exact matching (or a kind's own rule) made of a prediction."""

    answer: str | None  # an option letter / 'Z', 'Yes' / 'No' / 'Unknown'; None: undecided
    method: Method  # EXACT, or UNRESOLVED when the rules could not decide


@dataclass(frozen=True, slots=True)
class Reply:
    """One judge try as the judge layer returns it: never raises, a failure is a value."""

    ok: bool
    text: str | None
    error: str | None = None
    reported_model: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """How the judge decided one row: an extracted answer and/or a grade, with its record."""

    answer: str | None  # extracted answer (letter, Yes/No/Unknown, free text); None for pure grades
    method: Method  # JUDGE; FALLBACK (seeded choice or Z after failed tries); UNRESOLVED (no reply)
    reply: str | None  # the judge's raw reply that decided (else the last one, else the last error)
    tries: int
    model: str = ""  # judge model asked (filled in by the judge layer)
    reported_model: str | None = None  # the model the engine named in its reply
    host: str = ""
    score: float | None = None  # a grade in [0, 1] for kinds whose judge grades
    log: str = ""  # the kind's own account of its tries, where VLMEvalKit records one
    call_failed: bool = False  # the last try failed as a request: the fallback, not the judge, decided

    @classmethod
    def from_reply(
        cls,
        answer: str | None,
        method: Method,
        reply: Reply | None,
        tries: int,
        *,
        score: float | None = None,
        log: str = "",
    ) -> Verdict:
        """A verdict recording `reply` (the deciding one, else the last; a failure as its error)."""
        text = None if reply is None else reply.text if reply.ok else f"[judge call failed] {reply.error}"
        reported = None if reply is None else reply.reported_model
        failed = reply is not None and not reply.ok
        return cls(
            answer, method, text, tries, reported_model=reported, score=score, log=log, call_failed=failed
        )


class Ask(Protocol):
    """One judge try about row `row_key` (cached, recorded) as the judge layer runs it; never raises.
    `system`: a system message before the prompt (LLaVABench's judge has one)."""

    def __call__(
        self,
        row_key: str,
        prompt: str,
        temperature: float,
        attempt: int,
        *,
        max_tokens: int | None = None,
        system: str | None = None,
    ) -> Awaitable[Reply]: ...


@dataclass(frozen=True, slots=True)
class JudgeContext:
    """What a kind's judge policy may use: the call, the rule set, and the unparsed-row policy."""

    ask: Ask
    rules: str
    unparsed: Unparsed = "seeded"
    seed: int = 0

    def seeded_choice(self, key: str, options: Sequence[str]) -> str:
        """VLMEvalKit picks an unseeded random option after failed tries; we seed it by row."""
        return random.Random(f"{self.seed}:{key}").choice(list(options))


@dataclass(frozen=True, slots=True)
class Column:
    """A per-row column a kind (or its scorer) adds to the rows, kept in the samples file: its name and
    what it holds, said once where it is made, so the report never has to know it by name."""

    name: str
    about: str


class TaskKind(ABC):
    """One answer type. Subclasses are stateless singletons registered in `fasteval.kinds.KINDS`."""

    name: ClassVar[str]
    # The per-row columns `table` and `row_fields` add that the samples file keeps (MathVista's
    # `res` and `log`, ...); the scorer declares its own (`fasteval.scoring.ScorerEntry`).
    row_columns: ClassVar[tuple[Column, ...]] = ()
    judge_use: ClassVar[JudgeUse] = JudgeUse.NEVER
    judge_required: ClassVar[bool] = False  # VLMEvalKit refuses to score without a working judge
    score_suffix: ClassVar[str] = "acc"  # `{model}_{dataset}_{suffix}.csv`, as VLMEvalKit names it
    needs_dataset: ClassVar[bool] = False
    # VLMEvalKit's DATASET_TYPE of the kind's benchmarks ("Y/N", "MCQ"), where a model class keys a
    # rule on it (InternVL's MPO answer post-processing); None: no such rule applies
    dataset_type: ClassVar[str | None] = None  # ground truth / options read from the dataset TSV
    # dataset columns the prompt or extraction reads beyond index, question and answer: checked (with the
    # scorer's) before the first request, so a file without them costs no request (issue 22)
    input_columns: ClassVar[tuple[str, ...]] = ()

    # -- prompts ----------------------------------------------------------------------------

    @abstractmethod
    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        """The text part of the user message for `style` (images are placed by `build_prompt`)."""

    def message(self, spec: BenchmarkSpec, sample: Sample, style: str, rules: str) -> Prompt | None:
        """The whole message, for a kind that lays it out itself (video: text before and after the
        frames, a system text, an order that changed between VLMEvalKit generations `rules`); None
        (every image kind): `build_prompt` puts the images first, then `prompt_text`."""
        return None

    # -- rows and extraction ---------------------------------------------------------------

    @abstractmethod
    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        """Predictions joined with ground truth (and options) from where VLMEvalKit reads them;
        column names already normalised. Raises `ScoringError` (one line) on a missing column."""

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        """One row of `table` as an `Item` (kinds with options or extra fields override this)."""
        answer = row.get("answer")
        return Item(
            key=as_vlmeval_str(row["index"]),
            question=as_vlmeval_str(row.get("question")),
            prediction=as_vlmeval_str(row["prediction"]),
            answer=None if answer is None else as_vlmeval_str(answer),
        )

    def dataset_keyed(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame
    ) -> pl.DataFrame:
        """A prediction file keyed by the TSV's own `index` (VLMEvalKit renames some rows when it
        loads them, e.g. RefCOCO's `{split}_{index}`), so coverage counts its rows; default: as is."""
        return predictions

    @abstractmethod
    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        """Exact matching under `rules`: the one extraction every layer uses."""

    def live_item(self, spec: BenchmarkSpec, sample: Sample, prediction: str) -> Item:
        """The row as `live_hit` reads it while the run goes on: the sample's own answer and options."""
        return Item.from_sample(sample, prediction)

    def live_hit(self, spec: BenchmarkSpec, item: Item, rules: str) -> bool | None:
        """A per-row hint for the progress line (no judge, no groups); None when not meaningful."""
        if item.answer is None:
            return None
        return self.extract(spec, item, rules).answer == item.answer

    # -- the judge ---------------------------------------------------------------------------

    def needs_judge(self, spec: BenchmarkSpec, item: Item, exact: Extraction) -> bool:
        """Whether this row goes to the judge (when one is configured)."""
        if self.judge_use is JudgeUse.NEVER:
            return False
        return self.judge_use is JudgeUse.EVERY_ROW or exact.method is Method.UNRESOLVED

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        """Ask the judge about one row with the kind's prompt, try schedule and reply parse."""
        raise NotImplementedError(f"{self.name} rows are never judged")

    async def judge_group(
        self, spec: BenchmarkSpec, items: Sequence[tuple[Item, Extraction]], ctx: JudgeContext
    ) -> dict[str, Verdict]:
        """A group of rows scored together (circular MCQ); default: row by row."""
        out: dict[str, Verdict] = {}
        for item, exact in items:
            if self.needs_judge(spec, item, exact):
                out[item.key] = await self.judge(spec, item, ctx)
        return out

    def group_of(self, spec: BenchmarkSpec, key: str) -> int | None:
        """The group a row is judged and scored with, or None (rows stand alone)."""
        return None

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        """Per-row columns the kind's scorer reads beyond the extraction (e.g. MathVista's `hit` and
        `log`, MMVet's `score`); values of one column share one type across rows."""
        return {}

    def score_file(self, model: str, spec: BenchmarkSpec, *, official: bool = False) -> str:
        """The score CSV's name as VLMEvalKit writes it (official-rule tables: their own name)."""
        if official:
            return f"{model}_{spec.name}_official.csv"
        return f"{model}_{spec.name}_{self.score_suffix}.csv"

    def json_score_file(self, model: str, spec: BenchmarkSpec) -> str:
        """The name of the JSON score file VLMEvalKit writes, for scorers that return one
        (`ScoreResult.json`): OCRBench's `_score.json`; the video ratings' `_rating.json`."""
        return f"{model}_{spec.name}_score.json"


class JudgeGradedKind(TaskKind):
    """A kind whose every row the judge grades (MM-Vet, LLaVABench, MMBench-Video): VLMEvalKit extracts
    nothing and refuses to score without a working judge, so there is no exact match and no live hint."""

    judge_use: ClassVar[JudgeUse] = JudgeUse.EVERY_ROW
    judge_required: ClassVar[bool] = True

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        return Extraction(None, Method.UNRESOLVED)  # nothing to extract: the judge grades

    def live_hit(self, spec: BenchmarkSpec, item: Item, rules: str) -> bool | None:
        return None


async def ask_in_turn(
    ctx: JudgeContext,
    key: str,
    prompt: str,
    temperatures: Sequence[float],
    max_tokens: int,
    fold: Callable[[list[str]], T | None],
    failed_call: str,
) -> tuple[T, Reply | None, int]:
    """A try schedule as VLMEvalKit runs one (MathVista_auxeval, MMVet_auxeval): one judge call per
    temperature, in order, until `fold(replies so far)` decides; a failed call reads as `failed_call`.
    Returns the outcome, the last reply and how many calls were made."""
    replies: list[str] = []
    last: Reply | None = None
    while (outcome := fold(replies)) is None:
        attempt = len(replies)
        last = await ctx.ask(key, prompt, temperatures[attempt], attempt, max_tokens=max_tokens)
        replies.append(last.text if last.ok and last.text is not None else failed_call)
    return outcome, last, len(replies)


# ---------------------------------------------------------------------------------------------
# Table helpers shared by the kinds
# ---------------------------------------------------------------------------------------------


def normalise_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """VLMEvalKit lowercases prediction column names, except single uppercase letters (options)."""
    renames = {c: c.lower() for c in frame.columns if not (len(c) == 1 and c.isupper()) and c != c.lower()}
    return frame.rename(renames) if renames else frame


def row_keys(frame: pl.DataFrame) -> list[str]:
    """`str(index)` per row, as pandas prints it: the key of the store and the judge cache."""
    return [as_vlmeval_str(v) for v in frame["index"].to_list()]


def require(frame: pl.DataFrame, spec: BenchmarkSpec, what: str, *columns: str) -> None:
    """One line naming the first missing column and where it must come from."""
    for col in columns:
        if col not in frame.columns:
            raise ScoringError(f"{spec.name} {what} have no `{col}` column; add it")


def prediction_table(
    predictions: pl.DataFrame, spec: BenchmarkSpec, truth: str, *columns: str
) -> pl.DataFrame:
    """The prediction file itself as the table to score, for kinds whose ground truth VLMEvalKit reads
    from it: the columns named, then `answer` (`truth` names whose ground truth, for the error line)."""
    preds = normalise_columns(predictions)
    require(preds, spec, "predictions", *columns)
    require(preds, spec, f"predictions ({truth} ground truth is read from them)", "answer")
    return preds


def require_columns(frame: pl.DataFrame, needed: tuple[str, ...], what: str) -> None:
    """One line naming the columns a scoring step needs and the frame lacks."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ScoringError(f"{what} needs column(s) {', '.join(missing)} in the predictions; add them")


def with_question(preds: pl.DataFrame, dataset: pl.DataFrame | None) -> pl.DataFrame:
    """The judge needs the question: take it from the dataset when the predictions lack it."""
    if "question" in preds.columns or dataset is None or "question" not in dataset.columns:
        return preds
    keyed = dataset.select("question").with_columns(pl.Series("__key", row_keys(dataset)))
    out = preds.with_columns(pl.Series("__key", row_keys(preds)))
    return out.join(keyed, on="__key", how="left", maintain_order="left").drop("__key")
