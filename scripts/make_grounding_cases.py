"""Regenerate the grounding conformance cases (RefCOCO) with VLMEvalKit's own `evaluate()`.

Run it with a Python that has VLMEvalKit installed, outside the repository's venv, e.g.

    python3 -m venv /work/wt/.vlmeval-venv
    /work/wt/.vlmeval-venv/bin/pip install torch==2.13.0 ms-vlmeval==0.0.20
    /work/wt/.vlmeval-venv/bin/python scripts/make_grounding_cases.py --write-inputs --folder expected

and, for another rule generation, with its source first on the path (inputs are then read back):

    git -C VLMEvalKit archive e8e78f05 vlmeval | tar -x -C /tmp/vlmeval-e8e78f05
    PYTHONPATH=/tmp/vlmeval-e8e78f05 /work/wt/.vlmeval-venv/bin/python scripts/make_grounding_cases.py \\
        --folder alt_upstream_e8e78f05

nvidia-vlmeval 26.3 (the 2024.07 generation) has no RefCOCO, so it has no folder.

Each case is a synthetic `RefCOCO.tsv` (small generated PNGs of the stated size, the target box
drawn in) with its own `LMUData/`, a prediction file `KitModel_RefCOCO.xlsx` (the TSV minus
`image`, plus `prediction`, keyed by VLMEvalKit's `{split}_{index}`), and VLMEvalKit's outputs:
`KitModel_RefCOCO_acc.csv` verbatim and `per_row.csv` (index, pred_bbox, iou, hit, split) from its
detail file. The predictions walk every branch of the box reader: fractions, thousandths, pixels,
reversed corners, out-of-image values, InternVL2's `<box>[[...]]</box>`, Qwen2-VL's
`(x1,y1),(x2,y2)`, scientific notation, blank separators, fewer than four numbers, empty replies;
the TSVs walk the ground-truth branches (box columns, `answer` as fractions or pixels, `x1..y2`,
no image size) and the split naming (`category`, `split`, neither).

`RefCOCODataset.DATASET_MD5` is emptied before VLMEvalKit loads the synthetic file: with the
official MD5 it would delete the file and try to download the real one.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "conformance" / "grounding"
SEED = 20261205
MODEL = "KitModel"
DATASET = "RefCOCO"
SPLIT_CATEGORIES = (
    "RefCOCO val",
    "RefCOCO testA",
    "RefCOCO testB",
    "RefCOCO+ val",
    "RefCOCO+ test-A",
    "RefCOCO+ test_b",
    "RefCOCOg val",
    "RefCOCOg test",
    "RefCOCO extra split",  # not one of the eight: its own row, sorted after them, out of the average
    "refclef",  # a bare label is the split
)

Box = tuple[float, float, float, float]
GENERATIONS = {
    "expected": "ms-vlmeval 0.0.20 (= upstream 354a485c)",
    "alt_upstream_e8e78f05": "upstream e8e78f05 source over the same environment",
}


# ---------------------------------------------------------------------------------------------
# Synthetic rows
# ---------------------------------------------------------------------------------------------


def png_b64(width: int, height: int, box: Box, rng: random.Random) -> str:
    """A flat image of the stated size with the target drawn in (tiny once compressed)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    ImageDraw.Draw(img).rectangle(box, outline=(255, 0, 0), width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


def random_box(rng: random.Random, width: int, height: int) -> Box:
    x1, y1 = rng.uniform(0, width * 0.6), rng.uniform(0, height * 0.6)
    return (
        round(x1, 2),
        round(y1, 2),
        round(rng.uniform(x1 + 4, width), 2),
        round(rng.uniform(y1 + 4, height), 2),
    )


def jitter(rng: random.Random, box: Box, width: int, height: int, amount: float) -> Box:
    """A box near `box` (amount: fraction of the image): some overlap well, some do not."""
    dx, dy = width * amount, height * amount
    x1, y1, x2, y2 = box
    return (
        x1 + rng.uniform(-dx, dx),
        y1 + rng.uniform(-dy, dy),
        x2 + rng.uniform(-dx, dx),
        y2 + rng.uniform(-dy, dy),
    )


def fmt(values: tuple[float, ...], digits: int) -> list[str]:
    return [f"{v:.{digits}f}" if digits else str(round(v)) for v in values]


Style = Callable[[random.Random, Box, int, int], str]


def _frac(b: Box, w: int, h: int) -> Box:
    return (b[0] / w, b[1] / h, b[2] / w, b[3] / h)


def _thou(b: Box, w: int, h: int) -> Box:
    return (b[0] / w * 1000, b[1] / h * 1000, b[2] / w * 1000, b[3] / h * 1000)


def _swap(b: Box) -> Box:
    """Corners given bottom-right first."""
    return (b[2], b[3], b[0], b[1])


STYLES: dict[str, Style] = {
    "fractions": lambda r, b, w, h: "[{}]".format(", ".join(fmt(_frac(b, w, h), 3))),
    "thousandths": lambda r, b, w, h: "[{}]".format(", ".join(fmt(_thou(b, w, h), 0))),
    "pixels": lambda r, b, w, h: "The box is [{}].".format(", ".join(fmt(b, 1))),
    "reversed": lambda r, b, w, h: "[{}]".format(", ".join(fmt(_swap(_frac(b, w, h)), 3))),
    "internvl2": lambda r, b, w, h: "<ref>the object</ref><box>[[{}]]</box>".format(
        ", ".join(fmt(_thou(b, w, h), 0))
    ),
    "qwen2vl": lambda r, b, w, h: "the object({},{}),({},{})".format(*fmt(_thou(b, w, h), 0)),
    "qwen2vl_tokens": lambda r, b, w, h: (
        "<|object_ref_start|>the object<|object_ref_end|><|box_start|>({},{}),({},{})<|box_end|>".format(
            *fmt(_thou(b, w, h), 0)
        )
    ),
    "scientific": lambda r, b, w, h: "[{:.2e}, {:.2e}, {:.2e}, {:.2e}]".format(*_frac(b, w, h)),
    "blanks": lambda r, b, w, h: "[ {} ]".format("  ".join(fmt(_frac(b, w, h), 4))),
    "prose_numbers": lambda r, b, w, h: "x1={} y1={} x2={} y2={}".format(*fmt(_thou(b, w, h), 0)),
    "number_before_bracket": lambda r, b, w, h: "Object 2 of 3: [{}]".format(
        ", ".join(fmt(_frac(b, w, h), 3))
    ),
    "nested_pairs": lambda r, b, w, h: "[[{}, {}], [{}, {}]]".format(*fmt(_frac(b, w, h), 3)),
    "outside_image": lambda r, b, w, h: f"[-0.2, {_frac(b, w, h)[1]:.3f}, 1.45, 1.2]",
    "three_numbers": lambda r, b, w, h: "[{}]".format(", ".join(fmt(_frac(b, w, h)[:3], 3))),
    "no_numbers": lambda r, b, w, h: r.choice(["The dog on the left.", "I cannot find it.", "Sorry."]),
    "empty": lambda r, b, w, h: "",
    "na_text": lambda r, b, w, h: "N/A",
    "degenerate": lambda r, b, w, h: "[0.3, 0.3, 0.3, 0.3]",
    "boundary_fraction": lambda r, b, w, h: "[0, 0, 1.5, 1.5]",
    "boundary_thousand": lambda r, b, w, h: "[0, 0, 1000, 1000]",
    "just_pixels": lambda r, b, w, h: "[0, 0, 1000.5, 10]",
    "mixed_scale": lambda r, b, w, h: "[0.5, 0.5, 1.2, 800]",
    "json": lambda r, b, w, h: '{{"bbox_2d": [{}], "label": "object"}}'.format(", ".join(fmt(b, 0))),
}


def predict(rng: random.Random, style: str, truth: Box, width: int, height: int) -> str:
    """A reply in `style` around the truth (exact, near or far)."""
    amount = rng.choice([0.0, 0.02, 0.08, 0.3])
    return STYLES[style](rng, jitter(rng, truth, width, height, amount), width, height)


def size(rng: random.Random) -> tuple[int, int]:
    """Image sizes on both sides of 1000 px, so pixel replies land in both the thousandths and
    the pixel branch."""
    return rng.choice([(64, 48), (320, 240), (640, 427), (1280, 1024), (1500, 1100), (2000, 2000)])


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


def case_main(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    """Box columns, image size and `category` (mixed naming); some rows' boxes missing (answer,
    x1..y2 and bbox fall-backs), an exact IoU = 0.5 row."""
    rows, preds = [], []
    styles = list(STYLES)
    for i in range(96):
        w, h = size(rng)
        truth = random_box(rng, w, h)
        row: dict[str, Any] = {
            "index": i,
            "image": png_b64(w, h, truth, rng),
            "question": f"Please provide the bounding box of: object {i}",
            "category": SPLIT_CATEGORIES[i % len(SPLIT_CATEGORIES)] if i % 23 else None,
            "width": w,
            "height": h,
            "bbox_x1": truth[0],
            "bbox_y1": truth[1],
            "bbox_x2": truth[2],
            "bbox_y2": truth[3],
            "answer": "[{}]".format(", ".join(fmt(_frac(truth, w, h), 4))),
            "x1": None,
            "y1": None,
            "x2": None,
            "y2": None,
            "bbox": None,
        }
        if i % 11 == 5:  # box columns missing: the x1..y2 columns decide
            row.update(bbox_x1=None, x1=truth[0], y1=truth[1], x2=truth[2], y2=truth[3])
        if i % 13 == 6:  # box columns missing: `answer` (fractions) decides via _to_absolute
            row.update(bbox_y2=None)
        if i % 17 == 7:  # box and answer missing: `bbox` (thousandths) decides
            row.update(bbox_x2=None, answer="no box", bbox=" ".join(fmt(_thou(truth, w, h), 1)))
        if i % 19 == 8:  # nothing decides: IoU 0
            row.update(bbox_x1=None, answer=None)
        rows.append(row)
        preds.append(predict(rng, styles[i % len(styles)], truth, w, h))
    # exact IoU 0.5: truth [0, 0, 100, 100] in a 2000 x 2000 image, reply [0, 0, 25, 50] thousandths
    rows[0].update(width=2000, height=2000, bbox_x1=0.0, bbox_y1=0.0, bbox_x2=100.0, bbox_y2=100.0)
    rows[0]["image"] = png_b64(2000, 2000, (0, 0, 100, 100), rng)
    preds[0] = "[0, 0, 25, 50]"
    return rows, preds


def case_answers(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    """No box columns: every `answer` is a fraction box (scaled by the image size); a `split`
    column with gaps filled from `category`, one gap left empty."""
    rows, preds = [], []
    styles = list(STYLES)
    for i in range(40):
        w, h = size(rng)
        truth = random_box(rng, w, h)
        split = ["RefCOCO_val", "RefCOCOg_test", "RefCOCO+_testB", None][i % 4]
        rows.append(
            {
                "index": 1000 + i,
                "image": png_b64(w, h, truth, rng),
                "question": f"Where is object {i}?",
                "split": split,
                "category": None if i % 8 == 3 else "RefCOCO testA",
                "width": w if i % 9 else None,
                "height": h if i % 10 else -1,
                "answer": "[{}]".format(", ".join(fmt(_frac(truth, w, h), 5))),
            }
        )
        preds.append(predict(rng, styles[(i * 7) % len(styles)], truth, w, h))
    return rows, preds


def case_pixels(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    """No box columns, no image size, no split: `answer` in pixels (taken as they are, sizes of
    1.0 clip every reply into the unit square), one split named after the benchmark."""
    rows, preds = [], []
    styles = list(STYLES)
    for i in range(30):
        w, h = size(rng)
        truth = random_box(rng, w, h)
        rows.append(
            {
                "index": i,
                "image": png_b64(w, h, truth, rng),
                "question": f"Find object {i}.",
                "answer": "[{}]".format(", ".join(fmt(truth, 1))) if i % 6 else "[0.2, 0.3, 0.9, 0.8]",
            }
        )
        preds.append(predict(rng, styles[(i * 5) % len(styles)], truth, w, h))
    preds[1] = "[0.1, 0.1, 0.9, 0.9]"
    return rows, preds


CASES: dict[str, Callable[[random.Random], tuple[list[dict[str, Any]], list[str]]]] = {
    "RefCOCO": case_main,
    "RefCOCO__answers": case_answers,
    "RefCOCO__pixels": case_pixels,
}


# ---------------------------------------------------------------------------------------------
# Writing inputs, running VLMEvalKit
# ---------------------------------------------------------------------------------------------


def write_inputs(case_dir: Path, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    lmu = case_dir / "LMUData"
    lmu.mkdir(parents=True, exist_ok=True)
    tsv = pd.DataFrame(rows)
    tsv.to_csv(lmu / f"{DATASET}.tsv", sep="\t", index=False)


def write_predictions(case_dir: Path, preds: list[str]) -> None:
    """The prediction file as VLMEvalKit's inference writes it: its own loaded data minus `image`,
    plus `prediction` (so the index is already `{split}_{index}`)."""
    from vlmeval.smp import dump

    dataset = load_dataset(case_dir)
    data = dataset.data.drop(columns=["image"]).copy()
    data["prediction"] = preds
    (case_dir / "input").mkdir(exist_ok=True)
    dump(data, str(case_dir / "input" / f"{MODEL}_{DATASET}.xlsx"))
    dump(data, str(case_dir / "input" / f"{MODEL}_{DATASET}.tsv"))


def load_dataset(case_dir: Path) -> Any:
    os.environ["LMUData"] = str(case_dir / "LMUData")  # noqa: SIM112  (VLMEvalKit's spelling)
    from vlmeval.dataset.refcoco import RefCOCODataset

    RefCOCODataset.DATASET_MD5 = {}
    return RefCOCODataset(DATASET)


def evaluate(case_dir: Path, folder: str) -> None:
    import pandas as pd

    out = case_dir / folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    work = out / "_work"
    work.mkdir()
    pred = work / f"{MODEL}_{DATASET}.xlsx"
    shutil.copy(case_dir / "input" / pred.name, pred)
    os.environ["PRED_FORMAT"] = "tsv"  # the detail file in full float precision (xlsx keeps 15 digits)
    load_dataset(case_dir).evaluate(str(pred))
    shutil.copy(work / f"{MODEL}_{DATASET}_acc.csv", out / f"{MODEL}_{DATASET}_acc.csv")
    detail = pd.read_csv(work / f"{MODEL}_{DATASET}_detail.tsv", sep="\t", keep_default_na=False)
    detail[["index", "prediction", "pred_bbox", "iou", "hit", "split"]].to_csv(
        out / "per_row.csv", index=False, float_format=None
    )
    shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--folder", default="expected", help="output folder of this VLMEvalKit generation")
    parser.add_argument("--write-inputs", action="store_true", help="(re)write the TSVs and predictions")
    args = parser.parse_args()
    import vlmeval  # noqa: F401  (fails early without VLMEvalKit)

    manifest: dict[str, Any] = {"seed": SEED, "cases": {}}
    for name, make in CASES.items():
        case_dir = args.out / name
        rng = random.Random(f"{SEED}:{name}")
        rows, preds = make(rng)
        if args.write_inputs:
            write_inputs(case_dir, rows)
            write_predictions(case_dir, preds)
        evaluate(case_dir, args.folder)
        manifest["cases"][name] = {"rows": len(rows)}
    manifest["generations"] = GENERATIONS
    if args.write_inputs:
        (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases under {args.out} ({args.folder})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
