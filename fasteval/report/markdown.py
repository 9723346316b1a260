"""The leaderboard and paired comparisons as Markdown tables, for a PR comment or a terminal."""

from __future__ import annotations

import html
import math

from fasteval.report.board import Cell, Report
from fasteval.report.compare import Interval


def _num(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.4f}" if abs(value) <= 1 else f"{value:.2f}"


def _ci(iv: Interval | None) -> str:
    return "" if iv is None else f" [{_num(iv.lo)}, {_num(iv.hi)}]"


def _cell(c: Cell | None) -> str:
    if c is None:
        return "-"
    rows = "" if c.scored is None else f" ({c.scored}{'' if c.total is None else f'/{c.total}'})"
    return f"{_num(c.value)}{_ci(c.interval)}{rows}{' partial' if c.partial else ''}"


def _escape(text: str) -> str:
    """A cell's text shown as text: HTML in a model or benchmark name is escaped (Markdown renders raw
    HTML), and `|` would end the cell."""
    return html.escape(text, quote=False).replace("|", "\\|")


def render(report: Report) -> str:
    datasets = report.datasets
    metrics = {d: sorted({c.metric for (_, dd), c in report.cells.items() if dd == d}) for d in datasets}
    lines = [
        "## Leaderboard",
        "",
        "| model | " + " | ".join(f"{_escape(d)} ({_escape('/'.join(metrics[d]))})" for d in datasets) + " |",
        "|---|" + "---:|" * len(datasets),
    ]
    for m in report.models:
        cells = " | ".join(_escape(_cell(report.cells.get((m, d)))) for d in datasets)
        lines.append(f"| {_escape(m)} | {cells} |")
    rules = sorted({f"{c.rules} / {c.judge}" for c in report.cells.values()})
    lines += ["", f"Rules / judge: {_escape('; '.join(rules))}. Intervals are 95% (hover notes in the HTML)."]
    if report.comparisons:
        lines += [
            "",
            "## Paired comparisons (B − A on units both answered)",
            "",
            "| benchmark | A | B | unit | n | A | B | B − A | 95% interval | p | test |",
            "|---|---|---|---|---:|---:|---:|---:|---|---:|---|",
        ]
        for c in report.comparisons:
            p = c.paired
            lines.append(
                f"| {_escape(c.dataset)} | {_escape(c.model_a)} | {_escape(c.model_b)} | {c.unit} | {p.n} | "
                f"{_num(p.mean_a)} | {_num(p.mean_b)} | {_num(p.diff.value)} |{_ci(p.diff)} | "
                f"{p.p_value:.3g} | {p.test} |"
            )
    return "\n".join(lines) + "\n"
