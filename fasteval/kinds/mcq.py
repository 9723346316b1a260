"""Multiple-choice benchmarks (VLMEvalKit's `MCQ` type: MMBench, SEED, MMStar, AI2D, ...).

Prompt: `ImageMCQDataset.build_prompt` (hint, question, options, the "select" line); InternVL2's
`build_multi_choice_prompt` and Qwen2-VL's mixin for their styles.
Extraction: `can_infer` of the chosen VLMEvalKit generation, or the benchmark's official rule.
Ground truth: the dataset TSV's `answer` (by index); options from the prediction file's A..Z
columns (the TSV's when the predictions carry none), as VLMEvalKit reads them.
Judge: asked only when exact matching cannot decide; `extract_answer_from_item`'s prompt (Chinese
for CJK questions), 3 tries at temperature 0, then a seeded option (VLMEvalKit: unseeded) or Z.
Circular benchmarks are judged per group (`index % 1e6`), as `eval_circular_group` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import polars as pl

from fasteval.data.tabular import as_vlmeval_str, vlmeval_keys
from fasteval.errors import ScoringError
from fasteval.kinds.base import (
    Extraction,
    Item,
    JudgeContext,
    JudgeUse,
    PromptError,
    Reply,
    TaskKind,
    Verdict,
    normalise_columns,
    require,
)
from fasteval.kinds.extract import REFUSED, extract_mcq
from fasteval.types import OPTION_LETTERS, BenchmarkSpec, Method, Sample

CIRCULAR_STRIDE = 1_000_000  # rotation k of question q has index q + k * 1e6
JUDGE_TRIES = 3  # extract_answer_from_item: retry = 3, temperature 0

_CJK = re.compile("[\u4e00-\u9fff]")
MCQ_SELECT = "Please select the correct answer from the options above."
INTERNVL_LETTER = "Answer with the option's letter from the given choices directly."
INTERNVL_DIRECT = "Answer the question directly."
CN_LETTER = "请直接回答选项字母。"
CN_DIRECT = "请直接回答问题。"

# VLMEvalKit's answer-matching prompts, verbatim (typos, trailing spaces and the `?` included).
JUDGE_EN = (
    "You are an AI assistant who will help me to match "
    "an answer with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, "
    "and you need to find which option is most similar to the answer. "
    "If the meaning of all options are significantly different from the answer, output Z. "
    "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)
# build_prompt_cn: "例 1:" has no space or newline after it upstream, unlike examples 2 and 3.
JUDGE_CN = (
    "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。"
    "你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。"
    "如果所有选项的意义都与答案显著不同，则输出 Z。"
    "你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。"
    "例 1:"
    "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n"
    "例 2: \n"
    "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n"
    "例 3: \n"
    "问题: {}?\n选项: {}\n答案: {}\n输出: "
)


def has_cjk(text: str) -> bool:
    """VLMEvalKit's `cn_string`: any CJK unified ideograph."""
    return _CJK.search(text) is not None


def option_str(choices: Mapping[str, str]) -> str:
    """`build_option_str`: a header line, then one `K. text` line per present option."""
    return "There are several options: \n" + "".join(f"{k}. {v}\n" for k, v in choices.items())


def judge_prompt(question: str, choices: Mapping[str, str], prediction: str) -> str:
    """`extract_answer_from_item`'s prompt: Chinese when the question has CJK; prediction stripped."""
    template = JUDGE_CN if has_cjk(question) else JUDGE_EN
    return template.format(question, option_str(choices), prediction.strip())


def group_of_key(key: str) -> int:
    """`g_index = index % 1e6` (string indices, which circular sets never have, map to 0)."""
    try:
        return int(key) % CIRCULAR_STRIDE
    except ValueError:
        return 0


# ---------------------------------------------------------------------------------------------
# Prompt text per style
# ---------------------------------------------------------------------------------------------


def dataset_text(sample: Sample) -> str:
    """`ImageMCQDataset.build_prompt`: hint, question, options, the select line."""
    text = f"Hint: {sample.hint}\n" if sample.hint is not None else ""
    text += f"Question: {sample.question}\n"
    if sample.options:
        text += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in sample.options.items())
        text += MCQ_SELECT + " \n"
    return text


def internvl2_text(sample: Sample) -> str:
    """InternVL2's `build_multi_choice_prompt`."""
    text = sample.question if sample.hint is None else f"{sample.hint}\n{sample.question}"
    text += "".join(f"\n{k}. {v}" for k, v in sample.options.items())
    cn = has_cjk(text)
    if sample.options:
        return text + "\n" + (CN_LETTER if cn else INTERNVL_LETTER)
    return text + "\n" + (CN_DIRECT if cn else INTERNVL_DIRECT)


def qwen2vl_text(sample: Sample) -> str:
    """Qwen2-VL's prompt mixin: its own MCQ ending, stripped."""
    text = f"Hint: {sample.hint}\n" if sample.hint is not None else ""
    text += f"Question: {sample.question}\n"
    if sample.options:
        text += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in sample.options.items())
        text += CN_LETTER if has_cjk(text) else MCQ_SELECT
    return text.rstrip()


_STYLES = {"default": dataset_text, "internvl2": internvl2_text, "qwen2vl": qwen2vl_text}


class McqKind(TaskKind):
    dataset_type: ClassVar[str | None] = "MCQ"
    name: ClassVar[str] = "mcq"
    input_columns: ClassVar[tuple[str, ...]] = ("A", "B")  # options: without them it is not multiple choice
    judge_use: ClassVar[JudgeUse] = JudgeUse.ON_MISS
    score_suffix: ClassVar[str] = "acc"
    needs_dataset: ClassVar[bool] = True

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        builder = _STYLES.get(style)
        if builder is None:
            raise PromptError(f"unknown prompt style {style!r}; use one of: {', '.join(_STYLES)}")
        return builder(sample)

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        """Ground truth (and question, and options when the predictions carry none) from the TSV."""
        preds = normalise_columns(predictions)
        require(preds, spec, "predictions", "index", "prediction")
        if dataset is None:
            raise ScoringError(
                f"{spec.name} is multiple choice: its ground truth is read from the dataset TSV"
            )
        data = normalise_columns(dataset)
        require(data, spec, "dataset", "index")
        require(data, spec, "dataset TSV (MCQ ground truth is read from it)", "answer")
        gt_keys = vlmeval_keys(data["index"]).alias("__key")
        pred_keys = vlmeval_keys(preds["index"])
        unknown = pred_keys.filter(~pred_keys.is_in(gt_keys.implode()))
        del pred_keys
        if unknown.len():
            raise ScoringError(
                f"{unknown.len()} prediction index(es) are not in the {spec.name} dataset "
                f"(first: {unknown[0]}); use the dataset file the predictions were made from"
            )
        letters = [c for c in OPTION_LETTERS if c in preds.columns]
        take = ["answer", *([] if letters else [c for c in OPTION_LETTERS if c in data.columns])]
        if "question" not in preds.columns and "question" in data.columns:
            take.append("question")
        keyed = data.select(take).with_columns(gt_keys)
        index = preds["index"]  # sorted as VLMEvalKit sorts; a frame in that order already is not copied
        ordered = index.null_count() == 0 and index.is_sorted() and not index.is_duplicated().any()
        base = (preds if ordered else preds.sort("index")).drop(
            [c for c in ("answer",) if c in preds.columns]
        )
        base = base.with_columns(vlmeval_keys(base["index"]).alias("__key"))
        return base.join(keyed, on="__key", how="left", maintain_order="left").drop("__key")

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        key = as_vlmeval_str(row["index"])
        choices = {ch: as_vlmeval_str(row[ch]) for ch in OPTION_LETTERS if row.get(ch) is not None}
        answer = row.get("answer")
        return Item(
            key=key,
            question=as_vlmeval_str(row.get("question")),
            prediction=as_vlmeval_str(row["prediction"]),
            answer=None if answer is None else as_vlmeval_str(answer),
            choices=choices,
            group=group_of_key(key) if spec.circular else None,
        )

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        letter = extract_mcq(item.prediction, item.choices, rules, official_rule=spec.official_rule)
        return Extraction(letter, Method.UNRESOLVED if letter is None else Method.EXACT)

    def group_of(self, spec: BenchmarkSpec, key: str) -> int | None:
        return group_of_key(key) if spec.circular else None

    def judge_prompt(self, item: Item) -> str:
        """The answer-matching prompt for one row (a benchmark with its own prompt overrides it)."""
        return judge_prompt(item.question, item.choices, item.prediction)

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        """Up to 3 tries at temperature 0, each reply read by the rule set's matcher; then a seeded
        choice among the options and Z, or Z under `--judge-unparsed z`."""
        prompt = self.judge_prompt(item)
        last: Reply | None = None
        for attempt in range(JUDGE_TRIES):
            reply = await ctx.ask(item.key, prompt, 0.0, attempt)
            if last is None or reply.ok or not last.ok:
                last = reply
            if reply.ok and reply.text is not None:
                letter = extract_mcq(reply.text, item.choices, ctx.rules)
                if letter:
                    return Verdict.from_reply(letter, Method.JUDGE, reply, attempt + 1)
        if ctx.unparsed == "z":
            pick = REFUSED
        else:
            pick = ctx.seeded_choice(
                item.key, [*item.choices, "Z"] if "Z" not in item.choices else list(item.choices)
            )
        return Verdict.from_reply(pick, Method.FALLBACK, last, JUDGE_TRIES)

    async def judge_group(
        self, spec: BenchmarkSpec, items: Sequence[tuple[Item, Extraction]], ctx: JudgeContext
    ) -> dict[str, Verdict]:
        """`eval_circular_group`: a group with an exact mismatch fails without a call; otherwise its
        unresolved rows are judged in index order until one comes out wrong."""
        if not spec.circular:
            return await super().judge_group(spec, items, ctx)
        ordered = sorted(items, key=lambda pair: _int(pair[0].key))
        if any(ex.answer is not None and ex.answer != it.answer for it, ex in ordered):
            return {}
        out: dict[str, Verdict] = {}
        for it, ex in ordered:
            if ex.answer is not None:
                continue
            verdict = await self.judge(spec, it, ctx)
            out[it.key] = verdict
            if verdict.answer != it.answer:
                break
        return out


def _int(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        return 0
