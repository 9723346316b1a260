"""The vectorised serving figures equal the per-row definitions they replaced (issue 22: memory).

`reference_summary` is the per-row form `summarize` had before it was vectorised (vLLM's
`benchmarks/serve.py` definitions, one Python value per request); on random runs, with missing
usage, failures, retries, single-token and empty replies, every figure must come out identical.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import polars as pl
import pytest

from fasteval.perf.metrics import (
    distribution,
    parse_slos,
    peak_concurrency,
    peak_concurrency_of,
    summarize,
    tpot,
)
from fasteval.types import Status

SCHEMA = {
    "status": pl.String,
    "n_in": pl.Int64,
    "n_out": pl.Int64,
    "t_dispatch": pl.Float64,
    "t_send": pl.Float64,
    "ttft": pl.Float64,
    "e2el": pl.Float64,
    "itl": pl.List(pl.Float64),
}


def random_run(seed: int, rows: int) -> pl.DataFrame:
    rng = random.Random(seed)
    out: dict[str, list[Any]] = {c: [] for c in SCHEMA}
    for _ in range(rows):
        t0 = rng.uniform(0, 30)
        failed = rng.random() < 0.15
        gaps = None if rng.random() < 0.05 else [rng.uniform(0, 0.2) for _ in range(rng.randrange(0, 6))]
        ttft = None if failed or rng.random() < 0.05 else rng.uniform(0.01, 2)
        out["status"].append(Status.FAILED.value if failed else Status.OK.value)
        out["n_in"].append(None if rng.random() < 0.05 else rng.randrange(1, 500))
        out["n_out"].append(None if rng.random() < 0.2 else rng.randrange(0, 8))
        out["t_dispatch"].append(t0)
        out["t_send"].append(None if rng.random() < 0.3 else t0 + rng.uniform(0, 3))
        out["ttft"].append(ttft)
        out["e2el"].append(None if rng.random() < 0.05 else (ttft or 0.0) + sum(gaps or []))
        out["itl"].append(None if failed else gaps)
    return pl.DataFrame(out, schema=SCHEMA)


def reference_peak(intervals: list[tuple[float, float]]) -> int:
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        events += [(start, 1), (end, -1)]
    events.sort()
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def reference_summary(frame: pl.DataFrame, slos: str | None) -> dict[str, Any]:
    """The per-row definitions, as `summarize` computed them with Python lists."""
    slo_ms = parse_slos(slos)
    frame = frame.with_columns(pl.coalesce("t_send", "t_dispatch").alias("t_sent"))
    ok = frame.filter(pl.col("status") == Status.OK.value)
    ends = frame.filter(pl.col("e2el").is_not_null())
    start = float(frame.get_column("t_dispatch").min())  # type: ignore[arg-type]
    last = ends.select((pl.col("t_sent") + pl.col("e2el")).max()).item()
    duration = max(0.0, float(last) - start)
    ttfts, e2els, itls = (ok.get_column(c).to_list() for c in ("ttft", "e2el", "itl"))
    n_outs, from_chunks = [], 0
    for n, t, gaps in zip(ok.get_column("n_out").to_list(), ttfts, itls, strict=True):
        if n is None:
            from_chunks += 1
            n = 0 if t is None else len(gaps or []) + 1
        n_outs.append(int(n))
    tpots = [tpot(t, e, n) for t, e, n in zip(ttfts, e2els, n_outs, strict=True)]
    good = 0
    for t, e, tp in zip(ttfts, e2els, tpots, strict=True):
        seen = {
            "ttft": None if t is None else t * 1000,
            "tpot": (tp or 0.0) * 1000,
            "e2el": None if e is None else e * 1000,
        }
        if all(seen[m] is not None and seen[m] <= lim for m, lim in slo_ms.items()):  # type: ignore[operator]
            good += 1
    stamps: list[float] = []
    for s, t, gaps in ok.select("t_sent", "ttft", "itl").iter_rows():
        if t is not None:
            stamps.extend((np.cumsum([t, *(gaps or [])]) + (s - start)).tolist())

    def ms(values: Any) -> list[float]:
        return [v * 1000.0 for v in values if v is not None]

    total_out = sum(n_outs)
    return {
        "duration": duration,
        "completed": ok.height,
        "failed": frame.height - ok.height,
        "total_input_tokens": int(ok.get_column("n_in").fill_null(0).sum()),
        "total_output_tokens": total_out,
        "output_throughput": total_out / duration,
        "max_output_tokens_per_s": float(np.bincount(np.floor(np.asarray(stamps)).astype(np.int64)).max()),
        "max_concurrent_requests": reference_peak(
            [(s, s + e) for s, e in ends.select("t_sent", "e2el").iter_rows()]
        ),
        "request_goodput": good / duration if slo_ms else None,
        "output_tokens_from_chunks": from_chunks,
        "ttft": distribution(ms(ttfts)),
        "tpot": distribution(ms(tpots)),
        "itl": distribution(ms(g for gaps in itls for g in (gaps or []))),
        "e2el": distribution(ms(e2els)),
    }


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("slos", [None, "ttft:900 tpot:60", "e2el:1200"])
def test_vectorised_summary_equals_the_per_row_definitions(seed: int, slos: str | None) -> None:
    frame = random_run(seed, 400 + 97 * seed)
    got = summarize(frame, slos=slos)
    want = reference_summary(frame, slos)
    for name, value in want.items():
        assert getattr(got, name) == value, name  # identical, not approximately equal


@pytest.mark.parametrize("seed", range(5))
def test_array_peak_concurrency_equals_the_event_sweep(seed: int) -> None:
    rng = random.Random(seed)
    grid = [rng.randrange(0, 40) / 4 for _ in range(300)]  # coarse times: many ties of ends and starts
    intervals = [(s, s + rng.randrange(0, 12) / 4) for s in grid]
    starts, ends = np.array([s for s, _ in intervals]), np.array([e for _, e in intervals])
    assert peak_concurrency_of(starts, ends) == reference_peak(intervals)
    assert peak_concurrency(intervals) == reference_peak(intervals)
