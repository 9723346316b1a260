"""Throughput and latency figures follow vLLM's `benchmarks/serve.py` definitions exactly."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from fasteval.perf.metrics import (
    SLOError,
    distribution,
    parse_slos,
    peak_concurrency,
    summarize,
    tpot,
)
from fasteval.types import Completion, ErrorKind, Status, Timing


def ok(t0: float, chunk_times: list[float], n_out: int | None, n_in: int = 10) -> Completion:
    """An OK request sent at wall time t0 whose token-bearing chunks arrived at `chunk_times` after send."""
    itl = [b - a for a, b in itertools.pairwise(chunk_times)]
    timing = Timing(t_dispatch=t0, ttft=chunk_times[0], e2el=chunk_times[-1], itl=itl)
    return Completion(status=Status.OK, text="x", n_in=n_in, n_out=n_out, timing=timing)


def failed(t0: float, after: float) -> Completion:
    return Completion(
        status=Status.FAILED,
        error="HTTP 503",
        error_kind=ErrorKind.SERVER,
        timing=Timing(t_dispatch=t0, e2el=after),
    )


def test_tpot_excludes_the_first_token_and_is_undefined_for_one_token() -> None:
    assert tpot(0.5, 2.5, 5) == pytest.approx((2.5 - 0.5) / 4)
    assert tpot(0.5, 0.5, 1) is None
    assert tpot(None, 1.0, 3) is None
    assert tpot(0.1, 1.0, None) is None


def test_a_reply_read_all_at_once_has_tpot_zero_and_every_token_counted() -> None:
    """A busy client can find all 8 tokens in one network read: the chunks share one arrival time."""
    at_once = ok(0.0, [0.4] * 8, n_out=8)
    spread = ok(0.0, [0.1 * (k + 1) for k in range(8)], n_out=8)
    s = summarize([at_once, spread])
    assert s.total_output_tokens == 16 and s.itl.n == 14
    assert s.tpot.n == 2 and s.tpot.mean == pytest.approx((0.0 + 100.0) / 2)
    assert summarize([at_once]).tpot.mean == 0.0  # defined (8 tokens), zero: no gap was seen


def test_distribution_uses_numpy_linear_percentiles_and_population_std() -> None:
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.3]
    d = distribution(values, (50, 90, 99, 99.9))
    assert d.n == 7
    assert d.mean == pytest.approx(np.mean(values)) and d.std == pytest.approx(np.std(values))
    assert d.median == pytest.approx(np.median(values))
    assert dict(d.percentiles) == pytest.approx(
        dict(zip((50, 90, 99, 99.9), np.percentile(values, [50, 90, 99, 99.9]), strict=True))
    )
    js = d.to_json_dict("ttft")
    assert set(js) == {
        "mean_ttft_ms",
        "median_ttft_ms",
        "std_ttft_ms",
        "p50_ttft_ms",
        "p90_ttft_ms",
        "p99_ttft_ms",
        "p99.9_ttft_ms",
        "n_ttft",
    }


def test_empty_distribution_reports_zero_samples_not_zero_latency() -> None:
    d = distribution([], (99,))
    assert d.n == 0 and d.mean is None and d.percentiles == ((99.0, None),)


def test_slo_strings_parse_like_vllm_goodput_and_reject_nonsense() -> None:
    assert parse_slos("ttft:500 tpot:50") == {"ttft": 500.0, "tpot": 50.0}
    assert parse_slos(["e2el:1000"]) == {"e2el": 1000.0}
    with pytest.raises(SLOError, match="METRIC:MS"):
        parse_slos("latency:5")
    with pytest.raises(SLOError, match="not a number"):
        parse_slos("ttft:fast")


def test_peak_concurrency_is_a_sweep_over_half_open_intervals() -> None:
    assert peak_concurrency([(0, 2), (1, 3), (1.5, 2.5)]) == 3
    assert peak_concurrency([(0, 1), (1, 2), (2, 3)]) == 1  # back to back never overlap
    assert peak_concurrency([]) == 0


def test_run_summary_matches_hand_computed_vllm_formulas() -> None:
    t0 = 1_000.0
    requests = [
        ok(t0 + 0.0, [0.10, 0.30, 0.50, 0.70], n_out=4, n_in=100),
        ok(t0 + 0.5, [0.20, 0.25, 0.40], n_out=6, n_in=50),  # server chunks carry several tokens
        ok(t0 + 1.0, [0.40], n_out=1, n_in=20),  # one token: no TPOT
        failed(t0 + 1.2, after=1.8),  # last completion of the run: t0 + 3.0
    ]
    s = summarize(requests, percentiles=(50, 99), n_images=3)
    duration = 3.0
    assert s.duration == pytest.approx(duration)
    assert (s.completed, s.failed) == (3, 1)
    assert (s.total_input_tokens, s.total_output_tokens) == (170, 11)
    assert s.request_throughput == pytest.approx(3 / duration)
    assert s.output_throughput == pytest.approx(11 / duration)
    assert s.total_token_throughput == pytest.approx(181 / duration)
    assert s.images_per_s == pytest.approx(3 / duration)

    ttfts = [100.0, 200.0, 400.0]
    tpots = [(700 - 100) / 3, (400 - 200) / 5]
    itls = [200.0, 200.0, 200.0, 50.0, 150.0]
    e2els = [700.0, 400.0, 400.0]
    for name, values in {"ttft": ttfts, "tpot": tpots, "itl": itls, "e2el": e2els}.items():
        d = getattr(s, name)
        assert d.n == len(values), name
        assert d.mean == pytest.approx(np.mean(values)), name
        assert d.median == pytest.approx(np.median(values)), name
        assert d.std == pytest.approx(np.std(values)), name
        assert [v for _, v in d.percentiles] == pytest.approx(list(np.percentile(values, [50, 99]))), name
    # intervals [0,0.7) [0.5,0.9) [1.0,1.4) [1.2,3.0): at most two at once
    assert s.max_concurrent_requests == 2


def test_failed_requests_count_toward_duration_but_not_latency() -> None:
    s = summarize([ok(0.0, [0.1, 0.2], n_out=2), failed(0.0, after=5.0)])
    assert s.failed == 1 and s.completed == 1 and s.duration == pytest.approx(5.0)
    assert s.e2el.n == 1 and s.e2el.mean == pytest.approx(200.0)
    assert s.request_throughput == pytest.approx(1 / 5.0)


def test_goodput_counts_requests_within_every_slo_with_single_tokens_as_zero_tpot() -> None:
    requests = [
        ok(0.0, [0.10, 0.20, 0.30], n_out=3),  # ttft 100, tpot 100, e2el 300: good
        ok(0.0, [0.60, 0.70], n_out=2),  # ttft 600: misses the TTFT SLO
        ok(0.0, [0.05], n_out=1),  # tpot counts as 0: good
        ok(0.0, [0.10, 0.90], n_out=2),  # tpot 800: misses
    ]
    s = summarize(requests, slos="ttft:500 tpot:200")
    assert s.duration == pytest.approx(0.9)
    assert s.request_goodput == pytest.approx(2 / 0.9)
    js = s.to_json_dict()
    assert js["request_goodput"] == s.request_goodput and js["goodput_slos_ms"] == {
        "ttft": 500.0,
        "tpot": 200.0,
    }


def test_missing_usage_falls_back_to_chunk_counts_and_says_so() -> None:
    s = summarize([ok(0.0, [0.1, 0.2, 0.3], n_out=None)])
    assert s.total_output_tokens == 3 and s.output_tokens_from_chunks == 1
    assert s.to_json_dict()["output_tokens_from_chunks"] == 1


def test_busiest_second_of_output_chunks() -> None:
    # chunks at 0.1, 0.2, 0.3 (request 1) and 1.1, 1.5 (request 2): 3 in second 0, 2 in second 1
    s = summarize([ok(0.0, [0.1, 0.2, 0.3], n_out=3), ok(1.0, [0.1, 0.5], n_out=2)])
    assert s.max_output_tokens_per_s == 3


def test_store_frame_and_completions_give_the_same_summary() -> None:
    requests = [ok(0.0, [0.1, 0.3], n_out=2), ok(0.2, [0.2, 0.4, 0.5], n_out=3), failed(0.1, after=0.2)]
    frame = pl.DataFrame(
        {
            "key": ["0", "1", "2"],
            "status": [c.status.value for c in requests],
            "n_in": [c.n_in for c in requests],
            "n_out": [c.n_out for c in requests],
            "t_dispatch": [c.timing.t_dispatch for c in requests],
            "ttft": [c.timing.ttft for c in requests],
            "e2el": [c.timing.e2el for c in requests],
            "itl": [c.timing.itl for c in requests],
        }
    )
    assert summarize(frame).to_json_dict() == summarize(requests).to_json_dict()


def test_json_uses_vllm_field_names() -> None:
    js = summarize([ok(0.0, [0.1, 0.2], n_out=2)]).to_json_dict()
    for name in (
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
        "std_ttft_ms",
        "p99_tpot_ms",
        "p50_itl_ms",
        "p95_e2el_ms",
    ):
        assert name in js, name
    assert "request_goodput" not in js  # only reported with SLOs


def test_an_empty_run_has_no_rates() -> None:
    s = summarize([])
    assert (s.completed, s.failed, s.duration, s.request_throughput) == (0, 0, 0.0, None)


def test_retried_requests_finish_at_their_final_send_plus_e2el() -> None:
    # dispatched at 0, first attempt failed, final attempt sent at 5.0 and done 0.5 s later
    retried = ok(0.0, [0.1, 0.5], n_out=2)
    retried.timing.t_send = 5.0
    s = summarize([retried, ok(0.0, [0.2, 0.4], n_out=2)])
    assert s.duration == pytest.approx(5.5)  # not 0.5: t_dispatch + e2el would end the run too early
    assert s.max_concurrent_requests == 1  # [0, 0.4) and [5.0, 5.5) never overlap
    assert s.request_throughput == pytest.approx(2 / 5.5)


def test_a_frame_without_t_send_reads_as_sent_at_dispatch() -> None:
    requests = [ok(0.0, [0.1, 0.3], n_out=2), ok(0.2, [0.2, 0.4, 0.5], n_out=3)]
    frame = pl.DataFrame(
        {
            "status": [c.status.value for c in requests],
            "n_in": [c.n_in for c in requests],
            "n_out": [c.n_out for c in requests],
            "t_dispatch": [c.timing.t_dispatch for c in requests],
            "ttft": [c.timing.ttft for c in requests],
            "e2el": [c.timing.e2el for c in requests],
            "itl": [c.timing.itl for c in requests],
        }
    )
    assert summarize(frame).duration == pytest.approx(0.7)
