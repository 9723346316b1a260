"""Regenerate the conformance cases of the MCQ sets on existing scorers (CCBench, BLINK,
MMT-Bench_VAL_MI, MUIRBench) with VLMEvalKit's own `evaluate()` in exact-matching mode, and
MUIRBench's interleaved prompts with its own `build_prompt`.

Run it with a Python that has VLMEvalKit installed, outside the repository's venv (see
scripts/make_grounding_cases.py), e.g.

    /work/wt/.vlmeval-venv/bin/python scripts/make_mcq_sets_cases.py --write-inputs --folder expected
    PYTHONPATH=/tmp/vlmeval-e8e78f05 /work/wt/.vlmeval-venv/bin/python scripts/make_mcq_sets_cases.py \\
        --folder alt_upstream_e8e78f05
    /work/wt/.vlmeval-nv/bin/python scripts/make_mcq_sets_cases.py --folder alt_nvidia_vlmeval_26.3
        # a venv with nvidia-vlmeval==26.3

Each case has its own `LMUData/<NAME>.tsv` (tiny PNGs; one image, or a list cell of two to four),
`input/KitModel_<NAME>.xlsx` (the loaded data minus `image`, plus `prediction`) and, per
generation, VLMEvalKit's `KitModel_<NAME>_acc.csv` verbatim. CCBench is circular (rotations at
index + k x 1e6, Chinese text); MMT-Bench_VAL_MI has splits, tasks and sub-tasks; MUIRBench's
questions carry `<image>` tags (fewer and more than its images, none) and `prompts.json` records
what its `build_prompt` sends (images by their position in the row, text verbatim). Replies cover
the matcher's branches: bare and bracketed letters, "The answer is X", option text, two letters,
refusals, empty. `BLINK__judge` and `CCBench__judge` score the same files with the kit's scripted
judge (tests/data/conformance/judge_server.py) as gpt-4o-mini, and keep its calls (`judge_calls.csv`).

Each dataset's MD5 is removed from its class before loading: with the official one VLMEvalKit
would replace the synthetic file by a download.
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
OUT = REPO / "tests" / "data" / "conformance" / "mcq_sets"
SEED = 20261205
MODEL = "KitModel"
LETTERS = "ABCD"


def png_b64(rng: random.Random) -> str:
    from PIL import Image

    img = Image.new("RGB", (24, 16), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def images(rng: random.Random, n: int) -> str:
    cells = [png_b64(rng) for _ in range(n)]
    return cells[0] if n == 1 else repr(cells)


def reply(rng: random.Random, options: dict[str, str], answer: str, i: int) -> str:
    wrong = rng.choice([k for k in options if k != answer])
    pick = answer if rng.random() < 0.6 else wrong
    return [
        pick,
        f"({pick})",
        f"The answer is {pick}.",
        options[pick],
        f"{pick}. {options[pick]}",
        f"{answer} or {wrong}",
        "Sorry, I can't help with images of people yet.",
        "",
        f"答案是{pick}",
        f"I think it is option {pick} because the image shows it clearly here",
    ][i % 10]


def options_for(rng: random.Random, words: list[str], n: int) -> dict[str, str]:
    picked = rng.sample(words, n)
    return dict(zip(LETTERS[:n], picked, strict=True))


WORDS_EN = [
    "apple",
    "river",
    "mountain",
    "bicycle",
    "lantern",
    "violin",
    "harbor",
    "meadow",
    "castle",
    "comet",
]
WORDS_CN = ["长城", "故宫", "京剧", "书法", "瓷器", "茶道", "剪纸", "旗袍", "龙舟", "灯笼"]


def case_ccbench(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    rows, preds = [], []
    for q in range(16):
        opts = options_for(rng, WORDS_CN, 4 if q % 3 else 3)
        answer = rng.choice(list(opts))
        img = images(rng, 1)
        category = ["Calligraphy Painting", "Cultural Relic", "Food & Clothes", "Historical Figures"][q % 4]
        letters = list(opts)
        for k in range(len(letters)):  # circular rotations of the options
            rotated = letters[k:] + letters[:k]
            row_opts = {LETTERS[j]: opts[letter] for j, letter in enumerate(rotated)}
            row_answer = LETTERS[rotated.index(answer)]
            if q % 7 == 3 and k == 2:
                continue  # a missing rotation is not penalised
            rows.append(
                {
                    "index": q + k * 1_000_000,
                    "image": img if k == 0 else str(q),
                    "question": f"图中展示的是哪一种中国文化元素？({q})",
                    **row_opts,
                    "answer": row_answer,
                    "category": category,
                }
            )
            preds.append(reply(rng, row_opts, row_answer, q + k))
    return rows, preds


def case_blink(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    rows, preds = [], []
    for i in range(40):
        n_opts = 2 if i % 3 == 0 else 4
        opts = options_for(rng, WORDS_EN, n_opts)
        answer = rng.choice(list(opts))
        rows.append(
            {
                "index": f"val_Task_{i}",
                "image": images(rng, 1 + i % 4),
                "question": f"Which point is closer to the camera? ({i})",
                **opts,
                "answer": answer,
                "category": ["Relative_Depth", "Counting", "Visual_Similarity", "Jigsaw", "IQ_Test"][i % 5],
            }
        )
        preds.append(reply(rng, opts, answer, i))
    return rows, preds


MMT_TASKS = [
    "visual_recognition",
    "localization",
    "ocr",
    "counting",
    "hallucination",
    "image_retrieval",
    "threed",
    "visual_captioning",
    "visual_grounding",
    "doc_understanding",
    "action_recognition",
    "pixel_level_perception",
    "image-to-image_translation",
    "relation_reasoning",
    "intelligence_quotient_test",
    "emotion",
    "visual_illusion",
    "meme_understanding",
    "visual_prompt_understanding",
    "anomaly_detection",
    "keypoint_detection",
    "visual_commonsense_reasoning",
    "image_evaluation_judgement",
    "multiple_image_analysis",
    "cross_image_matching",
    "temporal_understanding",
    "visual_code",
    "medical_understanding",
    "autonomous_driving",
    "discipline_knowledge_reasoning",
    "embodied_ai",
    "gui_navigation",
]  # report_acc_MMT needs every one of its 32 tasks (utils/multiple_choice.py)


def case_mmt(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    # every task three times; even tasks with two sub-tasks (the per-task figure is their macro mean)
    tasks = [(t, f"{t}_sub{(k % 2) * (n % 2 == 0)}") for n, t in enumerate(MMT_TASKS) for k in range(3)]
    rows, preds = [], []
    for i in range(len(tasks)):
        task, sub = tasks[i]
        opts = options_for(rng, WORDS_EN, 4)
        answer = rng.choice(list(opts))
        rows.append(
            {
                "index": i,
                "image": images(rng, 1 if i % 2 else 3),
                "question": f"Which option matches the images? ({i})",
                **opts,
                "answer": answer,
                "category": sub,
                "l2-category": task,
                "split": "VAL",
            }
        )
        preds.append(reply(rng, opts, answer, i))
    return rows, preds


def case_muir(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    rows, preds = [], []
    for i in range(30):
        n_img = 2 + i % 3
        tags = [n_img, n_img - 1, n_img + 1, 0][i % 4]
        tagged = "".join(f" <image> see {t + 1}" for t in range(tags))
        question = f"Question {i}: which image differs?{tagged}"
        if i % 5 == 0:
            question = f"<image>{question}"  # a tag first: no leading text piece
        opts = options_for(rng, WORDS_EN, 4 if i % 2 else 3)
        answer = rng.choice(list(opts))
        rows.append(
            {
                "index": i,
                "image": images(rng, n_img),
                "question": question,
                **opts,
                "answer": answer,
                "category": ["Image-Text Matching", "Counting", "Ordering"][i % 3],
            }
        )
        preds.append(reply(rng, opts, answer, i))
    return rows, preds


CASES: dict[str, Callable[[random.Random], tuple[list[dict[str, Any]], list[str]]]] = {
    "CCBench": case_ccbench,
    "BLINK": case_blink,
    "MMT-Bench_VAL_MI": case_mmt,
    "MUIRBench": case_muir,
}


def build(name: str, case_dir: Path) -> Any:
    os.environ["LMUData"] = str(case_dir / "LMUData")  # noqa: SIM112  (VLMEvalKit's spelling)
    from vlmeval.dataset import build_dataset
    from vlmeval.dataset.image_mcq import ImageMCQDataset, MUIRDataset

    for cls in (ImageMCQDataset, MUIRDataset):
        cls.DATASET_MD5 = {k: v for k, v in cls.DATASET_MD5.items() if k != name}
    return build_dataset(name)


def write_inputs(name: str, case_dir: Path, rows: list[dict[str, Any]], preds: list[str]) -> None:
    import pandas as pd
    from vlmeval.smp import dump

    (case_dir / "LMUData").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(case_dir / "LMUData" / f"{name}.tsv", sep="\t", index=False)
    dataset = build(name, case_dir)
    data = dataset.data.drop(columns=["image"]).copy()
    data["prediction"] = preds
    (case_dir / "input").mkdir(exist_ok=True)
    dump(data, str(case_dir / "input" / f"{MODEL}_{name}.xlsx"))


def prompts(name: str, case_dir: Path) -> list[dict[str, Any]]:
    """What `build_prompt` sends per row: text verbatim, images as their position in the row."""
    import tempfile

    dataset = build(name, case_dir)
    dataset.img_root = tempfile.mkdtemp()  # dumped images stay out of the case folder
    out = []
    for i in range(len(dataset.data)):
        line = dataset.data.iloc[i].copy()
        if "image_path" not in line:  # 2024 generations name dumped images only from this column
            n = len(line["image"]) if isinstance(line["image"], list) else 1
            line["image_path"] = (
                [f"{line['index']}_{k}.png" for k in range(n)] if n > 1 else f"{line['index']}.png"
            )
        paths = dataset.dump_image(line)
        paths = paths if isinstance(paths, list) else [paths]
        position = {p: k for k, p in enumerate(paths)}
        msgs = dataset.build_prompt(line)
        parts = [
            {"image": position[m["value"]]} if m["type"] == "image" else {"text": m["value"]} for m in msgs
        ]
        out.append({"index": str(line["index"]), "parts": parts})
    return out


def evaluate(name: str, case_dir: Path, folder: str) -> None:
    out = case_dir / folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    work = out / "_work"
    work.mkdir()
    pred = work / f"{MODEL}_{name}.xlsx"
    shutil.copy(case_dir / "input" / pred.name, pred)
    build(name, case_dir).evaluate(str(pred), model="exact_matching", nproc=1)
    shutil.copy(work / f"{MODEL}_{name}_acc.csv", out / f"{MODEL}_{name}_acc.csv")
    if name == "MUIRBench":
        text = json.dumps(prompts(name, case_dir), ensure_ascii=False, indent=0)
        (out / "prompts.json").write_text(text + "\n", encoding="utf-8")
    shutil.rmtree(work)


JUDGED = ("BLINK", "CCBench")  # BLINK's own matching prompt; CCBench's Chinese one, per circular group
SERVER = REPO / "tests" / "data" / "conformance" / "judge_server.py"


def evaluate_judged(name: str, exact_dir: Path, case_dir: Path, folder: str, write_inputs: bool) -> None:
    """The same files scored with the kit's scripted judge as gpt-4o-mini (run.py's retry=6)."""
    import subprocess
    import time

    import pandas as pd

    if write_inputs:
        for sub in ("LMUData", "input"):
            shutil.rmtree(case_dir / sub, ignore_errors=True)
            shutil.copytree(exact_dir / sub, case_dir / sub)
    out = case_dir / folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    work = out / "_work"
    work.mkdir()
    pred = work / f"{MODEL}_{name}.xlsx"
    shutil.copy(case_dir / "input" / pred.name, pred)
    log, port_file = work / "calls.jsonl", work / "port"
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", "--port-file", str(port_file), "--log", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not port_file.is_file():
            if proc.poll() is not None:
                raise SystemExit("judge_server.py did not start")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{int(port_file.read_text())}/v1/chat/completions"
        os.environ.update(OPENAI_API_BASE=url, OPENAI_API_KEY="sk-kit-judge")
        os.environ.pop("LOCAL_LLM", None)
        build(name, case_dir).evaluate(str(pred), model="gpt-4o-mini", nproc=1, retry=6)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    shutil.copy(work / f"{MODEL}_{name}_acc.csv", out / f"{MODEL}_{name}_acc.csv")
    folded: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        key = (r["kind"], r["prompt_sha256"], r["temperature"])
        entry = folded.setdefault(
            key,
            {"kind": r["kind"], "prompt_sha256": r["prompt_sha256"], "temperature": r["temperature"],
             "requests": 0, "http_500": 0, "max_tokens": r["max_tokens"], "reply": ""},
        )  # fmt: skip
        entry["requests"] += 1
        entry["http_500"] += int(r["status"] == 500)
        if r["reply"] is not None:
            entry["reply"] = r["reply"]
    rows = sorted(folded.values(), key=lambda e: (e["kind"], e["prompt_sha256"], e["temperature"]))
    pd.DataFrame(rows).to_csv(out / "judge_calls.csv", index=False)
    shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--folder", default="expected", help="output folder of this VLMEvalKit generation")
    parser.add_argument("--write-inputs", action="store_true", help="(re)write the TSVs and predictions")
    args = parser.parse_args()
    manifest: dict[str, Any] = {"seed": SEED, "cases": {}}
    for name, make in CASES.items():
        case_dir = args.out / name
        rows, preds = make(random.Random(f"{SEED}:{name}"))
        if args.write_inputs:
            write_inputs(name, case_dir, rows, preds)
        evaluate(name, case_dir, args.folder)
        manifest["cases"][name] = {"rows": len(rows)}
        if name in JUDGED:
            judged_dir = args.out / f"{name}__judge"
            evaluate_judged(name, case_dir, judged_dir, args.folder, args.write_inputs)
            manifest["cases"][f"{name}__judge"] = {"rows": len(rows)}
    if args.write_inputs:
        (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases under {args.out} ({args.folder})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
