"""The async OpenAI chat client: one request in, one `Completion` out, never an exception.

Failures are values (`Status.FAILED` + `ErrorKind`), so the runner never needs a try/except and a
failure text can never be scored as an answer. Timings follow vLLM's `benchmarks/serve.py`
(peers.md §3): one `perf_counter` clock, TTFT at the first chunk carrying content, E2EL at the last
one, ITL between them.

Retries are an explicit loop instead of tenacity: each attempt yields a *value* (not an
exception) plus a Retry-After hint and may go to a different endpoint, which tenacity would only
express through exceptions used as control flow.

Every reply is bounded (`ReplyLimits`, derived from the request's `max_tokens` and timeout): bytes
read, tokens streamed, answer text, the length of one SSE line, the time without progress (a whole
`data:` event, not a byte: a trickle makes none) and the whole request's deadline. A server past
any of them is cut at once: a typed failure (`REPLY_TOO_LONG`, `DEADLINE`, `TIMEOUT`), never an
answer, and the client holds at most one limit's worth of bytes per request in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

import aiohttp

from fasteval.inference.endpoints import Endpoint, EndpointPool, StopKind, redact_url
from fasteval.types import (
    NO_EXTRAS,
    Completion,
    ErrorKind,
    Extras,
    FileImageRef,
    GenParams,
    ImagePart,
    Prompt,
    Status,
    Timing,
)

__all__ = [
    "Backoff",
    "Client",
    "ReplyLimits",
    "build_body",
    "classify_http_error",
    "complete",
    "make_session",
    "parse_retry_after",
]

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_MIME_OK = re.compile(r"[A-Za-z0-9.+\-]+/[A-Za-z0-9.+\-]+")
_CONTEXT_RE = re.compile(
    r"context|too long|maximum .{0,20}length|max_model_len|too many tokens|exceeds? the", re.IGNORECASE
)
_ERROR_BODY_LIMIT = 64 * 1024
_EXCERPT = 200
_INT_MAX = 2**62  # token counts beyond this are a server's garbage (and would overflow int64 columns)


# ---------------------------------------------------------------------------------------------
# Limits of one reply
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplyLimits:
    """How much one reply may carry and take before it is cut, derived from the request.

    The margins are wide on purpose: a reply within `max_tokens` never comes near them, a server
    that ignores `max_tokens` (an endless stream, a 50 MB answer) is cut within a few hundred KB.
    - `tokens`: content-carrying chunks (and the reported `completion_tokens`): `max_tokens` plus
      a quarter and 16 (servers may split a token's bytes over chunks).
    - `text_chars`: 256 characters per allowed token (longer than any vocabulary's longest token).
    - `bytes`: every byte of the reply body: 256 KiB plus 4 KiB per allowed token (a vLLM chunk is
      ~250 bytes; logprobs make it a few KB).
    - `line`: one SSE line (a `data:` line without its newline is never buffered past this).
    - `idle_s`: seconds without a complete event (the `--timeout`); `deadline_s`: the whole
      request, `DEADLINE_FACTOR` times the idle limit (a reply trickling one event just under the
      idle limit still ends).
    """

    tokens: int
    text_chars: int
    bytes: int
    line: int
    idle_s: float
    deadline_s: float

    DEADLINE_FACTOR = 4.0
    MAX_LINE = 1 << 20

    @classmethod
    def of(cls, params: GenParams) -> ReplyLimits:
        tokens = max(params.max_tokens, 1) + max(16, params.max_tokens // 4)
        size = (256 << 10) + tokens * (4 << 10)
        return cls(
            tokens=tokens,
            text_chars=tokens * 256,
            bytes=size,
            line=min(cls.MAX_LINE, size),
            idle_s=params.timeout_s,
            deadline_s=params.timeout_s * cls.DEADLINE_FACTOR,
        )


class _Clock:
    """The request's two time limits on one `asyncio.timeout`: `progress()` moves the idle edge
    forward (at most once per network read), never past the deadline."""

    def __init__(self, limits: ReplyLimits) -> None:
        self._loop = asyncio.get_running_loop()
        start = self._loop.time()
        self.deadline = start + limits.deadline_s
        self._idle_s = limits.idle_s
        self.scope = asyncio.timeout(min(self.deadline, start + limits.idle_s))

    def progress(self) -> None:
        self.scope.reschedule(min(self.deadline, self._loop.time() + self._idle_s))

    def past_deadline(self) -> bool:
        return self._loop.time() >= self.deadline


# ---------------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------------


def _skeleton(
    model: str, prompt: Prompt, params: GenParams, stream: bool, marker: str, extras: Extras = NO_EXTRAS
) -> dict[str, Any]:
    """The request as a dict, each image URL replaced by `marker{i}` so its base64 can be spliced."""
    content: list[dict[str, Any]] = []
    n_images = 0
    for part in prompt.parts:  # in the prompt's order: images first, or at their tags (MMMU)
        if isinstance(part, ImagePart):
            url = {"url": f"{marker}{n_images}", **extras.image_url}
            content.append({"type": "image_url", "image_url": url})
            n_images += 1
        else:
            content.append({"type": "text", "text": part.text})
    messages: list[dict[str, Any]] = []
    if prompt.system:
        messages.append({"role": "system", "content": prompt.system})
    messages.append({"role": "user", "content": content})
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if params.top_p is not None:
        body["top_p"] = params.top_p
    if params.ignore_eos:
        body["ignore_eos"] = True  # vLLM extension: generate exactly max_tokens (perf runs)
    body.update(extras.body)
    body.update(params.extra_body)
    return body


def _spliceable(text: str) -> bytes | None:
    """`text` as bytes when it can sit inside a JSON string verbatim (base64 alphabet only), else None.

    `bytes.translate(None, alphabet)` deletes every legal byte in one C pass; checking 32 KB slices
    keeps its scratch buffers small. For a 4 MB image the whole build costs about a third of
    `json.dumps` + `encode` of the same string (measured once; tests/test_client.py checks only that
    json.dumps never sees a spliceable image, since a timed comparison fails on a busy machine).
    """
    if not text.isascii():
        return None
    raw = text.encode("ascii")
    step = 1 << 15
    for start in range(0, len(raw), step):
        if raw[start : start + step].translate(None, _B64_ALPHABET):
            return None
    return raw


def build_body(
    model: str, prompt: Prompt, params: GenParams, *, stream: bool = True, extras: Extras = NO_EXTRAS
) -> bytes:
    """The OpenAI chat-completions JSON for one prompt, images sent as the dataset's own base64.

    The base64 is never decoded; when it is pure base64 alphabet (no character JSON would escape)
    it is spliced into the serialized skeleton instead of being scanned again by `json.dumps`.
    """
    images = [p.image for p in prompt.parts if isinstance(p, ImagePart)]
    marker = "\x00fasteval-image-"  # json.dumps escapes NUL, so the marker cannot occur in user text
    encoded = json.dumps(_skeleton(model, prompt, params, stream, marker, extras), ensure_ascii=False)
    if not images:
        return encoded.encode()
    escaped_marker = json.dumps(marker)[1:-1]
    pieces: list[bytes] = []
    rest = encoded
    for i, image in enumerate(images):
        head, rest = rest.split(f"{escaped_marker}{i}", 1)
        pieces.append(head.encode())
        url_prefix = f"data:{image.mime};base64,"
        if not _MIME_OK.fullmatch(image.mime):
            raw = None
        elif isinstance(image, FileImageRef):  # a cached video frame, encoded now: no scan needed
            raw = image.b64_bytes()
        else:
            raw = _spliceable(image.b64)
        if raw is not None:
            pieces.append(url_prefix.encode("ascii"))
            pieces.append(raw)
        else:  # unusual payload (newlines, odd mime): let json escape it, correctness first
            pieces.append(json.dumps(url_prefix + image.b64)[1:-1].encode())
    pieces.append(rest.encode())
    return b"".join(pieces)


# ---------------------------------------------------------------------------------------------
# Error classification
# ---------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _server_message(raw: bytes) -> str:
    """The human message inside an OpenAI / vLLM / FastAPI error body, else the raw text."""
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python decodes
        return text
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or data.get("detail")
            if msg is not None:
                return str(msg)
        elif isinstance(err, str):
            return err
        if "detail" in data:
            return str(data["detail"])
    return text


def _one_line(text: str, api_key: str | None = None) -> str:
    line = " ".join(text.split())
    if api_key:
        line = line.replace(api_key, "***")
    return line[:_EXCERPT] + ("..." if len(line) > _EXCERPT else "")


def classify_http_error(status: int, message: str) -> ErrorKind:
    """The failure kind of a non-200 reply: 429 rate limit, 5xx server, 401/403 key, 404 model,
    400 context or bad request."""
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 404 and "model" in message.lower():
        return ErrorKind.UNKNOWN_MODEL
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status == 408:
        return ErrorKind.TIMEOUT
    if status >= 500:
        return ErrorKind.SERVER
    if status in (400, 413, 422) and _CONTEXT_RE.search(message):
        return ErrorKind.CONTEXT_LENGTH
    return ErrorKind.BAD_REQUEST


# ---------------------------------------------------------------------------------------------
# One attempt
# ---------------------------------------------------------------------------------------------


class _Attempt(NamedTuple):
    completion: Completion
    retry_after: float | None = None  # the server's Retry-After, seconds
    connect_failed: bool = False  # the connection could not be opened (endpoint health)


class _Malformed(Exception):
    """Internal: the reply broke the protocol; turned into ErrorKind.MALFORMED."""


class _Dropped(Exception):
    """Internal: the stream ended before the server said it was done."""


class _TooLong(Exception):
    """Internal: the reply went past one of its `ReplyLimits`; turned into ErrorKind.REPLY_TOO_LONG."""


def _int_or_none(value: Any) -> int | None:
    """A token count as the server sent it, if it is one (not a bool, a float, a string, 10**30)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _INT_MAX:
        return value
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_MODEL_CHARS = 256  # a served model id is short; a reply's `model` is stored with every row


def _model_of(reply: Mapping[str, Any]) -> str | None:
    """The model a reply names, at most `_MODEL_CHARS` long: a server naming a 300 KB model in every
    reply would otherwise store it per row (15 GB over 50,000 rows) and read it back at the finish."""
    model = _str_or_none(reply.get("model"))
    return model if model is None or len(model) <= _MODEL_CHARS else model[:_MODEL_CHARS] + "..."


def _failed(kind: ErrorKind, error: str, *, started: float | None = None) -> Completion:
    timing = Timing()
    if started is not None:  # time until the failure was seen, so run duration includes failures
        timing.e2el = time.perf_counter() - started
    return Completion(status=Status.FAILED, error=error, error_kind=kind, timing=timing)


def _reasoning_of(message: Mapping[str, Any]) -> str | None:
    """The thinking text of a delta or message: vLLM's reasoning parsers send `reasoning_content`
    (newer vLLM also `reasoning`), LMDeploy's `reasoning_content`."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else None


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _token_of(delta: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(content text, carries a token) for one delta.

    A token chunk may have empty text: a token that ends mid UTF-8 sequence (CJK, emoji, byte
    tokens) is streamed as `"content": ""`. So a delta with string content and no `role` counts,
    as do reasoning and tool-call deltas; the role-only opening chunk does not.
    """
    content = delta.get("content")
    if content is not None and not isinstance(content, str):
        raise _Malformed(f"content is a JSON {_json_type(content)}, not text")
    carries = (
        bool(content)
        or (isinstance(content, str) and "role" not in delta)
        or bool(delta.get("reasoning_content") or delta.get("reasoning") or delta.get("tool_calls"))
    )
    return (content if isinstance(content, str) else None), carries


async def _sse_data(
    resp: aiohttp.ClientResponse, limits: ReplyLimits, clock: _Clock | None = None
) -> AsyncGenerator[tuple[float, bytes], None]:
    """(arrival time, payload) of each `data:` line, reading whole socket buffers as they come.

    One await per network read rather than per line (as vLLM's own client does): a 32-token reply
    is ~35 lines, and per-line reads roughly double the client's CPU per request. The bytes read
    and the unfinished line are checked on every read, so neither an endless stream nor a line
    that never ends grows past its limit; a read that completes a line is progress (`clock`).
    """
    pending = bytearray()  # grown in place: a long line in many tiny reads costs linear time, not quadratic
    received = 0
    async for data in resp.content.iter_any():
        now = time.perf_counter()
        received += len(data)
        if received > limits.bytes:
            raise _TooLong(f"reply passed {limits.bytes:,} bytes")
        pending += data
        if b"\n" not in data:
            if len(pending) > limits.line:
                raise _TooLong(f"an SSE line passed {limits.line:,} bytes without a newline")
            continue
        cut = pending.rfind(b"\n")
        lines = bytes(pending[:cut]).split(b"\n")
        del pending[: cut + 1]
        if len(pending) > limits.line:
            raise _TooLong(f"an SSE line passed {limits.line:,} bytes without a newline")
        if clock is not None:
            clock.progress()
        for raw in lines:
            line = raw.strip()
            if line.startswith(b"data:"):  # skip blank separators, SSE comments, `event:` lines
                yield now, line[5:].strip()
    line = bytes(pending).strip()
    if line.startswith(b"data:"):
        yield time.perf_counter(), line[5:].strip()


async def _read_sse(
    resp: aiohttp.ClientResponse,
    started: float,
    api_key: str | None,
    limits: ReplyLimits | None = None,
    clock: _Clock | None = None,
) -> Completion:
    limits = limits or ReplyLimits.of(GenParams())
    text: list[str] = []
    thinking: list[str] = []  # `reasoning_content` deltas of an engine running a reasoning parser
    n_chars = n_tokens = 0
    finish_reason: str | None = None
    n_in = n_out = None
    model: str | None = None
    first: float | None = None
    last: float | None = None
    itl: list[float] = []
    saw_choices = done = False
    async with contextlib.aclosing(_sse_data(resp, limits, clock)) as events:
        async for now, payload in events:
            if payload == b"[DONE]":
                done = True
                break
            try:
                chunk = json.loads(payload)
            except (ValueError, RecursionError) as exc:  # nested too deep to decode: as malformed
                raise _Malformed(f"bad SSE chunk: {_one_line(payload.decode('utf-8', 'replace'))}") from exc
            if not isinstance(chunk, dict):
                raise _Malformed("SSE chunk is not a JSON object")
            if "error" in chunk or chunk.get("object") == "error":
                message = _server_message(payload)
                error = chunk.get("error")
                code = chunk.get("code") or (error.get("code") if isinstance(error, dict) else None) or 500
                status = code if isinstance(code, int) else 500
                return _failed(
                    classify_http_error(status, message), f"stream error: {_one_line(message, api_key)}"
                )
            model = model or _model_of(chunk)
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                n_in = _int_or_none(usage.get("prompt_tokens")) or n_in
                n_out = _int_or_none(usage.get("completion_tokens")) or n_out
            choices = chunk.get("choices")
            if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
                continue
            saw_choices = True
            choice = choices[0]
            delta = choice.get("delta")
            content, carries = _token_of(delta if isinstance(delta, dict) else {})
            if carries:
                n_tokens += 1
                if n_tokens > limits.tokens:
                    raise _TooLong(f"reply passed {limits.tokens} tokens")
                if first is None:
                    first = now
                else:
                    itl.append(now - last)  # type: ignore[operator]
                last = now
            reasoning = _reasoning_of(delta if isinstance(delta, dict) else {})
            for part, into in ((content, text), (reasoning, thinking)):
                if part:
                    n_chars += len(part)
                    if n_chars > limits.text_chars:
                        raise _TooLong(f"answer passed {limits.text_chars:,} characters")
                    into.append(part)
            if choice.get("finish_reason"):
                finish_reason = _str_or_none(choice["finish_reason"]) or str(choice["finish_reason"])[:64]
    if not saw_choices:
        raise _Malformed("reply had no choices")
    if not done and finish_reason is None:
        raise _Dropped("stream ended before [DONE]")
    if n_out is not None and n_out > limits.tokens:
        raise _TooLong(f"server reported {n_out} completion tokens, more than {limits.tokens}")
    timing = Timing(
        ttft=None if first is None else first - started,
        e2el=(time.perf_counter() if last is None else last) - started,
        itl=itl,
    )
    return Completion(
        status=Status.OK,
        text="".join(text),
        finish_reason=finish_reason,
        n_in=n_in,
        n_out=n_out,
        model=model,
        timing=timing,
        reasoning="".join(thinking) if thinking else None,
    )


async def _read_body(resp: aiohttp.ClientResponse, limits: ReplyLimits, clock: _Clock) -> bytes:
    """A whole non-streamed body, never more than `limits.bytes` of it; each read is progress (a
    JSON body has no events), the deadline still holds."""
    parts: list[bytes] = []
    received = 0
    async for data in resp.content.iter_any():
        received += len(data)
        if received > limits.bytes:
            raise _TooLong(f"reply passed {limits.bytes:,} bytes")
        parts.append(data)
        clock.progress()
    return b"".join(parts)


def _parse_json_reply(raw: bytes, started: float, limits: ReplyLimits) -> Completion:
    """A non-streaming reply (some servers ignore `stream`): TTFT = E2EL = body received."""
    now = time.perf_counter()
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content")
        usage = data.get("usage") or {}
        n_in, n_out = _int_or_none(usage.get("prompt_tokens")), _int_or_none(usage.get("completion_tokens"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        raise _Malformed(f"bad JSON reply: {_one_line(raw[:300].decode('utf-8', 'replace'))}") from exc
    if content is not None and not isinstance(content, str):  # VLMEvalKit's `.strip()` fails on it too
        raise _Malformed(f"content is a JSON {_json_type(content)}, not text")
    text = content or ""
    if len(text) > limits.text_chars:
        raise _TooLong(f"answer passed {limits.text_chars:,} characters")
    if n_out is not None and n_out > limits.tokens:
        raise _TooLong(f"server reported {n_out} completion tokens, more than {limits.tokens}")
    return Completion(
        status=Status.OK,
        text=text,
        finish_reason=_str_or_none(choice.get("finish_reason")),
        n_in=n_in,
        n_out=n_out,
        model=_model_of(data),
        timing=Timing(ttft=now - started, e2el=now - started),
        reasoning=_reasoning_of(message) if isinstance(message, dict) else None,
    )


async def _attempt(
    session: aiohttp.ClientSession, url: str, body: bytes, params: GenParams, api_key: str | None
) -> _Attempt:
    """One POST; the completion's `t_send` is the wall clock of the moment its latencies count from."""
    sent_at = time.time()
    started = time.perf_counter()
    outcome = await _exchange(session, url, body, params, api_key, started, ReplyLimits.of(params))
    outcome.completion.timing.t_send = sent_at
    return outcome


async def _exchange(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    params: GenParams,
    api_key: str | None,
    started: float,
    limits: ReplyLimits,
) -> _Attempt:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=min(params.timeout_s, 30.0), sock_read=params.timeout_s
    )
    clock = _Clock(limits)
    try:
        async with clock.scope, session.post(url, data=body, headers=headers, timeout=timeout) as resp:
            if resp.status != 200:
                raw = await resp.content.read(_ERROR_BODY_LIMIT)
                message = _server_message(raw)
                kind = classify_http_error(resp.status, message)
                error = f"HTTP {resp.status}: {_one_line(message, api_key)}"
                return _Attempt(
                    _failed(kind, error, started=started),
                    retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                )
            clock.progress()  # the headers are progress: the first event may take the whole idle limit
            if resp.content_type == "application/json":
                return _Attempt(_parse_json_reply(await _read_body(resp, limits, clock), started, limits))
            if resp.content_type == "text/html":  # a proxy's or a web server's page, not an engine
                raise _Malformed(
                    f"HTTP 200 with an HTML page from {redact_url(url)}, not a chat reply: "
                    "is --api-base the engine's OpenAI-compatible /v1?"
                )
            return _Attempt(await _read_sse(resp, started, api_key, limits, clock))
    except _Malformed as exc:
        return _Attempt(_failed(ErrorKind.MALFORMED, str(exc), started=started))
    except _TooLong as exc:
        error = f"{exc} for max_tokens {params.max_tokens}: the server ignores the limit; cut"
        return _Attempt(_failed(ErrorKind.REPLY_TOO_LONG, error, started=started))
    except _Dropped as exc:
        return _Attempt(_failed(ErrorKind.CONNECT, str(exc), started=started))
    except aiohttp.ClientConnectorError as exc:
        error = f"cannot connect to {redact_url(url)}: {exc.os_error}"
        return _Attempt(_failed(ErrorKind.CONNECT, error), connect_failed=True)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        if clock.scope.expired() and clock.past_deadline():
            error = (
                f"reply unfinished after {limits.deadline_s:g}s from {redact_url(url)} "
                f"(deadline: {ReplyLimits.DEADLINE_FACTOR:g} x the {params.timeout_s:g}s timeout)"
            )
            return _Attempt(_failed(ErrorKind.DEADLINE, error, started=started))
        error = f"no progress for {params.timeout_s:g}s from {redact_url(url)}"
        return _Attempt(_failed(ErrorKind.TIMEOUT, error, started=started))
    except (aiohttp.ClientError, ConnectionError, ValueError) as exc:  # payload cut, reset, line too long
        error = f"connection lost: {type(exc).__name__}: {_one_line(str(exc), api_key)}"
        return _Attempt(_failed(ErrorKind.CONNECT, error, started=started))


def _not_sent(pool: EndpointPool) -> Completion:
    """The failure of a request no endpoint was handed out for: every one is out, or the pool stopped."""
    stop = pool.stop
    if stop is None or stop.kind is StopKind.UNREACHABLE:
        return _failed(ErrorKind.CONNECT, stop.message if stop else pool.unreachable_message())
    kind = ErrorKind.AUTH if stop.kind is StopKind.KEY_REFUSED else ErrorKind.UNKNOWN_MODEL
    return _failed(kind, stop.message)


# ---------------------------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter; a 429's Retry-After wins when it is at most
    `max_retry_after_s`. A server asking for longer (`Retry-After: 1e9`, a date next year) is not
    waited for at all: the row fails now (`complete`), as a run would otherwise sit silent."""

    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, retry_index: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2.0**retry_index))


# A trickle past the deadline is retried like a timeout (a slow engine may recover); a reply past
# its size limits is not: the same request at the same temperature would run past them again.
_RETRYABLE = frozenset(
    {
        ErrorKind.CONNECT,
        ErrorKind.TIMEOUT,
        ErrorKind.DEADLINE,
        ErrorKind.SERVER,
        ErrorKind.RATE_LIMITED,
        ErrorKind.MALFORMED,
    }
)
_RNG = random.Random()  # jitter only spreads retries in time; it never changes a result


async def complete(
    session: aiohttp.ClientSession,
    endpoint: str | EndpointPool,
    body: bytes,
    params: GenParams,
    *,
    retry: int,
    api_key: str | None = None,
    queue_s: float = 0.0,
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Completion:
    """Send one chat request (retrying transient failures `retry` times) and return what came back.

    Never raises except `asyncio.CancelledError`. `endpoint` is a base URL (`http://host:port/v1`)
    or an `EndpointPool`, which picks the least-loaded live endpoint for every attempt.
    """
    t_dispatch = time.time()
    result: Completion | None = None
    for attempt in range(retry + 1):
        ep: Endpoint | None = None
        if isinstance(endpoint, EndpointPool):
            ep = await endpoint.acquire(session)
            if ep is None:
                outcome = _Attempt(_not_sent(endpoint))
                base = None
            else:
                base = ep.base_url
        else:
            base = endpoint.rstrip("/")
        if base is not None:
            url = f"{base}/chat/completions"
            if ep is None:
                outcome = await _attempt(session, url, body, params, api_key)
            else:
                assert isinstance(endpoint, EndpointPool)
                try:
                    outcome = await _attempt(session, url, body, params, api_key)
                except BaseException:  # cancelled: free the slot, count nothing against the endpoint
                    endpoint.release(ep, ok=False, connect_failed=False)
                    raise
                endpoint.release(ep, ok=outcome.completion.ok, connect_failed=outcome.connect_failed)
                endpoint.note_refusal(ep, outcome.completion.error_kind, outcome.completion.error)
        result = outcome.completion
        result.attempts = attempt + 1
        result.endpoint = None if base is None else redact_url(base)
        stopped = isinstance(endpoint, EndpointPool) and endpoint.stop is not None
        if result.ok or result.error_kind not in _RETRYABLE or attempt == retry or stopped:
            break
        if outcome.retry_after is not None and outcome.retry_after > backoff.max_retry_after_s:
            result.error = (
                f"{result.error} (the server asks to retry after {outcome.retry_after:.0f}s, more than "
                f"{backoff.max_retry_after_s:.0f}s: rerun later)"
            )
            break
        await sleep(backoff.delay(attempt, outcome.retry_after, _RNG))
    assert result is not None  # the loop runs at least once
    result.timing.t_dispatch = t_dispatch
    result.timing.queue_s = queue_s
    return result


# ---------------------------------------------------------------------------------------------
# Session and client
# ---------------------------------------------------------------------------------------------


def make_session(concurrency: int) -> aiohttp.ClientSession:
    """One pooled session whose connection limit equals the request semaphore (vLLM's layout)."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, keepalive_timeout=60)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))


class Client:
    """A session, a semaphore of the same size and an endpoint pool: the runner's one handle.

    `queue_s` measures the wait for a concurrency slot; `t_dispatch` is when the slot was won.
    """

    def __init__(
        self,
        endpoints: EndpointPool,
        *,
        concurrency: int,
        retry: int = 3,
        api_key: str | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.pool = endpoints
        self.concurrency = concurrency
        self.retry = retry
        self._api_key = api_key
        self._backoff = backoff
        self._semaphore = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use `async with Client(...)` before sending requests")
        return self._session

    async def __aenter__(self) -> Client:
        self._session = make_session(self.concurrency)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()
            self._session = None

    async def complete(self, body: bytes, params: GenParams) -> Completion:
        queued = time.perf_counter()
        async with self._semaphore:
            return await complete(
                self.session,
                self.pool,
                body,
                params,
                retry=self.retry,
                api_key=self._api_key,
                queue_s=time.perf_counter() - queued,
                backoff=self._backoff,
                sleep=self.pool.sleep,
            )
