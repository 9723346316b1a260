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
    values_ms: Sequence[float] | np.ndarray, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> Distribution:
    """Summary of a sample; all None (with n = 0) when the sample is empty rather than vLLM's zeros."""
    arr = np.asarray(values_ms, dtype=np.float64)
    if not arr.size:
        return Distribution(0, None, None, None, tuple((float(p), None) for p in percentiles))
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
    pairs = np.asarray(list(intervals), dtype=np.float64).reshape(-1, 2)
    return peak_concurrency_of(pairs[:, 0], pairs[:, 1])


def peak_concurrency_of(starts: np.ndarray, ends: np.ndarray) -> int:
    """`peak_concurrency` over arrays of starts and ends, without a Python object per request.

    At equal times an end comes before a start (a request ending frees its slot first), so just
    after the i-th start in time order (0-based) i + 1 requests have started and those ending at
    or before it have ended; the peak is the largest difference (0 when empty). Two sorted arrays,
    no event list (issue 22: memory).
    """
    begun = np.sort(np.asarray(starts, dtype=np.float64))
    if not begun.size:
        return 0
    ended = np.searchsorted(np.sort(np.asarray(ends, dtype=np.float64)), begun, side="right")
    return max(0, int((np.arange(1, begun.size + 1) - ended).max()))


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


def _ms(values: pl.Series) -> np.ndarray:
    """The non-null values of `values` (seconds) in milliseconds, in row order."""
    return values.drop_nulls().cast(pl.Float64).to_numpy() * 1000.0


def _where(frame: pl.DataFrame, condition: pl.Expr) -> pl.DataFrame:
    """`frame.filter(condition)`, without copying every column when every row passes (the usual
    run: all OK, all finished)."""
    keep = frame.select(condition.fill_null(False)).to_series()
    return frame if keep.all() else frame.filter(keep)


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
    ok = _where(frame, pl.col("status") == Status.OK.value)
    ends = _where(frame, pl.col("e2el").is_not_null())
    if frame.height:
        start = float(frame.get_column("t_dispatch").min())  # type: ignore[arg-type]
        last = ends.select((pl.col("t_sent") + pl.col("e2el")).max()).item() if ends.height else None
        duration = max(0.0, float(last) - start) if last is not None else 0.0
    else:
        start, duration = 0.0, 0.0

    # Everything below is vectorised (issue 22: per-row Python lists cost ~40 MB at 50,000 rows);
    # each figure is the same arithmetic in the same order as the per-row definition, so the values
    # are identical (tests/test_perf_metrics.py compares both on random runs).
    no_usage = pl.col("n_out").is_null()
    counted = (  # no usage chunk: count content chunks, and say so in the summary
        pl.when(pl.col("ttft").is_null()).then(0).otherwise(pl.col("itl").list.len().fill_null(0) + 1)
    )
    n_out = pl.when(no_usage).then(counted).otherwise(pl.col("n_out")).cast(pl.Int64)
    ok = ok.with_columns(n_out.alias("n_outs"), no_usage.alias("from_chunks")).with_columns(
        pl.when(
            pl.col("ttft").is_not_null() & pl.col("e2el").is_not_null() & (pl.col("n_outs") > 1)
        )  # tpot(): (e2el - ttft) / (n_out - 1), undefined for n_out <= 1
        .then((pl.col("e2el") - pl.col("ttft")) / (pl.col("n_outs") - 1).cast(pl.Float64))
        .otherwise(None)
        .alias("tpot")
    )
    from_chunks = int(ok.get_column("from_chunks").sum())
    total_in = int(ok.get_column("n_in").fill_null(0).sum())
    total_out = int(ok.get_column("n_outs").sum())

    good: int | None = None
    if slo_ms:
        observed = {
            "ttft": pl.col("ttft") * 1000,
            "tpot": pl.col("tpot").fill_null(0.0) * 1000,  # vLLM: n_out <= 1 counts as tpot 0
            "e2el": pl.col("e2el") * 1000,
        }
        met = pl.lit(True)
        for m, lim in slo_ms.items():
            met = met & observed[m].is_not_null() & (observed[m] <= lim)
        good = int(ok.select(met.fill_null(False).sum()).item())

    spans = ends.select("t_sent", (pl.col("t_sent") + pl.col("e2el")).alias("t_end"))
    peak = peak_concurrency_of(spans.get_column("t_sent").to_numpy(), spans.get_column("t_end").to_numpy())
    gaps, lengths = _itl_flat(ok)
    max_tok_s = _max_tokens_per_s(ok, start, gaps, lengths)

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
        max_concurrent_requests=peak,
        ttft=distribution(_ms(ok.get_column("ttft")), percentiles),
        tpot=distribution(_ms(ok.get_column("tpot")), percentiles),
        itl=distribution(gaps * 1000.0, percentiles),
        e2el=distribution(_ms(ok.get_column("e2el")), percentiles),
        request_goodput=None if good is None else _rate(good, duration),
        slos_ms=slo_ms,
        images_per_s=None if n_images is None else _rate(n_images, duration),
        output_tokens_from_chunks=from_chunks,
    )


def _itl_flat(ok: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(every inter-token gap in seconds, request by request in row order; each request's count).

    Read once from the list column's own buffers: the ITL distribution and the tokens-per-second
    peak both use them, and neither builds a second list column (issue 22: a list column's copies
    cost memory in proportion to every token of the run)."""
    itl = ok.get_column("itl").rechunk().to_arrow()
    lengths = itl.value_lengths().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return itl.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False), lengths


def _max_tokens_per_s(ok: pl.DataFrame, start: float, gaps: np.ndarray, lengths: np.ndarray) -> float | None:
    """The most tokens whose arrival falls in one whole second since the run's start.

    A token arrives at its request's send + the running sum of [ttft, *itl] (summed left to right
    per request, as `np.cumsum` does), shifted by send - start; rows without a first token have none.
    The running sums advance one token position at a time over the requests that still have a
    token there, so memory is a few arrays per request, not one value per token (`gaps` and
    `lengths` are `_itl_flat`'s, row for row with `ok`).
    """
    has_first = ok.get_column("ttft").is_not_null().to_numpy()
    if not has_first.any():
        return None
    firsts = np.cumsum(lengths) - lengths  # where each request's gaps start in `gaps`
    rows = np.flatnonzero(has_first)
    rows = rows[np.argsort(-lengths[rows], kind="stable")]  # requests with more tokens first
    shift = ok.get_column("t_sent").to_numpy()[rows] - start
    at = ok.get_column("ttft").cast(pl.Float64).to_numpy()[rows]
    left = lengths[rows]
    counts = np.bincount(np.floor(at + shift).astype(np.int64))
    for k in range(int(left.max(initial=0))):
        m = int(np.count_nonzero(left > k))  # a prefix: `rows` is sorted by gap count, descending
        at[:m] += gaps[firsts[rows[:m]] + k]
        per_second = np.bincount(np.floor(at[:m] + shift[:m]).astype(np.int64))
        if per_second.size > counts.size:
            per_second[: counts.size] += counts
            counts = per_second
        else:
            counts[: per_second.size] += per_second
    return float(counts.max())
