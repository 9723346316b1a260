"""Routing across several OpenAI-compatible endpoints: least outstanding requests, with health.

An endpoint whose connections are refused `max_connect_failures` times in a row is taken out of
rotation and re-probed (`GET {base}/models`) after a cooldown, so one dead replica costs a few
failed connects, not a share of every request. When every endpoint stays out for `dead_after_s`
(seconds, not the retry schedule), or the servers keep refusing the key or the model, the pool
*stops* (`stop` says why) so the runner sends nothing more instead of burning the dataset into
failures. URLs are shown only through `redact_url`: a key in `http://user:KEY@host` never leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from fasteval.errors import FastevalError
from fasteval.models.model_list import MAX_BYTES as MODEL_LIST_BYTES
from fasteval.models.model_list import decode_model_list
from fasteval.resources import clip, shown
from fasteval.types import ErrorKind

__all__ = [
    "Endpoint",
    "EndpointPool",
    "EndpointStats",
    "EndpointsUnreachable",
    "KeyRefused",
    "RunStop",
    "StopKind",
    "UnknownModel",
    "key_fix",
    "list_models",
    "probe",
    "redact_url",
    "unknown_model_message",
]

REFUSALS_TO_STOP = 3  # 401/403/404-model replies before the pool stops: a few, not the dataset


class EndpointsUnreachable(FastevalError):
    """No endpoint answers: the message names the URLs and how to start a server."""


class KeyRefused(FastevalError):
    """The server answers but refuses the API key (HTTP 401/403): retrying cannot help."""


class UnknownModel(FastevalError):
    """The server answers but does not serve the requested model name."""


class StopKind(StrEnum):
    """Why a pool stopped sending: the runner maps each to an exit status and a fix."""

    UNREACHABLE = "unreachable"  # every endpoint refused connections for `dead_after_s`
    KEY_REFUSED = "key_refused"
    UNKNOWN_MODEL = "unknown_model"


@dataclass(frozen=True, slots=True)
class RunStop:
    kind: StopKind
    message: str  # one line: cause and fix

    @property
    def exit_status(self) -> int:
        """3 (rows missing, rerun later) for a dead server; 2 (fix the command) otherwise."""
        return 3 if self.kind is StopKind.UNREACHABLE else 2


def redact_url(url: str) -> str:
    """`url` with any password (or bare user token) replaced by `***`, for display and storage."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
    shown = f"{user}:***" if user else "***"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def key_fix(api_key: str | None) -> str:
    """The fix for a refused key, naming where the endpoint key comes from."""
    if api_key:
        return "pass the server's key with --api-key or FASTEVAL_API_KEY (OPENAI_API_KEY is the judge's)"
    return "no key was sent: pass one with --api-key or FASTEVAL_API_KEY (OPENAI_API_KEY is the judge's)"


def _fix_hint(urls: Sequence[str]) -> str:
    return (
        f"no OpenAI-compatible server answers at {', '.join(redact_url(u) for u in urls)}: start one with "
        "`make serve MODEL=<name>` or pass --api-base http://host:port/v1"
    )


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def list_models(
    session: aiohttp.ClientSession, base: str, api_key: str | None = None, *, timeout_s: float = 10.0
) -> list[str]:
    """The model ids served at `base` (`GET {base}/models`).

    Raises `KeyRefused` on 401/403 (the server is up; the key is wrong), else `EndpointsUnreachable`.
    """
    url = f"{base.rstrip('/')}/models"
    shown = redact_url(url)
    try:
        async with session.get(
            url, headers=_headers(api_key), timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            if resp.status in (401, 403):
                raise KeyRefused(f"{shown} refused the API key (HTTP {resp.status}): {key_fix(api_key)}")
            if resp.status != 200:
                raise EndpointsUnreachable(
                    f"GET {shown} answered HTTP {resp.status}: check the URL ends in /v1 and the API key"
                )
            raw = await resp.content.read(MODEL_LIST_BYTES + 1)  # never an unbounded body
    except (aiohttp.ClientSSLError, aiohttp.ClientConnectorSSLError) as exc:  # https:// to a plain port
        raise EndpointsUnreachable(
            f"the TLS handshake with {redact_url(base)} failed ({type(exc).__name__}): if the server "
            "speaks plain HTTP (vLLM and LMDeploy do by default), use http:// in --api-base"
        ) from exc
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise EndpointsUnreachable(f"{_fix_hint([base])} ({type(exc).__name__})") from exc
    try:
        return [m.id for m in decode_model_list(raw)]
    except ValueError:
        raise EndpointsUnreachable(
            f"GET {shown} did not return an OpenAI model list: is it an OpenAI-compatible /v1?"
        ) from None


async def probe(
    session: aiohttp.ClientSession, base: str, api_key: str | None = None, *, timeout_s: float = 5.0
) -> bool:
    """True when the endpoint lists its models: the health check used to bring an endpoint back."""
    try:
        await list_models(session, base, api_key, timeout_s=timeout_s)
    except (EndpointsUnreachable, KeyRefused):
        return False
    return True


@dataclass(slots=True)
class Endpoint:
    """One base URL and its live counters (mutated only on the event loop)."""

    base_url: str
    outstanding: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    peak_outstanding: int = 0
    connect_failures_in_a_row: int = 0
    down_since: float | None = None  # monotonic time it was taken out; None while in rotation
    retry_at: float = 0.0  # monotonic time of the next health probe while down

    @property
    def up(self) -> bool:
        return self.down_since is None

    @property
    def label(self) -> str:
        """The URL as shown and stored: credentials redacted."""
        return redact_url(self.base_url)


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """Per-endpoint counts for the run summary."""

    base_url: str
    sent: int
    ok: int
    failed: int
    peak_outstanding: int
    up: bool


class EndpointPool:
    """Least-outstanding-requests routing with connect-failure ejection and cooldown re-probes."""

    def __init__(
        self,
        base_urls: Sequence[str],
        api_key: str | None = None,
        *,
        max_connect_failures: int = 3,
        cooldown_s: float = 10.0,
        dead_after_s: float = 10.0,
        hold_when_down: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        urls = [u.rstrip("/") for u in base_urls]
        if not urls:
            raise EndpointsUnreachable(
                "no endpoint given: pass --api-base http://host:port/v1 or run `make serve`"
            )
        if len(set(urls)) != len(urls):
            shown = [redact_url(u) for u in urls]
            raise EndpointsUnreachable(f"endpoint listed twice in {shown}: pass each --api-base once")
        self.endpoints = [Endpoint(u) for u in urls]
        self._api_key = api_key
        self._max_failures = max_connect_failures
        self._cooldown_s = cooldown_s
        self._dead_after_s = dead_after_s
        self._hold = hold_when_down  # acquire waits out an all-down blip instead of failing at once
        self._clock = clock
        self._probes: dict[str, asyncio.Task[bool]] = {}
        self._watch: asyncio.Future[bool] | None = None
        self._refusals: dict[ErrorKind, int] = {}
        self._stopped = asyncio.Event()
        self.stop: RunStop | None = None  # set once: the pool sends nothing more

    @property
    def urls(self) -> list[str]:
        return [e.base_url for e in self.endpoints]

    @property
    def all_down(self) -> bool:
        """Every endpoint has been taken out for refusing connections."""
        return all(not e.up for e in self.endpoints)

    def unreachable_message(self) -> str:
        return f"all endpoints unreachable: {_fix_hint(self.urls)}"

    def unreachable_error(self) -> EndpointsUnreachable:
        return EndpointsUnreachable(self.unreachable_message())

    def stats(self) -> list[EndpointStats]:
        return [
            EndpointStats(e.label, e.sent, e.ok, e.failed, e.peak_outstanding, e.up) for e in self.endpoints
        ]

    def halt(self, kind: StopKind, message: str) -> None:
        """Stop the pool for good (the first reason wins): no endpoint is handed out after this."""
        if self.stop is None:
            self.stop = RunStop(kind, message)
            self._stopped.set()

    async def sleep(self, seconds: float) -> None:
        """A backoff sleep that ends early when the pool stops, so a stopped run exits promptly."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    def note_refusal(self, ep: Endpoint, kind: ErrorKind | None, error: str | None) -> None:
        """Count 401/403 and unknown-model replies; a few of them stop the pool (retrying cannot help)."""
        if kind not in (ErrorKind.AUTH, ErrorKind.UNKNOWN_MODEL):
            return
        self._refusals[kind] = n = self._refusals.get(kind, 0) + 1
        if n < REFUSALS_TO_STOP:
            return
        if kind is ErrorKind.AUTH:
            self.halt(
                StopKind.KEY_REFUSED, f"{ep.label} refused the API key ({error}): {key_fix(self._api_key)}"
            )
        else:
            self.halt(StopKind.UNKNOWN_MODEL, f"{ep.label} does not serve the requested model ({error})")

    def dead_for(self) -> float | None:
        """Seconds every endpoint has been out (refusing connections), or None if one is in rotation."""
        downs = [e.down_since for e in self.endpoints]
        if any(d is None for d in downs):
            return None
        return self._clock() - max(d for d in downs if d is not None)

    async def wait_for_live(self, session: aiohttp.ClientSession, *, probe_every_s: float = 1.0) -> bool:
        """While every endpoint is out, probe them all every `probe_every_s`; True once one is back.

        After `dead_after_s` of all-out the pool stops (`StopKind.UNREACHABLE`) and this returns False.
        Every waiter shares one watch, so a full batch of waiting requests costs one probe a second.
        """
        if self._watch is None or self._watch.done():
            self._watch = asyncio.ensure_future(self._watch_until_live(session, probe_every_s))
        return await asyncio.shield(self._watch)

    async def _watch_until_live(self, session: aiohttp.ClientSession, probe_every_s: float) -> bool:
        while self.stop is None:
            down_for = self.dead_for()
            if down_for is None:
                return True
            if down_for >= self._dead_after_s:
                shown = ", ".join(e.label for e in self.endpoints)
                self.halt(
                    StopKind.UNREACHABLE,
                    f"{shown} refused every connection for {self._dead_after_s:g} s; nothing more was "
                    "sent and every stored answer is kept: rerun the same command once it is back",
                )
                return False
            await asyncio.gather(*(self._probe(session, e) for e in self.endpoints if not e.up))
            if self.dead_for() is not None:
                await asyncio.sleep(probe_every_s)
        return False

    async def acquire(self, session: aiohttp.ClientSession) -> Endpoint | None:
        """The live endpoint with the fewest requests in flight (counted as sent), or None if all are out.

        Endpoints whose cooldown has passed are probed in the background; when none is live the
        caller waits for those probes, so a restarted server is picked up again. With
        `hold_when_down`, a request that finds every endpoint out waits (`wait_for_live`) until one
        is back or the pool stops, so a server restarted within `dead_after_s` costs no row. A
        stopped pool hands out nothing.
        """
        if self.stop is not None:
            return None
        self._start_due_probes(session)
        live = [e for e in self.endpoints if e.up]
        if not live and self._probes:
            await asyncio.wait(list(self._probes.values()))
            live = [e for e in self.endpoints if e.up]
        if not live and self._hold and await self.wait_for_live(session):
            live = [e for e in self.endpoints if e.up]
        if not live:
            return None
        ep = min(live, key=lambda e: (e.outstanding, e.sent))
        ep.outstanding += 1
        ep.sent += 1
        ep.peak_outstanding = max(ep.peak_outstanding, ep.outstanding)
        return ep

    def release(self, ep: Endpoint, *, ok: bool, connect_failed: bool) -> None:
        """Record one finished attempt; consecutive refused connections take the endpoint out."""
        ep.outstanding -= 1
        if ok:
            ep.ok += 1
        else:
            ep.failed += 1
        if not connect_failed:
            ep.connect_failures_in_a_row = 0
            if ok:
                ep.down_since = None  # an answer proves it is alive again
            return
        ep.connect_failures_in_a_row += 1
        if ep.up and ep.connect_failures_in_a_row >= self._max_failures:
            now = self._clock()
            ep.down_since = now
            ep.retry_at = now + self._cooldown_s

    async def check(self, session: aiohttp.ClientSession) -> dict[str, bool]:
        """Probe every endpoint now (the pre-run health check); live ones are (re)admitted."""
        results = await asyncio.gather(*(self._probe(session, e) for e in self.endpoints))
        return {e.base_url: r for e, r in zip(self.endpoints, results, strict=True)}

    async def aclose(self) -> None:
        for task in [*self._probes.values(), *([self._watch] if self._watch is not None else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start_due_probes(self, session: aiohttp.ClientSession) -> None:
        now = self._clock()
        for ep in self.endpoints:
            if not ep.up and now >= ep.retry_at and ep.base_url not in self._probes:
                task = asyncio.ensure_future(self._probe(session, ep))
                self._probes[ep.base_url] = task
                task.add_done_callback(functools.partial(self._probe_done, ep.base_url))

    def _probe_done(self, url: str, _task: asyncio.Task[bool]) -> None:
        self._probes.pop(url, None)

    async def _probe(self, session: aiohttp.ClientSession, ep: Endpoint) -> bool:
        healthy = await probe(session, ep.base_url, self._api_key)
        if healthy:
            ep.down_since = None
            ep.connect_failures_in_a_row = 0
        else:
            now = self._clock()
            ep.down_since = ep.down_since if ep.down_since is not None else now
            ep.retry_at = now + self._cooldown_s
        return healthy

    async def preflight(self, session: aiohttp.ClientSession, served_name: str) -> None:
        """Before any chat request: a refused key or a model the servers do not list stops the run
        here (one line); endpoints that do not answer are taken out; raises if none answers."""

        why: list[EndpointsUnreachable] = []

        async def one(ep: Endpoint) -> list[str] | None:
            try:
                return await list_models(session, ep.base_url, self._api_key)
            except EndpointsUnreachable as exc:
                why.append(exc)
                now = self._clock()
                ep.down_since, ep.retry_at = now, now + self._cooldown_s
                return None

        listed = await asyncio.gather(*(one(e) for e in self.endpoints))
        for ep, models in zip(self.endpoints, listed, strict=True):
            if models is not None and served_name not in models:
                raise UnknownModel(unknown_model_message(ep.label, served_name, models))
        if self.all_down:
            if len(why) == 1:  # one endpoint: its own reason (a TLS handshake to a plain port...)
                raise why[0]
            raise self.unreachable_error()


def unknown_model_message(label: str, served_name: str, models: Sequence[str]) -> str:
    """One line: the name asked for, the names served, and the flag that picks one."""
    served = shown(list(models)) or "none"  # a server may list hundreds: the line stays one line
    first = f" (e.g. --model-name {clip(models[0])})" if models else ""
    asked = clip(repr(served_name))
    return f"{label} does not serve model {asked} (it serves: {served}): pass a served name{first}"
