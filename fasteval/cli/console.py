"""Score tables on the console, every column name whole at the terminal's width.

A score file can be wider than the terminal (MME: 16 columns, MMStar's long category names). rich
would shrink every column and cut its name (`percep…`), so a table that does not fit at its natural
width is printed transposed: one line per score-file column, the name first, one value column per
score-file row. When even that is too wide (many rows), the rows are split over several tables that
each fit. The score file itself is written in full, as VLMEvalKit writes it (`report.files`).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from fasteval.report.text import fmt_number
from fasteval.scoring.evaluate import Scored

__all__ = ["fit_table", "print_scores", "score_table"]

_VALUE = "value"  # the one value column's header when the score file has one row and no label


def print_scores(console: Console, scored: Scored) -> None:
    """Print the score table of one benchmark at the console's width."""
    console.print(score_table(scored, console.width))


def score_table(scored: Scored, width: int) -> RenderableType:
    """The score file as a console table that fits `width`, titled with the benchmark and its rules."""
    return fit_table(scored.result.table, f"{scored.spec.name}  [{scored.effective_rules}]", width)


def fit_table(frame: pl.DataFrame, title: str, width: int) -> RenderableType:
    """`frame` as it is when it fits `width`, else transposed, split into as many tables as it takes."""
    rows = [[fmt_number(v, missing="") for v in row] for row in frame.iter_rows()]
    wide = _table(title, frame.columns, rows, [frame.schema[c] == pl.String for c in frame.columns])
    if _natural_width(wide) <= width:
        return wide
    labels = [c for c in frame.columns if frame.schema[c] == pl.String]
    names = [c for c in frame.columns if c not in labels]
    if labels:
        heads = [" / ".join(str(row[c]) for c in labels) for row in frame.iter_rows(named=True)]
    else:
        heads = [_VALUE] if frame.height == 1 else [str(i + 1) for i in range(frame.height)]
    values = [[fmt_number(v, missing="") for v in frame[c].to_list()] for c in names]
    corner = " / ".join(labels)

    def part(title: str, start: int, stop: int) -> Table:
        return _transposed(title, corner, names, heads[start:stop], [v[start:stop] for v in values])

    tables: list[Table] = []
    start = 0
    while start < len(heads) or not tables:
        stop = start + 1  # one score-file row per table at least, even if its header must wrap
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
    return table.__rich_measure__(wide, wide.options).maximum
