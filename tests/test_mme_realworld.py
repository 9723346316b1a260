"""MME-RealWorld's answer reading and rating, one rule at a time (whole files against VLMEvalKit in
test_mme_realworld_conformance.py)."""

from __future__ import annotations

import polars as pl
import pytest

from fasteval.kinds.extract import RULES_2025, RULES_2026
from fasteval.kinds.mme_realworld import extract_answer, options_text
from fasteval.scoring import SCORERS, ScoreOptions


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("C", "C"),
        ("(D) a truck", "D"),
        ("The best answer is E.", "E"),
        ("<answer>b</answer> since", "B"),  # the tag's content, upper-cased
        ("<answer> </answer>", "A"),  # empty: '' is in '(a)'
        ("e", "E"),  # a lone lower-case letter is found among '(a)'..'(e)'
        ("the truck is parked near the road on the left side of the picture today", ""),
        ("z", ""),
        ("Based on the image, C", "B"),  # the first capital A-E anywhere: 'B' of 'Based'
    ],
)
def test_a_letter_is_read_as_extract_characters_regex_reads_it(reply: str, letter: str) -> None:
    assert extract_answer(reply, RULES_2026) == letter


def test_before_2026_two_prefix_pairs_were_one_string_each() -> None:
    assert extract_answer("Best option: C", RULES_2026) == "C"
    assert extract_answer("Best option: C", RULES_2025) == "B"  # 'Best option:' stays: 'B' of 'Best'


def test_lite_options_are_joined_under_their_header() -> None:
    assert options_text("['(A) red', '(B) blue']") == "The choices are listed below:\n(A) red\n(B) blue"
    assert options_text("选项如下所示:\n(A) 红") == "选项如下所示:\n(A) 红"


def test_the_rating_nests_tasks_subtasks_and_folded_attribute_categories() -> None:
    rows = pl.DataFrame(
        {
            "category": ["Perception/Monitoring", "Perception/Monitoring", "Reasoning/Remote Sensing"],
            "l2-category": ["Person/Attribute/Color", "person/attribute/size", "Counting"],
            "score": [1, 0, 1],
        }
    )
    payload = SCORERS["mme_realworld"].score(rows, ScoreOptions()).json
    assert payload is not None
    assert list(payload) == ["Overall", "Reasoning", "Perception"]
    assert payload["Perception"]["Monitoring"] == {"person/attribute": 0.5, "Avg": 0.5}
    assert payload["Perception"]["Remote Sensing"] == {"Avg": 0}
    assert payload["Reasoning"]["Avg"] == 1.0 and payload["Overall"] == 2 / 3
