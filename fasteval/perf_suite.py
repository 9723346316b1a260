"""`make perf`: measure the client's own costs and write them down (never asserted in tests).

Figures, each from a real `bench.py` process against the deterministic test server on loopback:
- client CPU per request (the process's CPU time over the rows it sent, start-up subtracted);
- time from the command to its first request reaching the server;
- peak client memory (max RSS) at 2,000 rows vs 20,000 rows, to show it stays flat;
- time to score 15,000 multiple-choice predictions (SEEDBench's size).
Run as `python -m fasteval.perf_suite --out perf/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAULT_SERVER = REPO / "tests" / "fault_server.py"


def synthetic_mcq_tsv(path: Path, rows: int, *, seed: int = 0, distinct_images: int = 64) -> Path:
    """A VLMEvalKit-format MCQ TSV with real PNGs (few distinct ones, so generating it is quick)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    images = []
    for i in range(distinct_images):
        img = Image.new("RGB", (64, 64), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        ImageDraw.Draw(img).ellipse((8, 8, 40 + i % 20, 40), fill=(255, 255, 255))
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


def measure(out: Path) -> dict[str, object]:
    work = out.parent / ".perf_work"
    shutil.rmtree(work, ignore_errors=True)  # a leftover store would turn the runs into no-op resumes
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
    from fasteval.scoring.bench import bench_mcq_scoring

    results["score_15000_mcq_s"] = round(bench_mcq_scoring(15_000), 3)
    return results


def write_markdown(results: dict[str, object], out: Path) -> None:
    lines = [
        "# fasteval performance (client side)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores by `make perf`; "
        "server: tests/fault_server.py on loopback (no model), so these are the client's own costs.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    for name in ("PERF_2K", "PERF_20K"):
        r = results[name]
        assert isinstance(r, dict)
        lines.append(f"| {name}: CPU per request | {r['cpu_ms_per_request']} ms | <= 1 ms |")
        lines.append(f"| {name}: peak RSS | {r['max_rss_mb']} MB | < 500 MB, flat |")
        lines.append(f"| {name}: throughput vs an instant server | {r['req_per_s']} req/s | |")
    lines.append(f"| time from command to first request | {results['time_to_first_request_s']} s | < 1 s |")
    lines.append(f"| score 15,000 MCQ predictions | {results['score_15000_mcq_s']} s | < 2 s |")
    lines += ["", "Raw:", "", "```json", json.dumps(results, indent=2), "```", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", type=Path, default=Path("perf/RESULTS.md"))
    args = p.parse_args(argv)
    results = measure(args.out)
    write_markdown(results, args.out)
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
