"""PNG plots of a throughput sweep: throughput against latency, and the TTFT distribution per point.

Figures are built on matplotlib's object API with the Agg canvas (no pyplot, no display, no global
state), and each PNG carries its title in a `Title` text chunk, so a reader (or a test) can tell what a
file shows without looking at the pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["throughput_latency_plot", "ttft_distribution_plot"]

# (throughput field, its axis label, latency metric, its axis label) for each panel of the sweep plot
_PANELS = (
    ("request_throughput", "request throughput (req/s)", "e2el", "end-to-end latency (ms)"),
    ("output_throughput", "output throughput (tok/s)", "ttft", "time to first token (ms)"),
    ("output_throughput", "output throughput (tok/s)", "tpot", "time per output token (ms)"),
)


def _save(fig: Figure, path: Path, title: str) -> Path:
    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, metadata={"Title": title, "Software": "fasteval"})
    return path


def throughput_latency_plot(
    points: Sequence[Mapping[str, Any]], labels: Sequence[str], path: Path, *, title: str
) -> Path:
    """Mean and p99 latency against achieved throughput, one marker per sweep point (labelled).

    `points` are the per-point result dicts (vLLM field names); the p99 line is drawn when the run
    reported p99.
    """
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    fig.suptitle(title)
    for ax, (x_field, x_label, metric, y_label) in zip(fig.subplots(1, len(_PANELS)), _PANELS, strict=True):
        xs = [p.get(x_field) for p in points]
        for stat, style in (("mean", "o-"), ("p99", "s--")):
            ys = [p.get(f"{stat}_{metric}_ms") for p in points]
            pairs = [(x, y, lab) for x, y, lab in zip(xs, ys, labels, strict=True) if x is not None and y]
            if not pairs:
                continue
            ax.plot([x for x, _, _ in pairs], [y for _, y, _ in pairs], style, label=f"{stat} {metric}")
            if stat == "mean":
                for x, y, lab in pairs:
                    ax.annotate(lab, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(f"{metric.upper()} vs {x_label.split(' (')[0]}", fontsize=10)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    return _save(fig, path, title)


def ttft_distribution_plot(ttfts_ms: Mapping[str, Sequence[float]], path: Path, *, title: str) -> Path:
    """Empirical CDF of TTFT for each sweep point (its label -> TTFTs in ms of its OK requests)."""
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    fig.suptitle(title)
    for label, values in ttfts_ms.items():
        if not values:
            continue
        xs = np.sort(np.asarray(values, dtype=np.float64))
        ys = np.arange(1, xs.size + 1) / xs.size
        ax.step(xs, ys, where="post", label=f"{label} (n={xs.size})")
    ax.set_xlabel("time to first token (ms)")
    ax.set_ylabel("share of requests")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    return _save(fig, path, title)
