"""The report's statistics against values worked out by hand and the definitions they follow."""

from __future__ import annotations

import math

import pytest

from fasteval.report.compare import (
    hit_interval,
    mcnemar_mid_p,
    mean_interval,
    paired_bootstrap,
    paired_hits,
)
from fasteval.scoring.stats import Z95, wilson_interval


def test_mid_p_mcnemar_by_hand() -> None:
    # b=1, c=9: n=10, P[X<=1] = (1 + 10)/1024, P[X=1] = 10/1024; mid-p = 2 * (11 - 10/2)/1024
    assert mcnemar_mid_p(1, 9) == pytest.approx(12 / 1024, abs=1e-15)
    assert mcnemar_mid_p(9, 1) == mcnemar_mid_p(1, 9)


def test_mid_p_mcnemar_no_discordant_pairs_is_no_evidence() -> None:
    assert mcnemar_mid_p(0, 0) == 1.0
    assert mcnemar_mid_p(5, 5) <= 1.0


def test_mid_p_mcnemar_stays_exact_at_benchmark_sizes() -> None:
    p = mcnemar_mid_p(7000, 7400)
    assert 0.0 < p < 0.01  # big-integer arithmetic: no underflow to 0 or overflow


def test_hit_interval_is_wilson() -> None:
    iv = hit_interval([True] * 7 + [False] * 13)
    assert (iv.value, (iv.lo, iv.hi)) == (7 / 20, wilson_interval(7, 20))


def test_mean_interval_is_normal() -> None:
    scores = [0.0, 0.5, 1.0, 1.0]
    iv = mean_interval(scores)
    sd = math.sqrt(sum((s - 0.625) ** 2 for s in scores) / 3)
    assert iv.value == pytest.approx(0.625)
    assert iv.hi - iv.value == pytest.approx(Z95 * sd / 2)


def test_paired_hits_counts_discordant_units_and_its_interval_matches_wald_when_large() -> None:
    n_both, b_only, a_only, n_neither = 4000, 700, 500, 4800
    a = [True] * n_both + [False] * b_only + [True] * a_only + [False] * n_neither
    b = [True] * n_both + [True] * b_only + [False] * a_only + [False] * n_neither
    p = paired_hits(a, b)
    n = len(a)
    assert (p.b_only, p.a_only, p.n) == (b_only, a_only, n)
    assert p.diff.value == pytest.approx((b_only - a_only) / n)
    wald = Z95 * math.sqrt(b_only + a_only - (b_only - a_only) ** 2 / n) / n
    assert p.diff.lo == pytest.approx(p.diff.value - wald, abs=1e-3)
    assert p.diff.hi == pytest.approx(p.diff.value + wald, abs=1e-3)
    assert p.p_value == mcnemar_mid_p(b_only, a_only)


def test_paired_hits_interval_stays_inside_its_range_at_the_extremes() -> None:
    p = paired_hits([False] * 10, [True] * 10)
    assert p.diff.value == 1.0 and -1.0 <= p.diff.lo < 1.0 and p.diff.hi == 1.0


def test_paired_bootstrap_is_seeded_and_brackets_the_mean_difference() -> None:
    a = [0.1 * (i % 10) for i in range(200)]
    b = [min(1.0, x + 0.05 * (i % 3)) for i, x in enumerate(a)]
    first, again = paired_bootstrap(a, b), paired_bootstrap(a, b)
    assert first == again
    assert first.diff.lo <= first.diff.value <= first.diff.hi
    assert first.diff.value == pytest.approx(sum(b) / len(b) - sum(a) / len(a))
    assert first.p_value < 0.05


def test_paired_bootstrap_of_identical_scores_shows_no_difference() -> None:
    same = paired_bootstrap([0.5, 1.0, 0.0], [0.5, 1.0, 0.0])
    assert (same.diff.value, same.diff.lo, same.diff.hi, same.p_value) == (0.0, 0.0, 0.0, 1.0)
