"""LLaVABench's rules one at a time (whole files against VLMEvalKit in test_llavabench_conformance.py)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from fasteval.catalog import get_spec
from fasteval.kinds import kind_named
from fasteval.kinds.base import PROMPT_STYLES
from fasteval.kinds.llavabench import parse_scores
from fasteval.scoring import SCORERS, ScoreOptions
from fasteval.types import ImageRef, Sample


@pytest.mark.parametrize(
    ("reply", "pair"),
    [
        ("8 9\nAssistant 2 is better.", (8.0, 9.0)),
        ("8,9", (8.0, 9.0)),
        ("7.5 10", (7.5, 10.0)),
        ("8, 9", (-1.0, -1.0)),  # the comma becomes a space: three tokens
        ("Scores: 8 9", (-1.0, -1.0)),
        ("8\n9", (-1.0, -1.0)),
        ("eight nine", (-1.0, -1.0)),
        (None, (-1.0, -1.0)),  # a failed call
    ],
)
def test_the_first_line_must_hold_exactly_two_numbers(reply: str | None, pair: tuple[float, float]) -> None:
    assert parse_scores(reply) == pair


def test_nan_is_a_number_to_float() -> None:
    reference, model = parse_scores("nan 7")
    assert math.isnan(reference) and model == 7.0


def test_each_style_asks_as_its_model_class_does() -> None:
    sample = Sample("LLaVABench", 0, "What is unusual here?", (ImageRef("AAAA", "image/png"),), {}, None)
    kind, spec = kind_named("llavabench"), get_spec("LLaVABench")
    texts = {style: kind.prompt_text(spec, sample, style) for style in PROMPT_STYLES}
    assert texts == {
        "default": "What is unusual here?",
        "internvl2": "What is unusual here?\nAnswer this question in detail.",
        "qwen2vl": "What is unusual here?\nPlease try to answer the question with short words or phrases "
        "if possible.",
    }


def test_relative_score_is_model_over_reference_with_failed_rows_counted_as_minus_one() -> None:
    rows = pl.DataFrame(
        {"category": ["conv", "conv", "detail"], "gpt4_score": [8.0, -1.0, 10.0], "score": [6.0, -1.0, 5.0]}
    )
    table = SCORERS["llavabench"].score(rows, ScoreOptions()).table
    assert table.rows() == [
        ("overall", 58.8, 33.3, 56.7),  # 10/3 over 17/3
        ("conv", 71.4, 25.0, 35.0),
        ("detail", 50.0, 50.0, 100.0),
    ]


def test_the_headline_is_the_overall_relative_score() -> None:
    rows = pl.DataFrame({"category": ["conv", "detail"], "gpt4_score": [8.0, 10.0], "score": [6.0, 5.0]})
    table = SCORERS["llavabench"].score(rows, ScoreOptions()).table
    assert SCORERS["llavabench"].headline.of(table) == ("Relative Score (main)", 61.1)
