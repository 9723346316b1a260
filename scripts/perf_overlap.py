"""`make perf`, judge section: generation and judging overlap, so a run costs the longer of the two.

Three real `bench.py` runs on the same synthetic MCQ rows, with the deterministic test server as
both the model and the judge (each with a per-token delay, so both stages are busy):
generation alone (`--judge exact_matching`), judging alone (`--mode eval` of those stored answers
with the judge), and both in one run. The figure is both / max(alone) (1.0 = perfect overlap; the
serial sum would give (gen + judge) / max). Nothing here is asserted; the numbers are written down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FAULT_SERVER = REPO / "tests" / "fault_server.py"


def _server(model: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(FAULT_SERVER), "--port", "0", "--model", model, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def measure_overlap(rows: int = 2_000, concurrency: int = 32, token_delay_s: float = 0.02) -> dict[str, Any]:
    from scripts.perf_suite import synthetic_mcq_tsv

    with tempfile.TemporaryDirectory(prefix="fasteval-overlap-") as tmp:
        work = Path(tmp)
        (work / "LMUData").mkdir()
        synthetic_mcq_tsv(work / "LMUData" / "PERF_OVERLAP.tsv", rows)
        delay = ["--tokens", "8", "--token-delay", str(token_delay_s)]
        model, model_url = _server("perf-vlm", *delay)
        judge, judge_url = _server("perf-judge", *delay)
        try:
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("OPENAI_API_BASE", "OPENAI_API_KEY", "LOCAL_LLM")
            }
            env |= {
                "LMUData": str(work / "LMUData"),
                "PRED_FORMAT": "tsv",
                "FASTEVAL_CACHE": str(work / "cache"),
            }
            bench = [sys.executable, str(REPO / "bench.py"), "--data", "PERF_OVERLAP"]
            model_args = ["--api-base", model_url, "--concurrency", str(concurrency)]
            judge_args = ["--judge", "perf-judge", "--judge-base-url", judge_url]
            judge_args += ["--judge-concurrency", str(concurrency)]
            _timed([*bench, *model_args, "--judge", "exact_matching", "--work-dir", str(work / "warm"),
                    "--limit", "1"], env)  # fmt: skip  # dataset conversion, outside the timings
            gen = _timed(
                [*bench, *model_args, "--judge", "exact_matching", "--work-dir", str(work / "a")], env
            )
            only_judge = _timed(
                [*bench, "--mode", "eval", "--model", "perf-vlm", *judge_args, "--work-dir", str(work / "a")],
                env,
            )
            both = _timed([*bench, *model_args, *judge_args, "--work-dir", str(work / "b")], env)
        finally:
            for proc in (model, judge):
                proc.terminate()
                proc.wait(10)
    longer = max(gen, only_judge)
    return {
        "rows": rows,
        "concurrency": concurrency,
        "token_delay_s": token_delay_s,
        "generation_alone_s": round(gen, 2),
        "judging_alone_s": round(only_judge, 2),
        "both_in_one_run_s": round(both, 2),
        "both_over_longer": round(both / longer, 3),
        "serial_sum_over_longer": round((gen + only_judge) / longer, 3),
    }


def markdown(r: dict[str, Any]) -> list[str]:
    return [
        "## 3. Generation and judging overlap",
        "",
        f"{r['rows']} synthetic MCQ rows; the test server is both the model and the judge (8 tokens, "
        f"{r['token_delay_s'] * 1000:.0f} ms per token, concurrency {r['concurrency']} each); every answer "
        "needs the judge under the default rules. Wall times of real `bench.py` runs, start-up included.",
        "",
        "| run | wall (s) |",
        "|---|---|",
        f"| generation alone (`--judge exact_matching`) | {r['generation_alone_s']} |",
        f"| judging alone (`--mode eval` of the stored answers) | {r['judging_alone_s']} |",
        f"| both in one run | {r['both_in_one_run_s']} |",
        "",
        f"both / longer alone = **{r['both_over_longer']}** (1.0 = full overlap; one after the other: "
        f"{r['serial_sum_over_longer']}).",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--append", type=Path, help="append the section to this markdown file (and a .json beside it)"
    )
    args = p.parse_args(argv)
    result = measure_overlap()
    text = "\n".join(markdown(result))
    print(text)
    if args.append is not None:
        with args.append.open("a") as f:
            f.write("\n" + text)
        args.append.with_name("RESULTS_overlap.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
