"""Yes/No benchmarks (VLMEvalKit's `Y/N` type: MME, POPE, HallusionBench, ...).

Prompt: the bare question (plus the benchmark's suffix); InternVL2 and Qwen2-VL swap in their own
per-benchmark suffix where VLMEvalKit's model class does (declared in the benchmark TOML).
Extraction: `YOrN_Extraction` (the same in every VLMEvalKit era) or the official scorer's rule.
Ground truth: the prediction file's `answer` column (VLMEvalKit never reads the TSV's).
Judge: asked only when exact matching says Unknown; `YOrN_auxeval`'s prompt and 5 tries at
temperature 0, 0.5, ..., 2; the first Yes/No wins, else Unknown.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from fasteval.kinds.base import (
    Extraction,
    Item,
    JudgeContext,
    JudgeUse,
    Reply,
    TaskKind,
    Verdict,
    normalise_columns,
    require,
    with_question,
)
from fasteval.kinds.extract import UNKNOWN, extract_yorn, yorn_vlmevalkit
from fasteval.kinds.vqa import question_with_suffix
from fasteval.types import BenchmarkSpec, Method, Sample

JUDGE_TEMPERATURES = (0.0, 0.5, 1.0, 1.5, 2.0)  # YOrN_auxeval: temperature 0.5 * i

# `YOrN_match_prompt`, verbatim: the text is part of the result, typos included.
JUDGE_PROMPT = (
    "You are an AI assistant who will help me to match an answer with two options of a question. "
    "The options are only Yes / No. "
    "You are provided with a question and an answer, "
    "and you need to find which option (Yes / No) is most similar to the answer. "
    "If the meaning of all options are significantly different from the answer, output Unknown. "
    "Your should output a single word among the following 3 choices: Yes, No, Unknown.\n"
    "Example 1: \n"
    "Question: Is the word in this image 'Hello'?\n"
    "Answer: The word in this image is 'Hello'.\nYour output: Yes\n"
    "Example 2: \n"
    "Question: Is the word in this image 'Hello'?\n"
    "Answer: The word in this image is not 'Hello'.\nYour output: No\n"
    "Example 3: \n"
    "Question: {}?\nAnswer: {}\nYour output: "
)


def judge_prompt(question: str, prediction: str) -> str:
    """`YOrN_match_prompt`: the dataset question and the prediction as stored."""
    return JUDGE_PROMPT.format(question, prediction)


class YornKind(TaskKind):
    dataset_type: ClassVar[str | None] = "Y/N"
    name: ClassVar[str] = "yorn"
    judge_use: ClassVar[JudgeUse] = JudgeUse.ON_MISS
    score_suffix: ClassVar[str] = "score"

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        """Default: `ImageYORNDataset.build_prompt`; a model style's suffix where its class sets one."""
        return question_with_suffix(spec, sample, style)

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        preds = normalise_columns(predictions)
        require(preds, spec, "predictions", "index", "prediction")
        if "answer" not in preds.columns:
            require(preds, spec, "predictions (Y/N ground truth is read from them)", "answer")
        return with_question(preds, normalise_columns(dataset) if dataset is not None else None)

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        word = extract_yorn(item.prediction, rules, official_rule=spec.official_rule)
        return Extraction(word, Method.UNRESOLVED if word == UNKNOWN else Method.EXACT)

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        prompt = judge_prompt(item.question, item.prediction)
        last: Reply | None = None
        for attempt, temperature in enumerate(JUDGE_TEMPERATURES):
            reply = await ctx.ask(item.key, prompt, temperature, attempt)
            if last is None or reply.ok or not last.ok:
                last = reply
            if reply.ok and reply.text is not None:
                word = yorn_vlmevalkit(reply.text, ctx.rules)
                if word != UNKNOWN:
                    return Verdict.from_reply(word, Method.JUDGE, reply, attempt + 1)
        method = Method.JUDGE if last is not None and last.ok else Method.UNRESOLVED
        return Verdict.from_reply(UNKNOWN, method, last, len(JUDGE_TEMPERATURES))
