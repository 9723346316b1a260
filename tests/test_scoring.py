"""Scorers on small hand-made frames: the aggregation rules, independent of any reference file."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
from rich.table import Table

from fasteval.catalog import all_specs, get_spec
from fasteval.cli.console import score_table
from fasteval.kinds import kind_named
from fasteval.kinds.base import Verdict
from fasteval.report.files import headline, samples_frame, write_reports
from fasteval.scoring import SCORERS, ScoreOptions, ScoringError, score_mme, wilson_interval
from fasteval.scoring.evaluate import score_predictions
from fasteval.scoring.yorn import MME_PERCEPTION, MME_REASONING
from fasteval.types import BenchmarkSpec, Method

MCQ = BenchmarkSpec(name="T", kind="mcq", url=None, md5=None, scorer="mcq")
CIRC = BenchmarkSpec(name="T", kind="mcq", url=None, md5=None, scorer="mcq", circular=True)
OPTS = {"A": ["red"] * 6, "B": ["blue"] * 6, "C": ["green"] * 6}


def test_every_benchmark_names_a_registered_scorer() -> None:
    assert {spec.scorer for spec in all_specs().values()} <= set(SCORERS)


def _mme_rows(answer: str) -> pl.DataFrame:
    cats = [*MME_PERCEPTION, *MME_REASONING]
    rows = [(c, f"{c}/{i}.png", gt) for c in cats for i in range(3) for gt in ("Yes", "No")]
    return pl.DataFrame(
        {
            "index": list(range(len(rows))),
            "category": [r[0] for r in rows],
            "image_path": [r[1] for r in rows],
            "answer": [r[2] for r in rows],
            "prediction": [answer] * len(rows),
        }
    )


@pytest.mark.parametrize("rules", ["vlmevalkit-2025.08", "official"])
def test_mme_always_yes_scores_500_and_200(rules: str) -> None:
    scored = score_predictions(get_spec("MME"), _mme_rows("Yes"), rules=rules)
    assert scored.result.headline == {"perception": 500.0, "reasoning": 200.0}


def test_mme_perfect_scores_2000_and_800() -> None:
    rows = _mme_rows("x").with_columns(prediction=pl.col("answer"))
    assert score_predictions(get_spec("MME"), rows).result.headline == {
        "perception": 2000.0,
        "reasoning": 800.0,
    }


def test_mme_image_with_one_question_is_a_clear_error() -> None:
    rows = _mme_rows("Yes").head(3).with_columns(extracted=pl.lit("Yes"))
    with pytest.raises(ScoringError, match="needs 2 per image"):
        score_mme(rows, ScoreOptions())


def test_mme_with_failed_rows_scores_complete_pairs_only_for_acc_plus() -> None:
    perfect = _mme_rows("x").with_columns(prediction=pl.col("answer"))
    missing_one = perfect.filter(pl.col("index") != 0)  # existence/0.png lost its Yes question
    scored = score_predictions(get_spec("MME"), missing_one, partial=True)
    assert scored.result.table["existence"][0] == 200.0  # every answered row right, every full pair right
    with pytest.raises(ScoringError, match="needs 2 per image"):
        score_predictions(get_spec("MME"), missing_one)  # VLMEvalKit's data never lacks a partner


def test_pope_unknown_is_no_for_f1_but_wrong_for_accuracy() -> None:
    preds = pl.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "category": ["random", "random,popular", "popular", "popular"],
            "answer": ["Yes", "No", "Yes", "No"],
            "prediction": ["Yes", "maybe", "No", "Yes"],
        }
    )
    table = score_predictions(get_spec("POPE"), preds).result.table
    overall = table.row(0, named=True)
    # exploded rows: (Y,Y) (N,U)x2 (Y,N) (N,Y): tp=1 fp=1 fn=1 -> P=R=F1=0.5; acc=1/5
    assert overall == {"split": "Overall", "Overall": 50.0, "acc": 20.0, "precision": 50.0, "recall": 50.0}
    assert table["split"].to_list() == ["Overall", "popular", "random"]


def test_circular_group_hits_only_if_every_present_rotation_hits() -> None:
    dataset = pl.DataFrame(
        {"index": [1, 1_000_001, 2, 1_000_002, 3, 2_000_003], **OPTS, "answer": list("ABACBB")}
    )
    preds = dataset.drop("answer").with_columns(prediction=pl.Series(["A", "B", "A", "A", "B", "B"]))
    scored = score_predictions(CIRC, preds.filter(pl.col("index") != 3), dataset=dataset)
    # group 1 all right; group 2 has a wrong rotation; group 3 lost its main row, so it is not scored
    assert scored.result.table["Overall"].to_list() == [0.5]
    assert headline(scored)["n"] == 2


def test_unresolved_rows_are_misses_and_judge_verdicts_decide_only_those() -> None:
    dataset = pl.DataFrame(
        {"index": [1, 1_000_001, 2, 1_000_002], **{k: v[:4] for k, v in OPTS.items()}, "answer": list("ABAC")}
    )
    preds = dataset.drop("answer").with_columns(prediction=pl.Series(["A", "purple?", "B", "purple?"]))
    scored = score_predictions(CIRC, preds, dataset=dataset)
    assert scored.n_unresolved == 2 and scored.result.table["Overall"][0] == 0.0
    said = {k: Verdict("B", Method.JUDGE, "B", 1, "judge-m") for k in ("1", "1000001")}
    judged = score_predictions(CIRC, preds, dataset=dataset, verdicts=said)
    assert judged.result.table["Overall"][0] == 0.5  # row 1 was exact (A): the verdict for it is ignored
    rows = judged.result.rows
    assert rows.filter(pl.col("method") == "judge")["index"].to_list() == [1_000_001]
    assert rows.filter(pl.col("index") == 1_000_001)["judge_model"].to_list() == ["judge-m"]


def test_mcq_ground_truth_comes_from_the_dataset_not_the_predictions() -> None:
    dataset = pl.DataFrame({"index": [0, 1], "A": ["x", "x"], "B": ["y", "y"], "answer": ["A", "B"]})
    preds = dataset.with_columns(answer=pl.lit("B"), prediction=pl.Series(["A", "B"]))
    assert score_predictions(MCQ, preds, dataset=dataset).result.table["Overall"][0] == 1.0


def test_report_acc_layout_abbreviates_l2_and_sorts_categories() -> None:
    dataset = pl.DataFrame({"index": [0, 1, 2], "A": ["x"] * 3, "B": ["y"] * 3, "answer": list("AAB")})
    preds = dataset.drop("answer").with_columns(
        prediction=pl.Series(list("AAA")),
        category=pl.Series(["b_cat", "a_cat", "b_cat"]),
        **{"l2-category": pl.Series(["logic_reasoning", "coarse_perception", "logic_reasoning"])},
    )
    table = score_predictions(MCQ, preds, dataset=dataset).result.table
    assert table.columns == ["split", "Overall", "CP", "LR", "a_cat", "b_cat"]
    assert table.row(0) == ("none", 2 / 3, 1.0, 0.5, 1.0, 0.5)


def test_unknown_prediction_index_is_a_clear_error() -> None:
    dataset = pl.DataFrame({"index": [0], "A": ["x"], "answer": ["A"]})
    preds = pl.DataFrame({"index": [5], "A": ["x"], "prediction": ["A"]})
    with pytest.raises(ScoringError, match="not in the T dataset"):
        score_predictions(MCQ, preds, dataset=dataset)


def test_hallusion_figure_and_question_accuracy_from_index_fields() -> None:
    preds = pl.DataFrame(
        {
            "index": ["VD_ocr_0_0_0_0", "VD_ocr_0_0_0_1", "VD_ocr_0_0_1_0", "VD_ocr_0_0_1_1"],
            "category": ["VD"] * 4,
            "l2-category": ["ocr"] * 4,
            "answer": ["Yes", "No", "Yes", "No"],
            "prediction": ["Yes", "No", "Yes", "Yes"],
        }
    )
    # figure id = field 4, question id = field 5: figure 0 all right, figure 1 not; question 0 right on
    # both figures, question 1 wrong on figure 1
    row = score_predictions(get_spec("HallusionBench"), preds).result.table.row(0, named=True)
    assert row == {"split": "Overall", "aAcc": 75.0, "fAcc": 50.0, "qAcc": 50.0}


def test_wilson_interval_brackets_the_proportion_and_stays_in_range() -> None:
    lo, hi = wilson_interval(40, 100)
    assert lo < 0.4 < hi
    for bound in (lo, hi):  # each end is a proportion whose normal 95% band just reaches 0.4
        assert abs(0.4 - bound) == pytest.approx(1.959963984540054 * math.sqrt(bound * (1 - bound) / 100))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_reports_are_named_like_vlmevalkit_and_carry_the_rules(tmp_path: Path) -> None:
    scored = score_predictions(get_spec("MME"), _mme_rows("Yes"))
    paths = write_reports(scored, model="M", out_dir=tmp_path)
    assert paths["score"].name == "M_MME_score.csv"
    assert kind_named("mcq").score_file("M", get_spec("MMStar")) == "M_MMStar_acc.csv"
    samples = pl.read_parquet(paths["samples"])
    assert samples.height == samples_frame(scored).height == 84
    assert set(samples["rules"]) == {scored.effective_rules}
    console_table = score_table(scored, 80)
    assert isinstance(console_table, Table) and scored.effective_rules in str(console_table.title)
