"""Answer extraction, pinned by the edge cases each published scorer was run on (refdata test vectors)."""

from __future__ import annotations

import json

import pytest

from fasteval.kinds.extract import (
    DEFAULT_RULES,
    RULES_2024,
    RULES_2025,
    RULES_2026,
    UnknownRules,
    extract_mcq,
    extract_yorn,
    process_punctuation,
)
from tests.fixtures import refdata

OFFICIAL_YN = {"yes": "Yes", "no": "No", "other": "Unknown"}


def _vectors(name: str):
    return json.loads(refdata(name).read_text())


@pytest.mark.parametrize(
    ("column", "rules", "official_rule"),
    [
        ("vlmevalkit_YOrN_2024", RULES_2024, None),
        ("vlmevalkit_YOrN_head", RULES_2026, None),
        ("mme_official_calculation_py", "official", "mme"),
        ("pope_official", "official", "pope"),
    ],
)
def test_yes_no_vectors(column: str, rules: str, official_rule: str | None) -> None:
    for case in _vectors("testvectors_yes_no.json"):
        want = OFFICIAL_YN.get(case[column], case[column])
        got = extract_yorn(case["prediction"], rules, official_rule=official_rule)
        assert got == want, (case["prediction"], column)


@pytest.mark.parametrize(
    ("column", "rules"),
    [("vlmevalkit_can_infer_2024", RULES_2024), ("vlmevalkit_can_infer_head", RULES_2026)],
)
def test_mcq_vectors_vlmevalkit(column: str, rules: str) -> None:
    vectors = _vectors("testvectors_mcq.json")
    for case in vectors["rows"]:
        want = case[column] or None  # False (no match) is None here
        assert extract_mcq(case["prediction"], vectors["choices"], rules) == want, case["prediction"]


@pytest.mark.parametrize(
    ("column", "rule"), [("mmstar_official_hit", "mmstar"), ("llava_seed_exact_hit", "seed")]
)
def test_mcq_vectors_official(column: str, rule: str) -> None:
    vectors = _vectors("testvectors_mcq.json")
    for case in vectors["rows"]:
        got = extract_mcq(case["prediction"], vectors["choices"], "official", official_rule=rule)
        assert (got == case["gt"]) == case[column], case["prediction"]


CHOICES = {"A": "Portland", "B": "Lexington", "C": "Frankfort", "D": "Kansas City"}


def test_default_rules_are_the_newest() -> None:
    assert DEFAULT_RULES == RULES_2026


def test_a_letter_must_be_among_the_last_four_tokens_from_2025() -> None:
    pred = "B. I am quite sure the answer is B"
    assert extract_mcq(pred, CHOICES, RULES_2024) == "B"
    assert extract_mcq(pred, CHOICES, RULES_2025) is None
    assert extract_mcq(pred, CHOICES, RULES_2026) == "B"  # rescued by the "answer is X" regex


def test_long_answers_skip_option_text_matching_from_2025() -> None:
    pred = "It is Frankfort. " + "Filler sentence without any option. " * 5
    assert extract_mcq(pred, CHOICES, RULES_2024) == "C"
    assert extract_mcq(pred, CHOICES, RULES_2025) is None


def test_article_a_is_an_option_letter() -> None:
    assert extract_mcq("A dog runs there", CHOICES, RULES_2024) == "A"


def test_refusals_are_z_and_api_failures_fall_through_to_text() -> None:
    assert extract_mcq("Cannot determine the answer from this image.", CHOICES) == "Z"
    assert extract_mcq("Failed to obtain answer via API. Frankfort", CHOICES) == "C"
    assert extract_mcq("Failed to obtain answer via API. B", CHOICES) is None


def test_only_the_first_32_periods_are_stripped() -> None:
    assert process_punctuation("a." * 33) == "a" * 32 + "a."
    assert extract_yorn("Hmm. " * 33 + "no.") == "Unknown"
    assert extract_yorn("Hmm. " * 31 + "no.") == "No"


def test_a_digit_comma_digit_deletes_punctuation_instead_of_spacing_it() -> None:
    assert process_punctuation("yes,no 1,000") == "yesno 1000"
    assert process_punctuation("yes,no") == "yes no"


def test_unknown_rule_set_is_one_clear_line() -> None:
    with pytest.raises(UnknownRules, match=r"use one of vlmevalkit-2024\.07"):
        extract_yorn("Yes", "vlmevalkit-2023")


def test_from_2025_a_period_after_a_digit_is_kept_and_does_not_use_up_the_32() -> None:
    # 40 numbered sentences: the typo regex (2024) spends its 32 removals on "1." .. "32." and the
    # last period survives; the look-behind regex (2025+) keeps every "N." and removes the last one
    text = " ".join(f"{i}. x" for i in range(1, 41)) + " yes."
    assert process_punctuation(text, RULES_2024).endswith("yes.")
    assert process_punctuation(text, RULES_2025).endswith("yes") and "40." in process_punctuation(
        text, RULES_2025
    )
