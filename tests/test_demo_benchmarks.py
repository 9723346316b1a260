"""The bundled VQA and two-image demo benchmarks: their layouts, and that they score as the real
ones do (perfect answers score full marks; each kind reads them end to end)."""

from __future__ import annotations

import ast
from pathlib import Path

import polars as pl
import pytest

from fasteval.catalog import get_spec
from fasteval.data.datasets import load, locate
from fasteval.data.demo import demo_mi_rows, demo_vqa_rows, write_demo_benchmarks
from fasteval.data.tabular import read_table
from fasteval.kinds.prompts import build_prompt
from fasteval.scoring.evaluate import read_dataset, score_predictions
from fasteval.types import ImagePart, TextPart


@pytest.fixture(scope="module")
def lmudata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("LMUData")
    write_demo_benchmarks(d)
    return d


def test_vqa_rows_carry_ten_reference_answers_and_are_the_same_for_a_seed() -> None:
    rows = demo_vqa_rows(seed=0)
    assert rows == demo_vqa_rows(seed=0) and rows != demo_vqa_rows(seed=1)
    assert all(len(ast.literal_eval(r["answer"])) == 10 for r in rows)


def test_mi_rows_hold_two_images_named_in_the_question() -> None:
    rows = demo_mi_rows(seed=0)
    assert all(len(ast.literal_eval(r["image"])) == 2 for r in rows)
    assert all("<image 1>" in r["question"] and "<image 2>" in r["question"] for r in rows)
    assert {r["split"] for r in rows} == {"dev", "validation"}
    assert any(r["A"] == "" for r in rows) and any(r["A"] for r in rows)  # open and multiple choice


def test_perfect_vqa_answers_score_full_marks(lmudata: Path) -> None:
    spec = get_spec("DEMO_VQA")
    preds = read_dataset(lmudata / "DEMO_VQA.tsv")
    truth = [ast.literal_eval(a)[0] for a in preds["answer"].to_list()]  # the plain answer: >= 3 agree
    scored = score_predictions(spec, preds.with_columns(prediction=pl.Series(truth)))
    assert scored.result.table["Overall"].to_list() == [100.0]
    wrong = score_predictions(spec, preds.with_columns(prediction=pl.lit("no idea")))
    assert wrong.result.table["Overall"].to_list() == [0.0]


def test_perfect_two_image_answers_score_full_marks_per_split(lmudata: Path) -> None:
    spec = get_spec("DEMO_MI")
    dataset = read_dataset(lmudata / "DEMO_MI.tsv")
    letters = dataset["answer"].to_list()
    preds = dataset.with_columns(prediction=pl.Series(letters))  # open rows: the answer text itself
    scored = score_predictions(spec, preds, dataset=dataset)
    assert scored.result.table["Overall"].to_list() == [1.0, 1.0]  # dev, validation


def test_two_image_rows_are_sent_with_both_images(lmudata: Path, tmp_path: Path) -> None:
    spec = get_spec("DEMO_MI")
    dataset = load(spec, locate(spec, lmudata, download=False, cache_dir=tmp_path))
    sample = next(iter(dataset.iter_samples()))
    default = build_prompt(spec, sample).parts  # images at their tags
    assert [type(p) for p in default].count(ImagePart) == 2 and isinstance(default[-1], TextPart)
    qwen = build_prompt(spec, sample, "qwen2vl").parts  # images first, tags kept as text
    assert [type(p) for p in qwen] == [ImagePart, ImagePart, TextPart]
    assert read_table(lmudata / "DEMO_MI.tsv").height == 16


def test_a_row_over_the_engines_image_limit_fails_typed_before_it_is_sent(
    lmudata: Path, tmp_path: Path
) -> None:
    from fasteval.inference.runner import Target, over_image_limit
    from fasteval.types import ErrorKind

    spec = get_spec("DEMO_MI")
    sample = next(iter(load(spec, locate(spec, lmudata, download=False, cache_dir=tmp_path)).iter_samples()))
    one = Target("tiny", "tiny", ("http://127.0.0.1:1/v1",), max_images=1)
    failed = over_image_limit(one, spec, sample)
    assert failed is not None and failed.error_kind is ErrorKind.BAD_REQUEST and not failed.ok
    assert "sends 2 images; tiny accepts 1 per prompt" in (failed.error or "")
    assert over_image_limit(Target("tiny", "tiny", ("u",), max_images=2), spec, sample) is None
    assert over_image_limit(Target("api", "api", ("u",)), spec, sample) is None  # limit unknown: sent
