"""`python bench.py` end to end, as a user runs it, against the deterministic fault server.

The real-engine path is covered in test_engine_e2e.py; here the server is a test tool so that
faults, kills and byte-equality can be forced.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from fasteval.data.tabular import read_table
from tests.fixtures import conformance_lmudata

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE_LMU = conformance_lmudata()  # the repository's copy of the kit's $LMUData


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "fault_server.py"),
                "--port",
                "0",
                "--model",
                "fake-vlm",
                *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def stats(self) -> dict[str, object]:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def lmudata(tmp_path: Path) -> Path:
    d = tmp_path / "LMUData"
    d.mkdir()
    for name in ("MME", "MMBench_DEV_EN"):
        shutil.copy(CONFORMANCE_LMU / f"{name}.tsv", d / f"{name}.tsv")
    return d


def bench(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LMUData")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(REPO / "bench.py"), *args], cwd=cwd, env=full_env, capture_output=True, text=True
    )


def rows_in(tsv: Path) -> int:
    return pl.read_csv(tsv, separator="\t", columns=["index"], quote_char=None).height


def test_mme_run_writes_vlmevalkit_files_with_one_request_per_row(
    server: Server, lmudata: Path, tmp_path: Path
):
    r = bench(
        "--data",
        "MME",
        "--api-base",
        server.url,
        "--lmudata",
        str(lmudata),
        "--work-dir",
        "out",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "fake-vlm"
    assert (out / "fake-vlm_MME.xlsx").is_file()
    assert (out / "fake-vlm_MME_score.csv").read_text().startswith('"perception","reasoning"')
    summary = json.loads((out / "summary.json").read_text())["datasets"]["MME"]
    n = rows_in(lmudata / "MME.tsv")
    assert summary["rows"] == summary["answered"] == n
    assert summary["failed"] == 0
    assert summary["rules"] == "vlmevalkit-2026.06"
    assert summary["perf"]["completed"] == n
    stats = server.stats()
    assert stats["requests"] == n
    assert set(stats["attempts"].values()) == {1}  # type: ignore[union-attr]


def test_rerun_sends_nothing_and_rewrites_identical_files(server: Server, lmudata: Path, tmp_path: Path):
    args = ("--data", "MME", "--api-base", server.url, "--lmudata", str(lmudata), "--work-dir", "out")
    env = {"PRED_FORMAT": "tsv"}
    assert bench(*args, cwd=tmp_path, env=env).returncode == 0
    out = tmp_path / "out" / "fake-vlm"
    first = {p.name: p.read_bytes() for p in (out / "fake-vlm_MME.tsv", out / "fake-vlm_MME_score.csv")}
    sent = server.stats()["requests"]
    assert bench(*args, cwd=tmp_path, env=env).returncode == 0
    assert server.stats()["requests"] == sent
    assert {p: (out / p).read_bytes() for p in first} == first


def test_two_replicas_share_the_load(lmudata: Path, tmp_path: Path):
    a, b = Server(), Server()
    try:
        r = bench(
            "--data", "MME", "--api-base", a.url, b.url, "--lmudata", str(lmudata), "--work-dir", "out",
            cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        n = rows_in(lmudata / "MME.tsv")
        sa, sb = a.stats()["requests"], b.stats()["requests"]
        assert sa + sb == n
        assert min(sa, sb) > n // 4  # type: ignore[operator]
        summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())
        assert sorted(e["sent"] for e in summary["run"]["endpoints"]) == sorted([sa, sb])
    finally:
        a.close()
        b.close()


def test_faults_end_as_answers_or_typed_failures_never_as_scored_text(lmudata: Path, tmp_path: Path):
    s = Server("--fault-rate", "0.2", "--permanent-fail-rate", "0.05", "--stall", "5", "--seed", "3")
    try:
        r = bench(
            "--data", "MME", "--api-base", s.url, "--lmudata", str(lmudata), "--work-dir", "out",
            "--timeout", "1", "--retry", "4", cwd=tmp_path, env={"PRED_FORMAT": "tsv"},
        )  # fmt: skip
    finally:
        s.close()
    assert r.returncode == 3, r.stderr  # some rows failed for good: exit status says so
    out = tmp_path / "out" / "fake-vlm"
    summary = json.loads((out / "summary.json").read_text())["datasets"]["MME"]
    n = rows_in(lmudata / "MME.tsv")
    assert summary["answered"] + summary["failed"] == n
    assert summary["failed"] > 0 and set(summary["failures_by_kind"]) <= {
        "context_length",
        "timeout",
        "server_5xx",
    }
    preds = read_table(out / "fake-vlm_MME.tsv")
    assert preds.height == summary["answered"] == summary["scores_cover_rows"]
    words = {"Yes", "No", "A", "B", "C", "D"}
    assert all(p.split()[0] in words for p in preds["prediction"].to_list())  # server answers only, no errors
    assert "failed for good" in r.stdout


def test_sigkill_midway_then_resume_requests_each_row_once(lmudata: Path, tmp_path: Path):
    s = Server("--token-delay", "0.01", "--tokens", "8")
    args = (
        "--data",
        "MME",
        "--api-base",
        s.url,
        "--lmudata",
        str(lmudata),
        "--work-dir",
        "out",
        "--concurrency",
        "8",
    )
    env = {k: v for k, v in os.environ.items() if k != "LMUData"} | {"PRED_FORMAT": "tsv"}
    try:
        proc = subprocess.Popen([sys.executable, str(REPO / "bench.py"), *args], cwd=tmp_path, env=env)
        n = rows_in(lmudata / "MME.tsv")
        deadline = time.monotonic() + 60
        while s.stats()["answered"] < n // 2 and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = s.stats()
        r = subprocess.run([sys.executable, str(REPO / "bench.py"), *args], cwd=tmp_path, env=env)
        assert r.returncode == 0
        after = s.stats()
    finally:
        s.close()
    attempts: dict[str, int] = after["attempts"]  # type: ignore[assignment]
    assert len(attempts) == n  # every row was asked
    twice = [h for h, k in attempts.items() if k > 1]
    assert len(twice) <= 8  # only the requests in flight at the kill (concurrency 8) are asked again
    assert after["requests"] - before["requests"] <= n - before["answered"] + 8  # type: ignore[operator]
    preds = read_table(tmp_path / "out" / "fake-vlm" / "fake-vlm_MME.tsv")
    assert preds.height == n and preds["index"].n_unique() == n
    # the same command uninterrupted, in a fresh work dir, writes byte-identical files
    s2 = Server("--tokens", "8")
    try:
        args2 = ("--data", "MME", "--api-base", s2.url, "--lmudata", str(lmudata), "--work-dir", "fresh")
        assert bench(*args2, cwd=tmp_path, env={"PRED_FORMAT": "tsv"}).returncode == 0
    finally:
        s2.close()
    for name in ("fake-vlm_MME.tsv", "fake-vlm_MME_score.csv"):
        assert (tmp_path / "out" / "fake-vlm" / name).read_bytes() == (
            tmp_path / "fresh" / "fake-vlm" / name
        ).read_bytes()


def test_unknown_dataset_is_one_line_naming_close_names(tmp_path: Path):
    r = bench("--data", "MMBench_DEV_ENN", "--api-base", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "MMBench_DEV_EN" in r.stderr


def test_unreachable_endpoint_is_one_line_naming_the_url(lmudata: Path, tmp_path: Path):
    r = bench(
        "--data", "MME", "--api-base", "http://127.0.0.1:9/v1", "--model-name", "m",
        "--lmudata", str(lmudata), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "127.0.0.1:9" in r.stderr


def test_no_server_running_says_how_to_start_one(lmudata: Path, tmp_path: Path):
    r = bench("--data", "MME", "--lmudata", str(lmudata), "--state-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert r.returncode == 2
    assert "make serve MODEL=" in r.stderr and r.stderr.count("\n") == 1


def test_api_key_never_reaches_a_file_or_the_logs(server: Server, lmudata: Path, tmp_path: Path):
    flag_key, env_key, dotenv_key = (
        "sk-flag-0123456789abcdef",
        "sk-env-0123456789abcdef",
        "sk-dotenv-0123456789",
    )
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={dotenv_key}\n")
    r = bench(
        "--data", "MME", "--api-base", server.url, "--api-key", flag_key, "--lmudata", str(lmudata),
        "--work-dir", "out", "--verbose", cwd=tmp_path,
        env={"FASTEVAL_API_KEY": env_key, "OPENAI_API_KEY": env_key},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for key in (flag_key, env_key, dotenv_key):
        assert key not in r.stdout and key not in r.stderr
        for path in (tmp_path / "out").rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path
