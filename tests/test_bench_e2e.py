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

from fasteval.data.tabular import read_table, write_tsv
from fasteval.inference.store import RunStore
from tests.fixtures import conformance_case, conformance_lmudata

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
        if "--when-free" in args:  # it prints its URL only once the port is free: known already
            self.url = f"http://127.0.0.1:{args[args.index('--port') + 1]}/v1"
        else:
            self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    @property
    def port(self) -> str:
        return self.url.removesuffix("/v1").rsplit(":", 1)[1]

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


def error_lines(r: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without the one-line warnings (the conformance MME.tsv has a non-published MD5)."""
    return [line for line in r.stderr.splitlines() if not line.startswith("fasteval: warning: ")]


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
        kept = ok_rows(tmp_path / "out")  # on disk at the kill
        r = subprocess.run([sys.executable, str(REPO / "bench.py"), *args], cwd=tmp_path, env=env)
        assert r.returncode == 0
        after = s.stats()
    finally:
        s.close()
    assert 0 < kept < n
    attempts: dict[str, int] = after["attempts"]  # type: ignore[assignment]
    assert len(attempts) == n and max(attempts.values()) <= 2  # every row asked, at most once a run
    # the resume sends exactly the rows the killed run had not stored: those in flight at the kill and
    # those not yet written (how many depends on the disk and the load, so it is counted, not bounded)
    resumed = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())["run"]
    assert [e["sent"] for e in resumed["endpoints"]] == [n - kept]
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
    assert len(error_lines(r)) == 1 and "MMBench_DEV_EN" in r.stderr


def test_unreachable_endpoint_is_one_line_naming_the_url(lmudata: Path, tmp_path: Path):
    r = bench(
        "--data", "MME", "--api-base", "http://127.0.0.1:9/v1", "--model-name", "m",
        "--lmudata", str(lmudata), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert len(error_lines(r)) == 1 and "127.0.0.1:9" in r.stderr


def test_no_server_running_says_how_to_start_one(lmudata: Path, tmp_path: Path):
    r = bench("--data", "MME", "--lmudata", str(lmudata), "--state-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert r.returncode == 2
    assert "make serve MODEL=" in r.stderr and len(error_lines(r)) == 1


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


# ---------------------------------------------------------------------------------------------
# Fail fast and say why (issue 14)
# ---------------------------------------------------------------------------------------------


def ok_rows(work_dir: Path, dataset: str = "MME") -> int:
    store = RunStore.for_run(work_dir, "fake-vlm", dataset)
    return store.read().filter(pl.col("status") == "ok").height


def assert_clean(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stdout + r.stderr


def test_a_server_killed_midway_stops_the_run_fast_and_a_rerun_sends_only_the_missing_rows(
    lmudata: Path, tmp_path: Path
):
    n = rows_in(lmudata / "MME.tsv")
    args = ("--data", "MME", "--lmudata", str(lmudata), "--work-dir", "out", "--concurrency", "8")
    dying = Server("--die-after", str(n // 4), "--token-delay", "0.01", "--tokens", "8")
    port = dying.port  # bound by the server itself: no other process can take it in between
    r = bench(*args, "--api-base", dying.url, cwd=tmp_path)
    dying.proc.wait(10)
    assert r.returncode == 3, r.stderr
    # stopped fast: the rows in flight at the death failed, and nothing more was sent (every request
    # sent is stored, answered or failed); a run that kept trying would have stored ~200 failures
    assert RunStore.for_run(tmp_path / "out", "fake-vlm", "MME").read_all().height <= n // 4 + 8
    assert_clean(r)
    errors = [line for line in r.stderr.splitlines() if line.startswith("fasteval: error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0]
    assert "rerun the same command once it is back" in errors[0]
    answered = ok_rows(tmp_path / "out")
    assert n // 4 - 8 <= answered <= n // 4
    back = Server("--port", port, "--tokens", "8")
    try:
        r = bench(*args, "--api-base", back.url, cwd=tmp_path, env={"PRED_FORMAT": "tsv"})
        stats = back.stats()
    finally:
        back.close()
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    assert stats["requests"] == n - answered  # only the missing rows
    assert set(stats["attempts"].values()) == {1}  # type: ignore[union-attr]
    assert read_table(tmp_path / "out" / "fake-vlm" / "fake-vlm_MME.tsv").height == n


def test_one_replica_dying_does_not_stop_the_run(lmudata: Path, tmp_path: Path):
    n = rows_in(lmudata / "MME.tsv")
    dying, alive = Server("--die-after", "30", "--token-delay", "0.005"), Server("--token-delay", "0.005")
    try:
        r = bench(
            "--data", "MME", "--api-base", dying.url, alive.url, "--lmudata", str(lmudata),
            "--work-dir", "out", "--concurrency", "8", cwd=tmp_path,
        )  # fmt: skip
        served = alive.stats()["answered"]
    finally:
        dying.proc.wait(10)
        alive.close()
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    assert ok_rows(tmp_path / "out") == n and served >= n - 30  # type: ignore[operator]


@pytest.mark.parametrize("model_name", [("--model-name", "fake-vlm"), ()])
def test_a_refused_key_is_named_before_any_chat_request(
    model_name: tuple[str, ...], lmudata: Path, tmp_path: Path
):
    s = Server("--api-key", "sk-right-0123456789")
    try:
        r = bench(
            "--data", "MME", "--api-base", s.url, *model_name, "--lmudata", str(lmudata),
            cwd=tmp_path, env={"FASTEVAL_API_KEY": "sk-wrong-0123456789"},
        )  # fmt: skip
        chats = s.stats()["chat_requests"]
    finally:
        s.close()
    assert r.returncode == 2
    assert_clean(r)
    assert len(error_lines(r)) == 1 and "refused the API key" in r.stderr and "--api-key" in r.stderr
    assert "FASTEVAL_API_KEY" in r.stderr and "no OpenAI-compatible server" not in r.stderr
    assert "rerun" not in r.stderr and "sk-wrong" not in r.stderr
    assert chats == 0


def test_a_misspelt_model_name_is_caught_before_any_chat_request(
    server: Server, lmudata: Path, tmp_path: Path
):
    r = bench(
        "--data", "MME", "--api-base", server.url, "--model-name", "fake-vlmm", "--lmudata", str(lmudata),
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert_clean(r)
    assert len(error_lines(r)) == 1 and "'fake-vlmm'" in r.stderr and "fake-vlm)" in r.stderr
    assert server.stats()["chat_requests"] == 0


def test_a_second_run_on_the_same_store_exits_naming_the_pid(lmudata: Path, tmp_path: Path):
    store = RunStore.for_run(tmp_path / "out", "fake-vlm", "MME")
    holder = store.lock()
    s = Server()
    try:
        r = bench(
            "--data", "MME", "--api-base", s.url, "--lmudata", str(lmudata), "--work-dir", "out", cwd=tmp_path
        )  # fmt: skip
        chats = s.stats()["chat_requests"]
    finally:
        holder.release()
        s.close()
    assert r.returncode == 2
    assert_clean(r)
    assert len(error_lines(r)) == 1 and f"pid {os.getpid()}" in r.stderr
    assert chats == 0


def test_credentials_in_the_url_are_never_shown_or_stored(server: Server, lmudata: Path, tmp_path: Path):
    secret = "sk-in-url-0123456789"
    url = server.url.replace("http://", f"http://user:{secret}@")
    r = bench(
        "--data", "MME", "--api-base", url, "--lmudata", str(lmudata), "--work-dir", "out", "--verbose",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert secret not in r.stdout + r.stderr
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())
    assert summary["run"]["endpoints"][0]["base_url"].startswith("http://user:***@")
    dead = bench(
        "--data", "MME", "--api-base", f"http://user:{secret}@127.0.0.1:9/v1", "--model-name", "m",
        "--lmudata", str(lmudata), cwd=tmp_path,
    )  # fmt: skip
    assert dead.returncode == 2 and secret not in dead.stderr and "user:***@127.0.0.1:9" in dead.stderr


def test_partial_coverage_is_named_printed_and_rescored_the_same_for_every_kind(
    lmudata: Path, tmp_path: Path
):
    s = Server("--permanent-fail-rate", "0.1", "--seed", "5")
    common = ("--lmudata", str(lmudata), "--work-dir", "out", "--judge", "exact_matching")
    try:
        r = bench("--data", "MME", "MMBench_DEV_EN", "--api-base", s.url, *common, cwd=tmp_path)
    finally:
        s.close()
    assert r.returncode == 3, r.stderr
    assert_clean(r)
    out = tmp_path / "out" / "fake-vlm"
    summary = json.loads((out / "summary.json").read_text())["datasets"]
    for name, score in (("MME", "score"), ("MMBench_DEV_EN", "acc")):
        cov = summary[name]["coverage"]
        assert cov["partial"] and cov["failed"] > 0 and cov["scored"] + cov["failed"] == cov["rows"]
        line = f"scored {cov['scored']} of {cov['rows']} rows ({cov['failed']} failed, 0 missing)"
        assert line in " ".join(r.stdout.split())
        assert (out / f"fake-vlm_{name}_{score}_partial.csv").is_file()
        assert not (out / f"fake-vlm_{name}_{score}.csv").exists()
        again = bench("--mode", "eval", "--data", name, "--model", "fake-vlm", *common, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert_clean(again)
        assert line in " ".join(again.stdout.split())


def test_a_prediction_file_covering_half_the_rows_says_so(lmudata: Path, tmp_path: Path):
    kit = conformance_case("MME") / "input" / "KitModel_MME.tsv"
    full = read_table(kit)
    half = full.filter(pl.col("category").is_in(full["category"].unique().sort().to_list()[::2]))
    pred = tmp_path / "half.tsv"
    write_tsv(half, pred)
    r = bench(
        "--mode", "eval", "--data", "MME", "--model", "kit", "--pred", str(pred), "--lmudata", str(lmudata),
        "--work-dir", "out", "--judge", "exact_matching", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    n = rows_in(lmudata / "MME.tsv")
    assert f"scored {half.height} of {n} rows (0 failed, {n - half.height} missing)" in " ".join(
        r.stdout.split()
    )
    assert (tmp_path / "out" / "kit" / "kit_MME_score_partial.csv").is_file()


def test_the_md5_warning_is_one_line_on_stderr(server: Server, lmudata: Path, tmp_path: Path):
    r = bench(
        "--data", "MME", "--api-base", server.url, "--lmudata", str(lmudata), "--limit", "4", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "MD5" in line]
    assert len(warnings) == 1 and warnings[0].startswith("fasteval: warning: ") and "MD5" not in r.stdout
    assert server.stats()["requests"] == 4


def test_a_kill_right_after_the_first_answers_loses_only_requests_in_flight(lmudata: Path, tmp_path: Path):
    s = Server("--token-delay", "0.05", "--tokens", "8")  # at least 0.4 s a request: 280 take minutes
    args = ("--data", "MME", "--api-base", s.url, "--lmudata", str(lmudata), "--work-dir", "out",
            "--concurrency", "1", "--judge", "exact_matching")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "LMUData"}
    try:
        proc = subprocess.Popen([sys.executable, str(REPO / "bench.py"), *args], cwd=tmp_path, env=env)
        deadline = time.monotonic() + 60  # only a broken run waits this out
        while s.stats()["answered"] < 2 and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.02)
        answered = int(s.stats()["answered"])  # type: ignore[call-overload]
        # the answers reach the disk while the run goes on, not at its end (however slow the machine)
        while ok_rows(tmp_path / "out") < answered - 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None  # the run is still going
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        s.close()
    assert ok_rows(tmp_path / "out") >= answered - 1 >= 1  # a kill keeps what was stored


def test_a_server_restarted_within_the_window_costs_no_row(lmudata: Path, tmp_path: Path):
    n = rows_in(lmudata / "MME.tsv")
    dying = Server("--die-after", str(n // 4), "--token-delay", "0.01", "--tokens", "8")
    port = dying.port
    # the restart is already running (imports paid) and takes the port the moment the first server
    # dies: the outage stays inside the 10 s window however long Python takes to start on a busy machine
    back = Server("--port", port, "--when-free", "--token-delay", "0.01", "--tokens", "8")
    args = ("--data", "MME", "--api-base", dying.url, "--lmudata", str(lmudata), "--work-dir", "out",
            "--concurrency", "8", "--judge", "exact_matching")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "LMUData"}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench.py"), *args], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
        assert dying.proc.wait(10) == -signal.SIGKILL  # the first server did die mid-run
        assert (
            back.proc.stdout is not None and back.proc.stdout.readline().strip() == back.url
        )  # and was replaced
    finally:
        back.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    assert ok_rows(tmp_path / "out") == n
    summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())["datasets"]["MME"]
    assert summary["failed"] == 0 and summary["answered"] == n


def test_a_key_revoked_mid_run_stops_after_a_few_refusals(lmudata: Path, tmp_path: Path):
    s = Server("--refuse-after", "40", "--token-delay", "0.005")
    try:
        r = bench(
            "--data", "MME", "--api-base", s.url, "--lmudata", str(lmudata), "--work-dir", "out",
            "--concurrency", "8", cwd=tmp_path,
        )  # fmt: skip
        chats = s.stats()["chat_requests"]
    finally:
        s.close()
    assert r.returncode == 2
    assert_clean(r)
    errors = error_lines(r)
    assert len(errors) == 1 and "refused the API key" in errors[0] and "--api-key" in errors[0]
    assert "rerun" not in r.stdout + r.stderr
    # three refusals stop it: at most those, the requests in flight and the slots the refusals freed
    assert 40 + 3 <= chats <= 40 + 8 + 3


def test_an_unusable_work_dir_is_one_line_before_any_request(server: Server, lmudata: Path, tmp_path: Path):
    (tmp_path / "file").write_text("not a directory")
    r = bench(
        "--data", "MME", "--api-base", server.url, "--lmudata", str(lmudata), "--work-dir", "file/out",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert_clean(r)
    assert len(error_lines(r)) == 1 and "cannot write file/out/fake-vlm/.fasteval/MME" in r.stderr
    assert server.stats()["chat_requests"] == 0
