"""Video extraction, judge policies and ratings as pure functions: each VLMEvalKit quirk the kit's cases
rely on, pinned one by one (the whole cases run in test_video_conformance_cli.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from fasteval.catalog import get_spec
from fasteval.errors import ScoringError
from fasteval.kinds import kind_named
from fasteval.kinds.base import Extraction, Item, JudgeContext, Reply
from fasteval.kinds.mcq import JUDGE_EN
from fasteval.kinds.mmbench_video import JUDGE_SYSTEM, parse_grade
from fasteval.kinds.mvbench import answer_letter, first_token_hit, ground_truth
from fasteval.kinds.videomme import extract_characters_regex, question_options
from fasteval.scoring.mmbench_video import mmbench_video_rating
from fasteval.scoring.mvbench import mvbench_rating
from fasteval.scoring.video import by_index, by_label, mean_text
from fasteval.scoring.videomme import videomme_rating
from fasteval.types import Method

# ---------------------------------------------------------------------------------------------
# Video-MME
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "letter"),
    [
        ("The answer is B", "B"),
        ("(C) the cat", "C"),
        ("Definitely", "D"),  # the first uppercase A-D anywhere, inside words too
        ("Clearly the first one", "C"),
        ("Best option: C", "B"),  # 'Best option:' is never removed on its own (missing comma upstream)
        ("The best option is C", "C"),
        ("The best option isThe correct option is D", "D"),  # the fused prefix is removed
        ("Failed to obtain answer via API.", "A"),
        ("nan", ""),
        ("it is the one with the small red ball near the green box on the left", ""),  # > 10 words, no A-D
        ("it is the one with the small red ball near the green box on the left, A", "A"),
        ("b", ""),  # lowercase letters are not options
    ],
)
def test_videomme_regex(prediction: str, letter: str) -> None:
    assert extract_characters_regex(prediction) == letter


def test_videomme_options_come_from_the_question_lines() -> None:
    """extract_option reads options from the question's own lines (Video-MME's hold none)."""
    assert question_options("What is shown?") == {}
    assert question_options("Pick one\nA. a cat.\nsomething\nC. a dog") == {"A": "a cat", "C": "a dog"}


def _videomme_item(prediction: str, question: str = "What is shown?") -> Item:
    spec = get_spec("Video-MME_8frame")
    row = {"index": 0, "question": question, "prediction": prediction, "answer": "B"}
    return kind_named(spec.kind).item(spec, row)


def test_videomme_unresolved_rows_score_zero_as_z() -> None:
    spec = get_spec("Video-MME_8frame")
    kind = kind_named(spec.kind)
    item = _videomme_item("i am not sure at all about this one, it could be many things really")
    exact = kind.extract(spec, item, "vlmevalkit-2025.08")
    assert exact == Extraction(None, Method.UNRESOLVED)
    assert kind.needs_judge(spec, item, exact)
    assert kind.row_fields(spec, item, exact, None, "vlmevalkit-2025.08") == {"score": 0}
    refusal = _videomme_item("cannot determine the answer, Z")
    assert kind.extract(spec, refusal, "vlmevalkit-2025.08") == Extraction("Z", Method.EXACT)


@dataclass
class FakeJudge:
    """A judge that answers from a list and records what it was asked."""

    replies: list[Reply]
    asked: list[tuple[str, float, str | None]] = field(default_factory=list)

    async def __call__(
        self,
        row_key: str,
        prompt: str,
        temperature: float,
        attempt: int,
        *,
        max_tokens: int | None = None,
        system: str | None = None,
    ) -> Reply:
        self.asked.append((prompt, temperature, system))
        return self.replies[min(attempt, len(self.replies) - 1)]


def test_videomme_judge_can_only_say_z_and_is_asked_three_times_otherwise() -> None:
    """With no options, the judge's letters are not options: 3 tries, then a pick among ['Z']."""
    spec = get_spec("Video-MME_8frame")
    kind = kind_named(spec.kind)
    item = _videomme_item("hmm")
    judge = FakeJudge([Reply(True, "B")])
    verdict = asyncio.run(kind.judge(spec, item, JudgeContext(judge, "vlmevalkit-2025.08")))
    assert (verdict.answer, verdict.method, len(judge.asked)) == ("Z", Method.FALLBACK, 3)
    assert judge.asked[0] == (
        JUDGE_EN.format("What is shown?", "There are several options: \n", "hmm"),
        0.0,
        None,
    )
    z = FakeJudge([Reply(True, "Z")])
    verdict = asyncio.run(kind.judge(spec, item, JudgeContext(z, "vlmevalkit-2025.08")))
    assert (verdict.answer, verdict.method, len(z.asked)) == ("Z", Method.JUDGE, 1)


# ---------------------------------------------------------------------------------------------
# MVBench
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "hit"),
    [
        ("B", True),
        ("b", True),
        ("b)", True),
        ("(B) throwing", True),
        ("(", True),  # a substring of '(b)'
        (" ", True),  # the first token of a blank prediction is '', a substring of anything
        ("B.", True),
        ("the answer is b", False),
        ("Best option:(B)", False),
        ("(C)", False),
    ],
)
def test_mvbench_first_token(prediction: str, hit: bool) -> None:
    assert first_token_hit(prediction, "(B) throwing a ball") is hit


def test_mvbench_ground_truth_takes_the_last_equal_candidate_or_at_sign() -> None:
    assert ground_truth("x", ["x", "y", "x"]) == "(C) x"
    assert ground_truth("z", ["x", "y"]) == "(@) z"


def test_mvbench_answer_letter_compares_on_with_the_rewritten_answer() -> None:
    """Upstream's loop rewrites `answer` to a letter and keeps comparing with that letter."""
    assert answer_letter("y", ["x", "y"]) == "B"
    assert answer_letter("x", ["x", "A"]) == "B"


def test_mvbench_ground_truth_without_text_is_one_line_error() -> None:
    with pytest.raises(ScoringError, match="no answer text"):
        first_token_hit("B", "(B) ")


def _mvbench(prediction: str, rules: str = "vlmevalkit-2025.08") -> tuple[Extraction, dict[str, object]]:
    spec = get_spec("MVBench_8frame")
    kind = kind_named(spec.kind)
    row = {
        "index": 0,
        "question": "What next?",
        "prediction": prediction,
        "answer": "reading",
        "candidates": "['pouring water', 'reading', 'climbing']",
    }
    item = kind.item(spec, row)
    exact = kind.extract(spec, item, rules)
    return exact, kind.row_fields(spec, item, exact, None, rules)


def test_mvbench_rows_skipped_failed_matched_and_missed() -> None:
    assert _mvbench("nan")[1]["score"] is None  # empty cell: skipped, NaN
    assert _mvbench("Failed to obtain answer via API.")[1]["score"] == -1
    assert _mvbench("b) reading")[1] == {"gt": "(B) reading", "score": 1}
    assert _mvbench("I think it is B")[1]["score"] == 1  # can_infer: a lone B among the last 4 tokens
    assert _mvbench("a person is reading")[1]["score"] == 1  # the one option text it contains
    exact, fields = _mvbench("no idea")
    assert exact.method is Method.UNRESOLVED and fields["score"] == 0  # exact matching: Z


def test_mvbench_answer_is_lowercase_letter_only_from_2026() -> None:
    assert _mvbench("the answer is b", "vlmevalkit-2025.08")[1]["score"] == 0
    assert _mvbench("the answer is b", "vlmevalkit-2026.06")[1]["score"] == 1


def test_mvbench_judge_prompt_keeps_the_prediction_unstripped() -> None:
    spec = get_spec("MVBench_8frame")
    kind = kind_named(spec.kind)
    row = {"index": 0, "question": "Q", "prediction": " hmm ", "answer": "y", "candidates": "['x', 'y']"}
    item = kind.item(spec, row)
    judge = FakeJudge([Reply(False, None, "500"), Reply(True, "(B)")])
    verdict = asyncio.run(kind.judge(spec, item, JudgeContext(judge, "vlmevalkit-2025.08")))
    assert (verdict.answer, verdict.tries) == ("B", 2)
    assert judge.asked[0][0].endswith("Answer:  hmm \nYour output: ")


def test_mvbench_rating_counts_nan_and_minus_one_as_correct() -> None:
    rating = mvbench_rating(["t1", "t2", "t1", "t2"], [None, -1.0, 0.0, 1.0])
    assert rating == {"t1": [1, 2, "50.00%"], "t2": [2, 2, "100.00%"], "overall": [3, 4, "75.00%"]}


# ---------------------------------------------------------------------------------------------
# Where scores land
# ---------------------------------------------------------------------------------------------


def test_scores_by_label_land_at_row_positions() -> None:
    """data.loc[idx, 'score']: the score of the row with index 1 lands on the second row."""
    assert by_label([1, 0], [10.0, 20.0], [True, True], "x") == [20.0, 10.0]
    assert by_label([0, 1], [10.0, None], [True, False], "x") == [10.0, None]
    with pytest.raises(ScoringError, match="not a row position"):
        by_label([5, 0], [1.0, 0.0], [True, True], "x")
    assert by_index([7, 7, 3], [1.0, 0.0, 0.0]) == [1.0, 1.0, 0.0]


def test_mean_text_prints_nan_for_no_values() -> None:
    assert (mean_text([], 3), mean_text([1.0, 0.0, 0.0], 3), mean_text([3.0, 2.0, 0.0], 2)) == (
        "nan",
        "0.333",
        "1.67",
    )


def test_videomme_rating_rejects_an_unknown_duration() -> None:
    row = {"duration": "tiny", "domain": "Knowledge", "sub_category": "Law", "task_type": "OCR Problems"}
    with pytest.raises(ScoringError, match="duration 'tiny'"):
        videomme_rating([row], [1.0])


# ---------------------------------------------------------------------------------------------
# MMBench-Video
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "grade"),
    [("3", 3), ("0", 0), ("4", 4), ("-1", -1), ("+2", 2), ("1_0", 10), ("2.0", -1), ("Score: 2", -1),
     ("Rating: 3/3", -1), ("007", -1), ("True", -1), ("", -1)],
)  # fmt: skip
def test_mmbench_video_grade_is_the_reply_when_it_is_an_int_literal(reply: str, grade: int) -> None:
    assert parse_grade(reply) == grade


def test_mmbench_video_asks_with_the_rubric_as_system_prompt_and_skips_empty_predictions() -> None:
    spec = get_spec("MMBench_Video_8frame_nopack")
    kind = kind_named(spec.kind)
    row = {"index": 0, "question": "Q?", "prediction": "red", "answer": "red", "dimensions": "['OCR']"}
    item = kind.item(spec, row)
    judge = FakeJudge([Reply(True, "3")])
    verdict = asyncio.run(kind.judge(spec, item, JudgeContext(judge, "vlmevalkit-2025.08")))
    assert judge.asked == [
        ("Question: Q?\nGroundtruth answer: red\nCandidate answer: red\nYour response: ", 0.0, JUDGE_SYSTEM)
    ]
    assert kind.row_fields(spec, item, Extraction(None, Method.UNRESOLVED), verdict, "x") == {"score": 3}
    failed = asyncio.run(kind.judge(spec, item, JudgeContext(FakeJudge([Reply(False, None, "dead")]), "x")))
    assert kind.row_fields(spec, item, Extraction(None, Method.UNRESOLVED), failed, "x") == {"score": -1}
    empty = kind.item(spec, {**row, "prediction": None})
    assert not kind.needs_judge(spec, empty, Extraction(None, Method.UNRESOLVED))
    assert kind.row_fields(spec, empty, Extraction(None, Method.UNRESOLVED), None, "x") == {"score": -1}


def test_mmbench_video_rating_all_counts_ungraded_as_zero_valid_leaves_them_out() -> None:
    rating = mmbench_video_rating(["['OCR', 'Video Topic']", "['OCR']", "['Hallucination']"], [3, -1, 2])
    assert rating["fine_all"]["OCR"] == "1.50" and rating["fine_valid"]["OCR"] == "3.00"
    assert rating["coarse_all"]["FP-S"] == "1.50" and rating["coarse_valid"]["CP"] == "3.00"
    assert rating["coarse_all"]["Perception"] == "1.67"  # each row once, however many dimensions it names
    assert rating["fine_all"]["Counting"] == "nan" and rating["coarse_valid"]["Reasoning"] == "nan"
    assert list(rating) == ["coarse_all", "coarse_valid", "fine_all", "fine_valid"]
    with pytest.raises(ScoringError, match="not one of its 26"):
        mmbench_video_rating(["['Smell']"], [1])
