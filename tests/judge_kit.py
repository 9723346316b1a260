"""Replay VLMEvalKit's judge-scored conformance cases against the kit's scripted judge.

The kit's `judge_server.py` is deterministic: a reply is a pure function of (prompt text,
temperature), and the only state is a per-(prompt, temperature) request counter that decides the
leading HTTP 500s. So a replay that sends, for each (prompt, temperature), the same number of
requests in the same order as VLMEvalKit did sees exactly the replies VLMEvalKit saw. Two
transports give the same answers: `InProcessJudge` (imports the server's reply logic and keeps the
counter itself) and `HttpJudge` (the real server as a subprocess on a free localhost port).

`judge_call` is VLMEvalKit's `BaseAPI.generate` with run.py's retry=6, driven by the pure
`fasteval.kinds.judge_calls` functions; every request is recorded so the test can rebuild the
kit's `judge_calls.csv` (one row per distinct prompt and temperature).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from fasteval.kinds.judge_calls import HTTP_ATTEMPTS, Attempt, attempt_answer, call_result
from tests.fixtures import judge_server_script

REPO = Path(__file__).resolve().parents[1]
HELLO = "hello"  # judge.working()'s probe


def find_kit() -> Path:
    """The repository's copy of the conformance folder (holding judge_server.py and public/)."""
    return judge_server_script().parent


def load_server_module(kit: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("kit_judge_server", kit / "judge_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prompt_sha(prompt: str) -> str:
    """judge_server's `_h(prompt)[:16]`: sha256 of the text followed by a NUL byte."""
    return hashlib.sha256(prompt.encode("utf-8") + b"\x00").hexdigest()[:16]


def temperature_key(temperature: float) -> str:
    return repr(round(float(temperature), 6))


@dataclass(frozen=True)
class Request:
    prompt: str
    temperature: float
    max_tokens: int
    status: int
    content: str | None


class Transport(Protocol):
    def post(self, prompt: str, temperature: float, max_tokens: int) -> tuple[int, str | None]: ...


@dataclass
class InProcessJudge:
    """judge_server's Handler.do_POST without HTTP: same reply, same 500 counter."""

    server: ModuleType
    counts: dict[str, int] = field(default_factory=dict)

    def post(self, prompt: str, temperature: float, max_tokens: int) -> tuple[int, str | None]:
        del max_tokens  # ignored by the server
        kind, text = self.server.reply_for(prompt, temperature)
        k = self.server.leading_failures(prompt, kind, temperature)
        key = self.server._h(prompt, self.server.tkey(temperature))
        seen = self.counts.get(key, 0)
        self.counts[key] = seen + 1
        return (500, None) if seen < k else (200, text)


@dataclass
class HttpJudge:
    """The real server over HTTP: chat completions with one user message, as VLMEvalKit posts it."""

    url: str
    model: str = "gpt-4o-mini-2024-07-18"

    def post(self, prompt: str, temperature: float, max_tokens: int) -> tuple[int, str | None]:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "n": 1,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        req = urllib.request.Request(
            self.url, json.dumps(body).encode("utf-8"), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        return status, content if isinstance(content, str) else None


@contextmanager
def judge_server(script: Path, port_file: Path, log: Path | None = None) -> Iterator[str]:
    """A fresh kit judge server (`script --port 0`: a free port, fresh HTTP-500 counters), logging
    every request to `log` when given; yields `http://127.0.0.1:PORT`; stopped on exit. The conformance
    tests all start theirs here (judge_server.py, or the video kit's judge_server_video.py)."""
    logging = [] if log is None else ["--log", str(log)]
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--port-file", str(port_file), *logging],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_file.is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{script.name} did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def http_judge(kit: Path, tmp: Path) -> Iterator[HttpJudge]:
    """A fresh `judge_server.py` subprocess as a transport, stopped on exit."""
    with judge_server(kit / "judge_server.py", tmp / "judge_port.txt") as base:
        yield HttpJudge(f"{base}/v1/chat/completions")


@dataclass
class Recorder:
    """Judge calls with VLMEvalKit's discipline, every HTTP request kept."""

    transport: Transport
    retry: int = HTTP_ATTEMPTS
    requests: list[Request] = field(default_factory=list)

    def call(self, prompt: str, temperature: float, max_tokens: int) -> str:
        attempts: list[Attempt] = []
        while True:
            status, content = self.transport.post(prompt, temperature, max_tokens)
            self.requests.append(Request(prompt, temperature, max_tokens, status, content))
            attempts.append(attempt_answer(status, content))
            result = call_result(attempts, self.retry)
            if result is not None:
                return result

    def calls_table(self, kind_of: Any) -> list[dict[str, str]]:
        """judge_calls.csv's rows: one per distinct (prompt, temperature), sorted as the kit's."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self.requests:
            key = (prompt_sha(r.prompt), temperature_key(r.temperature))
            row = rows.setdefault(
                key,
                {
                    "kind": kind_of(r.prompt),
                    "prompt_sha256": key[0],
                    "temperature": key[1],
                    "requests": 0,
                    "http_500": 0,
                    "max_tokens": str(r.max_tokens),
                    "reply": "",
                },
            )
            row["requests"] += 1
            if r.status == 500:
                row["http_500"] += 1
            elif r.content is not None:
                row["reply"] = r.content
        out = [{k: str(v) for k, v in row.items()} for row in rows.values()]
        return sorted(out, key=lambda d: (d["kind"], d["prompt_sha256"], float(d["temperature"])))
