"""Bounded replies: a server past max_tokens, a trickle, an endless line or a huge answer is cut
and becomes a typed failure of its row (never an answer); a lone surrogate is an answer like any."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from fault_server import FaultConfig, FaultServer

from fasteval.inference.client import (
    Backoff,
    ReplyLimits,
    _read_sse,
    _sse_data,
    build_body,
    complete,
    make_session,
)
from fasteval.types import Completion, ErrorKind, GenParams, Prompt, Status, TextPart

pytestmark = pytest.mark.timeout(60)

MODEL = FaultConfig.model
FAST = Backoff(base_s=0.001, cap_s=0.002)


def body(params: GenParams | None = None) -> bytes:
    return build_body(MODEL, Prompt((TextPart("Is it a cat?"),)), params or GenParams())


async def ask(
    config: FaultConfig, params: GenParams, *, retry: int = 2
) -> tuple[Completion, dict[str, object]]:
    async with FaultServer(config) as server, make_session(4) as session:
        c = await complete(session, server.url, body(params=params), params, retry=retry, backoff=FAST)
        return c, server.stats.to_json()


def test_limits_grow_with_max_tokens_and_leave_a_margin() -> None:
    small, large = ReplyLimits.of(GenParams(max_tokens=16)), ReplyLimits.of(GenParams(max_tokens=1024))
    assert small.tokens > 16 and large.tokens > 1024
    assert small.bytes < 1 << 20 < large.bytes  # a 50 MB answer to 16 tokens is far past its limit
    assert small.line <= small.bytes and large.line == ReplyLimits.MAX_LINE
    assert large.deadline_s == ReplyLimits.DEADLINE_FACTOR * large.idle_s


async def test_a_stream_past_max_tokens_is_cut_once_and_not_retried() -> None:
    params = GenParams(max_tokens=16, timeout_s=10)
    c, stats = await ask(FaultConfig(hostile="endless"), params)
    assert c.status is Status.FAILED and c.error_kind is ErrorKind.REPLY_TOO_LONG
    assert c.text is None and c.attempts == 1
    assert "max_tokens 16" in (c.error or "") and "tokens" in (c.error or "")
    assert stats["requests"] == 1 and stats["answered"] == 0


@pytest.mark.parametrize("ignore_stream", [False, True])
async def test_a_huge_answer_is_never_an_answer(ignore_stream: bool) -> None:
    params = GenParams(max_tokens=16, timeout_s=10)
    config = FaultConfig(hostile="huge", huge_bytes=8 << 20, ignore_stream=ignore_stream)
    c, stats = await ask(config, params)
    assert c.error_kind is ErrorKind.REPLY_TOO_LONG and c.text is None
    assert stats["requests"] == 1


async def test_a_line_without_a_newline_is_cut_at_the_line_limit() -> None:
    params = GenParams(max_tokens=4096, timeout_s=10)  # a byte limit above the line limit
    c, _ = await ask(FaultConfig(hostile="no-newline"), params)
    assert c.error_kind is ErrorKind.REPLY_TOO_LONG
    assert "without a newline" in (c.error or "")


async def test_a_trickle_makes_no_progress_and_times_out_on_every_attempt() -> None:
    """Bytes that never complete an event are no progress: each attempt ends after the timeout,
    not when the trickle would have finished (about 300 bytes later)."""
    params = GenParams(max_tokens=16, timeout_s=0.3)
    c, stats = await ask(FaultConfig(hostile="trickle", trickle_s=0.05), params, retry=1)
    assert c.error_kind is ErrorKind.TIMEOUT and c.attempts == 2
    assert "no progress" in (c.error or "")
    assert stats["requests"] == 2 and stats["answered"] == 0


async def test_events_that_never_finish_hit_the_whole_request_deadline() -> None:
    """Keep-alive comments arrive well inside the idle limit, forever: the deadline ends it."""

    async def pings(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        while request.transport is not None and not request.transport.is_closing():
            await resp.write(b": ping\n\n")
            await asyncio.sleep(0.01)
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", pings)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    params = GenParams(max_tokens=16, timeout_s=2.0)
    try:
        async with make_session(2) as session:
            c = await complete(session, f"http://{host}:{port}/v1", body(), params, retry=0)
    finally:
        await runner.cleanup()
    assert c.error_kind is ErrorKind.DEADLINE and c.text is None
    assert f"{ReplyLimits.DEADLINE_FACTOR * params.timeout_s:g}s" in (c.error or "")


async def test_a_lone_surrogate_in_the_answer_is_kept_as_received() -> None:
    c, _ = await ask(FaultConfig(hostile="surrogate", tokens=2), GenParams(max_tokens=16, timeout_s=10))
    assert c.ok and c.text is not None and c.text.endswith("\ud800")


async def test_server_values_of_the_wrong_type_are_dropped_not_stored() -> None:
    stream = (
        b'data: {"model": 7, "choices": [{"delta": {"content": "Yes"}, "finish_reason": "stop"}]}\n\n'
        b'data: {"choices": [], "usage": {"prompt_tokens": "5", "completion_tokens": 1e300}}\n\n'
        b"data: [DONE]\n\n"
    )

    async def reads() -> AsyncIterator[bytes]:
        yield stream

    resp = SimpleNamespace(content=SimpleNamespace(iter_any=reads))
    c = await _read_sse(resp, 0.0, None)  # type: ignore[arg-type]
    assert (c.text, c.model, c.n_in, c.n_out) == ("Yes", None, None, None)


async def test_an_ordinary_reply_is_untouched_by_the_limits() -> None:
    params = GenParams(max_tokens=16, timeout_s=10)
    async with FaultServer(FaultConfig(tokens=16)) as server, aiohttp.ClientSession() as session:
        c = await complete(session, server.url, body(params=params), params, retry=0)
    assert c.ok and c.n_out == 16 and c.finish_reason == "stop"
    assert json.loads(body(params=params))["max_tokens"] == 16


async def test_a_long_line_in_tiny_reads_grows_one_buffer_in_place() -> None:
    """A line just under the limit arriving two bytes per read: the unfinished line is one buffer
    grown in place, never a fresh copy of everything so far per read (`bytes +=` moved ~270 GB
    here, quadratic in the line), and the whole line is served once its newline comes."""
    limits = ReplyLimits.of(GenParams(max_tokens=4096))
    line = b"data: " + b"x" * (limits.line - 8) + b"\n"
    buffers: set[int] = set()

    async def reads() -> AsyncIterator[bytes]:
        for at in range(0, len(line), 2):
            if at and at % 4096 == 0:  # the generator's unfinished line, between two reads
                buffers.add(id(events.ag_frame.f_locals["pending"]))  # type: ignore[union-attr]
            yield line[at : at + 2]

    resp = SimpleNamespace(content=SimpleNamespace(iter_any=reads))
    events = _sse_data(resp, limits)  # type: ignore[arg-type]
    payloads = [payload async for _, payload in events]
    assert [len(p) for p in payloads] == [limits.line - 8]
    assert len(buffers) == 1
