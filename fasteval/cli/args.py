"""`python bench.py ...`: parse flags, read `.env`, and run the pipeline. All side effects live here.

Flags follow VLMEvalKit's `run.py` where they mean the same thing (`--data`, `--model`, `--mode`,
`--work-dir`, `--api-nproc`, `--retry`, `--judge`, `--verbose`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fasteval import __version__
from fasteval.errors import FastevalError
from fasteval.kinds.extract import DEFAULT_RULES

DEFAULT_CONCURRENCY = 256  # vLLM's default max_num_seqs: enough to keep its batch full
DEFAULT_WORK_DIR = "outputs"  # VLMEvalKit's default, so its tools find our files
DEFAULT_MAX_TOKENS = 1024


class _Given(argparse.Action):
    """Stores the value and records that the user gave it (`max_tokens_given`, `temperature_given`): a
    model family's own limit and decoding apply only when the flag was not on the command line."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench.py",
        description="Evaluate a VLM served behind an OpenAI-compatible engine, scoring like VLMEvalKit.",
    )
    p.add_argument("--data", nargs="+", metavar="NAME", help="benchmarks (benchmarks/*.toml)")
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
    p.add_argument(
        "--concurrency",
        "--api-nproc",
        type=int,
        nargs="+",
        default=[DEFAULT_CONCURRENCY],
        dest="concurrency",
        metavar="C",
        help=f"requests in flight per model (default {DEFAULT_CONCURRENCY}); --mode perf sweeps every value",
    )
    p.add_argument("--retry", type=int, default=6, help="retries per request for transient failures")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        action=_Given,
        help="generation limit (default: the model family's, e.g. InternVL2's 1024 as in VLMEvalKit; "
        f"else {DEFAULT_MAX_TOKENS})",
    )
    p.set_defaults(max_tokens_given=False)
    p.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        action=_Given,
        help="sampling temperature (default: the model family's decoding, e.g. Qwen3-VL's, else 0)",
    )
    p.set_defaults(temperature_given=False)
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds without progress before a request fails"
    )
    p.add_argument("--limit", type=int, help="only the first N rows of each dataset (smoke runs)")
    p.add_argument("--prompt-style", help="override the model's prompt style (default, internvl2, qwen2vl)")
    p.add_argument("--rules", default=DEFAULT_RULES, help=f"extraction rule set (default {DEFAULT_RULES})")
    p.add_argument(
        "--pred", type=Path, help="--mode eval: score this VLMEvalKit prediction file (.xlsx/.tsv)"
    )
    j = p.add_argument_group("judge (answers exact matching cannot extract)")
    j.add_argument(
        "--judge", help="judge model id, or exact_matching (default: LOCAL_LLM, else `make judge`'s)"
    )
    j.add_argument("--judge-base-url", help="OpenAI-compatible base of the judge (default: OPENAI_API_BASE)")
    j.add_argument("--judge-key", help="key for the judge (default: OPENAI_API_KEY)")
    j.add_argument("--judge-concurrency", type=int, default=32, help="judge requests in flight")
    j.add_argument(
        "--judge-fallback",
        choices=("error", "exact_matching"),
        default="error",
        help="if the judge fails its health probe: stop (default), or score by exact matching and say so",
    )
    j.add_argument(
        "--judge-unparsed",
        choices=("seeded", "z"),
        default="seeded",
        help="after every judge try fails: a seeded, recorded random option (VLMEvalKit: unseeded) or Z",
    )
    f = p.add_argument_group("throughput (--mode perf)")
    f.add_argument(
        "--request-rate", type=float, nargs="+", metavar="R", help="Poisson arrivals, req/s (open loop)"
    )
    f.add_argument("--burstiness", type=float, default=1.0, help="gamma shape of arrivals (1 = Poisson)")
    f.add_argument("--num-prompts", type=int, help="requests per point (default: the dataset's rows)")
    f.add_argument("--warmup", type=int, default=8, help="warm-up requests before each point, not measured")
    f.add_argument("--ignore-eos", action="store_true", help="generate exactly --max-tokens tokens")
    f.add_argument("--goodput", nargs="+", metavar="METRIC:MS", help="SLOs, e.g. ttft:500 tpot:50 e2el:2000")
    f.add_argument("--percentiles", default="50,90,95,99", help="latency percentiles to report")
    f.add_argument(
        "--synthetic", metavar="N:WxH", help="N synthetic image requests of WxH pixels instead of --data"
    )
    f.add_argument("--seed", type=int, default=0)
    # --- issue 13: per-benchmark request settings of the model family (fasteval/models/families.py) ---
    p.add_argument(
        "--model-family",
        metavar="FAMILY[:ENGINE]",
        help="request settings of this model family (internvl2, internvl-v1, qwen2-vl, none); default: the "
        "registry entry's; for --api-base none unless given (ENGINE: vllm (default) or lmdeploy)",
    )
    p.add_argument(
        "--dry-run",
        type=int,
        metavar="N",
        help="print the first N request bodies of each --data benchmark as JSON lines and exit; no server",
    )
    p.add_argument("--no-download", action="store_true", help="never download a missing dataset")
    p.add_argument("--state-dir", type=Path, help="where `make serve` records its servers")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--version", action="version", version=f"fasteval {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:  # `fasteval report ...`; anything else is bench.py
        from fasteval.cli.report import main as report_main

        return report_main(argv[1:])
    if argv[:1] == ["frames"]:  # `fasteval frames --data PRESET`: video frames extracted ahead of a run
        from fasteval.cli.frames import main as frames_main

        return frames_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.data and not (args.mode == "perf" and args.synthetic):
        parser.error("--data is required (or --mode perf --synthetic N:WxH)")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from fasteval.cli.app import run  # after parsing: `--help` stays instant
    from fasteval.cli.config import build_config
    from fasteval.cli.settings import load_settings

    environ = dict(os.environ)
    terminated = _sigterm_as_sigint()
    try:
        settings = load_settings(environ, Path.cwd())
        cfg = build_config(args, settings, environ)  # every flag checked before anything is read or sent
        return asyncio.run(run(cfg, settings, environ=environ))
    except FastevalError as exc:
        print(f"fasteval: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_status", 2))  # 3: rerun later (the work dir went away mid-run)
    except KeyboardInterrupt:
        print(
            "fasteval: interrupted; every stored answer is kept: run the same command to resume",
            file=sys.stderr,
        )
        return 143 if terminated else 130
    except OSError as exc:  # the console itself failed: stdout piped into `head`, or a full disk behind it
        if exc.filename is not None:
            raise  # a file's error escaped its writer: a bug to see, not a console to blame
        _drop_stdout()
        print(
            f"fasteval: error: cannot write to stdout ({exc.strerror or exc}); every stored answer is kept: "
            "rerun the same command with stdout going somewhere writable",
            file=sys.stderr,
        )
        return 2


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush at exit cannot fail again
    (an `Exception ignored ... BrokenPipeError` line after ours)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class _Terminated:
    """Whether SIGTERM arrived (the exit status says which signal: 143, or 130 for SIGINT)."""

    def __init__(self) -> None:
        self.seen = False

    def __bool__(self) -> bool:
        return self.seen


def _sigterm_as_sigint() -> _Terminated:
    """SIGTERM (a scheduler, `kill`, a container stop) ends the run the way Ctrl-C does: asyncio's SIGINT
    handling cancels the run, every stored answer is flushed and kept, and the same line is printed."""
    state = _Terminated()

    def on_term(signum: int, frame: object) -> None:
        state.seen = True
        os.kill(os.getpid(), signal.SIGINT)

    signal.signal(signal.SIGTERM, on_term)
    return state
