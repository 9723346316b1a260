"""Visual grounding: the reply is a box (VLMEvalKit's `GROUNDING` type, `dataset/refcoco.py`).

Line numbers below are `vlmeval/dataset/refcoco.py` at upstream e8e78f05 (the same rules as in
ms-vlmeval 0.0.20 = 354a485c; nvidia-vlmeval 26.3 has no RefCOCO).

Prompt: the dataset's `question`, images first (`ImageBaseDataset.build_prompt`). InternVL2 and
Qwen2-VL send the same text: `InternVLChat.build_prompt` has no branch for `GROUNDING`, so it falls
through to `prompt = line['question']` (vlm/internvl/internvl_chat.py:303-305), and
`Qwen2VLPromptMixin.use_custom_prompt` answers False for it (vlm/qwen2_vl/prompt.py:26-41), so the
dataset prompt applies. The models' own box formats (InternVL2's
`<ref>..</ref><box>[[x1, y1, x2, y2]]</box>` in thousandths, Qwen2-VL's `(x1,y1),(x2,y2)`) are read
by the extraction below, which takes the inner `[...]` or the first four numbers.

Extraction (`_parse_prediction`, 489-516): the first `[a, b, c, d]` (comma or blank separated
numbers) in the reply, else the first four numbers anywhere, else no box.
Normalisation (`_to_absolute`, 518-543): by the largest absolute coordinate, <= 1.5 are fractions
of the image, <= 1000 thousandths, larger are pixels; then clipped to the image and each axis
ordered. The image size is the TSV's `width` / `height` (missing, unparsable or <= 0: 1.0, lines
161-171), as upstream reads it; the image itself is never opened.
Ground truth (`load_data` 173-211, `_extract_gt_bbox` 457-487): the `bbox_x1..bbox_y2` columns; when
the TSV has none, boxes parsed from `answer`, scaled by the image size only if every answer of the
file is <= 1.5 (else taken as pixels, thousandths included); then `x1..y2`, `answer` and `bbox`
as fall-backs for rows whose box is missing.
Splits (`load_data` 91-111, 146-147; `_category_to_split` 428-455): `split`, filled from `category`
('RefCOCO testA' -> 'RefCOCO_testA'), else the benchmark's name. VLMEvalKit's indices become
`{split}_{index}` (213-214: `split` always exists by then), so its prediction files carry those;
predictions keyed either way are accepted (fasteval's own runs keep the TSV's index).
Hit (264-321): IoU >= 0.5 (`IOU_THRESHOLD`, 20); a reply without a box, or a row without ground
truth, has IoU 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import ScoringError
from fasteval.kinds.base import (
    PROMPT_STYLES,
    Column,
    Extraction,
    Item,
    PromptError,
    TaskKind,
    Verdict,
    normalise_columns,
    require,
    row_keys,
)
from fasteval.types import BenchmarkSpec, Method, Sample

Box = tuple[float, float, float, float]

IOU_THRESHOLD: Final = 0.5  # RefCOCODataset.IOU_THRESHOLD (refcoco.py:20)
FRACTION_MAX: Final = 1.5  # largest |coordinate| read as a fraction of the image (526)
THOUSANDTHS_MAX: Final = 1000.0  # largest |coordinate| read as thousandths (529)
GT_COLUMNS: Final = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")
ALT_GT_COLUMNS: Final = ("x1", "y1", "x2", "y2")

_NUMBER = r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?"
_SEP = r"(?:\s*,\s*|\s+)"
_NUMBER_RE: Final = re.compile(_NUMBER)
_BRACKETED_RE: Final = re.compile(
    rf"\[\s*({_NUMBER}){_SEP}({_NUMBER}){_SEP}({_NUMBER}){_SEP}({_NUMBER})\s*\]"
)
_SPLIT_SUFFIX: Final = {"val": "val", "test": "test", "testa": "testA", "testb": "testB"}


# ---------------------------------------------------------------------------------------------
# Boxes
# ---------------------------------------------------------------------------------------------


def parse_box(text: str) -> Box | None:
    """`_parse_prediction`: the first bracketed four numbers, else the first four numbers."""
    bracketed = _BRACKETED_RE.search(text)
    if bracketed is not None:
        a, b, c, d = (float(bracketed.group(i)) for i in range(1, 5))
        return (a, b, c, d)
    numbers = _NUMBER_RE.findall(text)
    if len(numbers) < 4:
        return None
    a, b, c, d = (float(x) for x in numbers[:4])
    return (a, b, c, d)


def to_absolute(box: Box, width: float, height: float) -> Box | None:
    """`_to_absolute`: fractions, thousandths or pixels by the largest |coordinate|; clipped to the
    image and ordered per axis. None for a NaN coordinate or an empty image size."""
    if any(math.isnan(v) for v in box) or width <= 0 or height <= 0:
        return None
    x1, y1, x2, y2 = box
    largest = max(abs(v) for v in box)
    if largest <= FRACTION_MAX:
        x1, x2, y1, y2 = x1 * width, x2 * width, y1 * height, y2 * height
    elif largest <= THOUSANDTHS_MAX:
        x1, x2 = x1 / 1000.0 * width, x2 / 1000.0 * width
        y1, y2 = y1 / 1000.0 * height, y2 / 1000.0 * height
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if x2 < x1:
        x1, x2 = x2, x1
    if y2 < y1:
        y1, y2 = y2, y1
    return (x1, y1, x2, y2)


def iou(a: Box, b: Box) -> float:
    """`_compute_iou`: intersection over union; 0 when they do not overlap or the union is empty."""
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    if right <= left or bottom <= top:
        return 0.0
    inter = (right - left) * (bottom - top)
    area_a = max(a[2] - a[0], 0) * max(a[3] - a[1], 0)
    area_b = max(b[2] - b[0], 0) * max(b[3] - b[1], 0)
    union = area_a + area_b - inter
    return 0.0 if union <= 0 else inter / union


def format_box(box: Box | None) -> str:
    """`_format_bbox`: six decimals, '' for no box (the detail file's `pred_bbox`)."""
    return "" if box is None else "[{:.6f}, {:.6f}, {:.6f}, {:.6f}]".format(*box)


def category_to_split(category: object) -> str | None:
    """`_category_to_split`: 'RefCOCO+ testA' -> 'RefCOCO+_testA'; a bare label stays itself."""
    if not isinstance(category, str) or not category.strip():
        return None
    parts = category.strip().split(None, 1)
    label = parts[0]
    rest = parts[1].strip() if len(parts) > 1 else ""
    if not rest:
        return label
    suffix = _SPLIT_SUFFIX.get(re.sub(r"[\s_-]+", "", rest.lower()))
    return f"{label}_{suffix if suffix is not None else rest.replace(' ', '_').replace('-', '_')}"


def numeric(value: object) -> float:
    """`pd.to_numeric(errors='coerce')` of one cell: NaN when it does not read as a number."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------------------------
# The dataset as RefCOCODataset.load_data leaves it
# ---------------------------------------------------------------------------------------------


def _column(data: pl.DataFrame, name: str) -> list[Any] | None:
    return data[name].to_list() if name in data.columns else None


def _splits(data: pl.DataFrame, name: str) -> list[str]:
    """`split` as load_data fills it: the column, its gaps filled from `category`, else the
    benchmark's name for every row; a gap with no `category` stays NaN ('nan')."""
    n = data.height
    split = _column(data, "split")
    categories = _column(data, "category")
    derived = None if categories is None else [category_to_split(c) or name for c in categories]
    if split is None:
        return derived if derived is not None else [name] * n
    fill = derived if derived is not None else [None] * n
    return [as_vlmeval_str(s if s is not None else d) for s, d in zip(split, fill, strict=True)]


def _vlmeval_keys(data: pl.DataFrame, name: str) -> list[str]:
    """The index VLMEvalKit gives each row: `{split}_{index}` (refcoco.py:213-214)."""
    return [f"{s}_{k}" for s, k in zip(_splits(data, name), row_keys(data), strict=True)]


def _sizes(data: pl.DataFrame, column: str) -> list[float]:
    values = _column(data, column)
    if values is None:
        return [1.0] * data.height
    sizes = [numeric(v) for v in values]
    return [1.0 if math.isnan(v) or v <= 0 else v for v in sizes]


def _boxes_from_answers(
    answers: Sequence[object], widths: Sequence[float], heights: Sequence[float]
) -> list[Box]:
    """load_data's GT columns from `answer` (173-211): one scale for the whole file."""
    nan4: Box = (math.nan, math.nan, math.nan, math.nan)
    parsed = [parse_box(as_vlmeval_str(a)) or nan4 for a in answers]
    finite = [abs(v) for box in parsed for v in box if not math.isnan(v)]
    if finite and max(finite) <= FRACTION_MAX:
        return [
            (b[0] * w, b[1] * h, b[2] * w, b[3] * h) for b, w, h in zip(parsed, widths, heights, strict=True)
        ]
    return parsed


def _four(data: pl.DataFrame, columns: Sequence[str]) -> list[Box] | None:
    """Four numeric columns as boxes (NaN where a cell is missing), or None if one is absent."""
    if not all(c in data.columns for c in columns):
        return None
    x1, y1, x2, y2 = ([numeric(v) for v in data[c].to_list()] for c in columns)
    return list(zip(x1, y1, x2, y2, strict=True))


def ground_truth(data: pl.DataFrame, widths: Sequence[float], heights: Sequence[float]) -> list[Box | None]:
    """`_extract_gt_bbox` per row, over the columns load_data leaves."""
    primary = _four(data, GT_COLUMNS)
    if primary is None and "answer" in data.columns:
        primary = _boxes_from_answers(data["answer"].to_list(), widths, heights)
    alt = _four(data, ALT_GT_COLUMNS)
    answers, bboxes = _column(data, "answer"), _column(data, "bbox")
    boxes = [b for b in (primary, alt) if b is not None]
    texts = [t for t in (answers, bboxes) if t is not None]
    return [
        _row_truth([b[i] for b in boxes], [t[i] for t in texts], widths[i], heights[i])
        for i in range(data.height)
    ]


def _row_truth(
    columns: Sequence[Box | None], texts: Sequence[object], width: float, height: float
) -> Box | None:
    """The first complete box of the GT columns, else the first parsable `answer` / `bbox` cell,
    read as a prediction would be (`_to_absolute`)."""
    for box in columns:
        if box is not None and not any(math.isnan(v) for v in box):
            return box
    for cell in texts:
        coords = parse_box(as_vlmeval_str(cell))
        if coords is not None:
            return to_absolute(coords, width, height)
    return None


# ---------------------------------------------------------------------------------------------
# The kind
# ---------------------------------------------------------------------------------------------


class GroundingKind(TaskKind):
    """A box per reply, scored by IoU against the dataset's box; no judge."""

    name: ClassVar[str] = "grounding"
    row_columns: ClassVar[tuple[Column, ...]] = (
        Column("iou", "IoU of the reply's box with the dataset's (0 without a box)"),
        Column("pred_bbox", "the reply's box in image pixels as VLMEvalKit formats it ('' for none)"),
    )
    score_suffix: ClassVar[str] = "acc"  # get_intermediate_file_path(eval_file, '_acc') (361)
    needs_dataset: ClassVar[bool] = True

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        if style not in PROMPT_STYLES:
            raise PromptError(f"unknown prompt style {style!r}; use one of: {', '.join(PROMPT_STYLES)}")
        return sample.question  # every style: the dataset's question (see the module docstring)

    def dataset_keyed(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame
    ) -> pl.DataFrame:
        """VLMEvalKit's `{split}_{index}` keys back to the TSV's index (unknown keys stay as they are;
        `table` reports them)."""
        preds = normalise_columns(predictions)
        data = normalise_columns(dataset)
        if "index" not in preds.columns or "index" not in data.columns:
            return predictions
        raw = row_keys(data)
        back = dict(zip(_vlmeval_keys(data, spec.name), raw, strict=True))
        keys = [back.get(k, k) for k in row_keys(preds)]
        return preds.with_columns(pl.Series("index", keys, dtype=pl.String))

    def table(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None
    ) -> pl.DataFrame:
        """Predictions in file order with the row's split, image size and ground-truth box."""
        preds = normalise_columns(predictions)
        require(preds, spec, "predictions", "index", "prediction")
        if dataset is None:
            raise ScoringError(f"{spec.name} is grounding: its boxes are read from the dataset TSV")
        data = normalise_columns(dataset)
        require(data, spec, "dataset", "index", "question")
        widths, heights = _sizes(data, "width"), _sizes(data, "height")
        splits = _splits(data, spec.name)
        raw = row_keys(data)
        prefixed = _vlmeval_keys(data, spec.name)
        where = {k: i for i, k in enumerate(raw)} | {k: i for i, k in enumerate(prefixed)}
        keys = row_keys(preds)
        unknown = [k for k in keys if k not in where]
        if unknown:
            raise ScoringError(
                f"{len(unknown)} prediction index(es) are not in the {spec.name} dataset "
                f"(first: {unknown[0]}); use the dataset file the predictions were made from"
            )
        rows = [where[k] for k in keys]
        truth = ground_truth(data, widths, heights)
        questions = data["question"].to_list()
        return pl.DataFrame(
            {
                "index": keys,
                "prediction": [as_vlmeval_str(p) for p in preds["prediction"].to_list()],
                "question": [as_vlmeval_str(questions[i]) for i in rows],
                "split": [splits[i] for i in rows],
                "width": [widths[i] for i in rows],
                "height": [heights[i] for i in rows],
                "gt_bbox": [None if truth[i] is None else list(truth[i]) for i in rows],  # type: ignore[arg-type]
            },
            schema={
                "index": pl.String(),
                "prediction": pl.String(),
                "question": pl.String(),
                "split": pl.String(),
                "width": pl.Float64(),
                "height": pl.Float64(),
                "gt_bbox": pl.List(pl.Float64()),
            },
        )

    def item(self, spec: BenchmarkSpec, row: Mapping[str, Any]) -> Item:
        gt = row.get("gt_bbox")
        truth: Box | None = None if gt is None else (gt[0], gt[1], gt[2], gt[3])
        return Item(
            key=as_vlmeval_str(row["index"]),
            question=as_vlmeval_str(row.get("question")),
            prediction=as_vlmeval_str(row["prediction"]),
            answer=None if truth is None else format_box(truth),
            fields={"truth": truth, "width": row["width"], "height": row["height"]},
        )

    def predicted_box(self, item: Item) -> Box | None:
        """The reply's box in pixels of the image, or None (no four numbers)."""
        coords = parse_box(item.prediction)
        if coords is None:
            return None
        return to_absolute(coords, float(item.fields["width"]), float(item.fields["height"]))

    def extract(self, spec: BenchmarkSpec, item: Item, rules: str) -> Extraction:
        box = self.predicted_box(item) if "width" in item.fields else None
        return (
            Extraction(None, Method.UNRESOLVED) if box is None else Extraction(format_box(box), Method.EXACT)
        )

    def live_hit(self, spec: BenchmarkSpec, item: Item, rules: str) -> bool | None:
        return None  # the box and image size come from the dataset join, not the live row

    def row_fields(
        self, spec: BenchmarkSpec, item: Item, exact: Extraction, verdict: Verdict | None, rules: str
    ) -> dict[str, Any]:
        box = self.predicted_box(item)
        truth = item.fields.get("truth")
        overlap = 0.0 if box is None or truth is None else float(iou(box, truth))
        return {"pred_bbox": format_box(box), "iou": overlap, "hit": overlap >= IOU_THRESHOLD}
