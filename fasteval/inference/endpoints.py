"""Routing across several OpenAI-compatible endpoints: least outstanding requests, with health.

An endpoint whose connections are refused `max_connect_failures` times in a row is taken out of
rotation and re-probed (`GET {base}/models`) after a cooldown, so one dead replica costs a few
failed connects, not a share of every request. When every endpoint is out, `all_down` lets the
runner stop early with one line naming the URLs instead of burning the whole dataset into failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from fasteval.errors import FastevalError
from fasteval.inference.model_list import parse_model_list

__all__ = ["Endpoint", "EndpointPool", "EndpointStats", "EndpointsUnreachable", "list_models", "probe"]


class EndpointsUnreachable(FastevalError):
    """No endpoint answers: the message names the URLs and how to start a server."""


def _fix_hint(urls: Sequence[str]) -> str:
    return (
        f"no OpenAI-compatible server answers at {', '.join(urls)}: start one with "
        "`make serve MODEL=<name>` or pass --api-base http://host:port/v1"
    )


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def list_models(
    session: aiohttp.ClientSession, base: str, api_key: str | None = None, *, timeout_s: float = 10.0
) -> list[str]:
    """The model ids served at `base` (`GET {base}/models`); raises `EndpointsUnreachable` on failure."""
    url = f"{base.rstrip('/')}/models"
    try:
        async with session.get(
            url, headers=_headers(api_key), timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            if resp.status != 200:
                raise EndpointsUnreachable(
                    f"GET {url} answered HTTP {resp.status}: check the URL ends in /v1 and the API key"
                )
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise EndpointsUnreachable(f"{_fix_hint([base])} ({type(exc).__name__})") from exc
    try:
        return [m.id for m in parse_model_list(data)]
    except ValueError:
        raise EndpointsUnreachable(
            f"GET {url} did not return an OpenAI model list: is it an OpenAI-compatible /v1?"
        ) from None


async def probe(
    session: aiohttp.ClientSession, base: str, api_key: str | None = None, *, timeout_s: float = 5.0
) -> bool:
    """True when the endpoint lists its models: the health check used to bring an endpoint back."""
    try:
        await list_models(session, base, api_key, timeout_s=timeout_s)
    except EndpointsUnreachable:
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        urls = [u.rstrip("/") for u in base_urls]
        if not urls:
            raise EndpointsUnreachable(
                "no endpoint given: pass --api-base http://host:port/v1 or run `make serve`"
            )
        if len(set(urls)) != len(urls):
            raise EndpointsUnreachable(f"endpoint listed twice in {urls}: pass each --api-base once")
        self.endpoints = [Endpoint(u) for u in urls]
        self._api_key = api_key
        self._max_failures = max_connect_failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._probes: dict[str, asyncio.Task[bool]] = {}

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
            EndpointStats(e.base_url, e.sent, e.ok, e.failed, e.peak_outstanding, e.up)
            for e in self.endpoints
        ]

    async def acquire(self, session: aiohttp.ClientSession) -> Endpoint | None:
        """The live endpoint with the fewest requests in flight (counted as sent), or None if all are out.

        Endpoints whose cooldown has passed are probed in the background; when none is live the
        caller waits for those probes, so a restarted server is picked up again.
        """
        self._start_due_probes(session)
        live = [e for e in self.endpoints if e.up]
        if not live and self._probes:
            await asyncio.wait(list(self._probes.values()))
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
        for task in list(self._probes.values()):
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
