#!/usr/bin/env python3
"""Prompt tokens per request with a model family's per-benchmark settings vs the checkpoint's defaults.

    python scripts/tile_tokens.py --url http://127.0.0.1:8000/v1 --model tiny-internvl2 --data MME --rows 50

Sends the first ROWS rows of the benchmark twice to a running server (max_tokens 1): once with the
registry entry's family settings, once with none, and prints the engine's `usage.prompt_tokens` per
request for each (perf/RESULTS.md records it). Bodies come from `runner.request_body`, as in a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from itertools import islice
from pathlib import Path

import aiohttp

from fasteval.catalog import get_spec
from fasteval.data.datasets import load, locate
from fasteval.inference.client import complete
from fasteval.inference.runner import Target, request_body
from fasteval.models.families import NO_PLAN, RequestPlan, make_plan
from fasteval.models.registry import get_model
from fasteval.types import GenParams


async def _tokens(url: str, target: Target, bodies: list[bytes], params: GenParams) -> list[int]:
    async with aiohttp.ClientSession() as session:
        out = []
        for body in bodies:
            c = await complete(session, url, body, params, retry=2)
            if not c.ok or c.n_in is None:
                raise SystemExit(f"request failed: {c.error}")
            out.append(c.n_in)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--url", required=True, help="OpenAI-compatible base, http://host:port/v1")
    ap.add_argument("--model", required=True, help="registry entry (its family and engine)")
    ap.add_argument("--data", default="MME")
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--append", type=Path, help="also append the figures as a section of this markdown file")
    ap.add_argument("--lmudata", type=Path, default=Path(os.environ.get("LMUData", Path.home() / "LMUData")))  # noqa: SIM112
    args = ap.parse_args()
    entry = get_model(args.model)
    spec = get_spec(args.data)
    file = locate(
        spec, args.lmudata, download=False, progress=False, cache_dir=Path("/tmp/fasteval-tile-tokens")
    )
    samples = list(islice(load(spec, file).iter_samples(), args.rows))
    params = GenParams(max_tokens=1, timeout_s=300)
    plans: dict[str, RequestPlan] = {
        f"family {entry.family}": make_plan(entry.family, entry.engine, max_tokens_given=True),
        "checkpoint default": NO_PLAN,
    }
    rows = []
    for label, plan in plans.items():
        target = Target(entry.name, entry.served, (args.url,), entry.prompt_style, plan=plan)
        bodies = [request_body(target, spec, s, params) for s in samples]
        tokens = asyncio.run(_tokens(args.url, target, bodies, params))
        rows.append((label, statistics.mean(tokens), min(tokens), max(tokens)))
        print(
            f"{entry.name} {spec.name} {label}: {len(tokens)} requests, prompt tokens per request "
            f"mean {rows[-1][1]:.1f} min {rows[-1][2]} max {rows[-1][3]}"
        )
    if args.append:
        _append(args.append, entry.name, spec.name, len(samples), file.path, rows)


def _append(
    path: Path, model: str, data: str, n: int, tsv: Path, rows: list[tuple[str, float, int, int]]
) -> None:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "",
        f"## 4. Per-benchmark request settings: prompt tokens per {data} request on {model}",
        "",
        f"Measured {when} by `scripts/tile_tokens.py`: the first {n} rows of `{tsv.name}`",
        f"({tsv.parent}), sent twice to the real vLLM CPU engine (max_tokens 1), with the family's",
        "per-benchmark settings and with none (the checkpoint's defaults); `usage.prompt_tokens` as the",
        "engine reports it.",
        "",
        "| settings | mean | min | max |",
        "|---|---|---|---|",
        *(f"| {label} | {mean:.1f} | {lo} | {hi} |" for label, mean, lo, hi in rows),
        "",
    ]
    with path.open("a") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
