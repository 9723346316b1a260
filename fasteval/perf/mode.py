"""`bench.py --mode perf`: a serving-throughput sweep with `vllm bench serve`'s load shapes and figures.

Each sweep point is a closed loop (`--concurrency C`: C requests in flight, the next sent the moment
one finishes) or an open loop (`--request-rate R`: Gamma arrivals of shape `--burstiness`, rescaled
so the last lands at N/R and dispatched at absolute times, as vLLM's `get_request`; at most
max(`--concurrency`) in flight). `--warmup` requests run before each point and are left out of its
figures. Requests are the benchmark's real prompts (`build_prompt` in the target's style) or
`--synthetic N:WxH` PNGs, built one at a time as they are sent, so memory stays flat.

Requests go through `fasteval.inference.client` with no retries (a failure counts as one, as in vLLM) and the
figures come from `fasteval.perf.metrics.summarize`. Nothing is scored and the eval run store is not
touched: results go to `{work_dir}/{model}/perf/` (a JSON per point with vLLM's field names, the
raw per-request timings as Parquet, a sweep CSV and PNG plots).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from fasteval import __version__
from fasteval.config import RunConfig
from fasteval.data.datasets import load, locate
from fasteval.errors import FastevalError
from fasteval.inference.client import Client, build_body
from fasteval.inference.endpoints import EndpointPool
from fasteval.inference.runner import Target, target_params
from fasteval.kinds.prompts import build_prompt
from fasteval.perf.metrics import summarize
from fasteval.perf.plots import throughput_latency_plot, ttft_distribution_plot
from fasteval.report.text import fmt_number
from fasteval.types import BenchmarkSpec, Completion, GenParams, ImagePart, ImageRef, Prompt, TextPart

__all__ = [
    "Point",
    "PointResult",
    "Source",
    "arrival_offsets",
    "dataset_source",
    "drive",
    "parse_synthetic",
    "run_perf",
    "synthetic_source",
]

EXIT_FAILED_REQUESTS = 3  # some requests failed: the figures cover the rest, and say how many failed
_SYNTHETIC = re.compile(r"(\d+):(\d+)x(\d+)")
_SHAPES = ("circle", "square", "triangle")
_COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 40)}


# ---------------------------------------------------------------------------------------------
# What is sent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """A named, re-iterable stream of prompts: one pass yields `size` prompts in a fixed order."""

    label: str  # file-name stem of the results: the benchmark name, or synthetic-NxWxH
    size: int
    passes: Callable[[], Iterator[Prompt]]

    def take(self, n: int) -> Iterator[Prompt]:
        """The first `n` prompts, starting over when a pass runs out (vLLM oversamples the same way)."""
        if self.size <= 0:
            raise FastevalError(f"{self.label} has no requests to send")
        sent = 0
        while sent < n:
            for prompt in self.passes():
                if sent >= n:
                    return
                sent += 1
                yield prompt


def parse_synthetic(spec: str) -> tuple[int, int, int]:
    """`"64:448x448"` -> (64 images, width 448, height 448)."""
    m = _SYNTHETIC.fullmatch(spec.strip())
    if not m or min(int(g) for g in m.groups()) <= 0:
        raise FastevalError(f"--synthetic {spec!r}: write N:WxH with positive numbers, e.g. 64:448x448")
    n, w, h = (int(g) for g in m.groups())
    return n, w, h


def synthetic_image(index: int, width: int, height: int, seed: int) -> tuple[str, str, str]:
    """(base64 PNG, shape, colour): a seeded noisy background with one coloured shape on it."""
    from PIL import Image, ImageDraw

    rng = random.Random(f"{seed}-{index}")
    noise = np.random.default_rng(rng.randrange(2**32)).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(noise // 4 + 160, "RGB")  # incompressible enough to cost real PNG bytes
    shape, colour = rng.choice(_SHAPES), rng.choice(sorted(_COLOURS))
    cx, cy, r = width // 2, height // 2, max(2, min(width, height) // 3)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_COLOURS[colour])
    elif shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=_COLOURS[colour])
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=_COLOURS[colour])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii"), shape, colour


def synthetic_source(n: int, width: int, height: int, *, seed: int = 0) -> Source:
    """N PNG images of WxH drawn once with Pillow, one short question each."""
    prompts = []
    for i in range(n):
        b64, _shape, _colour = synthetic_image(i, width, height, seed)
        question = "What shape is drawn in the middle of the image, and what colour is it?"
        prompts.append(Prompt(parts=(ImagePart(ImageRef(b64, "image/png")), TextPart(question))))
    return Source(f"synthetic-{n}x{width}x{height}", n, lambda: iter(prompts))


def dataset_source(
    spec: BenchmarkSpec, lmudata: Path, style: str, *, download: bool = True, cache_dir: Path | None = None
) -> Source:
    """The benchmark's rows as the eval run would send them (`build_prompt` in the model's style)."""
    file = locate(spec, lmudata, download=download, cache_dir=cache_dir)
    dataset = load(spec, file)
    if not dataset.has_images:
        raise FastevalError(f"{file.path} has no image column: there is nothing to send to a model")

    def passes() -> Iterator[Prompt]:
        return (build_prompt(spec, sample, style) for sample in dataset.iter_samples())

    return Source(spec.name, len(dataset), passes)


# ---------------------------------------------------------------------------------------------
# How it is sent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """One sweep point: a closed loop of `concurrency`, or an open loop at `request_rate` capped by it."""

    concurrency: int
    request_rate: float | None = None  # None: closed loop

    @property
    def label(self) -> str:
        return f"c{self.concurrency}" if self.request_rate is None else f"r{self.request_rate:g}"


@dataclass(frozen=True, slots=True)
class Shot:
    """One measured request: what came back, when it was due, and how many images it carried."""

    completion: Completion
    t_arrival: float  # wall clock it was due (open loop) or won its slot (closed loop)
    n_images: int


def arrival_offsets(n: int, rate: float, burstiness: float, rng: np.random.Generator) -> list[float]:
    """vLLM's schedule: cumulative Gamma(shape=b, scale=1/(rate*b)) gaps, rescaled to end at n/rate."""
    if n <= 0:
        return []
    if rate <= 0 or burstiness <= 0:
        raise FastevalError("--request-rate and --burstiness must be positive")
    if rate == float("inf"):
        return [0.0] * n
    gaps = (
        np.full(n, 1.0 / rate)
        if burstiness == float("inf")
        else rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=n)
    )
    cumulative = np.cumsum(gaps)
    return (cumulative * ((n / rate) / cumulative[-1])).tolist()  # type: ignore[no-any-return]


async def drive(
    client: Client,
    bodies: Iterator[tuple[bytes, int]],
    params: GenParams,
    *,
    offsets: Sequence[float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Shot]:
    """Send every (body, n_images) and return the outcomes in send order.

    Closed loop (`offsets` None): the next body is built and sent as soon as one of the client's
    `concurrency` slots is free. Open loop: body i is sent at start + offsets[i], each sleep taken
    against the absolute schedule so late wake-ups never accumulate; it then waits for a slot.
    """
    slots = asyncio.Semaphore(client.concurrency)
    shots: list[Shot | None] = []
    tasks: list[asyncio.Task[None]] = []
    wall0, t0 = time.time(), clock()

    async def one(i: int, body: bytes, n_images: int, t_arrival: float, held: bool) -> None:
        try:
            shots[i] = Shot(await client.complete(body, params), t_arrival, n_images)
        finally:
            if held:
                slots.release()

    for i, (body, n_images) in enumerate(bodies):
        if offsets is None:
            await slots.acquire()
            t_arrival = time.time()
        else:
            delay = t0 + offsets[i] - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            t_arrival = wall0 + offsets[i]
        shots.append(None)
        tasks.append(asyncio.create_task(one(i, body, n_images, t_arrival, offsets is None)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return [s for s in shots if s is not None]


def _bodies(
    source: Source, n: int, target: Target, params: GenParams, skip: int = 0
) -> Iterator[tuple[bytes, int]]:
    """The requests an eval run would send, with the model family's settings for this benchmark
    (a synthetic source gets the family's default), so throughput is measured on the same work."""
    for i, prompt in enumerate(source.take(skip + n)):
        if i >= skip:
            n_images = sum(isinstance(p, ImagePart) for p in prompt.parts)
            extras = target.plan.fields(source.label, n_images)
            yield (
                build_body(target.served_name, prompt, target_params(target, params), extras=extras),
                n_images,
            )


# ---------------------------------------------------------------------------------------------
# One point, one sweep
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointResult:
    point: Point
    shots: list[Shot]
    result: dict[str, Any]  # the JSON written for the point (vLLM field names plus the point's settings)


@dataclass(frozen=True, slots=True)
class PerfOptions:
    num_prompts: int | None
    warmup: int
    burstiness: float
    percentiles: tuple[float, ...]
    slos: tuple[str, ...]
    seed: int
    params: GenParams
    api_key: str | None


async def run_point(
    target: Target, source: Source, point: Point, opts: PerfOptions, *, pool: EndpointPool
) -> PointResult:
    """Warm up, then measure one point on a fresh connection pool of the point's size."""
    n = opts.num_prompts or source.size
    model = target.served_name
    async with Client(pool, concurrency=point.concurrency, retry=0, api_key=opts.api_key) as client:
        if opts.warmup:  # prompts after the measured ones, so no measured request meets a warm cache
            await drive(client, _bodies(source, opts.warmup, target, opts.params, skip=n), opts.params)
        offsets = None
        if point.request_rate is not None:
            rng = np.random.default_rng(opts.seed)
            offsets = arrival_offsets(n, point.request_rate, opts.burstiness, rng)
        started = time.time()
        shots = await drive(client, _bodies(source, n, target, opts.params), opts.params, offsets=offsets)
    completions = [s.completion for s in shots]
    summary = summarize(
        completions,
        percentiles=opts.percentiles,
        slos=list(opts.slos) or None,
        n_images=sum(s.n_images for s in shots),
    )
    queue = [s.completion.timing.queue_s for s in shots]
    result: dict[str, Any] = {
        "date": time.strftime("%Y%m%d-%H%M%S", time.localtime(started)),
        "backend": "fasteval",
        "fasteval_version": __version__,
        "model": target.name,
        "model_id": model,
        "endpoints": list(target.endpoints),
        "dataset": source.label,
        "num_prompts": n,
        "num_warmups": opts.warmup,
        "request_rate": point.request_rate,  # None: closed loop (vLLM writes inf)
        "burstiness": opts.burstiness if point.request_rate is not None else None,
        "max_concurrency": point.concurrency,
        "concurrency": point.concurrency if point.request_rate is None else None,
        "max_tokens": target_params(target, opts.params).max_tokens,
        "model_family": target.plan.family,  # per-benchmark request settings sent (serving.families)
        "ignore_eos": opts.params.ignore_eos,
        "temperature": opts.params.temperature,
        "seed": opts.seed,
        "retries": 0,
        "mean_client_queue_ms": float(np.mean(queue)) * 1000 if queue else None,
        **summary.to_json_dict(),
    }
    if offsets:
        result["arrival_span_s"] = offsets[-1]
    return PointResult(point, shots, result)


def points_of(cfg: RunConfig) -> list[Point]:
    """Closed-loop points for each --concurrency, or open-loop points for each --request-rate."""
    if cfg.request_rate:
        return [Point(max(cfg.concurrency), r) for r in cfg.request_rate]
    return [Point(c) for c in cfg.concurrency]


def options_of(cfg: RunConfig) -> PerfOptions:
    params = GenParams(
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        ignore_eos=cfg.ignore_eos,
        timeout_s=cfg.timeout,
    )
    return PerfOptions(
        num_prompts=cfg.num_prompts or cfg.limit,
        warmup=cfg.warmup,
        burstiness=cfg.burstiness,
        percentiles=cfg.percentiles,
        slos=cfg.goodput,
        seed=cfg.seed,
        params=params,
        api_key=cfg.api_key,
    )


async def run_sweep(
    target: Target,
    source: Source,
    points: Sequence[Point],
    opts: PerfOptions,
    out_dir: Path,
    console: Console | None = None,
) -> list[PointResult]:
    """Every point in order, each written as soon as it is measured; then the CSV and the plots."""
    pool = EndpointPool(target.endpoints, opts.api_key)
    results: list[PointResult] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    async with Client(pool, concurrency=1, retry=0, api_key=opts.api_key) as probe:
        await pool.check(probe.session)
    if pool.all_down:
        raise pool.unreachable_error()
    try:
        for point in points:
            if console is not None:
                console.print(f"{target.name} / {source.label}: measuring {point.label} ...")
            res = await run_point(target, source, point, opts, pool=pool)
            _write_point(res, out_dir / f"{source.label}_{point.label}")
            results.append(res)
    finally:
        await pool.aclose()
    write_sweep(results, out_dir, model=target.name, dataset=source.label)
    return results


# ---------------------------------------------------------------------------------------------
# Files and the console
# ---------------------------------------------------------------------------------------------


def _write_point(res: PointResult, stem: Path) -> None:
    tmp = stem.with_name(f".{stem.name}.json.tmp")
    tmp.write_text(json.dumps(res.result, indent=2, default=str))
    tmp.replace(stem.with_suffix(".json"))
    raw = pl.DataFrame(
        {
            "status": [s.completion.status.value for s in res.shots],
            "error_kind": [
                None if s.completion.error_kind is None else s.completion.error_kind.value for s in res.shots
            ],
            "n_in": [s.completion.n_in for s in res.shots],
            "n_out": [s.completion.n_out for s in res.shots],
            "n_images": [s.n_images for s in res.shots],
            "t_arrival": [s.t_arrival for s in res.shots],
            "t_dispatch": [s.completion.timing.t_dispatch for s in res.shots],
            "t_send": [s.completion.timing.t_send for s in res.shots],
            "queue_s": [s.completion.timing.queue_s for s in res.shots],
            "ttft": [s.completion.timing.ttft for s in res.shots],
            "e2el": [s.completion.timing.e2el for s in res.shots],
            "itl": [list(s.completion.timing.itl) for s in res.shots],
        },
        schema_overrides={
            "t_send": pl.Float64,
            "ttft": pl.Float64,
            "e2el": pl.Float64,
            "n_in": pl.Int64,
            "n_out": pl.Int64,
            "error_kind": pl.String,
            "itl": pl.List(pl.Float64),
        },
    )
    raw.write_parquet(stem.with_suffix(".requests.parquet"))


def sweep_paths(out_dir: Path, dataset: str) -> dict[str, Path]:
    return {
        "csv": out_dir / f"{dataset}_sweep.csv",
        "throughput_latency": out_dir / f"{dataset}_throughput_latency.png",
        "ttft": out_dir / f"{dataset}_ttft.png",
    }


def write_sweep(
    results: Sequence[PointResult], out_dir: Path, *, model: str, dataset: str
) -> dict[str, Path]:
    """The sweep CSV (one row per point, every scalar field) and the two PNG plots."""
    paths = sweep_paths(out_dir, dataset)
    rows = [{k: v for k, v in r.result.items() if not isinstance(v, dict | list)} for r in results]
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    labels = [r.point.label for r in results]
    loop = (
        "open loop, request rate"
        if results and results[0].point.request_rate is not None
        else "closed loop, concurrency"
    )
    throughput_latency_plot(
        [r.result for r in results],
        labels,
        paths["throughput_latency"],
        title=f"{model} on {dataset}: throughput vs mean and p99 latency ({loop} sweep)",
    )
    ttfts = {
        r.point.label: [
            s.completion.timing.ttft * 1000
            for s in r.shots
            if s.completion.ok and s.completion.timing.ttft is not None
        ]
        for r in results
    }
    ttft_distribution_plot(
        ttfts, paths["ttft"], title=f"{model} on {dataset}: TTFT distribution per sweep point"
    )
    return paths


def results_table(results: Sequence[tuple[str, PointResult]]) -> Table:
    """One row per point: load, completions, throughput, and TTFT / TPOT / E2EL mean and p99."""
    table = Table(title="fasteval --mode perf: one row per point (latencies in ms)")
    metrics = (
        ("req/s", "request_throughput"),
        ("tok/s out", "output_throughput"),
        ("TTFT", "mean_ttft_ms"),
        ("p99", "p99_ttft_ms"),
        ("TPOT", "mean_tpot_ms"),
        ("p99", "p99_tpot_ms"),
        ("E2EL", "mean_e2el_ms"),
        ("p99", "p99_e2el_ms"),
        ("peak", "max_concurrent_requests"),
    )
    table.add_column("point")
    for name in ("ok/fail", *(m for m, _ in metrics)):
        table.add_column(name, justify="right")
    for where, r in results:
        js = r.result
        table.add_row(
            f"{where} {r.point.label}",
            f"{js['completed']}/{js['failed']}",
            *(fmt_number(js.get(field)) for _, field in metrics),
        )
    return table


async def run_perf(
    cfg: RunConfig,
    *,
    targets: Sequence[Target],
    specs: Sequence[BenchmarkSpec],
    console: Console,
) -> int:
    """The sweep for every target and every source; returns the exit code (3 if any request failed)."""
    opts = options_of(cfg)
    points = points_of(cfg)
    synthetic = synthetic_source(*parse_synthetic(cfg.synthetic), seed=cfg.seed) if cfg.synthetic else None
    done: list[tuple[str, PointResult]] = []
    for target in targets:
        sources = [synthetic] if synthetic is not None else []
        sources += [
            dataset_source(
                spec,
                cfg.lmudata,
                target.prompt_style,
                download=not cfg.no_download,
                cache_dir=cfg.dataset_cache,
            )
            for spec in specs
        ]
        out_dir = cfg.work_dir / target.name / "perf"
        for source in sources:
            for res in await run_sweep(target, source, points, opts, out_dir, console):
                done.append((f"{target.name}/{source.label}", res))
        console.print(f"{target.name}: results in {out_dir}/")
    console.print(results_table(done))
    failed = sum(int(r.result["failed"]) for _, r in done)
    if failed:
        console.print(f"{failed} requests failed (no retries in --mode perf); the figures cover the rest")
        return EXIT_FAILED_REQUESTS
    return 0
