"""A deterministic, fault-injecting OpenAI-compatible chat server for tests.

Answers are a pure function of the request messages, so two runs are byte-equal. Faults come from
a seeded hash of (seed, prompt hash, attempt number): a given prompt's n-th attempt always meets the
same fault whatever the concurrency, and transient faults are per attempt so retries can succeed.
`GET /stats` exposes per-prompt counters so tests can assert no row was answered twice.

In process::

    async with FaultServer(FaultConfig(fault_rate=0.3)) as server:
        server.url  # http://127.0.0.1:PORT/v1

As a subprocess (prints its URL on stdout once ready)::

    python tests/fault_server.py --port 0 --fault-rate 0.2 --seed 0 --model tiny
    python tests/fault_server.py --die-after 40      # a crashing engine: SIGKILLs itself at request 41
    python tests/fault_server.py --api-key sk-right  # 401 without `Authorization: Bearer sk-right`
    python tests/fault_server.py --hold-after 5      # chat request 6 on waits for `POST /release`
    python tests/fault_server.py --reply-model other # replies name another model than the one asked
    python tests/fault_server.py --empty-length      # every answer empty, finish_reason "length"
    python tests/fault_server.py --extra-models 500  # /v1/models lists 500 more ids besides --model
    python tests/fault_server.py --thinking inline   # <think>...</think> then the answer (also: open, parser)

Hostile replies (issue 22, `--hostile KIND`): `endless` streams tokens past max_tokens until the
client hangs up, `trickle` sends a whole reply one byte per `--trickle-s`, `no-newline` sends a
`data:` line that never ends, `huge` answers with `--huge-bytes` of text, `surrogate` puts a lone
surrogate (`"\\ud800"`, legal JSON) into the answer of `--hostile-rate` of the prompts (all others
meet the hostile reply for every prompt).

More hostile replies (issue 22's kept-back probes): `gzip-bomb` streams well-formed chunks gzipped
(a few KB on the wire per MB unpacked) until the client hangs up, `deep-json` sends a chunk nested
100,000 arrays deep, `content-list` / `content-number` send `content` as a list / a number,
`choices-null` sends `choices: null`, `html` answers HTTP 200 with an HTML page, `redirect-loop`
redirects the request to itself, `redirect-away` to the same server under another host name
(`localhost`), where `GET /stats` counts the `Authorization` headers that arrived (`leaked_auth`).
`--models-reply KIND` makes `GET /v1/models` hostile: `huge` (a 64 MB list), `endless` (a body that
never ends), `html`, `not-list` (`{"data": "x"}`), `deep` (nested 100,000 deep), `long-id` (one
model id of 100,000 characters).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

TRANSIENT_FAULTS = ("5xx", "429", "stall", "drop", "malformed", "nochoices")
HOSTILE = (
    "endless",
    "trickle",
    "no-newline",
    "huge",
    "surrogate",
    "gzip-bomb",
    "deep-json",
    "content-list",
    "content-number",
    "choices-null",
    "html",
    "redirect-loop",
    "redirect-away",
)
MODELS_REPLIES = ("huge", "endless", "html", "not-list", "deep", "long-id")
DEEP = 100_000  # nesting depth of `deep-json` and `--models-reply deep`
ANSWERS = ("Yes", "No", "A", "B", "C", "D")
WORDS = (" because", " the", " image", " shows", " it", " clearly", " and", " so", " on", " well")


@dataclass(frozen=True)
class FaultConfig:
    model: str = "fault-model"
    fault_rate: float = 0.0  # probability that one attempt meets a transient fault
    faults: tuple[str, ...] = TRANSIENT_FAULTS  # which transient faults to mix
    permanent_fail_rate: float = 0.0  # share of prompts that always get a 400 context-length error
    fail_attempts: int = 0  # the first N attempts of every prompt meet a fault (deterministic tests)
    seed: int = 0
    tokens: int = 4  # tokens in a full answer (the answer word, then filler words)
    token_delay_s: float = 0.0
    retry_after: str = "0.05"  # Retry-After header sent with a 429
    stall_s: float = 30.0  # how long a stalled reply sleeps (longer than the client timeout)
    ignore_stream: bool = False  # answer with plain JSON even when asked to stream
    die_after: int = 0  # SIGKILL this process when chat request N+1 arrives (subprocess use only)
    api_key: str | None = None  # require `Authorization: Bearer KEY` (401 otherwise), /v1/models included
    refuse_after: int = 0  # answer 401 to every chat request after the first N (a key revoked mid-run)
    # hostile replies (issue 22): one of HOSTILE, for every prompt or `hostile_rate` of them
    hostile: str | None = None
    hostile_rate: float = 1.0
    trickle_s: float = 1.0  # seconds between two bytes of a trickled reply
    huge_bytes: int = 50 << 20  # text of a `huge` answer
    hold_after: int = 0  # chat requests after the first N wait until `POST /release` (a test acts between)
    reply_model: str | None = None  # the `model` field of replies (default: the model asked for)
    empty_length: bool = False  # every answer is empty text with finish_reason "length"
    # a thinking model: `inline` writes `<think>...</think>` then the answer, `open` only the end tag
    # (its chat template opened the block), `parser` sends the thinking as `reasoning_content` (vLLM's
    # reasoning parsers); `thinking_tokens` words of thinking count against max_tokens like the answer
    thinking: str | None = None
    thinking_tokens: int = 8
    record_bodies: bool = False  # keep every chat request's JSON body in `stats.bodies` (in order)
    extra_models: int = 0  # /v1/models lists this many more ids (other-0, other-1, ...) after --model
    models_reply: str | None = None  # one of MODELS_REPLIES: a hostile GET /v1/models


def prompt_hash(messages: Any) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def answer_tokens(phash: str, n: int) -> list[str]:
    """The reply to a prompt: an answer word chosen by its hash, then filler words, `n` tokens long."""
    first = ANSWERS[int(phash[:8], 16) % len(ANSWERS)]
    return [first, *[WORDS[(int(phash[8:12], 16) + i) % len(WORDS)] for i in range(max(0, n - 1))]][:n]


@dataclass
class Stats:
    attempts: Counter[str] = field(default_factory=Counter)  # requests received per prompt hash
    ok: Counter[str] = field(default_factory=Counter)  # complete answers sent per prompt hash
    faults: Counter[str] = field(default_factory=Counter)
    chat_requests: int = 0  # every POST, refused ones included
    hostile_bytes: int = 0  # bytes sent by hostile replies (how far a client let them go)
    leaked_auth: int = 0  # requests redirected to another host name that still carried Authorization
    bodies: list[dict[str, Any]] = field(default_factory=list)  # with FaultConfig.record_bodies

    def to_json(self) -> dict[str, Any]:
        return {
            "chat_requests": self.chat_requests,
            "requests": sum(self.attempts.values()),
            "answered": sum(self.ok.values()),
            "attempts": dict(self.attempts),
            "ok": dict(self.ok),
            "faults": dict(self.faults),
            "hostile_bytes": self.hostile_bytes,
            "leaked_auth": self.leaked_auth,
            **({"bodies": self.bodies} if self.bodies else {}),
        }


class FaultServer:
    def __init__(self, config: FaultConfig = FaultConfig(), *, port: int = 0) -> None:
        self.config = config
        self.stats = Stats()
        self._port = port
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._released = asyncio.Event()
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=256 << 20)  # 64-frame video requests are MBs
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/release", self._release)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/away/v1/chat/completions", self._away)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._port = port
        self.url = f"http://{host}:{port}/v1"
        return self.url

    async def stop(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FaultServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- handlers ----------------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        """401 unless the request carries the configured key (as vLLM's --api-key does)."""
        key = self.config.api_key
        if key is None or request.headers.get("Authorization") == f"Bearer {key}":
            return None
        return _error(401, "Unauthorized")

    async def _away(self, request: web.Request) -> web.Response:
        """Where `redirect-away` sends a request: count it and a leaked key, answer like any server."""
        self.stats.faults["away"] += 1
        if "Authorization" in request.headers:
            self.stats.leaked_auth += 1
        return _error(404, "nothing here")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self.config.models_reply is not None:
            return await _hostile_models(request, self.config)
        ids = [self.config.model, *(f"other-{i}" for i in range(self.config.extra_models))]
        return web.json_response(
            {"object": "list", "data": [{"id": i, "object": "model", "owned_by": "fasteval"} for i in ids]}
        )

    async def _release(self, request: web.Request) -> web.Response:
        self._released.set()
        return web.Response(text="released")

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.to_json())

    def _fault_for(self, phash: str, attempt: int) -> str | None:
        cfg = self.config
        if cfg.permanent_fail_rate and _unit(cfg.seed, phash, "permanent") < cfg.permanent_fail_rate:
            return "context"
        if cfg.faults and (attempt <= cfg.fail_attempts or _unit(cfg.seed, phash, attempt) < cfg.fault_rate):
            return cfg.faults[int(_unit(cfg.seed, phash, attempt, "kind") * len(cfg.faults))]
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._chat_inner(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _chat_inner(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        self.stats.chat_requests += 1
        if cfg.die_after and self.stats.chat_requests > cfg.die_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a crashed engine: no reply, connections reset
        refused = self._refused(request)
        if cfg.refuse_after and self.stats.chat_requests > cfg.refuse_after:
            refused = _error(401, "Unauthorized: the key was revoked")
        if refused is not None:
            return refused
        if cfg.hold_after and self.stats.chat_requests > cfg.hold_after:
            await self._released.wait()
        try:
            body = await request.json()
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "request body must be JSON with `messages`")
        if cfg.record_bodies:
            self.stats.bodies.append(body)
        if body.get("model") != cfg.model:
            return _error(404, f"The model `{body.get('model')}` does not exist.")
        phash = prompt_hash(messages)
        self.stats.attempts[phash] += 1
        fault = self._fault_for(phash, self.stats.attempts[phash])
        if fault is not None:
            self.stats.faults[fault] += 1
        if fault == "context":
            return _error(
                400,
                "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens.",
            )
        if fault == "5xx":
            return _error(503, "engine overloaded")
        if fault == "429":
            return _error(429, "rate limited", headers={"Retry-After": cfg.retry_after})
        n = min(cfg.tokens, int(body.get("max_tokens") or cfg.tokens))
        tokens = answer_tokens(phash, n)
        finish = "length" if n < cfg.tokens else "stop"
        if cfg.empty_length:  # a reasoning model that spent its budget before answering
            tokens, finish = [""], "length"
        reasoning: list[str] = []
        if cfg.thinking:
            tokens, reasoning, finish = _thinking_reply(cfg, phash, body)
        n_in = sum(len(json.dumps(m)) for m in messages) // 4 + 1
        n_out = len(tokens) + len(reasoning)
        usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
        if fault == "nochoices" and not body.get("stream"):
            return web.json_response({"id": "x", "object": "chat.completion", "model": cfg.model})
        hostile = cfg.hostile if _unit(cfg.seed, phash, "hostile") < cfg.hostile_rate else None
        if hostile == "surrogate":
            self.stats.faults[hostile] += 1
            tokens = [*tokens[:-1], tokens[-1] + "\ud800"] if tokens else ["\ud800"]
        elif hostile is not None:
            self.stats.faults[hostile] += 1
            return await self._hostile(request, hostile, phash, body)
        if not body.get("stream") or cfg.ignore_stream:
            self.stats.ok[phash] += 1
            return web.json_response(
                {
                    "id": f"chatcmpl-{phash}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": cfg.reply_model or cfg.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": "".join(tokens),
                                **({"reasoning_content": "".join(reasoning)} if reasoning else {}),
                            },
                            "finish_reason": finish,
                        }
                    ],
                    "usage": usage,
                }
            )
        return await self._stream(request, phash, tokens, finish, usage, fault, body, reasoning)

    async def _hostile(
        self, request: web.Request, kind: str, phash: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        return await _hostile_reply(self, request, kind, phash, body)

    async def _stream(
        self,
        request: web.Request,
        phash: str,
        tokens: list[str],
        finish: str,
        usage: dict[str, int],
        fault: str | None,
        body: dict[str, Any],
        reasoning: Sequence[str] = (),
    ) -> web.StreamResponse:
        cfg = self.config
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        base = {
            "id": f"chatcmpl-{phash}",
            "object": "chat.completion.chunk",
            "model": cfg.reply_model or cfg.model,
        }

        async def send(obj: dict[str, Any] | str) -> None:
            data = obj if isinstance(obj, str) else json.dumps(obj)
            await resp.write(f"data: {data}\n\n".encode())

        if fault == "nochoices":
            await send(base)
            await send("[DONE]")
            await resp.write_eof()
            return resp
        await send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        if fault == "stall":  # headers and the role chunk went out, then nothing: a stalled engine
            await asyncio.sleep(cfg.stall_s)
            if request.transport is not None:  # None if the client already gave up
                request.transport.close()
            return resp
        for tok in reasoning:
            await send({**base, "choices": [{"index": 0, "delta": {"reasoning_content": tok}}]})
        for i, tok in enumerate(tokens):
            if cfg.token_delay_s:
                await asyncio.sleep(cfg.token_delay_s)
            if i == len(tokens) // 2:
                if fault == "drop":
                    if request.transport is not None:
                        request.transport.close()
                    return resp
                if fault == "malformed":
                    await resp.write(b'data: {"choices": [{"delta": {"content": \n\n')
            await send({**base, "choices": [{"index": 0, "delta": {"content": tok}, "finish_reason": None}]})
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({**base, "choices": [], "usage": usage})
        await send("[DONE]")
        await resp.write_eof()
        if fault != "malformed":
            self.stats.ok[phash] += 1
        return resp


THINKING = ("inline", "open", "parser")


def _thinking_reply(cfg: FaultConfig, phash: str, body: dict[str, Any]) -> tuple[list[str], list[str], str]:
    """(content tokens, reasoning tokens, finish reason) of a thinking model's reply: the thinking,
    then the answer, cut at the request's max_tokens (a small limit cuts inside the thinking)."""
    budget = int(body.get("max_tokens") or 1 << 30)
    steps = [f"step{i} " for i in range(cfg.thinking_tokens)]
    answer = answer_tokens(phash, cfg.tokens)
    if cfg.thinking == "parser":
        reasoning, tokens = steps[:budget], answer[: max(0, budget - len(steps))]
    else:
        opened = ["<think>\n"] if cfg.thinking == "inline" else []
        reasoning, tokens = [], [*opened, *steps, "</think>\n\n", *answer][:budget]
    full = len(steps) + len(answer) + (0 if cfg.thinking == "parser" else 1 + (cfg.thinking == "inline"))
    return tokens, reasoning, "length" if full > budget else "stop"


async def _write_all(request: web.Request, resp: web.StreamResponse, data: bytes) -> bool:
    """Write `data`; False once the client has hung up (the hostile loops stop there)."""
    if request.transport is None or request.transport.is_closing():
        return False
    try:
        await resp.write(data)
    except (ConnectionError, RuntimeError):
        return False
    return True


def _chunk(phash: str, model: str, content: str, finish: str | None = None) -> bytes:
    obj = {
        "id": f"chatcmpl-{phash}",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(obj)}\n\n".encode()


async def _hostile_reply(
    server: FaultServer, request: web.Request, kind: str, phash: str, body: dict[str, Any]
) -> web.StreamResponse:
    """A reply no well-behaved engine sends (see the module docstring); counts what it sent."""
    cfg = server.config
    if kind in MORE_HOSTILE:
        return await _more_hostile(server, request, kind, phash, body)
    if kind == "huge" and not (body.get("stream") and not cfg.ignore_stream):
        text = "x" * cfg.huge_bytes
        server.stats.hostile_bytes += len(text)
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        return web.json_response({"id": f"chatcmpl-{phash}", "model": cfg.model, "choices": [choice]})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)

    async def send(data: bytes) -> bool:
        server.stats.hostile_bytes += len(data)
        return await _write_all(request, resp, data)

    if kind == "endless":  # well-formed tokens, never a finish_reason: until the client hangs up
        i = 0
        while await send(_chunk(phash, cfg.model, WORDS[i % len(WORDS)])):
            i += 1
            if i % 64 == 0:
                await asyncio.sleep(0)
    elif kind == "no-newline":  # a data line that never ends
        if await send(b"data: {"):
            while await send(b'"x": 1, ' * 8192):
                await asyncio.sleep(0)
    elif kind == "trickle":  # a whole, valid reply, one byte at a time
        reply = _chunk(phash, cfg.model, "Yes") + _chunk(phash, cfg.model, "", "stop") + b"data: [DONE]\n\n"
        for byte in reply:
            if not await send(bytes([byte])):
                break
            await asyncio.sleep(cfg.trickle_s)
    elif kind == "huge":  # one answer of huge_bytes, in 64 KB chunks, then a proper end
        sent = 0
        while sent < cfg.huge_bytes and await send(_chunk(phash, cfg.model, "x" * (64 << 10))):
            sent += 64 << 10
        if sent >= cfg.huge_bytes and await send(_chunk(phash, cfg.model, "", "stop")):
            await send(b"data: [DONE]\n\n")
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp


MORE_HOSTILE = HOSTILE[5:]


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def _more_hostile(
    server: FaultServer, request: web.Request, kind: str, phash: str, body: dict[str, Any]
) -> web.StreamResponse:
    """The kept-back probes' replies (see the module docstring)."""
    cfg = server.config
    streamed = body.get("stream") and not cfg.ignore_stream
    if kind == "html":
        return web.Response(
            text="<html><body><h1>Welcome to nginx!</h1></body></html>", content_type="text/html"
        )
    if kind == "redirect-loop":
        raise web.HTTPTemporaryRedirect(str(request.url))
    if kind == "redirect-away":
        away = request.url.with_host("localhost").with_path("/away/v1/chat/completions")
        raise web.HTTPTemporaryRedirect(str(away))
    if kind == "deep-json" and not streamed:
        return web.Response(body=_deep(DEEP), content_type="application/json")
    if kind in ("content-list", "content-number", "choices-null") and not streamed:
        content: Any = [{"type": "text", "text": "Yes"}] if kind == "content-list" else 7
        choices = (
            None
            if kind == "choices-null"
            else [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
        )
        return web.json_response({"id": f"chatcmpl-{phash}", "model": cfg.model, "choices": choices})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    if kind == "gzip-bomb":
        resp.enable_compression(web.ContentCoding.gzip)
    await resp.prepare(request)

    async def send(data: bytes) -> bool:
        server.stats.hostile_bytes += len(data)
        return await _write_all(request, resp, data)

    if kind == "gzip-bomb":  # 1 MB of chunks per write, well-formed, never a finish_reason
        block = _chunk(phash, cfg.model, "Yes") * ((1 << 20) // len(_chunk(phash, cfg.model, "Yes")))
        while await send(block):
            await asyncio.sleep(0)
    elif kind == "deep-json":
        await send(b"data: " + _deep(DEEP) + b"\n\n")
        await send(b"data: [DONE]\n\n")
    else:
        delta: dict[str, Any] = {
            "content": [{"type": "text", "text": "Yes"}] if kind == "content-list" else 7
        }
        choices = None if kind == "choices-null" else [{"index": 0, "delta": delta, "finish_reason": "stop"}]
        obj = {
            "id": f"chatcmpl-{phash}",
            "object": "chat.completion.chunk",
            "model": cfg.model,
            "choices": choices,
        }
        await send(f"data: {json.dumps(obj)}\n\n".encode())
        await send(b"data: [DONE]\n\n")
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp


async def _hostile_models(request: web.Request, cfg: FaultConfig) -> web.StreamResponse:
    """A `GET /v1/models` no OpenAI-compatible server sends (`--models-reply`)."""
    kind = cfg.models_reply
    if kind == "html":
        return web.Response(text="<html><body>Login required</body></html>", content_type="text/html")
    if kind == "not-list":
        return web.json_response({"object": "list", "data": "fault-model"})
    if kind == "deep":
        return web.Response(body=_deep(DEEP), content_type="application/json")
    if kind == "long-id":
        return web.json_response({"object": "list", "data": [{"id": "m" * 100_000, "object": "model"}]})
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    entry = json.dumps({"id": "x" * 1000, "object": "model"}).encode() + b","
    block = entry * 64
    sent = 0
    if await _write_all(request, resp, b'{"object": "list", "data": ['):
        while (kind == "endless" or sent < 64 << 20) and await _write_all(request, resp, block):
            sent += len(block)
            await asyncio.sleep(0)
        if kind == "huge":
            await _write_all(request, resp, json.dumps({"id": cfg.model}).encode() + b"]}")
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error body shaped like vLLM's (`{"object": "error", "message": ...}`)."""
    payload = {"object": "error", "message": message, "type": "BadRequestError", "code": status}
    return web.json_response(payload, status=status, headers=headers)


def _parse_args(argv: list[str] | None) -> tuple[FaultConfig, int]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--model", default=FaultConfig.model)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument(
        "--faults", default=",".join(TRANSIENT_FAULTS), help="comma list of " + ",".join(TRANSIENT_FAULTS)
    )
    p.add_argument("--permanent-fail-rate", type=float, default=0.0)
    p.add_argument("--fail-attempts", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokens", type=int, default=FaultConfig.tokens)
    p.add_argument("--token-delay", type=float, default=0.0)
    p.add_argument("--retry-after", default=FaultConfig.retry_after)
    p.add_argument("--stall", type=float, default=FaultConfig.stall_s)
    p.add_argument("--ignore-stream", action="store_true")
    p.add_argument("--die-after", type=int, default=0, help="SIGKILL itself at chat request N+1")
    p.add_argument("--api-key", help="answer 401 unless this Bearer key is sent")
    p.add_argument("--refuse-after", type=int, default=0, help="401 to every chat request after the first N")
    h = p.add_argument_group("hostile replies (issue 22)")
    h.add_argument("--hostile", choices=HOSTILE, help="answer with this hostile reply")
    h.add_argument("--hostile-rate", type=float, default=1.0, help="share of prompts that get it")
    h.add_argument("--trickle-s", type=float, default=FaultConfig.trickle_s)
    h.add_argument("--huge-bytes", type=int, default=FaultConfig.huge_bytes)
    p.add_argument(
        "--hold-after", type=int, default=0, help="requests after the first N wait for POST /release"
    )
    p.add_argument("--reply-model", help="the model name replies carry (default: --model)")
    p.add_argument("--empty-length", action="store_true", help="empty answers, finish_reason length")
    p.add_argument("--extra-models", type=int, default=0, help="list N more model ids at /v1/models")
    p.add_argument("--models-reply", choices=MODELS_REPLIES, help="a hostile GET /v1/models")
    p.add_argument(
        "--thinking", choices=THINKING, help="reply as a thinking model (see FaultConfig.thinking)"
    )
    p.add_argument("--thinking-tokens", type=int, default=FaultConfig.thinking_tokens)
    p.add_argument("--record-bodies", action="store_true", help="GET /stats lists every chat body, in order")
    p.add_argument(
        "--when-free", action="store_true", help="wait until --port is free instead of failing (a restart)"
    )
    a = p.parse_args(argv)
    faults = tuple(f for f in a.faults.split(",") if f)
    unknown = set(faults) - set(TRANSIENT_FAULTS)
    if unknown:
        p.error(f"unknown fault kinds {sorted(unknown)}; choose from {','.join(TRANSIENT_FAULTS)}")
    cfg = replace(
        FaultConfig(),
        model=a.model,
        fault_rate=a.fault_rate,
        faults=faults,
        permanent_fail_rate=a.permanent_fail_rate,
        fail_attempts=a.fail_attempts,
        seed=a.seed,
        tokens=a.tokens,
        token_delay_s=a.token_delay,
        retry_after=a.retry_after,
        stall_s=a.stall,
        ignore_stream=a.ignore_stream,
        die_after=a.die_after,
        api_key=a.api_key,
        refuse_after=a.refuse_after,
        hostile=a.hostile,
        hostile_rate=a.hostile_rate,
        trickle_s=a.trickle_s,
        huge_bytes=a.huge_bytes,
        hold_after=a.hold_after,
        reply_model=a.reply_model,
        empty_length=a.empty_length,
        extra_models=a.extra_models,
        models_reply=a.models_reply,
        record_bodies=a.record_bodies,
        thinking=a.thinking,
        thinking_tokens=a.thinking_tokens,
    )
    return cfg, a.port, a.when_free


async def _serve(config: FaultConfig, port: int, when_free: bool = False) -> None:
    """Serve until SIGTERM; with `when_free`, start as soon as `port` is released: a restarted
    server that is already running (imports paid) when the old one dies."""
    server = FaultServer(config, port=port)
    while True:
        try:
            url = await server.start()
            break
        except OSError:
            await server.stop()
            if not when_free:
                raise
            await asyncio.sleep(0.02)
    print(url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


@contextlib.contextmanager
def spawn(*args: str, ready_timeout_s: float = 20.0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run this file as a subprocess (`--port 0` unless given) and yield (base URL, process).

    The process is stopped with SIGTERM on exit (SIGKILL if it does not go within 10 s).
    """
    argv = [sys.executable, str(Path(__file__).resolve()), *args]
    if "--port" not in args:
        argv += ["--port", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        try:
            url = lines.get(timeout=ready_timeout_s).strip()
        except queue.Empty:
            raise RuntimeError(f"fault server did not start within {ready_timeout_s}s: {argv}") from None
        if not url.startswith("http://"):
            raise RuntimeError(f"fault server failed to start: {proc.stderr.read() if proc.stderr else ''}")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    config, port, when_free = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config, port, when_free))
    return 0


if __name__ == "__main__":
    sys.exit(main())
