"""Serving-performance figures with vLLM's names and formulas (`benchmarks/serve.py`, peers.md §3).

Pure functions over per-request records (the store's frame or `Completion`s), so a stored run can
be summarized again at any time. Latencies are reported in milliseconds; percentiles use numpy's
linear interpolation (vLLM's method) and every distribution carries its sample count. Failed
requests count toward the run's duration and `failed`, never toward latency statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from fasteval.errors import FastevalError
from fasteval.types import Completion, Status

__all__ = [
    "DEFAULT_PERCENTILES",
    "METRICS",
    "Distribution",
    "PerfSummary",
    "SLOError",
    "distribution",
    "parse_slos",
    "peak_concurrency",
    "summarize",
    "tpot",
]

DEFAULT_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)
METRICS = ("ttft", "tpot", "itl", "e2el")
_COLUMNS = ("status", "n_in", "n_out", "t_dispatch", "t_send", "ttft", "e2el", "itl")
_OPTIONAL = {"t_send": pl.Float64}  # absent from frames of stores written before it existed


class SLOError(FastevalError):
    """A goodput SLO string that cannot be read."""


def tpot(ttft: float | None, e2el: float | None, n_out: int | None) -> float | None:
    """Time per output token after the first: (e2el - ttft) / (n_out - 1), undefined for n_out <= 1."""
    if ttft is None or e2el is None or n_out is None or n_out <= 1:
        return None
    return (e2el - ttft) / (n_out - 1)


def _p_word(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Mean, median, population std and percentiles of one metric, in ms, with its sample count."""

    n: int
    mean: float | None
    median: float | None
    std: float | None
    percentiles: tuple[tuple[float, float | None], ...]

    def to_json_dict(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"mean_{name}_ms": self.mean,
            f"median_{name}_ms": self.median,
            f"std_{name}_ms": self.std,
        }
        out.update({f"p{_p_word(p)}_{name}_ms": v for p, v in self.percentiles})
        out[f"n_{name}"] = self.n
        return out


def distribution(
    values_ms: Sequence[float], percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> Distribution:
    """Summary of a sample; all None (with n = 0) when the sample is empty rather than vLLM's zeros."""
    if not values_ms:
        return Distribution(0, None, None, None, tuple((float(p), None) for p in percentiles))
    arr = np.asarray(values_ms, dtype=np.float64)
    pct = np.percentile(arr, list(percentiles)) if percentiles else np.array([])
    return Distribution(
        n=int(arr.size),
        mean=float(arr.mean()),
        median=float(np.median(arr)),
        std=float(arr.std()),
        percentiles=tuple((float(p), float(v)) for p, v in zip(percentiles, pct, strict=True)),
    )


def parse_slos(spec: str | Iterable[str] | Mapping[str, float] | None) -> dict[str, float]:
    """`"ttft:500 tpot:50"` (vLLM's --goodput, milliseconds) -> {"ttft": 500.0, "tpot": 50.0}."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        items = [f"{k}:{v}" for k, v in spec.items()]
    else:
        items = spec.split() if isinstance(spec, str) else [s for part in spec for s in part.split()]
    slos: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or name not in ("ttft", "tpot", "e2el"):
            raise SLOError(f"bad goodput SLO {item!r}: write METRIC:MS with METRIC one of ttft, tpot, e2el")
        try:
            ms = float(value)
        except ValueError:
            raise SLOError(f"bad goodput SLO {item!r}: {value!r} is not a number of milliseconds") from None
        if not math.isfinite(ms) or ms < 0:
            raise SLOError(f"bad goodput SLO {item!r}: the limit must be a non-negative number of ms")
        slos[name] = ms
    return slos


def peak_concurrency(intervals: Iterable[tuple[float, float]]) -> int:
    """The most half-open [start, end) intervals alive at once (a finish frees its slot first)."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    events.sort()  # at equal times -1 sorts before +1: a request ending frees its slot first
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


@dataclass(frozen=True, slots=True)
class PerfSummary:
    """One run's serving figures; `to_json_dict` uses `vllm bench serve`'s result field names."""

    duration: float
    completed: int
    failed: int
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float | None
    output_throughput: float | None
    total_token_throughput: float | None
    max_output_tokens_per_s: float | None
    max_concurrent_requests: int
    ttft: Distribution
    tpot: Distribution
    itl: Distribution
    e2el: Distribution
    request_goodput: float | None = None
    slos_ms: dict[str, float] = field(default_factory=dict)
    images_per_s: float | None = None
    output_tokens_from_chunks: int = 0  # OK rows without usage: n_out counted as content chunks

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "duration": self.duration,
            "completed": self.completed,
            "failed": self.failed,
            "total_input_tokens": self.total_input_tokens,
            "total_output_tokens": self.total_output_tokens,
            "request_throughput": self.request_throughput,
            "output_throughput": self.output_throughput,
            "total_token_throughput": self.total_token_throughput,
            "max_output_tokens_per_s": self.max_output_tokens_per_s,
            "max_concurrent_requests": self.max_concurrent_requests,
        }
        if self.slos_ms:
            out["request_goodput"] = self.request_goodput
            out["goodput_slos_ms"] = dict(self.slos_ms)
        if self.images_per_s is not None:
            out["images_per_s"] = self.images_per_s
        if self.output_tokens_from_chunks:
            out["output_tokens_from_chunks"] = self.output_tokens_from_chunks
        for name in METRICS:
            out.update(getattr(self, name).to_json_dict(name))
        out["percentile_method"] = "numpy-linear"
        return out


def _frame(data: pl.DataFrame | Sequence[Completion]) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        missing = [c for c in _COLUMNS if c not in data.columns and c not in _OPTIONAL]
        if missing:
            raise ValueError(f"perf frame lacks columns {missing}; pass RunStore.read() or Completions")
        data = data.with_columns(
            pl.lit(None, dtype=t).alias(c) for c, t in _OPTIONAL.items() if c not in data.columns
        )
        return data.select(_COLUMNS)
    return pl.DataFrame(
        {
            "status": [c.status.value for c in data],
            "n_in": [c.n_in for c in data],
            "n_out": [c.n_out for c in data],
            "t_dispatch": [c.timing.t_dispatch for c in data],
            "t_send": [c.timing.t_send for c in data],
            "ttft": [c.timing.ttft for c in data],
            "e2el": [c.timing.e2el for c in data],
            "itl": [list(c.timing.itl) for c in data],
        },
        schema={
            "status": pl.String,
            "n_in": pl.Int64,
            "n_out": pl.Int64,
            "t_dispatch": pl.Float64,
            "t_send": pl.Float64,
            "ttft": pl.Float64,
            "e2el": pl.Float64,
            "itl": pl.List(pl.Float64),
        },
    )


def _ms(values: Iterable[float | None]) -> list[float]:
    return [v * 1000.0 for v in values if v is not None]


def _rate(count: float, duration: float) -> float | None:
    return count / duration if duration > 0 else None


def summarize(
    data: pl.DataFrame | Sequence[Completion],
    *,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    slos: str | Iterable[str] | Mapping[str, float] | None = None,
    n_images: int | None = None,
) -> PerfSummary:
    """Run-level figures: duration is first dispatch to last completion, failures included.

    Latencies count from the final attempt's send (`t_send`; `t_dispatch` for records without it),
    so a request's completion is `t_send + e2el` even after retries (for failures, the time the
    failure was seen).
    """
    slo_ms = parse_slos(slos)
    frame = _frame(data).with_columns(pl.coalesce("t_send", "t_dispatch").alias("t_sent"))
    ok = frame.filter(pl.col("status") == Status.OK.value)
    ends = frame.filter(pl.col("e2el").is_not_null())
    if frame.height:
        start = float(frame.get_column("t_dispatch").min())  # type: ignore[arg-type]
        last = ends.select((pl.col("t_sent") + pl.col("e2el")).max()).item() if ends.height else None
        duration = max(0.0, float(last) - start) if last is not None else 0.0
    else:
        start, duration = 0.0, 0.0

    ttfts = ok.get_column("ttft").to_list()
    e2els = ok.get_column("e2el").to_list()
    itls = ok.get_column("itl").to_list()
    n_outs: list[int] = []
    from_chunks = 0
    for n, ttft, gaps in zip(ok.get_column("n_out").to_list(), ttfts, itls, strict=True):
        if n is None:  # no usage chunk: count content chunks, and say so in the summary
            from_chunks += 1
            n = 0 if ttft is None else len(gaps or []) + 1
        n_outs.append(int(n))
    tpots = [tpot(t, e, n) for t, e, n in zip(ttfts, e2els, n_outs, strict=True)]

    total_in = int(ok.get_column("n_in").fill_null(0).sum())
    total_out = sum(n_outs)

    good: int | None = None
    if slo_ms:
        good = 0
        for t, e, tp in zip(ttfts, e2els, tpots, strict=True):
            observed = {
                "ttft": None if t is None else t * 1000,
                "tpot": (tp or 0.0) * 1000,  # vLLM: n_out <= 1 counts as tpot 0
                "e2el": None if e is None else e * 1000,
            }
            if all(observed[m] is not None and observed[m] <= lim for m, lim in slo_ms.items()):  # type: ignore[operator]
                good += 1

    intervals = [(s, s + e) for s, e in ends.select("t_sent", "e2el").iter_rows()]
    stamps: list[float] = []
    for s, t, gaps in ok.select("t_sent", "ttft", "itl").iter_rows():
        if t is not None:
            stamps.extend((np.cumsum([t, *(gaps or [])]) + (s - start)).tolist())
    max_tok_s = float(np.bincount(np.floor(np.asarray(stamps)).astype(np.int64)).max()) if stamps else None

    return PerfSummary(
        duration=duration,
        completed=ok.height,
        failed=frame.height - ok.height,
        total_input_tokens=total_in,
        total_output_tokens=total_out,
        request_throughput=_rate(ok.height, duration),
        output_throughput=_rate(total_out, duration),
        total_token_throughput=_rate(total_in + total_out, duration),
        max_output_tokens_per_s=max_tok_s,
        max_concurrent_requests=peak_concurrency(intervals),
        ttft=distribution(_ms(ttfts), percentiles),
        tpot=distribution(_ms(tpots), percentiles),
        itl=distribution(_ms(g for gaps in itls for g in (gaps or [])), percentiles),
        e2el=distribution(_ms(e2els), percentiles),
        request_goodput=None if good is None else _rate(good, duration),
        slos_ms=slo_ms,
        images_per_s=None if n_images is None else _rate(n_images, duration),
        output_tokens_from_chunks=from_chunks,
    )
