"""Inline SVG bar charts: models side by side per category, with 95% interval whiskers.

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
