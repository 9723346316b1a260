"""Endpoint routing: least outstanding requests, ejection of dead endpoints, re-probes, all-down."""

from __future__ import annotations

import asyncio

import pytest
from fault_server import FaultConfig, FaultServer

from fasteval.inference.client import Backoff, Client, build_body, complete, make_session
from fasteval.inference.endpoints import (
    REFUSALS_TO_STOP,
    EndpointPool,
    EndpointsUnreachable,
    KeyRefused,
    StopKind,
    UnknownModel,
    list_models,
    probe,
    redact_url,
)
from fasteval.types import ErrorKind, GenParams, Prompt, TextPart

pytestmark = pytest.mark.timeout(60)

MODEL = FaultConfig.model
FAST_RETRY = Backoff(base_s=0.01, cap_s=0.05)


def body(i: int) -> bytes:
    return build_body(MODEL, Prompt((TextPart(f"question {i}"),)), GenParams())


async def dead_url() -> str:
    """A base URL on a port nothing listens on any more."""
    async with FaultServer() as server:
        return server.url


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_list_models_and_probe() -> None:
    async with FaultServer(FaultConfig(model="served-name")) as server, make_session(2) as s:
        assert await list_models(s, server.url) == ["served-name"]
        assert await probe(s, server.url)
    url = await dead_url()
    async with make_session(2) as s:
        assert not await probe(s, url)
        with pytest.raises(EndpointsUnreachable, match="make serve") as err:
            await list_models(s, url)
    assert url in str(err.value) and "\n" not in str(err.value)


async def test_the_least_loaded_endpoint_gets_the_next_request() -> None:
    pool = EndpointPool(["http://a/v1", "http://b/v1/"])
    async with make_session(2) as s:
        a = await pool.acquire(s)
        b = await pool.acquire(s)
        assert a is not None and b is not None and {a.base_url, b.base_url} == {"http://a/v1", "http://b/v1"}
        third = await pool.acquire(s)
        assert third is not None
        pool.release(a if third is b else b, ok=True, connect_failed=False)
        nxt = await pool.acquire(s)
    assert nxt is not None and nxt.base_url == (a if third is b else b).base_url
    assert sum(st.sent for st in pool.stats()) == 4 and max(st.peak_outstanding for st in pool.stats()) == 2


def test_pool_rejects_empty_and_duplicate_lists() -> None:
    with pytest.raises(EndpointsUnreachable, match="--api-base"):
        EndpointPool([])
    with pytest.raises(EndpointsUnreachable, match="twice"):
        EndpointPool(["http://a/v1", "http://a/v1/"])


async def test_load_is_split_over_two_servers() -> None:
    config = FaultConfig(token_delay_s=0.01)
    async with FaultServer(config) as one, FaultServer(config) as two:
        pool = EndpointPool([one.url, two.url])
        async with Client(pool, concurrency=8, retry=0) as client:
            results = await asyncio.gather(*(client.complete(body(i), GenParams()) for i in range(40)))
        served = (one.stats.to_json()["answered"], two.stats.to_json()["answered"])
    assert all(c.ok for c in results)
    assert sum(served) == 40 and min(served) >= 12
    by_endpoint = {st.base_url: st for st in pool.stats()}
    assert by_endpoint[one.url].ok == served[0] and by_endpoint[two.url].ok == served[1]
    assert {c.endpoint for c in results} == {one.url, two.url}


async def test_a_stopped_server_is_taken_out_and_the_run_goes_on() -> None:
    async with FaultServer() as alive:
        dead = await dead_url()
        pool = EndpointPool([dead, alive.url], max_connect_failures=2, cooldown_s=60)
        async with Client(pool, concurrency=4, retry=3, backoff=FAST_RETRY) as client:
            results = await asyncio.gather(*(client.complete(body(i), GenParams()) for i in range(30)))
    assert all(c.ok for c in results) and {c.endpoint for c in results} == {alive.url}
    stats = {st.base_url: st for st in pool.stats()}
    assert not stats[dead].up and stats[alive.url].up
    assert stats[dead].sent <= 2 + 4  # ejected after two refusals (plus requests already routed there)
    assert not pool.all_down


async def test_an_endpoint_stopped_mid_run_is_survived() -> None:
    config = FaultConfig(token_delay_s=0.01)
    async with FaultServer(config) as survivor:
        victim = FaultServer(config)
        await victim.start()
        pool = EndpointPool([victim.url, survivor.url], max_connect_failures=2, cooldown_s=60)
        async with Client(pool, concurrency=6, retry=4, backoff=FAST_RETRY) as client:
            first = await asyncio.gather(*(client.complete(body(i), GenParams()) for i in range(12)))
            await victim.stop()
            second = await asyncio.gather(*(client.complete(body(i), GenParams()) for i in range(12, 36)))
    assert all(c.ok for c in first + second)
    assert victim.stats.to_json()["answered"] > 0 and {c.endpoint for c in second} == {survivor.url}


async def test_all_endpoints_down_fails_as_connect_values_and_the_pool_says_so() -> None:
    urls = [await dead_url(), await dead_url()]
    pool = EndpointPool(urls, max_connect_failures=1, cooldown_s=60)
    async with make_session(4) as s:
        results = [
            await complete(s, pool, body(i), GenParams(), retry=1, backoff=FAST_RETRY) for i in range(4)
        ]
    assert all(c.error_kind is ErrorKind.CONNECT and c.text is None for c in results)
    assert pool.all_down
    message = str(pool.unreachable_error())
    assert all(u in message for u in urls) and "make serve" in message and "\n" not in message
    assert results[-1].error == pool.unreachable_message()  # later requests are not even sent


async def test_a_dead_endpoint_comes_back_after_its_cooldown_probe() -> None:
    clock = FakeClock()
    first = FaultServer()
    await first.start()
    port = int(first.url.rsplit(":", 1)[1].split("/")[0])
    url = first.url
    await first.stop()
    pool = EndpointPool([url], max_connect_failures=1, cooldown_s=5, clock=clock)
    async with make_session(2) as s:
        c = await complete(s, pool, body(0), GenParams(), retry=0)
        assert c.error_kind is ErrorKind.CONNECT and pool.all_down
        async with FaultServer(port=port) as again:
            assert again.url == url
            c = await complete(s, pool, body(1), GenParams(), retry=0)  # still cooling down: not sent
            assert not c.ok and again.stats.to_json()["requests"] == 0
            clock.now = 6.0  # cooldown over: the next request probes /models, readmits, and is sent
            c = await complete(s, pool, body(2), GenParams(), retry=0)
            assert c.ok and not pool.all_down and again.stats.to_json()["requests"] == 1
        await pool.aclose()


async def test_pre_run_check_reports_each_endpoint() -> None:
    dead = await dead_url()
    async with FaultServer() as alive, make_session(2) as s:
        pool = EndpointPool([alive.url, dead])
        assert await pool.check(s) == {alive.url: True, dead: False}
    assert not pool.all_down and [st.up for st in pool.stats()] == [True, False]


async def test_a_refused_key_stops_the_pool_after_a_few_requests() -> None:
    async with FaultServer(FaultConfig(api_key="sk-right")) as server:
        pool = EndpointPool([server.url], "sk-wrong")
        async with Client(pool, concurrency=1, retry=3, api_key="sk-wrong") as client:
            results = [await client.complete(body(i), GenParams()) for i in range(10)]
        sent = server.stats.chat_requests
    assert all(c.error_kind is ErrorKind.AUTH for c in results)
    assert sent == REFUSALS_TO_STOP  # the rest were never sent, and none was retried
    assert pool.stop is not None and pool.stop.kind is StopKind.KEY_REFUSED and pool.stop.exit_status == 2
    assert "--api-key" in pool.stop.message and "sk-wrong" not in pool.stop.message


async def test_preflight_names_a_refused_key_and_the_served_models() -> None:
    async with FaultServer(FaultConfig(model="served", api_key="k")) as server, make_session(2) as s:
        with pytest.raises(KeyRefused, match="--api-key"):
            await EndpointPool([server.url], "bad").preflight(s, "served")
        with pytest.raises(UnknownModel, match="it serves: served"):
            await EndpointPool([server.url], "k").preflight(s, "servd")
        await EndpointPool([server.url], "k").preflight(s, "served")
    assert server.stats.chat_requests == 0


async def test_all_endpoints_out_for_the_window_stops_the_pool_a_comeback_does_not() -> None:
    first = FaultServer()
    await first.start()
    port = int(first.url.rsplit(":", 1)[1].split("/")[0])
    await first.stop()
    pool = EndpointPool([first.url], max_connect_failures=1, dead_after_s=5.0)
    async with make_session(2) as s:
        c = await complete(s, pool, body(0), GenParams(), retry=0)
        assert c.error_kind is ErrorKind.CONNECT and pool.all_down
        async with FaultServer(port=port):
            assert await pool.wait_for_live(s, probe_every_s=0.05)  # back within the window
        assert pool.stop is None
    pool2 = EndpointPool([first.url], max_connect_failures=1, dead_after_s=0.3)
    async with make_session(2) as s:  # a fresh session: no kept-alive connection to the stopped server
        await complete(s, pool2, body(0), GenParams(), retry=0)
        assert not await pool2.wait_for_live(s, probe_every_s=0.05)
        later = await complete(s, pool2, body(1), GenParams(), retry=3, backoff=FAST_RETRY)
    assert pool2.stop is not None and pool2.stop.kind is StopKind.UNREACHABLE and pool2.stop.exit_status == 3
    assert "rerun the same command once it is back" in pool2.stop.message
    assert later.attempts == 1 and later.error == pool2.stop.message  # nothing more is sent


def test_redact_url_hides_passwords_and_tokens() -> None:
    assert redact_url("http://user:sk-1@h:8000/v1") == "http://user:***@h:8000/v1"
    assert redact_url("https://sk-1@h/v1") == "https://***@h/v1"
    assert redact_url("http://h:8000/v1") == "http://h:8000/v1"
