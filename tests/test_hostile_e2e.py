"""`python bench.py` against hostile servers and a damaged store, as a user meets them: exit codes,
request counts, bytes stored, the client's own memory, and never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from fasteval.inference.store import RunStore, received_text
from tests.fixtures import conformance_lmudata
from tests.test_bench_e2e import Server

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[1]
ROWS = 40  # --limit: enough rows in flight at once to show growth, few enough to be quick


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float  # the bench.py process's own peak, from wait4


def bench(tmp_path: Path, url: str, *args: str) -> Run:
    lmu = tmp_path / "LMUData"
    if not lmu.is_dir():
        lmu.mkdir(parents=True)
        shutil.copy(conformance_lmudata() / "MME.tsv", lmu / "MME.tsv")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LMUData")}
    argv = [sys.executable, str(REPO / "bench.py"), "--data", "MME", "--api-base", url]
    argv += ["--lmudata", str(lmu), "--work-dir", "out", "--judge", "exact_matching", *args]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=o, stderr=e, text=True)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            proc.returncode = 0
    return Run(os.waitstatus_to_exitcode(status), out.read_text(), err.read_text(), usage.ru_maxrss / 1024)


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stdout + run.stderr and "panicked" not in run.stderr, run.stderr


def test_an_endless_stream_is_cut_without_growing_the_client(tmp_path: Path) -> None:
    normal = Server()
    try:
        baseline = bench(tmp_path / "normal", normal.url, "--limit", str(ROWS), "--timeout", "5")
    finally:
        normal.close()
    assert baseline.returncode == 0, baseline.stderr
    endless = Server("--hostile", "endless")
    try:
        run = bench(tmp_path / "endless", endless.url, "--limit", str(ROWS), "--timeout", "5")
        stats = endless.stats()
    finally:
        endless.close()
    no_traceback(run)
    assert run.returncode == 3
    assert f"{ROWS} rows failed for good (reply_too_long {ROWS})" in " ".join(run.stdout.split())
    assert stats["requests"] == ROWS  # cut once per row, never retried
    assert run.max_rss_mb - baseline.max_rss_mb < 100, (run.max_rss_mb, baseline.max_rss_mb)
    stored = RunStore.for_run(tmp_path / "endless" / "out", "fake-vlm", "MME").read()
    assert stored.height == ROWS and stored["text"].is_null().all()  # nothing stored as an answer


def test_a_trickle_fails_its_rows_at_the_timeout(tmp_path: Path) -> None:
    server = Server("--hostile", "trickle", "--trickle-s", "1")
    try:
        run = bench(tmp_path, server.url, "--limit", "3", "--timeout", "1", "--retry", "1")
        stats = server.stats()
    finally:
        server.close()
    no_traceback(run)
    assert run.returncode == 3 and "timeout 3" in run.stdout
    assert stats["requests"] == 6  # each row: the attempt and its one retry


def test_one_lone_surrogate_among_the_replies_loses_nothing(tmp_path: Path) -> None:
    server = Server("--hostile", "surrogate", "--hostile-rate", "0.05", "--seed", "3")
    try:
        first = bench(tmp_path, server.url)
        stats = server.stats()
        again = bench(tmp_path, server.url)
        sent_again = server.stats()["requests"] - stats["requests"]  # type: ignore[operator]
    finally:
        server.close()
    for run in (first, again):
        no_traceback(run)
        assert run.returncode == 0, run.stderr
    odd = stats["faults"]["surrogate"]  # type: ignore[index]
    assert odd >= 1 and sent_again == 0
    stored = RunStore.for_run(tmp_path / "out", "fake-vlm", "MME").read()
    summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())["datasets"]["MME"]
    assert summary["answered"] == summary["rows"] == stored.height
    raw = stored.filter(pl.col("text_raw").is_not_null())
    assert raw.height == odd
    assert all(received_text(t, r).endswith("\ud800") for t, r in raw.select("text", "text_raw").iter_rows())


def test_a_damaged_store_is_set_aside_and_its_rows_asked_again(tmp_path: Path) -> None:
    server = Server()
    try:
        assert bench(tmp_path, server.url).returncode == 0
        sent = server.stats()["requests"]
        store = RunStore.for_run(tmp_path / "out", "fake-vlm", "MME")
        (seg,) = store.segments()
        data = bytearray(seg.read_bytes())
        for at in range(len(data) // 2, len(data) // 2 + 16):  # 16 flipped bytes: once a Rust panic
            data[at] ^= 0xFF
        seg.write_bytes(bytes(data))
        rerun = bench(tmp_path, server.url)
        asked = server.stats()["requests"] - sent  # type: ignore[operator]
    finally:
        server.close()
    no_traceback(rerun)
    assert rerun.returncode == 0, rerun.stderr
    warned = [line for line in rerun.stderr.splitlines() if "is damaged" in line]
    assert len(warned) == 1 and seg.name in warned[0]
    assert asked == sent  # every row of the set-aside segment, once
    assert (seg.parent / f"{seg.name}.damaged").is_file()
    frame = store.read_all()
    assert frame.height == frame["key"].n_unique() == sent  # every row answered exactly once
