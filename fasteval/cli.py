"""`python bench.py ...`: parse flags, read `.env`, and run the pipeline. All side effects live here.

Flags follow VLMEvalKit's `run.py` where they mean the same thing (`--data`, `--model`, `--mode`,
`--work-dir`, `--api-nproc`, `--retry`, `--judge`, `--verbose`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fasteval import __version__
from fasteval.errors import FastevalError
from fasteval.extract import DEFAULT_RULES

DEFAULT_CONCURRENCY = 256  # vLLM's default max_num_seqs: enough to keep its batch full
DEFAULT_WORK_DIR = "outputs"  # VLMEvalKit's default, so its tools find our files


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench.py",
        description="Evaluate a VLM served behind an OpenAI-compatible engine, scoring like VLMEvalKit.",
    )
    p.add_argument("--data", nargs="+", required=True, metavar="NAME", help="benchmarks (benchmarks/*.toml)")
    p.add_argument(
        "--model",
        nargs="+",
        metavar="NAME",
        help="models started by `make serve` (default: the one running), or the output name with --api-base",
    )
    p.add_argument("--mode", choices=("all", "infer", "eval", "perf"), default="all")
    p.add_argument(
        "--work-dir", type=Path, default=Path(DEFAULT_WORK_DIR), help="outputs go to WORK_DIR/MODEL/"
    )
    p.add_argument("--lmudata", type=Path, help="dataset cache (default: $LMUData, else ~/LMUData)")
    p.add_argument(
        "--api-base", nargs="+", metavar="URL", help="OpenAI-compatible base URL(s), e.g. http://h:8000/v1"
    )
    p.add_argument("--api-key", help="key for --api-base (also: env FASTEVAL_API_KEY)")
    p.add_argument("--model-name", help="served model name at --api-base (default: ask /v1/models)")
    p.add_argument("--concurrency", "--api-nproc", type=int, default=DEFAULT_CONCURRENCY, dest="concurrency")
    p.add_argument("--retry", type=int, default=6, help="retries per request for transient failures")
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds without progress before a request fails"
    )
    p.add_argument("--limit", type=int, help="only the first N rows of each dataset (smoke runs)")
    p.add_argument("--prompt-style", help="override the model's prompt style (default, internvl2, qwen2vl)")
    p.add_argument("--rules", default=DEFAULT_RULES, help=f"extraction rule set (default {DEFAULT_RULES})")
    p.add_argument(
        "--pred", type=Path, help="--mode eval: score this VLMEvalKit prediction file (.xlsx/.tsv)"
    )
    p.add_argument("--judge", help="judge model key, or exact_matching (default: exact matching)")
    p.add_argument("--no-download", action="store_true", help="never download a missing dataset")
    p.add_argument("--state-dir", type=Path, help="where `make serve` records its servers")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--version", action="version", version=f"fasteval {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from fasteval.app import run  # after parsing: `--help` stays instant

    try:
        return asyncio.run(run(args, environ=dict(os.environ), cwd=Path.cwd()))
    except FastevalError as exc:
        print(f"fasteval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "fasteval: interrupted; every stored answer is kept: run the same command to resume",
            file=sys.stderr,
        )
        return 130
