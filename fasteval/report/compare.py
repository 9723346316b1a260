"""Statistics behind the report: intervals of a score and paired differences between two models.

Pure functions on plain sequences, so each can be checked against a textbook value. Hit-rates get
Wilson intervals and an exact mid-p McNemar test (the discordant pairs carry all the information);
graded float scores get a normal interval and a seeded paired bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fasteval.scoring.stats import Z95, wilson_interval

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with its two-sided 95% interval, and the method that gave it."""

    value: float
    lo: float
    hi: float
    method: str  # "wilson", "normal", "newcombe", "bootstrap"


@dataclass(frozen=True, slots=True)
class Paired:
    """Model B minus model A on the units both answered: means, difference, interval, p-value."""

    n: int
    mean_a: float
    mean_b: float
    diff: Interval
    p_value: float
    test: str  # "mid-p McNemar" or "paired bootstrap"
    b_only: int = 0  # hit-rates: units B got right and A wrong
    a_only: int = 0


def hit_interval(hits: Sequence[int] | Sequence[bool]) -> Interval:
    """Proportion of hits with its Wilson interval (it stays in [0, 1] at 0 or n hits)."""
    n, k = len(hits), int(sum(bool(h) for h in hits))
    lo, hi = wilson_interval(k, n)
    return Interval(k / n if n else math.nan, lo, hi, "wilson")


def mean_interval(scores: Sequence[float]) -> Interval:
    """Mean of graded scores with a normal interval (the mean of many bounded scores is near normal)."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.size == 0:
        return Interval(math.nan, math.nan, math.nan, "normal")
    mean = float(arr.mean())
    half = Z95 * float(arr.std(ddof=1)) / math.sqrt(arr.size) if arr.size > 1 else math.nan
    return Interval(mean, mean - half, mean + half, "normal")


def mcnemar_mid_p(b: int, c: int) -> float:
    """Two-sided mid-p McNemar test on the discordant counts b and c (exact binomial, p = 1/2).

    Integer arithmetic keeps it exact for the tens of thousands of pairs a large benchmark has.
    """
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    mid = 2 * tail - math.comb(n, k)  # 2 * (P[X <= k] - P[X = k] / 2), scaled by 2**n
    return min(1.0, float(mid / 2**n))


def _newcombe(a_hits: Sequence[bool], b_hits: Sequence[bool]) -> Interval:
    """Newcombe's hybrid score interval (method 10) for B - A on paired proportions."""
    n = len(a_hits)
    both = sum(1 for x, y in zip(a_hits, b_hits, strict=True) if x and y)
    a_only = sum(1 for x, y in zip(a_hits, b_hits, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a_hits, b_hits, strict=True) if y and not x)
    neither = n - both - a_only - b_only
    p1, p2 = (both + b_only) / n, (both + a_only) / n  # B, A
    l1, u1 = wilson_interval(both + b_only, n)
    l2, u2 = wilson_interval(both + a_only, n)
    denom = math.sqrt((both + b_only) * (a_only + neither) * (both + a_only) * (b_only + neither))
    cross = both * neither - b_only * a_only
    if denom == 0:
        phi = 0.0
    elif cross > 0:
        phi = max(cross - n / 2, 0.0) / denom
    else:
        phi = cross / denom
    d = p1 - p2
    lo = d - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    hi = d + math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return Interval(d, max(lo, -1.0), min(hi, 1.0), "newcombe")


def paired_hits(a_hits: Sequence[bool], b_hits: Sequence[bool]) -> Paired:
    """B - A on paired hits: Newcombe interval, mid-p McNemar on the discordant units."""
    n = len(a_hits)
    if n == 0:
        nan = Interval(math.nan, math.nan, math.nan, "newcombe")
        return Paired(0, math.nan, math.nan, nan, math.nan, "mid-p McNemar")
    a_only = sum(1 for x, y in zip(a_hits, b_hits, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a_hits, b_hits, strict=True) if y and not x)
    return Paired(
        n=n,
        mean_a=sum(map(bool, a_hits)) / n,
        mean_b=sum(map(bool, b_hits)) / n,
        diff=_newcombe(a_hits, b_hits),
        p_value=mcnemar_mid_p(b_only, a_only),
        test="mid-p McNemar",
        b_only=b_only,
        a_only=a_only,
    )


def paired_bootstrap(
    a_scores: Sequence[float],
    b_scores: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Paired:
    """B - A on paired graded scores: percentile interval of resampled mean differences, and the
    two-sided p-value of the null-centred resamples (seeded: the same files give the same page)."""
    d = np.asarray(b_scores, dtype=np.float64) - np.asarray(a_scores, dtype=np.float64)
    if d.size == 0:
        nan = Interval(math.nan, math.nan, math.nan, "bootstrap")
        return Paired(0, math.nan, math.nan, nan, math.nan, "paired bootstrap")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    observed = float(d.mean())
    lo, hi = np.percentile(means, [2.5, 97.5])
    extreme = np.abs(means - observed) >= abs(observed)
    p = float((extreme.sum() + 1) / (resamples + 1))
    return Paired(
        n=int(d.size),
        mean_a=float(np.mean(a_scores)),
        mean_b=float(np.mean(b_scores)),
        diff=Interval(observed, float(lo), float(hi), "bootstrap"),
        p_value=min(1.0, p),
        test="paired bootstrap",
    )
