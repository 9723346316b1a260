"""Inline SVG charts: models side by side per category, with 95% interval whiskers; histograms.

Generated as text so the page needs no plotting library, font or script to show it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from fasteval.report.compare import Interval

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
LABEL_W, BAR_H, GROUP_GAP, PLOT_W, VALUE_W, LEGEND_H = 260, 12, 10, 520, 60, 24


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def bar_chart(
    groups: Sequence[tuple[str, Mapping[str, Interval]]], models: Sequence[str], *, title: str
) -> str:
    """Horizontal grouped bars, one group per category, one bar per model, whiskers lo..hi."""
    top = max([1.0, *(iv.hi for _, per in groups for iv in per.values() if iv.hi == iv.hi)])
    group_h = BAR_H * len(models) + GROUP_GAP
    height = LEGEND_H + group_h * len(groups) + GROUP_GAP
    width = LABEL_W + PLOT_W + VALUE_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    ]
    for i, m in enumerate(models):
        x = LABEL_W + i * 160
        parts.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{colour(i)}"/>'
            f'<text x="{x + 14}" y="15" class="legend">{escape(m)}</text>'
        )
    for g, (name, per) in enumerate(groups):
        y0 = LEGEND_H + g * group_h
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y0 + group_h / 2}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(name)}</text>'
        )
        for i, m in enumerate(models):
            iv = per.get(m)
            if iv is None or iv.value != iv.value:
                continue
            y = y0 + i * BAR_H
            w = PLOT_W * iv.value / top
            parts.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR_H - 2}" fill="{colour(i)}">'
                f"<title>{escape(m)}: {iv.value:.4f} [{iv.lo:.4f}, {iv.hi:.4f}]</title></rect>"
            )
            if iv.lo == iv.lo and iv.hi == iv.hi:
                lo, hi = LABEL_W + PLOT_W * iv.lo / top, LABEL_W + PLOT_W * iv.hi / top
                mid = y + (BAR_H - 2) / 2
                parts.append(f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{mid}" y2="{mid}" class="whisker"/>')
            parts.append(
                f'<text x="{LABEL_W + PLOT_W + 4}" y="{y + BAR_H - 3}" class="value">{iv.value:.3f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


HIST_H = 120


def histogram_chart(per_model: Sequence[tuple[str, Sequence[int]]], *, title: str, low: float = 0.0) -> str:
    """Vertical bars per bin of [low, 1] (equal widths), one bar per model in each bin."""
    bins = max((len(c) for _, c in per_model), default=0)
    top = max([1, *(n for _, counts in per_model for n in counts)])
    slot = PLOT_W / max(1, bins)
    bar_w = max(2.0, (slot - 4) / max(1, len(per_model)))
    width, height = LABEL_W + PLOT_W + VALUE_W, LEGEND_H + HIST_H + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    ]
    for i, (m, _) in enumerate(per_model):
        lx = LABEL_W + i * 160
        parts.append(
            f'<rect x="{lx}" y="6" width="10" height="10" fill="{colour(i)}"/>'
            f'<text x="{lx + 14}" y="15" class="legend">{escape(m)}</text>'
        )
    base = LEGEND_H + HIST_H
    step = (1.0 - low) / max(1, bins)
    for b in range(bins):
        lo, hi = low + b * step, low + (b + 1) * step
        for i, (m, counts) in enumerate(per_model):
            n = counts[b] if b < len(counts) else 0
            h = HIST_H * n / top
            x = LABEL_W + b * slot + 2 + i * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                f'fill="{colour(i)}"><title>{escape(m)}: {n} rows in [{lo:.1f}, {hi:.1f}'
                f"{']' if b == bins - 1 else ')'}</title></rect>"
            )
        parts.append(f'<text x="{LABEL_W + b * slot:.1f}" y="{base + 14}" class="value">{lo:.1f}</text>')
    parts.append(f'<text x="{LABEL_W + PLOT_W:.1f}" y="{base + 14}" class="value">1.0</text>')
    parts.append("</svg>")
    return "".join(parts)
