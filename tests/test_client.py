"""The async client: request bodies, timings, retries and typed failures (never an exception)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from fault_server import FaultConfig, FaultServer, answer_tokens, prompt_hash

from fasteval.inference.client import (
    Backoff,
    build_body,
    classify_http_error,
    complete,
    make_session,
    parse_retry_after,
)
from fasteval.types import ErrorKind, GenParams, ImagePart, ImageRef, Prompt, Status, TextPart

pytestmark = pytest.mark.timeout(60)

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40).decode()
MODEL = FaultConfig.model


def text_prompt(text: str) -> Prompt:
    return Prompt((TextPart(text),))


def expected_answer(body: bytes, n: int) -> str:
    return "".join(answer_tokens(prompt_hash(json.loads(body)["messages"]), n))


# ---------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------


def test_body_sends_the_image_as_the_datasets_own_base64_then_the_text() -> None:
    prompt = Prompt(
        (ImagePart(ImageRef(PNG_B64, "image/png")), TextPart("Is it red?")), system="Answer briefly."
    )
    body = json.loads(build_body("m", prompt, GenParams(max_tokens=7, temperature=0.0)))
    assert body["messages"][0] == {"role": "system", "content": "Answer briefly."}
    content = body["messages"][1]["content"]
    assert content[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
    assert content[1] == {"type": "text", "text": "Is it red?"}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 7 and body["temperature"] == 0.0
    assert "ignore_eos" not in body


def test_spliced_body_is_identical_to_plain_json_serialization() -> None:
    images = tuple(ImagePart(ImageRef(PNG_B64[: 100 + i], "image/jpeg")) for i in range(3))
    prompt = Prompt((*images, TextPart('quote " backslash \\ \x00 nul and ünïcode')))
    params = GenParams(ignore_eos=True, top_p=0.9, extra_body={"repetition_penalty": 1.1})
    spliced = json.loads(build_body("m", prompt, params))
    urls = [p["image_url"]["url"] for p in spliced["messages"][0]["content"][:3]]
    assert urls == [f"data:image/jpeg;base64,{i.image.b64}" for i in images]
    assert spliced["messages"][0]["content"][3]["text"] == 'quote " backslash \\ \x00 nul and ünïcode'
    assert spliced["ignore_eos"] is True and spliced["top_p"] == 0.9 and spliced["repetition_penalty"] == 1.1


def test_base64_with_characters_json_must_escape_still_yields_valid_json() -> None:
    wrapped = PNG_B64[:76] + "\n" + PNG_B64[76:200]
    body = json.loads(build_body("m", Prompt((ImagePart(ImageRef(wrapped, "image/png")),)), GenParams()))
    assert body["messages"][0]["content"][0]["image_url"]["url"] == f"data:image/png;base64,{wrapped}"


def test_non_streaming_body_has_no_stream_options() -> None:
    body = json.loads(build_body("m", text_prompt("q"), GenParams(), stream=False))
    assert body["stream"] is False and "stream_options" not in body


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2025, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now.timestamp()) == 0
    )


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (
            400,
            "This model's maximum context length is 4096 tokens. However, you requested 9000",
            "CONTEXT_LENGTH",
        ),
        (400, "Prompt is too long", "CONTEXT_LENGTH"),
        (400, "temperature must be >= 0", "BAD_REQUEST"),
        (404, "The model `x` does not exist.", "UNKNOWN_MODEL"),
        (404, "Not Found", "BAD_REQUEST"),
        (401, "invalid api key", "AUTH"),
        (403, "forbidden", "AUTH"),
        (429, "slow down", "RATE_LIMITED"),
        (503, "overloaded", "SERVER"),
    ],
)
def test_http_errors_map_to_kinds(status: int, message: str, kind: str) -> None:
    assert classify_http_error(status, message) is ErrorKind[kind]


# ---------------------------------------------------------------------------------------------
# Against the fault server
# ---------------------------------------------------------------------------------------------


class Sleeps:
    """A `sleep` that records the requested backoffs and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_streamed_answer_has_text_usage_and_timings() -> None:
    async with FaultServer(FaultConfig(tokens=5, token_delay_s=0.02)) as server, make_session(4) as s:
        body = build_body(MODEL, text_prompt("what?"), GenParams())
        before = time.time()
        c = await complete(s, server.url, body, GenParams(), retry=0)
        after = time.time()
    assert c.status is Status.OK and c.error is None and c.error_kind is None
    assert c.text == expected_answer(body, 5)
    assert (c.n_out, c.finish_reason, c.attempts, c.model, c.endpoint) == (5, "stop", 1, MODEL, server.url)
    assert c.n_in is not None and c.n_in > 0
    assert c.timing.ttft is not None and c.timing.e2el is not None
    assert 0.02 <= c.timing.ttft <= c.timing.e2el  # the server waits 0.02 s before the first token
    # one gap per token after the first, however many tokens a (busy) client finds in one read
    assert len(c.timing.itl) == 4 and all(g >= 0 for g in c.timing.itl)
    assert c.timing.ttft + sum(c.timing.itl) == pytest.approx(c.timing.e2el)
    assert before <= c.timing.t_dispatch <= after


async def test_max_tokens_caps_the_answer_and_reports_length() -> None:
    async with FaultServer(FaultConfig(tokens=6)) as server, make_session(2) as s:
        params = GenParams(max_tokens=2)
        body = build_body(MODEL, text_prompt("cap"), params)
        c = await complete(s, server.url, body, params, retry=0)
    assert (c.text, c.n_out, c.finish_reason) == (expected_answer(body, 2), 2, "length")


async def test_a_server_that_ignores_stream_still_gives_an_answer() -> None:
    async with FaultServer(FaultConfig(ignore_stream=True)) as server, make_session(2) as s:
        body = build_body(MODEL, text_prompt("json please"), GenParams())
        c = await complete(s, server.url, body, GenParams(), retry=0)
    assert c.ok and c.text == expected_answer(body, FaultConfig.tokens) and c.n_out == FaultConfig.tokens
    assert c.timing.ttft == c.timing.e2el and c.timing.itl == []


async def test_retry_after_is_honoured_and_the_retry_succeeds() -> None:
    config = FaultConfig(faults=("429",), fail_attempts=1, retry_after="0.3")
    sleeps = Sleeps()
    async with FaultServer(config) as server, make_session(2) as s:
        body = build_body(MODEL, text_prompt("rate"), GenParams())
        c = await complete(s, server.url, body, GenParams(), retry=2, sleep=sleeps)
    assert c.ok and c.attempts == 2 and c.text == expected_answer(body, FaultConfig.tokens)
    assert sleeps.delays == [0.3]


async def test_t_send_is_the_final_attempts_send_so_retries_do_not_hide_time() -> None:
    config = FaultConfig(faults=("429",), fail_attempts=1, retry_after="0.3")
    async with FaultServer(config) as server, make_session(2) as s:
        body = build_body(MODEL, text_prompt("send time"), GenParams())
        c = await complete(s, server.url, body, GenParams(), retry=1)
    assert c.ok and c.attempts == 2 and c.timing.t_send is not None and c.timing.e2el is not None
    assert c.timing.t_send - c.timing.t_dispatch >= 0.3  # the Retry-After wait came before the final send
    assert c.timing.t_send + c.timing.e2el <= time.time()


async def test_real_sleep_waits_for_retry_after() -> None:
    config = FaultConfig(faults=("429",), fail_attempts=1, retry_after="0.4")
    async with FaultServer(config) as server, make_session(2) as s:
        started = time.perf_counter()
        c = await complete(
            s, server.url, build_body(MODEL, text_prompt("r"), GenParams()), GenParams(), retry=1
        )
        elapsed = time.perf_counter() - started
    assert c.ok and c.attempts == 2 and elapsed >= 0.4


@pytest.mark.parametrize("fault", ["5xx", "drop", "malformed", "nochoices"])
async def test_transient_faults_are_retried_with_growing_backoff(fault: str) -> None:
    sleeps = Sleeps()
    config = FaultConfig(faults=(fault,), fail_attempts=2, tokens=6)
    async with FaultServer(config) as server, make_session(2) as s:
        body = build_body(MODEL, text_prompt(f"fault {fault}"), GenParams())
        c = await complete(
            s, server.url, body, GenParams(), retry=3, sleep=sleeps, backoff=Backoff(base_s=1.0)
        )
    assert c.ok and c.attempts == 3 and c.text == expected_answer(body, 6)
    assert len(sleeps.delays) == 2 and sleeps.delays[0] <= 1.0 and sleeps.delays[1] <= 2.0


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("5xx", ErrorKind.SERVER), ("drop", ErrorKind.CONNECT), ("malformed", ErrorKind.MALFORMED)],
)
async def test_retries_exhausted_give_a_typed_failure(fault: str, kind: ErrorKind) -> None:
    async with (
        FaultServer(FaultConfig(faults=(fault,), fault_rate=1.0, tokens=6)) as server,
        make_session(2) as s,
    ):
        body = build_body(MODEL, text_prompt("always"), GenParams())
        c = await complete(s, server.url, body, GenParams(), retry=2, sleep=Sleeps())
        stats = server.stats.to_json()
    assert c.status is Status.FAILED and c.error_kind is kind and c.attempts == 3
    assert c.text is None and c.error and "\n" not in c.error and len(c.error) < 260
    assert stats["requests"] == 3


async def test_context_length_400_is_not_retried() -> None:
    async with FaultServer(FaultConfig(permanent_fail_rate=1.0)) as server, make_session(2) as s:
        body = build_body(MODEL, text_prompt("long"), GenParams())
        c = await complete(s, server.url, body, GenParams(), retry=5, sleep=Sleeps())
        stats = server.stats.to_json()
    assert c.error_kind is ErrorKind.CONTEXT_LENGTH and c.attempts == 1 and stats["requests"] == 1
    assert c.error is not None and c.error.startswith("HTTP 400: This model's maximum context length")


async def test_unknown_model_is_its_own_kind_without_retry() -> None:
    async with FaultServer() as server, make_session(2) as s:
        c = await complete(
            s, server.url, build_body("nope", text_prompt("q"), GenParams()), GenParams(), retry=3
        )
    assert c.error_kind is ErrorKind.UNKNOWN_MODEL and c.attempts == 1 and "404" in (c.error or "")


async def test_a_stall_becomes_timeout_after_the_configured_time() -> None:
    params = GenParams(timeout_s=0.4)
    config = FaultConfig(faults=("stall",), fault_rate=1.0, stall_s=3600)  # only the timeout can end it
    async with FaultServer(config) as server, make_session(2) as s:
        started = time.perf_counter()
        c = await complete(s, server.url, build_body(MODEL, text_prompt("s"), params), params, retry=0)
        elapsed = time.perf_counter() - started
    assert c.error_kind is ErrorKind.TIMEOUT and c.attempts == 1 and elapsed >= 0.4


async def test_refused_connection_is_a_connect_failure_not_an_exception() -> None:
    async with FaultServer() as server:
        url = server.url
    async with make_session(2) as s:
        c = await complete(
            s, url, build_body(MODEL, text_prompt("q"), GenParams()), GenParams(), retry=1, sleep=Sleeps()
        )
    assert c.error_kind is ErrorKind.CONNECT and c.attempts == 2 and c.text is None


async def test_every_request_under_mixed_faults_is_ok_or_a_typed_failure() -> None:
    config = FaultConfig(fault_rate=0.5, permanent_fail_rate=0.1, stall_s=10, seed=3)
    params = GenParams(timeout_s=0.3)
    async with FaultServer(config) as server, make_session(16) as s:
        bodies = [build_body(MODEL, text_prompt(f"q{i}"), params) for i in range(60)]
        results = await asyncio.gather(
            *(complete(s, server.url, b, params, retry=3, backoff=Backoff(base_s=0.01)) for b in bodies)
        )
    kinds = {c.error_kind for c in results if not c.ok}
    assert any(c.ok for c in results) and ErrorKind.CONTEXT_LENGTH in kinds
    for body, c in zip(bodies, results, strict=True):
        if c.ok:
            assert c.text == expected_answer(body, FaultConfig.tokens) and c.error is None
        else:
            assert c.text is None and isinstance(c.error_kind, ErrorKind) and c.error
        assert 1 <= c.attempts <= 4


# ---------------------------------------------------------------------------------------------
# Scripted replies: exact chunk timing, auth, key redaction
# ---------------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def scripted(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        await runner.cleanup()


async def test_role_chunk_and_usage_chunk_do_not_count_as_tokens() -> None:
    """TTFT waits for content past a role-only chunk; E2EL ends at content, not at the late usage chunk."""
    usage_sent: list[float] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(obj: object) -> None:
            await resp.write(f"data: {json.dumps(obj)}\n\n".encode())

        await send({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
        await asyncio.sleep(0.2)
        await send({"choices": [{"delta": {"content": "Ye"}}]})
        await asyncio.sleep(0.1)
        await send({"choices": [{"delta": {"content": "s"}, "finish_reason": "stop"}]})
        await asyncio.sleep(0.3)
        usage_sent.append(time.perf_counter())
        await send({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}})
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async for url in scripted(handler):
        async with make_session(1) as s:
            called = time.perf_counter()  # the client's own clock starts at or after this
            c = await complete(s, url, b"{}", GenParams(), retry=0)
    assert c.ok and c.text == "Yes" and (c.n_in, c.n_out) == (11, 2)
    assert c.timing.ttft is not None and c.timing.e2el is not None
    assert c.timing.ttft >= 0.2  # the role chunk came at once; the first content 0.2 s later
    assert len(c.timing.itl) == 1 and c.timing.ttft + c.timing.itl[0] == pytest.approx(c.timing.e2el)
    # the last content chunk is read before the usage chunk is even written (one event loop: its
    # arrival is handled before the server's sleep ends, however late both run on a busy machine)
    assert called + c.timing.e2el < usage_sent[0]


async def test_api_key_goes_in_the_header_and_never_into_the_error() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization"))
        key = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        return web.json_response({"error": {"message": f"Incorrect API key provided: {key}"}}, status=401)

    async for url in scripted(handler):
        async with make_session(1) as s:
            c = await complete(s, url, b"{}", GenParams(), retry=2, api_key="sk-secret-123")
    assert seen == ["Bearer sk-secret-123"]
    assert c.error_kind is ErrorKind.AUTH and c.attempts == 1
    assert c.error is not None and "sk-secret-123" not in c.error and "401" in c.error


async def test_a_stream_that_ends_without_done_is_retried_as_a_dropped_connection() -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"choices": [{"delta": {"content": "A"}}]}\n\n')
        if calls > 1:
            await resp.write(
                b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
            )
        return resp

    async for url in scripted(handler):
        async with make_session(1) as s:
            c = await complete(s, url, b"{}", GenParams(), retry=1, sleep=Sleeps())
    assert c.ok and c.text == "A" and c.attempts == 2 and calls == 2


async def test_an_error_object_inside_the_stream_is_a_typed_failure() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"object": "error", "message": "engine died", "code": 500}\n\n')
        return resp

    async for url in scripted(handler):
        async with make_session(1) as s:
            c = await complete(s, url, b"{}", GenParams(), retry=0)
    assert c.error_kind is ErrorKind.SERVER and "engine died" in (c.error or "")


def _json_dumps_sizes(monkeypatch: pytest.MonkeyPatch, build: Callable[[], bytes]) -> tuple[bytes, list[int]]:
    """What `build` returned, and the length of every string json.dumps produced meanwhile."""
    sizes: list[int] = []
    real = json.dumps

    def spy(obj: object, *args: Any, **kwargs: Any) -> str:
        out = real(obj, *args, **kwargs)
        sizes.append(len(out))
        return out

    with monkeypatch.context() as m:
        m.setattr(json, "dumps", spy)
        return build(), sizes


def test_a_large_image_is_spliced_in_never_serialized_by_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """The base64 is copied once, not scanned and escaped again by json.dumps, which costs 2-3x the
    build of a 4 MB image; only a payload JSON would escape (a newline) takes the json path."""
    big = base64.b64encode(bytes(range(256)) * 12288).decode()  # 4 MB of base64
    spliced, sizes = _json_dumps_sizes(
        monkeypatch,
        lambda: build_body("m", Prompt((ImagePart(ImageRef(big, "image/jpeg")), TextPart("q"))), GenParams()),
    )
    assert sizes and max(sizes) < len(big) // 1000
    url = json.loads(spliced)["messages"][0]["content"][0]["image_url"]["url"]
    assert url == f"data:image/jpeg;base64,{big}"
    wrapped = big[:1000] + "\n" + big[1000:]
    escaped, sizes = _json_dumps_sizes(
        monkeypatch,
        lambda: build_body("m", Prompt((ImagePart(ImageRef(wrapped, "image/jpeg")),)), GenParams()),
    )
    assert max(sizes) > len(big)  # the spy sees a serialized image when there is one
    assert json.loads(escaped)["messages"][0]["content"][0]["image_url"]["url"].endswith(wrapped)


def test_a_token_streamed_with_empty_text_counts_but_the_role_chunk_does_not() -> None:
    from fasteval.inference.client import _token_of

    assert _token_of({"role": "assistant", "content": ""}) == ("", False)  # the opening role chunk
    assert _token_of({"content": ""}) == ("", True)  # a token ending mid UTF-8 sequence
    assert _token_of({"role": "assistant", "content": "Yes"}) == ("Yes", True)  # role sent with token 1
    assert _token_of({"reasoning_content": "hmm"}) == (None, True)
    assert _token_of({}) == (None, False)  # e.g. the finish chunk


async def test_sse_lines_split_across_network_reads_are_reassembled() -> None:
    from types import SimpleNamespace

    from fasteval.inference.client import _read_sse

    stream = (
        b'data: {"model":"m","choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"Ye"}}]}\n\n'
        b": keep-alive comment\n\n"
        b'data: {"choices":[{"delta":{"content":"s"},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
        b"data: [DONE]\n\n"
    )

    async def reads():  # the byte stream cut at awkward places, as TCP may deliver it
        for cut in range(0, len(stream), 7):
            yield stream[cut : cut + 7]

    resp = SimpleNamespace(content=SimpleNamespace(iter_any=reads))
    c = await _read_sse(resp, 0.0, None)  # type: ignore[arg-type]
    assert (c.status, c.text, c.finish_reason, c.n_in, c.n_out, c.model) == (
        Status.OK,
        "Yes",
        "stop",
        5,
        2,
        "m",
    )
    assert c.timing.ttft is not None and len(c.timing.itl) == 1


def test_parts_go_out_in_the_prompts_order_with_each_image_spliced_in_place() -> None:
    a, b = ImageRef("QUFB", "image/png"), ImageRef("QkJC", "image/jpeg")
    prompt = Prompt((TextPart("see "), ImagePart(b), TextPart(" then "), ImagePart(a), TextPart("?")))
    content = json.loads(build_body("m", prompt, GenParams()))["messages"][0]["content"]
    assert [c.get("text") or c["image_url"]["url"] for c in content] == [
        "see ",
        "data:image/jpeg;base64,QkJC",
        " then ",
        "data:image/png;base64,QUFB",
        "?",
    ]
