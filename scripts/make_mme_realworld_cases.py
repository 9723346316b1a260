"""Regenerate the MME-RealWorld conformance cases (MME-RealWorld, -CN, -Lite) with VLMEvalKit's own
`MMERealWorld.evaluate()` and `build_prompt`.

Run it with a Python that has VLMEvalKit installed, outside the repository's venv (see
scripts/make_grounding_cases.py), e.g.

    /work/wt/.vlmeval-venv/bin/python scripts/make_mme_realworld_cases.py --write-inputs --folder expected
    PYTHONPATH=/tmp/vlmeval-e8e78f05 /work/wt/.vlmeval-venv/bin/python scripts/make_mme_realworld_cases.py \\
        --folder alt_upstream_e8e78f05

Each case: `LMUData/<NAME>.tsv` in the layout VLMEvalKit reads (the full sets' options cell already
joined under its header, Lite's a list literal), `input/KitModel_<NAME>.xlsx`, and per generation
VLMEvalKit's `KitModel_<NAME>_rating.json` verbatim and `prompts.json` (the text `build_prompt`
sends per row; Lite's after `load_data` joined its options). Replies cover
`extract_characters_regex`: bare and bracketed letters, answer prefixes (whose list differs between
the generations), `<answer>` tags (lower-case inside), an empty tag and a blank reply (read as 'A';
an empty cell is NaN, on which VLMEvalKit's evaluate raises), a lone lower-case letter, long
replies without a capital A-E, a leading capital word. Categories cover every task and sub-task,
l2-categories with 'attribute' in mixed case.
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "conformance" / "mme_realworld"
SEED = 20261205
MODEL = "KitModel"
NAMES = ("MME-RealWorld", "MME-RealWorld-CN", "MME-RealWorld-Lite")
TASKS = ("Reasoning", "Perception")
SUBTASKS = (
    "Monitoring",
    "Autonomous_Driving",
    "OCR with Complex Context",
    "Diagram and Table",
    "Remote Sensing",
)
L2 = ("Person/Attribute/Color", "vehicle/attribute/orientation", "Counting", "Position", "Text Recognition")
HEADER = {"MME-RealWorld-CN": "选项如下所示:\n"}
WORDS = ["red", "blue", "three", "left", "right", "a truck", "a bridge", "the sign", "north", "five"]


def png_b64(rng: random.Random) -> str:
    from PIL import Image

    img = Image.new("RGB", (20, 12), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def reply(rng: random.Random, answer: str, i: int) -> str:
    pick = answer if rng.random() < 0.6 else rng.choice("ABCDE")
    return [
        pick,
        f"({pick})",
        f"The best answer is {pick}.",
        f"<answer>{pick.lower()}</answer> because",
        "<answer> </answer>",
        pick.lower(),
        "the object in the picture is clearly visible and it is located near the road side today",
        f"Based on the image, {pick}",
        f"The answer is ({pick}) {rng.choice(WORDS)}",
        f"Best option: {pick}",
        "  ",
        "z",
    ][i % 12]


def rows_and_predictions(name: str, rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    rows, preds = [], []
    i = 0
    for task in TASKS:
        for subtask in SUBTASKS:
            for _ in range(3 if subtask != "Remote Sensing" or task == "Perception" else 0):
                options = [f"({letter}) {rng.choice(WORDS)}" for letter in "ABCDE"]
                answer = rng.choice("ABCDE")
                if name.endswith("Lite"):
                    cell = repr(options)
                else:
                    cell = HEADER.get(name, "The choices are listed below:\n") + "\n".join(options)
                rows.append(
                    {
                        "index": i,
                        "image": png_b64(rng),
                        "question": f"What is shown at the marked place? ({i})",
                        "multi-choice options": cell,
                        **{letter: o[4:] for letter, o in zip("ABCDE", options, strict=True)},
                        "answer": answer,
                        "category": f"{task}/{subtask}",
                        "l2-category": L2[i % len(L2)],
                    }
                )
                preds.append(reply(rng, answer, i))
                i += 1
    return rows, preds


def loaded(name: str, tsv: Path) -> Any:
    """The data as VLMEvalKit's `load_data` leaves it (Lite's options joined) and an instance to
    build prompts with (its full sets are read from a Hugging Face snapshot, so not loaded here)."""
    from vlmeval.dataset.image_mcq import MMERealWorld
    from vlmeval.smp import load

    ds = object.__new__(MMERealWorld)
    ds.dataset_name = name
    ds.meta_only = True
    if name.endswith("Lite"):
        ds.prepare_tsv = lambda url, file_md5=None: load(str(tsv))
        data = MMERealWorld.load_data(ds, name)
    else:
        data = load(str(tsv))
    return ds, data


def write_inputs(name: str, case_dir: Path, rows: list[dict[str, Any]], preds: list[str]) -> None:
    import pandas as pd
    from vlmeval.smp import dump

    (case_dir / "LMUData").mkdir(parents=True, exist_ok=True)
    tsv = case_dir / "LMUData" / f"{name}.tsv"
    pd.DataFrame(rows).to_csv(tsv, sep="\t", index=False)
    _, data = loaded(name, tsv)
    data = data.drop(columns=["image"]).copy()
    data["prediction"] = preds
    (case_dir / "input").mkdir(exist_ok=True)
    dump(data, str(case_dir / "input" / f"{MODEL}_{name}.xlsx"))


def evaluate(name: str, case_dir: Path, folder: str) -> None:
    from vlmeval.dataset.image_mcq import MMERealWorld

    out = case_dir / folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    work = out / "_work"
    work.mkdir()
    pred = work / f"{MODEL}_{name}.xlsx"
    shutil.copy(case_dir / "input" / pred.name, pred)
    MMERealWorld.evaluate(str(pred))
    shutil.copy(work / f"{MODEL}_{name}_rating.json", out / f"{MODEL}_{name}_rating.json")
    ds, data = loaded(name, case_dir / "LMUData" / f"{name}.tsv")
    texts = []
    for k in range(len(data)):
        line = data.iloc[k].copy()
        line["image_path"] = "img.jpg"
        msgs = ds.build_prompt(line)
        texts.append({"index": str(line["index"]), "text": [m["value"] for m in msgs if m["type"] == "text"]})
    (out / "prompts.json").write_text(
        json.dumps(texts, ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
    )
    shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--folder", default="expected", help="output folder of this VLMEvalKit generation")
    parser.add_argument("--write-inputs", action="store_true", help="(re)write the TSVs and predictions")
    args = parser.parse_args()
    manifest: dict[str, Any] = {"seed": SEED, "cases": {}}
    for name in NAMES:
        case_dir = args.out / name
        os.environ["LMUData"] = str(case_dir / "LMUData")  # noqa: SIM112  (VLMEvalKit's spelling)
        rows, preds = rows_and_predictions(name, random.Random(f"{SEED}:{name}"))
        if args.write_inputs:
            write_inputs(name, case_dir, rows, preds)
        evaluate(name, case_dir, args.folder)
        manifest["cases"][name] = {"rows": len(rows)}
    if args.write_inputs:
        (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(NAMES)} cases under {args.out} ({args.folder})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
