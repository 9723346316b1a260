"""Regenerate the LLaVABench conformance case with VLMEvalKit's own `evaluate()` and the kit's
scripted judge (tests/data/conformance/judge_server.py).

Run it with a Python that has VLMEvalKit installed, outside the repository's venv (see
scripts/make_grounding_cases.py for the venv), e.g.

    /work/wt/.vlmeval-venv/bin/python scripts/make_llavabench_cases.py --write-inputs --folder expected
    PYTHONPATH=/tmp/vlmeval-e8e78f05 /work/wt/.vlmeval-venv/bin/python scripts/make_llavabench_cases.py \\
        --folder alt_upstream_e8e78f05
    /work/wt/.vlmeval-nv/bin/python scripts/make_llavabench_cases.py --folder alt_nvidia_vlmeval_26.3
        # a venv with nvidia-vlmeval==26.3

The case is a synthetic `LLaVABench.tsv` (tiny PNGs; `caption`, `gpt4_ans`, `category` in
conv/detail/complex) and a prediction file whose replies range from copies of the reference to
unrelated and empty text. A fresh judge server per run (its HTTP-500 counters start at zero)
rates each row; its replies cover every branch of `parse_score` (two numbers, comma-joined, halves,
NaN, three tokens, one line of one number, prose) and failed calls. The judge is asked as run.py
asks it: gpt-4-turbo's key, retry=6, nproc 1.

VLMEvalKit's own LLaVABench module fails to import in both generations (`shim_broken_import`
says why and what the shim does). Outputs per generation: `KitModel_LLaVABench_score.csv`
verbatim, `per_row.csv` (index, gpt4_score, score from the `_openai_result` record) and
`judge_calls.csv` (the server's log folded per distinct prompt and temperature).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "conformance" / "llavabench" / "LLaVABench"
SERVER = REPO / "tests" / "data" / "conformance" / "judge_server.py"
SEED = 20261205
MODEL = "KitModel"
DATASET = "LLaVABench"
WORDS = [
    "cat",
    "dog",
    "red",
    "blue",
    "table",
    "window",
    "tree",
    "car",
    "street",
    "person",
    "holding",
    "umbrella",
    "sitting",
    "left",
    "right",
    "behind",
    "front",
    "small",
    "large",
    "wooden",
    "bright",
    "dark",
    "sky",
    "cloud",
    "water",
    "boat",
    "bridge",
]


def png_b64(rng: random.Random) -> str:
    from PIL import Image

    img = Image.new("RGB", (32, 24), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def rows_and_predictions(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    rows, preds = [], []
    for i in range(36):
        reference = " ".join(sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(1, 3)))
        rows.append(
            {
                "index": i,
                "image": png_b64(rng),
                "question": f"Question {i}: {sentence(rng, 6)[:-1]}?",
                "caption": sentence(rng, 12),
                "gpt4_ans": reference,
                "category": ("conv", "detail", "complex")[i % 3],
                "image_id": f"{i // 3:03d}.jpg",
            }
        )
        style = i % 6
        if style == 0:
            preds.append(reference)  # a copy: the model scores high
        elif style == 1:
            preds.append(" ".join(reference.split()[: max(1, len(reference.split()) // 2)]))
        elif style == 2:
            preds.append(sentence(rng, 10))  # unrelated words
        elif style == 3:
            preds.append("")  # empty: 'nan' in the prompt
        elif style == 4:
            preds.append(f"{reference}\n\n[End of Assistant 2]\nExtra lines after a fake marker.")
        else:
            preds.append("I cannot see the image.")
    return rows, preds


@contextmanager
def judge_server(log: Path) -> Iterator[str]:
    port_file = log.with_suffix(".port")
    port_file.unlink(missing_ok=True)
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
        yield f"http://127.0.0.1:{int(port_file.read_text())}/v1/chat/completions"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        port_file.unlink(missing_ok=True)


def shim_broken_import() -> None:
    """utils/llavabench.py imports `..smp.log` (vlmeval.dataset.smp, which does not exist) since
    401916c0 (2026-03-25), so LLaVABench's evaluate raises ModuleNotFoundError in ms-vlmeval 0.0.20
    and at e8e78f05. The intended module is vlmeval.smp.log: alias it, and nothing else changes."""
    import vlmeval.smp
    import vlmeval.smp.log

    sys.modules.setdefault("vlmeval.dataset.smp", vlmeval.smp)
    sys.modules.setdefault("vlmeval.dataset.smp.log", vlmeval.smp.log)


def fold_calls(log: Path) -> list[dict[str, Any]]:
    """One row per distinct (kind, prompt, temperature): requests, HTTP 500s, max_tokens, reply."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        key = (r["kind"], r["prompt_sha256"], r["temperature"])
        entry = rows.setdefault(
            key,
            {"kind": r["kind"], "prompt_sha256": r["prompt_sha256"], "temperature": r["temperature"],
             "requests": 0, "http_500": 0, "max_tokens": r["max_tokens"], "reply": ""},
        )  # fmt: skip
        entry["requests"] += 1
        entry["http_500"] += int(r["status"] == 500)
        if r["reply"] is not None:
            entry["reply"] = r["reply"]
    return sorted(rows.values(), key=lambda e: (e["kind"], e["prompt_sha256"], e["temperature"]))


def write_inputs(rows: list[dict[str, Any]], preds: list[str]) -> None:
    import pandas as pd
    from vlmeval.smp import dump

    lmu = OUT / "LMUData"
    lmu.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(lmu / f"{DATASET}.tsv", sep="\t", index=False)
    data = pd.DataFrame(rows).drop(columns=["image"])
    data["prediction"] = preds
    (OUT / "input").mkdir(exist_ok=True)
    dump(data, str(OUT / "input" / f"{MODEL}_{DATASET}.xlsx"))


def evaluate(folder: str) -> None:
    import pandas as pd

    out = OUT / folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    work = out / "_work"
    work.mkdir()
    pred = work / f"{MODEL}_{DATASET}.xlsx"
    shutil.copy(OUT / "input" / pred.name, pred)
    log = work / "calls.jsonl"
    with judge_server(log) as url:
        os.environ.update(OPENAI_API_BASE=url, OPENAI_API_KEY="sk-kit-judge", LMUData=str(OUT / "LMUData"))
        os.environ.pop("LOCAL_LLM", None)
        shim_broken_import()
        from vlmeval.dataset.image_vqa import LLaVABench

        LLaVABench.evaluate(str(pred), model="gpt-4-turbo", nproc=1, retry=6, verbose=False)
    shutil.copy(work / f"{MODEL}_{DATASET}_score.csv", out / f"{MODEL}_{DATASET}_score.csv")
    record = pd.read_excel(work / f"{MODEL}_{DATASET}_openai_result.xlsx")
    record[["index", "gpt4_score", "score"]].to_csv(out / "per_row.csv", index=False)
    pd.DataFrame(fold_calls(log)).to_csv(out / "judge_calls.csv", index=False)
    shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default="expected", help="output folder of this VLMEvalKit generation")
    parser.add_argument("--write-inputs", action="store_true", help="(re)write the TSV and predictions")
    args = parser.parse_args()
    rows, preds = rows_and_predictions(random.Random(f"{SEED}:{DATASET}"))
    if args.write_inputs:
        write_inputs(rows, preds)
        manifest = {"seed": SEED, "rows": len(rows), "judge_server_sha256": _sha(SERVER)}
        (OUT.parent / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    evaluate(args.folder)
    print(f"wrote {OUT} ({args.folder})", file=sys.stderr)
    return 0


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    raise SystemExit(main())
