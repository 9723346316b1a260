"""LLaVABench (VLMEvalKit `LLaVABench`, `dataset/image_vqa.py` + `dataset/utils/llavabench.py`).

Line numbers: image_vqa.py and utils/llavabench.py at upstream e8e78f05 (the same code in
ms-vlmeval 0.0.20, a line or two earlier in image_vqa.py).

Prompt: the question (`ImageBaseDataset.build_prompt`); InternVL2 adds "\\nAnswer this question in
detail." (vlm/internvl/internvl_chat.py:266-267); Qwen2-VL's VQA prompt adds "\\nPlease try to answer
the question with short words or phrases if possible." (vlm/qwen2_vl/prompt.py:143-157: LLaVABench
is not among its exceptions).
Judge (image_vqa.py:1903-1931; required, `assert model.working()` 1917): every row once, at temperature
0.2, with the system message "You are a helpful and precise assistant for checking the quality of
the answer."; the prompt (`build_prompt`, llavabench.py:42-56) shows the caption, the question, the
reference answer (`gpt4_ans`, Assistant 1) and the prediction (Assistant 2) under the category's
rule. The reply's first line, commas read as spaces, must split on single spaces into exactly two
floats (`parse_score`, 27-39): (reference score, model score); anything else, a failed call
included, scores (-1, -1), and those -1s count in the means as upstream's do.
Ground truth (`gpt4_ans`, `caption`, `category`) is read from the prediction file, as upstream
loads only it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import ScoringError
from fasteval.kinds.base import (
    Column,
    Extraction,
    Item,
    JudgeContext,
    JudgeGradedKind,
    PromptError,
    Verdict,
    normalise_columns,
    require,
)
from fasteval.types import BenchmarkSpec, Method, Sample

STYLE_SUFFIX: Mapping[str, str] = {
    "default": "",
    "internvl2": "\nAnswer this question in detail.",
    "qwen2vl": "\nPlease try to answer the question with short words or phrases if possible.",
}

JUDGE_SYSTEM: Final = "You are a helpful and precise assistant for checking the quality of the answer."
JUDGE_TEMPERATURE: Final = 0.2
JUDGE_MAX_TOKENS: Final = 2048  # build_judge's default (OpenAIWrapper max_tokens), both generations
ROLE: Final = "Assistant"
# rule_dict (llavabench.py:10-14): conv, detail and complex share one text.
RULE: Final = (
    "We would like to request your feedback on the performance of two AI assistants in response to the "
    "user question displayed above. The user asks the question on observing an image. For your reference, "
    "the visual content in the image is represented with a few sentences describing the image. \n"
    "Please rate the helpfulness, relevance, accuracy, level of details of their responses. Each assistant "
    "receives an overall score on a scale of 1 to 10, where a higher score indicates better overall "
    "performance.\nPlease first output a single line containing only two values indicating the scores for "
    "Assistant 1 and 2, respectively. The two scores are separated by a space.\nIn the subsequent line, "
    "please provide a comprehensive explanation of your evaluation, avoiding any potential bias and "
    "ensuring that the order in which the responses were presented does not affect your judgment."
)
RULE_CATEGORIES: Final = ("conv", "detail", "complex")
FAILED: Final = (-1.0, -1.0)


def judge_prompt(caption: str, question: str, reference: str, prediction: str) -> str:
    """`build_prompt`: context, question, the two answers, then the rule."""
    return (
        f"[Context]\n{caption}\n\n"
        f"[Question]\n{question}\n\n"
        f"[{ROLE} 1]\n{reference}\n\n[End of {ROLE} 1]\n\n"
        f"[{ROLE} 2]\n{prediction}\n\n[End of {ROLE} 2]\n\n"
        f"[System]\n{RULE}\n\n"
    )


def parse_scores(review: str | None) -> tuple[float, float]:
    """`parse_score`: (reference, model) from the reply's first line, else (-1, -1)."""
    if review is None:
        return FAILED
    parts = review.split("\n")[0].replace(",", " ").split(" ")
    if len(parts) != 2:
        return FAILED
    try:
        return (float(parts[0]), float(parts[1]))
    except ValueError:
        return FAILED


class LLaVABenchKind(JudgeGradedKind):
    """Every row rated against a reference answer by the judge (required); no extraction."""

    name: ClassVar[str] = "llavabench"
    row_columns: ClassVar[tuple[Column, ...]] = (
        Column("gpt4_score", "the judge's score of the reference answer, 1-10 (-1: reply unread)"),
        Column("score", "the judge's score of the model's answer, 1-10 (-1: reply unread)"),
    )
    score_suffix: ClassVar[str] = "score"  # get_intermediate_file_path(eval_file, '_score', 'csv') (1907)

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        if style not in STYLE_SUFFIX:
            raise PromptError(f"unknown prompt style {style!r}; use one of: {', '.join(STYLE_SUFFIX)}")
        return sample.question + STYLE_SUFFIX[style]

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        preds = normalise_columns(predictions)
        require(preds, spec, "predictions", "index", "prediction", "question")
        require(
            preds, spec, "predictions (the judge reads them from there)", "gpt4_ans", "caption", "category"
        )
        return preds

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        category = as_vlmeval_str(row["category"])
        if category not in RULE_CATEGORIES:
            raise ScoringError(
                f"{spec.name} row {as_vlmeval_str(row['index'])}: category {category!r} has no judge rule "
                f"(VLMEvalKit knows {', '.join(RULE_CATEGORIES)}); fix the prediction file"
            )
        return Item(
            key=as_vlmeval_str(row["index"]),
            question=as_vlmeval_str(row["question"]),
            prediction=as_vlmeval_str(row["prediction"]),
            answer=as_vlmeval_str(row["gpt4_ans"]),
            fields={"caption": as_vlmeval_str(row["caption"])},
        )

    async def judge(self, spec: BenchmarkSpec, item: Item, ctx: JudgeContext) -> Verdict:
        """`LLaVABench_atomeval`: one call; the reply's first line gives both scores."""
        prompt = judge_prompt(
            str(item.fields["caption"]), item.question, item.answer or "nan", item.prediction
        )
        reply = await ctx.ask(
            item.key, prompt, JUDGE_TEMPERATURE, 0, max_tokens=JUDGE_MAX_TOKENS, system=JUDGE_SYSTEM
        )
        reference, model = parse_scores(reply.text if reply.ok else None)
        method = Method.UNRESOLVED if (reference, model) == FAILED else Method.JUDGE
        return Verdict.from_reply(None, method, reply, 1, score=model)

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        """`gpt4_score` and `score` as the record file holds them (a recorded verdict's reply is
        parsed again, so a rescore from the cache gives the same pair)."""
        text = None if verdict is None or verdict.call_failed else verdict.reply
        reference, model = parse_scores(text)
        return {"gpt4_score": reference, "score": model}
