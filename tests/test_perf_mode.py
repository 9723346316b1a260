"""`bench.py --mode perf`: sweep files, load shapes (closed and open loop), warm-up, fixed output lengths."""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from aiohttp import web
from fault_server import FaultConfig, FaultServer
from PIL import Image

from fasteval.cli.app import run
from fasteval.cli.args import build_parser
from fasteval.cli.config import build_config
from fasteval.cli.settings import load_settings
from fasteval.errors import FastevalError
from fasteval.inference.client import Client, build_body
from fasteval.inference.endpoints import EndpointPool
from fasteval.inference.runner import Target
from fasteval.perf.mode import (
    PerfOptions,
    Point,
    arrival_offsets,
    drive,
    parse_synthetic,
    run_sweep,
    synthetic_source,
)
from fasteval.types import Completion, GenParams, Status

pytestmark = pytest.mark.timeout(120)

MODEL = "perf-vlm"
VLLM_FIELDS = (
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "max_concurrent_requests",
    "mean_ttft_ms",
    "median_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "mean_e2el_ms",
    "p99_e2el_ms",
)


HOLD_LIMIT_S = 30.0  # only a client that never reaches the asked concurrency waits this out


class RecordingServer(FaultServer):
    """The fault server, also keeping every request body and the most requests it held at once.

    `hold(i)` is how many requests must be in flight together before request `i` (0-based, in
    arrival order) is answered: "the client reached c in flight" becomes a fact the server waits
    for instead of a race between the client's sends and the token delays of earlier replies,
    which a busy machine can lose.
    """

    def __init__(self, config: FaultConfig, hold: Callable[[int], int] = lambda i: 0) -> None:
        super().__init__(config)
        self.bodies: list[dict[str, Any]] = []
        self.live = 0
        self.peak = 0
        self.hold = hold
        self._changed = asyncio.Condition()

    async def _chat_inner(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        want = self.hold(len(self.bodies) - 1)
        self.live += 1
        self.peak = max(self.peak, self.live)
        try:
            async with self._changed:
                self._changed.notify_all()
                await asyncio.wait_for(self._changed.wait_for(lambda: self.peak >= want), HOLD_LIMIT_S)
            return await super()._chat_inner(request)
        finally:
            self.live -= 1


async def run_cli(args: argparse.Namespace, cwd: Path) -> int:
    """What `bench.py` does after parsing: settings, the validated config, the run."""
    settings = load_settings({}, cwd)
    return await run(build_config(args, settings, {}), settings, environ={})


def perf_args(tmp_path: Path, url: str, *extra: str) -> Any:
    return build_parser().parse_args(
        ["--mode", "perf", "--api-base", url, "--work-dir", str(tmp_path / "out"), *extra]
    )


def options(n: int, *, warmup: int = 0, params: GenParams | None = None) -> PerfOptions:
    return PerfOptions(
        num_prompts=n,
        warmup=warmup,
        burstiness=1.0,
        percentiles=(50.0, 99.0),
        slos=(),
        seed=0,
        params=params or GenParams(max_tokens=8),
        api_key=None,
    )


def png_title(path: Path) -> str:
    with Image.open(path) as img:
        img.verify()  # raises on a corrupt file
        assert img.format == "PNG"
    with Image.open(path) as img:
        return str(img.text["Title"])  # type: ignore[attr-defined]


async def test_a_four_point_sweep_writes_vllm_named_json_a_csv_and_titled_plots(tmp_path: Path) -> None:
    cfg = FaultConfig(model=MODEL, tokens=6, token_delay_s=0.005)
    async with FaultServer(cfg) as server:
        args = perf_args(
            tmp_path, server.url, "--synthetic", "6:48x32", "--concurrency", "1", "2", "4", "8",
            "--num-prompts", "12", "--warmup", "2", "--max-tokens", "6",
        )  # fmt: skip
        code = await run_cli(args, tmp_path)
    assert code == 0
    out = tmp_path / "out" / MODEL / "perf"
    label = "synthetic-6x48x32"
    for c in (1, 2, 4, 8):
        js = json.loads((out / f"{label}_c{c}.json").read_text())
        for name in VLLM_FIELDS:
            assert name in js, name
        assert (js["max_concurrency"], js["concurrency"], js["request_rate"]) == (c, c, None)
        assert (js["num_prompts"], js["completed"], js["failed"]) == (12, 12, 0)
        assert (js["dataset"], js["model"], js["max_tokens"]) == (label, MODEL, 6)
        assert js["total_output_tokens"] == 12 * 6 and js["images_per_s"] > 0
        assert (out / f"{label}_c{c}.requests.parquet").is_file()
    with (out / f"{label}_sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["concurrency"]) for r in rows] == [1, 2, 4, 8]
    assert all(float(r["request_throughput"]) > 0 for r in rows)
    assert "throughput vs mean and p99 latency" in png_title(out / f"{label}_throughput_latency.png")
    assert "TTFT distribution" in png_title(out / f"{label}_ttft.png")


async def test_closed_loop_never_holds_more_than_c_in_flight_and_reaches_c() -> None:
    server = RecordingServer(FaultConfig(model=MODEL, tokens=4), hold=lambda i: 3)
    async with server:
        target = Target(MODEL, MODEL, (server.url,))
        source = synthetic_source(5, 16, 16)
        pool = EndpointPool(target.endpoints)
        async with Client(pool, concurrency=3, retry=0) as client:
            bodies = ((build_body(MODEL, p, GenParams(max_tokens=4)), 1) for p in source.take(24))
            shots = await drive(client, bodies, GenParams(max_tokens=4))
    assert len(shots) == 24 and all(s.completion.ok for s in shots)
    assert server.peak == 3  # server side: never more, and the loop filled every slot
    assert pool.stats()[0].peak_outstanding == 3  # client side


async def test_sweep_peak_concurrency_matches_each_point(tmp_path: Path) -> None:
    server = RecordingServer(FaultConfig(model=MODEL, tokens=4), hold=lambda i: 2 if i < 20 else 5)
    async with server:
        target = Target(MODEL, MODEL, (server.url,))
        results = await run_sweep(
            target, synthetic_source(4, 16, 16), [Point(2), Point(5)], options(20), tmp_path
        )
    assert [r.result["max_concurrent_requests"] for r in results] == [2, 5]
    assert server.peak == 5


class ScheduleClock:
    """drive()'s clock and asyncio.sleep in one: sleeping moves the clock instead of waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._yield = asyncio.sleep  # the real one, to let the event loop run

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float, result: Any = None) -> Any:
        await self._yield(0)  # requests already dispatched go out now, before the clock moves on
        self.sleeps.append(delay)
        self.now += delay
        return result


class SendTimes:
    """A client that answers at once and notes, on the schedule's clock, when each body was sent."""

    concurrency = 64

    def __init__(self, clock: ScheduleClock) -> None:
        self.clock = clock
        self.sent: list[float] = []

    async def complete(self, body: bytes, params: GenParams) -> Completion:
        self.sent.append(self.clock())
        return Completion(status=Status.OK, text="A", n_out=1)


async def test_open_loop_keeps_to_its_absolute_schedule_after_a_stall(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n, rate, stall = 40, 40.0, 0.3
    offsets = arrival_offsets(n, rate, 1.0, np.random.default_rng(1))
    clock = ScheduleClock()
    client = SendTimes(clock)
    monkeypatch.setattr(asyncio, "sleep", clock.sleep)

    def bodies() -> Iterator[tuple[bytes, int]]:
        for i in range(n):
            if i == 10:
                clock.now += stall  # building this body stalls the loop: relative sleeps would carry it
            yield b"{}", 1

    t0 = clock()
    shots = await drive(cast(Client, client), bodies(), GenParams(), offsets=offsets, clock=clock)
    assert len(shots) == n and len(client.sent) == n
    due = [t0 + off for off in offsets]
    stalled_until = due[9] + stall
    assert all(sent >= when - 1e-9 for sent, when in zip(client.sent, due, strict=True))  # never early
    assert [sent for sent, when in zip(client.sent, due, strict=True) if when >= stalled_until] == [
        pytest.approx(when) for when in due if when >= stalled_until
    ]  # back on schedule after the stall, not 0.3 s behind it
    assert any(when >= stalled_until for when in due[10:])  # the stall ends inside the run
    assert [s.t_arrival - shots[0].t_arrival for s in shots] == pytest.approx(
        [off - offsets[0] for off in offsets], abs=1e-6
    )  # each shot records when it was due (wall clock, to its float precision), not when it went


async def test_open_loop_on_a_real_clock_sends_nothing_early_and_everything() -> None:
    n, rate = 40, 40.0
    offsets = arrival_offsets(n, rate, 1.0, np.random.default_rng(1))
    params = GenParams(max_tokens=2)
    bodies = ((build_body(MODEL, p, params), 1) for p in synthetic_source(4, 16, 16).take(n))
    server = FaultServer(FaultConfig(model=MODEL, tokens=2))
    async with server, Client(EndpointPool([server.url]), concurrency=64, retry=0) as client:
        shots = await drive(client, bodies, params, offsets=offsets)
    assert len(shots) == n and all(s.completion.ok for s in shots)
    # a busy machine can only make a send late; 20 ms covers the wall clock against the monotonic one
    assert all(s.completion.timing.t_dispatch >= s.t_arrival - 0.02 for s in shots)
    assert shots[-1].completion.timing.t_dispatch - shots[0].completion.timing.t_dispatch >= (
        offsets[-1] - offsets[0] - 0.02
    )


def test_arrival_schedule_is_vllms_rescaled_gamma() -> None:
    offs = arrival_offsets(500, 20.0, 1.0, np.random.default_rng(0))
    assert offs[-1] == pytest.approx(500 / 20.0)
    assert all(b >= a for a, b in itertools.pairwise(offs))
    gaps = np.diff([0.0, *offs])
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(1.0, abs=0.15)  # exponential: CV = 1
    bursty = np.diff([0.0, *arrival_offsets(500, 20.0, 0.25, np.random.default_rng(0))])
    assert np.std(bursty) / np.mean(bursty) > 1.5  # gamma shape 1/4: CV = 2
    assert arrival_offsets(3, 5.0, 1.0, np.random.default_rng(7)) == arrival_offsets(
        3, 5.0, 1.0, np.random.default_rng(7)
    )


async def test_open_loop_point_through_the_cli_records_its_rate(tmp_path: Path) -> None:
    async with FaultServer(FaultConfig(model=MODEL, tokens=3)) as server:
        args = perf_args(
            tmp_path, server.url, "--synthetic", "4:16x16", "--request-rate", "50", "--num-prompts", "25",
            "--warmup", "0", "--burstiness", "2",
        )  # fmt: skip
        started = time.perf_counter()
        assert await run_cli(args, tmp_path) == 0
        took = time.perf_counter() - started
    js = json.loads((tmp_path / "out" / MODEL / "perf" / "synthetic-4x16x16_r50.json").read_text())
    assert (js["request_rate"], js["burstiness"], js["concurrency"]) == (50.0, 2.0, None)
    assert js["arrival_span_s"] == pytest.approx(25 / 50)
    assert js["completed"] == 25 and took >= 0.5


async def test_warmup_requests_reach_the_server_but_not_the_figures(tmp_path: Path) -> None:
    server = RecordingServer(FaultConfig(model=MODEL, tokens=3))
    async with server:
        args = perf_args(
            tmp_path, server.url, "--synthetic", "20:16x16", "--concurrency", "2", "--num-prompts", "5",
            "--warmup", "3",
        )  # fmt: skip
        assert await run_cli(args, tmp_path) == 0
    js = json.loads((tmp_path / "out" / MODEL / "perf" / "synthetic-20x16x16_c2.json").read_text())
    assert len(server.bodies) == 8  # 3 warm-up + 5 measured
    assert (js["completed"], js["num_warmups"], js["total_output_tokens"]) == (5, 3, 15)
    measured = [b["messages"][0]["content"][0]["image_url"]["url"] for b in server.bodies[3:]]
    warm = [b["messages"][0]["content"][0]["image_url"]["url"] for b in server.bodies[:3]]
    assert not set(warm) & set(measured)  # warm-up used other prompts: no measured request hits a warm cache


async def test_ignore_eos_and_max_tokens_are_sent_in_every_body(tmp_path: Path) -> None:
    server = RecordingServer(FaultConfig(model=MODEL, tokens=32))
    async with server:
        args = perf_args(
            tmp_path, server.url, "--synthetic", "3:16x16", "--concurrency", "2", "--num-prompts", "4",
            "--warmup", "1", "--ignore-eos", "--max-tokens", "16",
        )  # fmt: skip
        assert await run_cli(args, tmp_path) == 0
    assert len(server.bodies) == 5
    for body in server.bodies:
        assert body["ignore_eos"] is True and body["max_tokens"] == 16 and body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    js = json.loads((tmp_path / "out" / MODEL / "perf" / "synthetic-3x16x16_c2.json").read_text())
    assert js["ignore_eos"] is True and js["total_output_tokens"] == 4 * 16


async def test_failed_requests_are_counted_not_retried_and_set_the_exit_code(tmp_path: Path) -> None:
    server = RecordingServer(FaultConfig(model=MODEL, tokens=3, faults=("5xx",), fail_attempts=1))
    async with server:
        args = perf_args(
            tmp_path, server.url, "--synthetic", "4:16x16", "--concurrency", "2", "--num-prompts", "4",
            "--warmup", "0",
        )  # fmt: skip
        assert await run_cli(args, tmp_path) == 3
    js = json.loads((tmp_path / "out" / MODEL / "perf" / "synthetic-4x16x16_c2.json").read_text())
    assert (js["completed"], js["failed"], len(server.bodies)) == (0, 4, 4)


def test_synthetic_spec_is_checked() -> None:
    assert parse_synthetic("64:448x336") == (64, 448, 336)
    for bad in ("64", "0:10x10", "4:10", "a:1x1"):
        with pytest.raises(FastevalError, match="N:WxH"):
            parse_synthetic(bad)


def test_synthetic_images_are_seeded_pngs_of_the_asked_size() -> None:
    a, b = synthetic_source(3, 40, 30, seed=1), synthetic_source(3, 40, 30, seed=1)
    assert [p.parts for p in a.take(3)] == [p.parts for p in b.take(3)]
    first = next(a.take(1)).parts[0]
    import base64
    import io

    from fasteval.types import ImagePart

    assert isinstance(first, ImagePart)
    with Image.open(io.BytesIO(base64.b64decode(first.image.b64))) as img:
        assert (img.format, img.size) == ("PNG", (40, 30))
    assert len(list(a.take(7))) == 7  # cycles past the end, like vLLM's oversampling


@pytest.mark.engine
@pytest.mark.timeout(900)  # may start the session's engine (up to 300 s on a busy machine), unlike the rest
async def test_a_small_perf_point_on_the_real_tiny_vllm(vllm_tiny: Any, tmp_path: Path) -> None:
    target = Target("tiny-vlm", vllm_tiny.model, (vllm_tiny.base_url,))
    params = GenParams(max_tokens=8, ignore_eos=True)
    results = await asyncio.wait_for(
        run_sweep(
            target, synthetic_source(4, 64, 64), [Point(2)], options(6, warmup=1, params=params), tmp_path
        ),
        timeout=300,
    )
    js, shots = results[0].result, results[0].shots
    assert len(shots) == 6  # the measured requests, warm-up excluded
    assert (js["completed"], js["failed"], js["total_output_tokens"]) == (6, 0, 6 * 8)
    assert js["total_input_tokens"] > 0 and js["mean_ttft_ms"] > 0
    # What the client can know, however the engine's chunks were grouped into network reads (a busy
    # machine delivers all 8 tokens in one read): every token is counted, each content chunk is one
    # arrival, arrivals are in order and add up to the request's latency.
    for shot in shots:
        c, t = shot.completion, shot.completion.timing
        assert c.n_out == 8 and t.ttft is not None and t.e2el is not None and t.t_send is not None
        assert len(t.itl) <= 7  # one gap per content chunk after the first; a chunk holds >= 1 token
        assert t.t_dispatch <= t.t_send and 0 < t.ttft <= t.e2el and all(g >= 0 for g in t.itl)
        assert t.ttft + sum(t.itl) == pytest.approx(t.e2el)
    # TPOT is (e2el - ttft) / 7 per request, so it is above 0 exactly when some tokens of a request
    # came in separate reads, and 0 (vLLM's figure too) when every reply came in one read
    tpots = [(s.completion.timing.e2el - s.completion.timing.ttft) / 7 for s in shots]  # type: ignore[operator]
    assert js["mean_tpot_ms"] == pytest.approx(1000 * sum(tpots) / len(tpots))
    assert (js["mean_tpot_ms"] > 0) == any(g > 0 for s in shots for g in s.completion.timing.itl)
    assert (tmp_path / "synthetic-4x64x64_throughput_latency.png").is_file()
