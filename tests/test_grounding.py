"""The grounding kind's rules, one branch at a time (VLMEvalKit's refcoco.py; whole files are
checked against VLMEvalKit's own output in test_grounding_conformance.py)."""

from __future__ import annotations

import polars as pl
import pytest

from fasteval.catalog import get_spec
from fasteval.errors import ScoringError
from fasteval.kinds import kind_named
from fasteval.kinds.base import PROMPT_STYLES
from fasteval.kinds.grounding import category_to_split, iou, parse_box, to_absolute
from fasteval.report.files import headline, samples_frame
from fasteval.scoring.evaluate import score_predictions
from fasteval.types import ImageRef, Sample

SPEC = get_spec("RefCOCO")


@pytest.mark.parametrize(
    ("reply", "box"),
    [
        ("[0.1, 0.2, 0.5, 0.6]", (0.1, 0.2, 0.5, 0.6)),
        ("<ref>dog</ref><box>[[100, 200, 500, 600]]</box>", (100.0, 200.0, 500.0, 600.0)),
        ("dog(100,200),(500,600)", (100.0, 200.0, 500.0, 600.0)),
        ("Object 2 of 3: [1, 2, 3, 4]", (1.0, 2.0, 3.0, 4.0)),  # the bracket wins over earlier numbers
        ("[ 1  2 3\t4 ]", (1.0, 2.0, 3.0, 4.0)),
        ("[1e-1, 2E-1, +.5, -6]", (0.1, 0.2, 0.5, -6.0)),
        ("[[1, 2], [3, 4]]", (1.0, 2.0, 3.0, 4.0)),  # no bracketed four: the first four numbers
        ("[1, 2, 3]", None),
        ("the dog on the left", None),
        ("nan", None),
    ],
)
def test_the_box_is_the_first_bracketed_four_else_the_first_four_numbers(
    reply: str, box: tuple[float, ...] | None
) -> None:
    assert parse_box(reply) == box


@pytest.mark.parametrize(
    ("box", "absolute"),
    [
        ((0.1, 0.2, 0.5, 1.5), (20.0, 20.0, 100.0, 100.0)),  # <= 1.5: fractions (1.5 x 100 clipped)
        ((100, 200, 500, 1000), (20.0, 20.0, 100.0, 100.0)),  # <= 1000: thousandths
        ((10, 20, 150, 1000.5), (10.0, 20.0, 150.0, 100.0)),  # above: pixels, clipped to the image
        ((0.5, 0.6, 0.1, 0.2), (20.0, 20.0, 100.0, 60.0)),  # reversed corners are ordered
        ((-0.2, 0.1, 1.4, 0.5), (0.0, 10.0, 200.0, 50.0)),  # outside the image: clipped
    ],
)
def test_coordinates_are_normalised_by_their_range(
    box: tuple[float, float, float, float], absolute: tuple[float, ...]
) -> None:
    assert to_absolute(box, 200.0, 100.0) == pytest.approx(absolute)


def test_iou_is_half_at_the_threshold_and_zero_without_overlap() -> None:
    assert iou((0, 0, 50, 100), (0, 0, 100, 100)) == 0.5
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert iou((5, 5, 5, 5), (0, 0, 10, 10)) == 0.0


@pytest.mark.parametrize(
    ("category", "split"),
    [
        ("RefCOCO testA", "RefCOCO_testA"),
        ("RefCOCO+ test-b", "RefCOCO+_testB"),
        ("RefCOCOg  val ", "RefCOCOg_val"),
        ("RefCOCO extra split", "RefCOCO_extra_split"),
        ("refclef", "refclef"),
        ("  ", None),
        (None, None),
    ],
)
def test_the_split_comes_from_the_category_as_vlmevalkit_names_it(
    category: object, split: str | None
) -> None:
    assert category_to_split(category) == split


def test_every_prompt_style_asks_the_datasets_question() -> None:
    sample = Sample("RefCOCO", 3, "Locate: the red car", (ImageRef("AAAA", "image/png"),), {}, None)
    kind = kind_named("grounding")
    assert {kind.prompt_text(SPEC, sample, style) for style in PROMPT_STYLES} == {"Locate: the red car"}


DATASET = pl.DataFrame(
    {
        "index": [0, 1, 2],
        "question": ["a", "b", "c"],
        "category": ["RefCOCO val", "RefCOCO+ testA", "RefCOCO+ testA"],
        "width": [200, 200, 200],
        "height": [100, 100, 100],
        "bbox_x1": [0.0, 0.0, 0.0],
        "bbox_y1": [0.0, 0.0, 0.0],
        "bbox_x2": [100.0, 100.0, 100.0],
        "bbox_y2": [100.0, 100.0, 100.0],
    }
)


def test_predictions_keyed_by_vlmevalkit_or_by_the_tsv_score_alike() -> None:
    replies = ["[0, 0, 0.5, 1]", "[0, 0, 250, 1000]", "no box"]
    vlmeval = pl.DataFrame(
        {"index": ["RefCOCO_val_0", "RefCOCO+_testA_1", "RefCOCO+_testA_2"], "prediction": replies}
    )
    ours = pl.DataFrame({"index": [0, 1, 2], "prediction": replies})
    tables = [score_predictions(SPEC, p, dataset=DATASET).result.table for p in (vlmeval, ours)]
    assert tables[0].equals(tables[1])
    assert tables[0].rows() == [
        ("RefCOCO_val", 100.0, 1.0, 1),
        ("RefCOCO+_testA", 50.0, 0.25, 2),
        ("Average", 75.0, 0.625, 3),
    ]


def test_vlmevalkit_keys_map_back_to_the_tsv_index() -> None:
    preds = pl.DataFrame({"index": ["RefCOCO+_testA_2", "RefCOCO_val_0"], "prediction": ["x", "y"]})
    keyed = kind_named("grounding").dataset_keyed(SPEC, preds, DATASET)
    assert keyed["index"].to_list() == ["2", "0"]


def test_an_index_missing_from_the_tsv_is_one_line() -> None:
    preds = pl.DataFrame({"index": ["RefCOCO_val_9"], "prediction": ["[0, 0, 1, 1]"]})
    with pytest.raises(ScoringError, match=r"not in the RefCOCO dataset \(first: RefCOCO_val_9\)"):
        score_predictions(SPEC, preds, dataset=DATASET)


def test_the_report_headline_is_the_average_row_with_a_hit_rate_interval() -> None:
    preds = pl.DataFrame(
        {"index": [0, 1, 2], "prediction": ["[0, 0, 0.5, 1]", "[0, 0, 250, 1000]", "no box"]}
    )
    scored = score_predictions(SPEC, preds, dataset=DATASET)
    assert scored.declaration.headline.of(scored.result.table) == ("Precision@1", 75.0)
    summary = headline(scored)
    assert summary["accuracy"] == pytest.approx(2 / 3) and summary["n"] == 3.0
    assert summary["accuracy_ci95_lo"] < 2 / 3 < summary["accuracy_ci95_hi"]
    assert {"iou", "pred_bbox", "hit", "split"} <= set(samples_frame(scored).columns)
