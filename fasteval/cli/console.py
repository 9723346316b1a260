"""The console's tables (scores, the end-of-run results), every name whole at the terminal's width.

A score file can be wider than the terminal (MME: 16 columns, MMStar's long category names). rich
would shrink every column and cut its name (`percep…`), so a table that does not fit at its natural
width is printed transposed: one line per score-file column, the name first, one value column per
score-file row. When even that is too wide (many rows), the rows are split over several tables that
each fit. The score file itself is written in full, as VLMEvalKit writes it (`report.files`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from fasteval.report.text import fmt_number
from fasteval.scoring.evaluate import Scored

__all__ = [
    "RESULT_COLUMNS",
    "ResultRow",
    "fit_rows",
    "fit_table",
    "print_results",
    "print_scores",
    "results_table",
    "score_table",
]

_VALUE = "value"  # the one value column's header when the score file has one row and no label


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One (model, benchmark) line of the end-of-run table."""

    model: str
    dataset: str
    rows: str  # "answered/total"
    headline: Mapping[str, float]  # the benchmark's own headline; the first three are shown
    perf: Mapping[str, Any]  # serving figures under vLLM's names


RESULT_COLUMNS = ("model", "dataset", "rows", "score", "req/s", "tok/s", "TTFT ms")


def print_results(console: Console, rules: Sequence[str], rows: Sequence[ResultRow]) -> None:
    """Print the end-of-run table (headline scores and serving figures) at the console's width."""
    console.print(results_table(rules, rows, console.width))


def results_table(rules: Sequence[str], rows: Sequence[ResultRow], width: int) -> RenderableType:
    """Headline scores and serving figures per (model, benchmark), fitted to `width`."""
    cells = [
        [
            r.model,
            r.dataset,
            r.rows,
            "\n".join(f"{k} {fmt_number(v)}" for k, v in list(r.headline.items())[:3]) or "-",
            fmt_number(r.perf.get("request_throughput")),
            fmt_number(r.perf.get("output_throughput")),
            fmt_number(r.perf.get("mean_ttft_ms")),
        ]
        for r in rows
    ]
    title = f"fasteval results (rules: {', '.join(rules) or '-'})"
    return fit_rows(title, RESULT_COLUMNS, cells, [c in ("model", "dataset") for c in RESULT_COLUMNS], width)


def print_scores(console: Console, scored: Scored) -> None:
    """Print the score table of one benchmark at the console's width."""
    console.print(score_table(scored, console.width))


def score_table(scored: Scored, width: int) -> RenderableType:
    """The score file as a console table that fits `width`, titled with the benchmark and its rules."""
    return fit_table(scored.result.table, f"{scored.spec.name}  [{scored.effective_rules}]", width)


def fit_table(frame: pl.DataFrame, title: str, width: int) -> RenderableType:
    """A score frame at `width`: its string columns (`split`, ...) label the rows, the rest are values."""
    cells = [[fmt_number(v, missing="") for v in row] for row in frame.iter_rows()]
    return fit_rows(title, frame.columns, cells, [frame.schema[c] == pl.String for c in frame.columns], width)


def fit_rows(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], is_label: Sequence[bool], width: int
) -> RenderableType:
    """The table as given when it fits `width`, else transposed and split into as many tables as it takes.

    Transposed, each value column becomes a line (its name first, never wrapped) and each row a
    column headed by its labels, one above the other.
    """
    wide = _table(title, columns, rows, is_label)
    if _natural_width(wide) <= width:
        return wide
    labels = [i for i, flag in enumerate(is_label) if flag]
    names = [c for c, flag in zip(columns, is_label, strict=True) if not flag]
    if labels:
        heads = ["\n".join(row[i] for i in labels) for row in rows]
    else:
        heads = [_VALUE] if len(rows) == 1 else [str(k + 1) for k in range(len(rows))]
    values = [[row[i] for row in rows] for i, flag in enumerate(is_label) if not flag]
    corner = "\n".join(columns[i] for i in labels)

    def part(title: str, start: int, stop: int) -> Table:
        return _transposed(title, corner, names, heads[start:stop], [v[start:stop] for v in values])

    tables: list[Table] = []
    start = 0
    while start < len(heads) or not tables:
        stop = start + 1  # one row per table at least, even if its header must wrap
        while stop < len(heads) and _natural_width(part("", start, stop + 1)) <= width:
            stop += 1
        tables.append(part("" if tables else title, start, stop))
        start = stop
    return tables[0] if len(tables) == 1 else Group(*tables)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[bool]) -> Table:
    table = _titled(title)
    for name, is_label in zip(columns, left, strict=True):
        table.add_column(Text(name), justify="left" if is_label else "right")
    for row in rows:
        table.add_row(*map(Text, row))
    return table


def _transposed(
    title: str, corner: str, names: Sequence[str], heads: Sequence[str], values: Sequence[Sequence[str]]
) -> Table:
    """One line per score-file column, its name first and never wrapped; a column per head."""
    table = _titled(title)
    table.add_column(Text(corner), justify="left", no_wrap=True)
    for head in heads:
        table.add_column(Text(head), justify="right")
    for name, row in zip(names, values, strict=True):
        table.add_row(Text(name), *map(Text, row))
    return table


def _titled(title: str) -> Table:
    """At least as wide as its title, which stays on one line (Text: "[rules]" is not markup)."""
    return Table(title=Text(title), min_width=cell_len(title)) if title else Table()


def _natural_width(table: Table) -> int:
    """The width `table` needs to show every header and cell without wrapping or cutting."""
    wide = Console(width=1 << 16)
    return Measurement.get(wide, wide.options, table).maximum
