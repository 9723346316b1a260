"""MathVista and MMVet kinds and scorers, rule by rule; the judge call discipline.

The judge prompts are compared byte for byte with VLMEvalKit's builders' output on placeholder
inputs (tests/data/judge_prompts, sha256 from research/next_benchmarks.md).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import polars as pl
import pytest

from fasteval.kinds import mathvista, mmvet
from fasteval.kinds.extract import RULES_2024, RULES_2025, RULES_2026
from fasteval.kinds.judge_calls import FAILED_CALL, attempt_answer, call_failed, call_result
from fasteval.scoring import SCORERS, ScoreOptions, ScoringError

PROMPTS = Path(__file__).parent / "data" / "judge_prompts"
SHA = {
    "mathvista": "eafe1762c9a15f78eda2eebe7355b99c4330df2c3ca3b389e2fee5e6e92b7758",
    "mmvet": "6931cdcbd35d190bb26127525625c688374d2d0be3554bb1710f93319a4a8781",
}


def _rendered(name: str) -> bytes:
    data = (PROMPTS / f"{name}_judge_prompt_rendered.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA[name]
    return data


def test_mathvista_judge_prompt_is_byte_exact() -> None:
    got = mathvista.judge_prompt("<QUESTION>", "<PREDICTION>")
    assert got.encode("utf-8") == _rendered("mathvista")


def test_mmvet_judge_prompt_is_byte_exact_with_padded_and() -> None:
    got = mmvet.judge_prompt("<Q>", "a<AND>b", "<P>")
    assert got.encode("utf-8") == _rendered("mmvet")
    assert mmvet.judge_prompt("q", "x<OR>y", "p").endswith("\nq | x <OR> y | p | ")


def test_model_prompts_by_style() -> None:
    assert mathvista.model_prompt_text("Q") == "Q" == mathvista.model_prompt_text("Q", "internvl2")
    assert mathvista.model_prompt_text("Q", "qwen2vl") == (
        "Q\nPlease try to answer the question with short words or phrases if possible."
    )
    assert mmvet.model_prompt_text("Q", "qwen2vl") == "Q" == mmvet.model_prompt_text("Q", "internvl2")


# ---------------------------------------------------------------------------------------------
# MathVista prefetch and post_check
# ---------------------------------------------------------------------------------------------


def row(
    prediction: str, answer: object, answer_type: str = "integer", **kw: object
) -> mathvista.MathVistaRow:
    fields: dict[str, object] = {
        "prediction": prediction,
        "answer": answer,
        "answer_option": None,
        "choices": None,
        "question_type": "free_form",
        "answer_type": answer_type,
    }
    fields.update(kw)
    return mathvista.MathVistaRow(**fields)  # type: ignore[arg-type]


def mc(prediction: str, option: str = "B") -> mathvista.MathVistaRow:
    return row(
        prediction,
        "dog",
        "text",
        answer_option=option,
        choices="['cat', 'dog', 'bird']",
        question_type="multi_choice",
    )


@pytest.mark.parametrize("pred", ["14", " 14 ", "+14", "1_4"])
def test_integer_prefetch_uses_python_int(pred: str) -> None:
    assert mathvista.prefetch(row(pred, "14")) == 14


@pytest.mark.parametrize("pred", ["14.0", "14 units", "The answer is 14", "15"])
def test_integer_prefetch_misses_go_to_the_judge(pred: str) -> None:
    assert mathvista.prefetch(row(pred, "14")) is None


def test_a_correct_zero_is_falsy_so_the_row_is_judged() -> None:
    assert mathvista.prefetch(row("0", "0")) is None
    assert mathvista.prefetch(row("0.0", "0", "float")) is None
    assert mathvista.is_hit(row("0", "0"), "0")


def test_float_prefetch_and_check_are_exact() -> None:
    assert mathvista.prefetch(row("1.50", "1.5", "float")) == 1.5
    assert mathvista.prefetch(row("1.499999", "1.5", "float")) is None
    assert not mathvista.is_hit(row("x", "1.5", "float"), "1.50 cm")
    assert not mathvista.is_hit(row("x", "1.5", "float"), None)


def test_multi_choice_prefetch_takes_any_letter_or_z() -> None:
    assert mathvista.prefetch(mc("B")) == "B"
    assert mathvista.prefetch(mc("The answer is A")) == "A"  # wrong, still prefetched
    assert mathvista.prefetch(mc("Z")) == "Z"
    assert mathvista.prefetch(mc("a horse")) is None
    assert mathvista.prefetch(mc("dog")) == "B"  # option text


def test_matcher_generation_changes_the_prefetch() -> None:
    long = "A is what I think, considering everything in the picture here"
    assert mathvista.prefetch(mc(long), RULES_2024) == "A"
    assert mathvista.prefetch(mc(long), RULES_2025) is None


def test_final_check() -> None:
    assert mathvista.is_hit(row("x", "14"), "14")
    assert not mathvista.is_hit(row("x", "14"), "14.0")
    assert mathvista.is_hit(mc("x"), "(B) dog")
    assert not mathvista.is_hit(mc("x"), "A")
    # list and text answers are always wrong: post_check compares str(None)
    assert not mathvista.is_hit(row("x", "[1, 2]", "list"), "[1, 2]")
    assert not mathvista.is_hit(row("x", "red", "text"), "red")


def test_na_like_replies_read_back_as_nan() -> None:
    out = mathvista.fold_tries("p", ["None"])
    assert out is not None and out.res == "None"
    rec = mathvista.record(mc("p"), out)
    assert rec.res is None and not rec.hit  # 'nan', not 'None' (whose 'no'... would not matter)
    assert mathvista.res_as_read("N/A") is None and mathvista.res_as_read("") is None


def test_mathvista_tries_take_the_first_non_failure_as_is() -> None:
    assert mathvista.fold_tries("pred", []) is None
    assert mathvista.fold_tries("pred", [FAILED_CALL]) is None
    out = mathvista.fold_tries("pred", [FAILED_CALL, "garbage"])
    assert out == mathvista.MathVistaOutcome(
        res="garbage", log="Try 0: output is pred, failed to parse.\nSucceed", prefetched=False
    )
    out = mathvista.fold_tries("pred", [FAILED_CALL] * 5)
    assert out is not None and out.res == "" and out.log.endswith("All 5 retries failed.\n")
    assert mathvista.SCHEDULE.temperatures == (0.0, 0.5, 1.0, 1.5, 2.0)
    assert mathvista.SCHEDULE.max_tokens == 128


# ---------------------------------------------------------------------------------------------
# MMVet grades
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "score"), [("0.50", 0.5), ("1", 1.0), ("1.0e+00", 1.0), ("0.5\n", 0.5)])
def test_mmvet_accepts_float_parses_in_range(reply: str, score: float) -> None:
    assert mmvet.fold_tries([reply]) == mmvet.MMVetOutcome(score=score, log="Succeed")


def test_mmvet_rejections_and_the_all_failed_zero() -> None:
    replies = ["Score: 0.5", "0.5/1.0", "N/A", "1.5", "-0.2"]
    for i in range(1, 5):
        assert mmvet.fold_tries(replies[:i]) is None
    out = mmvet.fold_tries(replies)
    assert out is not None and out.score == 0.0
    assert out.log == (
        "Try 0: output is Score: 0.5, failed to parse.\n"
        "Try 1: output is 0.5/1.0, failed to parse.\n"
        "Try 2: output is N/A, failed to parse.\n"
        "Try 3: output is 1.5, invalid score: 1.5.\n"
        "Try 4: output is -0.2, invalid score: -0.2.\n"
        "All 5 retries failed.\n"
    )


def test_mmvet_nan_passes_both_range_tests() -> None:
    out = mmvet.fold_tries(["nan"])
    assert out is not None and math.isnan(out.score)


def test_mmvet_max_tokens_by_generation() -> None:
    assert mmvet.schedule(RULES_2025).max_tokens == 3 == mmvet.schedule(RULES_2024).max_tokens
    assert mmvet.schedule(RULES_2026).max_tokens == 2048
    assert mmvet.schedule(RULES_2026).temperatures == (0.0, 0.5, 1.0, 1.5, 2.0)


# ---------------------------------------------------------------------------------------------
# Call discipline
# ---------------------------------------------------------------------------------------------


def test_a_call_is_six_attempts_and_returns_the_failure_message() -> None:
    fail = attempt_answer(500, None)
    assert not fail.ok and fail.answer == FAILED_CALL
    assert call_result([fail] * 5) is None
    assert call_result([fail] * 6) == FAILED_CALL
    assert call_result([fail, attempt_answer(200, " B \n")]) == "B"
    assert not attempt_answer(200, "   ").ok and not attempt_answer(200, None).ok
    assert call_result([attempt_answer(200, "")] * 6) == FAILED_CALL
    assert call_result([fail] * 2, retry=2) == FAILED_CALL
    assert call_failed("Failed to obtain answer via API. ")


# ---------------------------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------------------------


def test_mathvista_table_lists_skills_before_the_task_and_counts_wrong_prefetches() -> None:
    rows = pl.DataFrame(
        {
            "task": ["t1", "t2"],
            "skills": ["['s1', 's2']", "['s2']"],
            "log": ["Prefetch succeed", "Succeed"],
            "hit": [0, 1],
        }
    )
    res = SCORERS["mathvista"].score(rows, ScoreOptions())
    assert res.table["Task&Skill"].to_list() == ["Overall", "s1", "s2", "t1", "t2"]
    assert res.table.row(0) == ("Overall", 2, 1, 1, 50.0, 50.0)
    assert res.table.row(2) == ("s2", 2, 1, 1, 50.0, 50.0)
    assert res.headline == {"Overall": 50.0}


def _mmvet_rows(cats: list[str], scores: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"category": cats, "score": scores})


def test_mmvet_groups_capabilities_by_substring() -> None:
    cats = ["rec", "ocr,math", "know", "rec,gen", "spat", "ocr,spat,math"]
    res = SCORERS["mmvet"].score(_mmvet_rows(cats, [1.0, 0.5, 0.0, 1.0, 0.2, 0.4]), ScoreOptions())
    table = {r[0]: r[1:] for r in res.table.iter_rows()}
    # a pure 'rec' row is counted by the capability loop and again under its own name
    assert table["rec"] == (3, pytest.approx(300 / 3))
    assert table["math"] == (2, pytest.approx(45.0))
    assert table["Overall"][0] == 6
    fine = res.extra_tables["score_fine"]["Category"].to_list()
    assert fine == ["rec", "ocr_math", "know", "rec_gen", "spat", "ocr_spat_math", "Overall"]


def test_mmvet_without_a_capability_is_an_error() -> None:
    with pytest.raises(ScoringError, match="math"):
        SCORERS["mmvet"].score(_mmvet_rows(["rec", "ocr", "know", "gen", "spat"], [1.0] * 5), ScoreOptions())


def test_benchmark_specs_name_the_new_kinds_and_scorers() -> None:
    from fasteval.catalog import get_spec

    mv, vet = get_spec("MathVista_MINI"), get_spec("MMVet")
    assert (mv.kind, mv.scorer, mv.judge, mv.md5) == (
        "mathvista",
        "mathvista",
        "gpt-4o-mini",
        "f199b98e178e5a2a20e7048f5dcb0464",
    )
    assert (vet.kind, vet.scorer, vet.judge, vet.md5) == (
        "mmvet",
        "mmvet",
        "gpt-4-turbo",
        "748aa6d4aa9d4de798306a63718455e3",
    )
    assert mv.scorer in SCORERS and vet.scorer in SCORERS


def test_judge_policies() -> None:
    from fasteval.kinds import KINDS
    from fasteval.kinds.base import JudgeUse

    assert (KINDS["mathvista"].judge_use, KINDS["mathvista"].judge_required) == (JudgeUse.ON_MISS, True)
    assert (KINDS["mmvet"].judge_use, KINDS["mmvet"].judge_required) == (JudgeUse.EVERY_ROW, True)


def test_row_from_a_record_keeps_pandas_values() -> None:
    r = mathvista.MathVistaRow.from_record(
        {
            "prediction": None,
            "answer": 14,
            "answer_option": None,
            "choices": None,
            "question_type": "free_form",
            "answer_type": "integer",
        }
    )
    assert r.prediction == "nan" and r.answer == 14
    assert mathvista.prefetch(r) is None and mathvista.is_hit(r, "14")
