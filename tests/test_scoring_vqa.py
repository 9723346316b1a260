"""VQA-family scorers (TextVQA, ChartQA, DocVQA, InfoVQA), OCRBench and MMMU_DEV_VAL.

Unit vectors come from research/next_benchmarks.md §2 and the conformance README §8 (each was
verified there by running VLMEvalKit's functions). The conformance tests read every public case
under every rule generation it has outputs for, and compare every cell of VLMEvalKit's `_acc.csv`
/ `_score.json` (as written text, so floats agree to the last bit) and every row.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import polars as pl
import pytest
from conformance_kit import VERSIONS

from fasteval.catalog import get_spec
from fasteval.data.tabular import format_csv_quote_all, read_table
from fasteval.kinds.extract import RULES_2024, RULES_2025, RULES_2026
from fasteval.kinds.mmmu import OTHER_ANSWERS, mmmu_choices, mmmu_gt_letter
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError
from fasteval.scoring.evaluate import score_predictions
from fasteval.scoring.mmt import score_mmt
from fasteval.scoring.ocrbench import HMER, ocrbench_hit, score_json_text, score_ocrbench
from fasteval.scoring.vqa import (
    anls_distance,
    anls_hit,
    parse_answers,
    process_answer,
    relaxed_correctness,
    relaxed_match,
    score_anls,
    score_relaxed_acc,
    score_vqa_acc,
    vqa_match,
    vqa_rows,
)
from tests.fixtures import conformance_dir

MMMU = get_spec("MMMU_DEV_VAL")  # extraction by its kind (MmmuKind.extract), as every run does

NEW = RULES_2026

# ---------------------------------------------------------------------------------------------
# Answers and normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "parsed"),
    [
        ("['a', 'b']", ["a", "b"]),
        ("2015", ["2015"]),
        ("Asia", ["Asia"]),
        ("1e3", ["1e3"]),
        ("('a', 'b')", ["('a', 'b')"]),
        ("[unbalanced", ["[unbalanced"]),
        ("nan", ["nan"]),
    ],
)
def test_parse_answers_takes_only_list_literals(answer: str, parsed: list[str]) -> None:
    assert parse_answers(answer) == parsed


def test_parse_answers_fast_path_agrees_with_literal_eval() -> None:
    import random

    rng = random.Random(7)
    alphabet = ["a", "b", " ", ",", "'", '"', "\\", "\n", "\t", "[", "]", "u", "2", "é"]
    for _ in range(3000):
        items = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(0, 4))
        ]
        candidates = [str(items), repr(items).replace(", ", ","), str(items)[:-1], str(items) + " "]
        candidates.append(
            "[" + " ".join(rng.choice(["'a'", '"b"', ",", " ", "'", "]"]) for _ in range(4)) + "]"
        )
        for text in candidates:
            try:
                value = ast.literal_eval(text)
                want = list(value) if isinstance(value, list) else [text]
            except Exception:
                want = [text]
            assert parse_answers(text) == want, text


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Dr. Pepper", "dr pepper"),
        ("u.s.a.", "usa"),
        ("e-mail", "e mail"),
        ("e-mail - x", "email x"),
        ("1,000", "1000"),
        ("The Sony", "sony"),
        ("Yes, it is.", "yes it is"),
        ("a.m.", "am"),
        ("Two", "2"),
        ("the two", "2"),
        ("none", "0"),
        ("dont", "don't"),
        ("line\none\ttab ", "line 1 tab"),
        ("2.", "2."),
        ("7.", "7."),
        ("3.5", "3.5"),
    ],
)
def test_process_answer(text: str, normalised: str) -> None:
    assert process_answer(text, NEW) == normalised


def test_period_after_digit_is_kept_from_2025_but_not_in_2024() -> None:
    assert process_answer("2.", RULES_2025) == "2."
    assert process_answer("2.", RULES_2024) == "2"
    assert process_answer("1000.", RULES_2024) == "1000"


def test_only_32_periods_are_removed() -> None:
    text = "a. " * 40
    assert process_answer(text, NEW).count(".") == 8


@pytest.mark.parametrize(("m", "score"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_vqa_accuracy_by_number_of_matching_answers(m: int, score: float) -> None:
    answers = ["cat"] * m + ["dog"] * (10 - m)
    rows = pl.DataFrame({"index": [0], "prediction": ["Cat."], "answer": [str(answers)]})
    result = score_vqa_acc(rows, ScoreOptions())
    assert result.rows["score"][0] == pytest.approx(score, abs=1e-12)
    assert result.table.columns == ["Overall"]


def test_vqa_match_is_an_int_one_when_capped() -> None:
    match = vqa_match(["x"] * 5, "x")
    assert match == [1] * 5 and all(type(v) is int for v in match)
    assert (
        str(vqa_match(["x", "x", "y"], "x")) == "[0.3333333333333333, 0.3333333333333333, 0.6666666666666666]"
    )


def test_textvqa_two_period_against_two_scores_zero_from_2025() -> None:
    rows = pl.DataFrame({"index": [0], "prediction": ["2."], "answer": [str(["2"] * 10)]})
    assert score_vqa_acc(rows, ScoreOptions(rules=RULES_2025)).rows["score"][0] == 0.0
    assert score_vqa_acc(rows, ScoreOptions(rules=RULES_2024)).rows["score"][0] == 1.0


# ---------------------------------------------------------------------------------------------
# ANLS
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gt", "pred", "hit"),
    [
        ("abcd", "ab", 0.5),  # NL = 0.5 exactly is kept
        ("abcd", "abc", 0.75),
        ("abcd", "a", 0.0),
        ("abcd", "  abxd  ", 0.875),  # raw lengths: padding enlarges the denominator
        ("ABCD", "abcd", 1.0),
        ("", "", 1.0),
        ("Research and Development", "Research  and\nDevelopment", 1 - 0 / 26),
    ],
)
def test_anls_vectors(gt: str, pred: str, hit: float) -> None:
    assert anls_hit([anls_distance(gt, pred)]) == pytest.approx(hit, abs=1e-12)


def test_anls_denominator_uses_upper_lengths() -> None:
    # 'ß'.upper() is 'SS': the raw length grows by one
    assert anls_distance("straße", "strasse") == pytest.approx(2 / 7)


def test_anls_row_is_best_answer_and_eval_score_is_mean_distance() -> None:
    rows = pl.DataFrame(
        {
            "index": [1],
            "prediction": ["Chicago"],
            "answer": ["['Chicago, Illinois', 'Chicago']"],
            "split": ["val"],
        }
    )
    result = score_anls(rows, ScoreOptions())
    assert result.rows["score"][0] == 1.0
    assert result.rows["eval_match"][0] == "[0.5882352941176471, 0.0]"
    assert result.rows["eval_score"][0] == pytest.approx(0.2941176470588235)
    assert result.table.columns == ["val", "Overall"]


def test_anls_rejects_non_string_answers() -> None:
    rows = pl.DataFrame({"index": [1], "prediction": ["x"], "answer": ["[2015]"]})
    with pytest.raises(ScoringError, match="not a string"):
        score_anls(rows, ScoreOptions())


# ---------------------------------------------------------------------------------------------
# Relaxed accuracy
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gt", "pred", "hit"),
    [
        ("0", "0", True),
        ("0", "0.0", False),
        ("0", "0%", False),
        ("0.0", "0", False),
        ("12%", "0.12", True),
        ("12%", "12%", True),
        ("12%", "12 %", True),
        ("12%", "12", False),
        ("12", "12%", False),
        ("100", "105", True),
        ("100", "95.2", True),
        ("100", "105.2", False),
        ("1000", "1,000", False),
        ("1000", "1_000", True),
        ("1000", "1e3", True),
        ("Asia", "asia", True),
        ("Asia ", "Asia", False),
        ("5", "nan", False),
    ],
)
def test_relaxed_correctness(gt: str, pred: str, hit: bool) -> None:
    assert relaxed_correctness(gt, pred) is hit


def test_relaxed_arguments_swapped_in_2024_rules() -> None:
    assert relaxed_match(["100"], "95.2", RULES_2025) == [True]
    assert relaxed_match(["100"], "95.2", RULES_2024) == [False]
    assert relaxed_match(["100"], "105.2", RULES_2025) == [False]
    assert relaxed_match(["100"], "105.2", RULES_2024) == [True]


def test_relaxed_strips_the_prediction_only() -> None:
    rows = pl.DataFrame(
        {
            "index": [0, 1],
            "prediction": ["  Asia \n", "Asia"],
            "answer": ["Asia", "Asia "],
            "split": ["h", "a"],
        }
    )
    result = score_relaxed_acc(rows, ScoreOptions())
    assert result.rows["score"].to_list() == [1.0, 0.0]
    assert result.rows["eval_pred"].to_list() == ["Asia", "Asia"]
    assert result.table.columns == ["a", "h", "Overall"]
    assert result.table.row(0) == (0.0, 100.0, 50.0)


def test_category_columns_follow_overall_without_split() -> None:
    rows = pl.DataFrame(
        {"index": [0, 1], "prediction": ["x", "y"], "answer": ["x", "x"], "category": ["b", "a"]}
    )
    table = score_relaxed_acc(rows, ScoreOptions()).table
    assert table.columns == ["Overall", "a", "b"]
    assert table.row(0) == (50.0, 0.0, 100.0)


# ---------------------------------------------------------------------------------------------
# OCRBench
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "answers", "category", "hit"),
    [
        ('The text in the image is "STOP".', ["stop"], "Regular Text Recognition", 1),
        ("a  b", ["a b"], "Scene Text-centric VQA", 0),
        ("nan", ["an"], "Doc-oriented VQA", 1),
        ("x = 12", ["1"], "Key Information Extraction", 1),
        ("$\\frac { 1 } { 2 }$", ["\\frac{1}{2}"], HMER, 1),
        ("\\frac{1}{2}", ["\\frac 1\n2"], HMER, 0),
        ("\\frac{A}{2}", ["\\frac{a}{2}"], HMER, 0),
        ("\\dfrac{1}{2}", ["\\frac{1}{2}"], HMER, 0),
        ("\\frac{1}\n{2}", ["\\frac{1}{2}"], HMER, 1),
    ],
)
def test_ocrbench_hit(pred: str, answers: list[str], category: str, hit: int) -> None:
    assert ocrbench_hit(pred, answers, category) == hit


def test_ocrbench_score_json_layout() -> None:
    rows = pl.DataFrame(
        {
            "index": [0, 1, 2],
            "prediction": ["SALE", "x", "\\frac{1}{2}"],
            "answer": ["['sale']", "['y']", "['\\\\frac{1}{2}']"],
            "category": ["Regular Text Recognition", "Doc-oriented VQA", HMER],
        }
    )
    result = score_ocrbench(rows, ScoreOptions())
    assert result.json == {
        "Text Recognition": 1,
        "Scene Text-centric VQA": 0,
        "Doc-oriented VQA": 0,
        "Key Information Extraction": 0,
        HMER: 1,
        "Final Score": 2,
        "Final Score Norm": 0.2,
    }
    assert isinstance(result.json["Final Score"], int) and isinstance(result.json["Final Score Norm"], float)
    assert result.rows["score"].to_list() == [1.0, 0.0, 1.0]


def test_ocrbench_unknown_category_and_non_list_answer_are_errors() -> None:
    bad_cat = pl.DataFrame({"index": [0], "prediction": ["x"], "answer": ["['x']"], "category": ["Other"]})
    with pytest.raises(ScoringError, match="category"):
        score_ocrbench(bad_cat, ScoreOptions())
    bad_answer = pl.DataFrame(
        {"index": [0], "prediction": ["x"], "answer": ["x"], "category": ["Doc-oriented VQA"]}
    )
    with pytest.raises(ScoringError, match="list literal"):
        score_ocrbench(bad_answer, ScoreOptions())


# ---------------------------------------------------------------------------------------------
# MMMU
# ---------------------------------------------------------------------------------------------


def _mmmu_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    preds = pl.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "A": ["cat", None, None, None],
            "B": ["dog", None, None, None],
            "C": ["bird", None, None, None],
            "answer": ["B", "3.5", "B", "12"],
            "prediction": ["B", "The answer is 3.50", "B", "x" * 60 + " 12"],
            "split": ["dev", "validation", "validation", "validation"],
            "category": ["Science", "Science", "Business", "Business"],
        }
    )
    dataset = pl.DataFrame({"index": [3, 2, 1, 0], "answer": ["12", "B", "3.5", "B"]})
    return preds, dataset


def test_mmmu_open_questions_become_two_options_with_tsv_letters() -> None:
    preds, dataset = _mmmu_frames()
    assert mmmu_choices(preds, dataset) == [
        ({"A": "cat", "B": "dog", "C": "bird"}, "B"),
        ({"A": "3.5", "B": OTHER_ANSWERS}, "A"),
        ({"A": "B", "B": OTHER_ANSWERS}, "B"),  # a capital-letter open answer keeps its letter
        ({"A": "12", "B": OTHER_ANSWERS}, "A"),
    ]
    assert [mmmu_gt_letter(v) for v in ("C", "c", "12", None, 3)] == ["C", "A", "A", "A", "A"]


def test_mmmu_scoring_applies_the_length_gate_and_reports_per_split() -> None:
    preds, dataset = _mmmu_frames()
    result = score_predictions(MMMU, preds, dataset=dataset, rules=RULES_2025).result
    # row 3: 63 characters > 2 * (len('12') + 13) = 30, so the text '12' is never looked for
    assert result.rows["extracted"].to_list() == ["B", "A", "B", "Z"]
    assert result.rows["score"].to_list() == [1.0, 1.0, 1.0, 0.0]
    assert result.table.columns == ["split", "Overall", "Business", "Science"]
    assert result.table["split"].to_list() == ["dev", "validation"]
    legacy = score_predictions(MMMU, preds, dataset=dataset, rules=RULES_2024).result
    assert legacy.rows["extracted"].to_list()[3] == "A"  # no length gate before 2025


def test_mmmu_unknown_index_is_an_error() -> None:
    preds, dataset = _mmmu_frames()
    with pytest.raises(ScoringError, match="not in the dataset"):
        mmmu_choices(preds, dataset.filter(pl.col("index") != 2))


# ---------------------------------------------------------------------------------------------
# Conformance kit
# ---------------------------------------------------------------------------------------------

KIT = conformance_dir()
VQA_CASES = {
    "TextVQA_VAL": score_vqa_acc,
    "ChartQA_TEST": score_relaxed_acc,
    "DocVQA_VAL": score_anls,
    "InfoVQA_VAL": score_anls,
}


def _kit() -> Path:
    return KIT


def _csv_records(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def _versions(case: str) -> list[str]:
    return [v for v in VERSIONS if (KIT / case / v).is_dir()]


def _floats(text: str) -> list[float]:
    return [float(v) for v in ast.literal_eval(text)]


def _same_text(mine: str, cell: object) -> bool:
    """A cell read back as pandas reads it: '' and 'nan' both come back missing."""
    return mine in ("", "nan") if cell is None else mine == str(cell)


@pytest.mark.parametrize("ext", ["xlsx", "tsv"])
@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("case", list(VQA_CASES))
def test_vqa_case_matches_vlmevalkit(case: str, version: str, ext: str) -> None:
    folder = _kit() / case / version
    if not folder.is_dir():
        pytest.skip(f"{case} has no {version} outputs")
    preds = read_table(_kit() / case / "input" / f"KitModel_{case}.{ext}")
    result = VQA_CASES[case](vqa_rows(preds), ScoreOptions(rules=VERSIONS[version]))

    # _acc.csv: every cell, as written text (split columns are in Python-set order upstream)
    want = _csv_records((folder / f"KitModel_{case}_acc.csv").read_text(encoding="utf-8"))
    got = _csv_records(format_csv_quote_all(result.table))
    assert len(got) == len(want) == 1
    assert got[0] == want[0]
    assert list(got[0])[-1] == "Overall" or "split" not in preds.columns

    # per_row.csv: the row hit and, per answer, the match list and the normalised prediction
    per_row = read_table(folder / "per_row.csv")
    rows = {r["index"]: r for r in result.rows.iter_rows(named=True)}
    assert set(rows) == set(per_row["index"].to_list())
    for want_row in per_row.iter_rows(named=True):
        row = rows[want_row["index"]]
        assert row["score"] == float(want_row["hit"]), want_row["index"]
        # per_row.csv spells the match list with floats; VLMEvalKit's own xlsx (below) keeps ints
        assert _floats(row["eval_match"]) == _floats(want_row["match"]), want_row["index"]
        assert _same_text(row["eval_pred"], want_row["eval_pred"]), want_row["index"]

    # _results.xlsx (not written by nvidia 26.3): VLMEvalKit's per-row columns
    results = folder / f"KitModel_{case}_results.xlsx"
    if results.is_file():
        table = read_table(results)
        assert table.height == result.rows.height
        for want_row in table.iter_rows(named=True):
            row = rows[want_row["index"]]
            for col in ("eval_gt", "eval_pred", "eval_match"):
                assert _same_text(row[col], want_row[col]), (want_row["index"], col)
            # xlsxwriter stores numbers with 16 significant digits, so the file may lose the 17th
            assert row["eval_score"] == pytest.approx(float(want_row["eval_score"]), rel=1e-15, abs=0)


@pytest.mark.parametrize("ext", ["xlsx", "tsv"])
@pytest.mark.parametrize("version", list(VERSIONS))
def test_ocrbench_case_matches_vlmevalkit(version: str, ext: str) -> None:
    folder = _kit() / "OCRBench" / version
    if not folder.is_dir():
        pytest.skip(f"OCRBench has no {version} outputs")
    preds = read_table(_kit() / "OCRBench" / "input" / f"KitModel_OCRBench.{ext}")
    result = score_ocrbench(vqa_rows(preds), ScoreOptions(rules=VERSIONS[version]))
    want = json.loads((folder / "KitModel_OCRBench_score.json").read_text(encoding="utf-8"))
    assert result.json is not None
    if all(isinstance(v, dict) for v in want.values()):
        # nvidia-vlmeval 26.3 writes {group: {"sum", "count"}}: same sums, per category too
        cats = result.rows.group_by("category").agg(pl.col("score").sum())
        per_cat = {c: int(s) for c, s in cats.iter_rows()}
        for key, value in want.items():
            expected = result.json.get(key, per_cat.get(key))
            assert value["sum"] == expected, key
    else:
        assert list(result.json) == list(want)
        assert result.json == want
        written = (folder / "KitModel_OCRBench_score.json").read_text(encoding="utf-8")
        assert score_json_text(result.json) == written  # byte for byte
        assert [type(v) for v in result.json.values()] == [type(v) for v in want.values()]
    assert result.table.row(0) == tuple(result.json.values())
    per_row = read_table(folder / "per_row.csv")
    hits = dict(zip(per_row["index"].to_list(), per_row["hit"].to_list(), strict=True))
    got = dict(zip(result.rows["index"].to_list(), result.rows["score"].to_list(), strict=True))
    assert got == {k: float(v) for k, v in hits.items()}


def _mmmu(version: str, ext: str) -> ScoreResult:
    from fasteval.scoring.evaluate import read_dataset  # the TSV as VLMEvalKit loads it

    dataset = read_dataset(_kit() / "LMUData" / "MMMU_DEV_VAL.tsv")
    preds = read_table(_kit() / "MMMU_DEV_VAL" / "input" / f"KitModel_MMMU_DEV_VAL.{ext}")
    return score_predictions(MMMU, preds, dataset=dataset, rules=VERSIONS[version]).result


@pytest.mark.parametrize("ext", ["xlsx", "tsv"])
@pytest.mark.parametrize("version", list(VERSIONS))
def test_mmmu_case_matches_vlmevalkit(version: str, ext: str) -> None:
    folder = _kit() / "MMMU_DEV_VAL" / version
    if not folder.is_dir():
        pytest.skip(f"MMMU_DEV_VAL has no {version} outputs")
    result = _mmmu(version, ext)
    reference = (folder / "KitModel_MMMU_DEV_VAL_acc.csv").read_text(encoding="utf-8").splitlines()
    mine = format_csv_quote_all(result.table).splitlines()
    # split rows are in Python-set order upstream (PYTHONHASHSEED); fasteval sorts them
    assert mine[0] == reference[0]
    assert sorted(mine[1:]) == sorted(reference[1:])

    per_row = read_table(folder / "per_row.csv")
    rows = {r["index"]: r for r in result.rows.iter_rows(named=True)}
    assert set(rows) == set(per_row["index"].to_list())
    for want in per_row.iter_rows(named=True):
        row = rows[want["index"]]
        assert row["extracted"] == want["extracted"], want["index"]
        assert row["answer"] == want["answer"], want["index"]
        assert row["score"] == float(want["hit"]), want["index"]
        assert row["open_question"] == bool(want["open_question"]), want["index"]

    xlsx = read_table(folder / "KitModel_MMMU_DEV_VAL_exact_matching_result.xlsx")
    hits = dict(zip(xlsx["index"].to_list(), xlsx["hit"].to_list(), strict=True))
    assert {k: float(v) for k, v in hits.items()} == {k: r["score"] for k, r in rows.items()}


# ---------------------------------------------------------------------------------------------
# MMT-Bench (report_acc_MMT) and the benchmark files
# ---------------------------------------------------------------------------------------------


def test_mmt_report_macro_averages_sub_tasks_per_task() -> None:
    rows = pl.DataFrame(
        {
            "index": list(range(7)),
            "answer": ["A"] * 7,
            "extracted": ["A", "B", "A", "A", "A", None, "A"],
            "split": ["val"] * 7,
            "category": ["s1", "s1", "s2", "s3", "s3", "s3", "odd"],
            "l2-category": [
                "ocr",
                "ocr",
                "ocr",
                "visual_recognition",
                "visual_recognition",
                "visual_recognition",
                "new_task",
            ],
        }
    )
    result = score_mmt(rows, ScoreOptions())
    table = result.table
    # tasks in MMT_ABBRS order (VR before OCR), then sorted sub-tasks, then unabbreviated tasks
    assert table.columns == ["split", "Overall", "VR", "OCR", "odd", "s1", "s2", "s3", "new_task"]
    assert table["split"].to_list() == ["val", "ALL"]
    row = dict(zip(table.columns, table.row(1), strict=True))
    assert row["Overall"] == 5 / 7
    assert row["OCR"] == (0.5 + 1.0) / 2  # macro mean over s1 (1/2) and s2 (1/1), not 2/3
    assert row["VR"] == 2 / 3
    assert row["new_task"] == 1.0
    assert table.row(0)[1:] == table.row(1)[1:]
    assert result.headline == {"Overall": 5 / 7}


NEW_BENCHMARKS = {
    "TextVQA_VAL": ("vqa", "vqa_acc"),
    "ChartQA_TEST": ("vqa", "relaxed_acc"),
    "DocVQA_VAL": ("vqa", "anls"),
    "InfoVQA_VAL": ("vqa", "anls"),
    "OCRBench": ("vqa", "ocrbench"),
    "MMMU_DEV_VAL": ("mmmu", "mmmu"),
    "MMBench_DEV_CN_V11": ("mcq", "mcq"),
    "MMBench_TEST_EN_V11": ("mcq", "mcq"),
    "MMBench_TEST_CN_V11": ("mcq", "mcq"),
    "MMT-Bench_VAL": ("mcq", "mmt"),
}


@pytest.mark.parametrize("name", list(NEW_BENCHMARKS))
def test_new_benchmark_files(name: str) -> None:
    from fasteval.catalog import get_spec
    from fasteval.scoring import SCORERS

    spec = get_spec(name)
    assert (spec.kind, spec.scorer) == NEW_BENCHMARKS[name]
    assert spec.scorer in SCORERS
    assert spec.url and spec.url.endswith(f"/{name}.tsv")
    assert spec.md5 and len(spec.md5) == 32
    assert spec.circular == name.startswith("MMBench")


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("case", VQA_CASES)
def test_vqa_benchmarks_through_score_predictions(case: str, version: str) -> None:
    """The benchmark TOML, the `vqa` kind and the registered scorer together give VLMEvalKit's
    numbers under each rule generation (ChartQA's swapped arguments and the period regex included)."""
    from fasteval.catalog import get_spec
    from fasteval.scoring.evaluate import score_predictions

    preds = read_table(_kit() / case / "input" / f"KitModel_{case}.xlsx")
    scored = score_predictions(get_spec(case), preds, rules=VERSIONS[version])
    want = json.loads((_kit() / case / version / "scores.json").read_text(encoding="utf-8"))["flat"]
    got = {c: scored.result.table[c][0] for c in scored.result.table.columns}
    assert got == want
