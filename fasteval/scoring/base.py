"""The shared shapes of scoring: what a scorer takes, what it returns, one-line scoring errors,
and what a scorer declares about its output (`Headline`, `Outcome`, `Declaration`) so that the
report reads meanings, never column names it would have to know."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from fasteval.errors import ScoringError
from fasteval.kinds.base import Column, require_columns

__all__ = [
    "Column",
    "Declaration",
    "Headline",
    "Outcome",
    "ScoreOptions",
    "ScoreResult",
    "Scorer",
    "ScoringError",
    "require_columns",
]


@dataclass(frozen=True, slots=True)
class ScoreOptions:
    """How to aggregate: VLMEvalKit's way, or the benchmark's official way; circular MCQ or not."""

    circular: bool = False
    official: bool = False
    # Some rows failed for good and were left out (the runner's case): a question pair with a
    # missing partner is left out of pair metrics (MME acc+) instead of being an error.
    partial: bool = False
    # The VLMEvalKit generation for rule-dependent scorers (VQA period regex, ChartQA argument
    # order); the default is kinds.extract.DEFAULT_RULES, spelled out to keep scoring import-free.
    rules: str = "vlmevalkit-2026.06"


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A scorer's output.

    `table` has VLMEvalKit's `_score.csv` / `_acc.csv` layout (or the official layout under
    official rules); `rows` is the per-row frame with `hit` (and `group_hit` for circular MCQ);
    `headline` holds the few numbers a summary shows, on the table's own scale.
    """

    table: pl.DataFrame
    rows: pl.DataFrame
    headline: dict[str, float] = field(default_factory=dict)
    # More tables a scorer writes beside `table`, by file suffix (MMVet: "score_fine").
    extra_tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    json: dict[str, Any] | None = None  # a JSON score file's payload (OCRBench `_score.json`), else None
    # The per-row scores VLMEvalKit writes beside a JSON rating (the video `_score.xlsx`: the prediction
    # file's rows with their `score`), written as the kind's `score_file`; None: no such file
    row_table: pl.DataFrame | None = None


Scorer = Callable[[pl.DataFrame, ScoreOptions], ScoreResult]


# ---------------------------------------------------------------------------------------------
# What a scorer declares about its output (`ScorerEntry`): all the report reads
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Headline:
    """The score file's headline cell: the first of `columns` the table has (else its first numeric
    column), in the first row one of whose labels is in `rows` (else the first row). A JSON score
    file reads as one row of its numbers, keys as columns (OCRBench's `Final Score`)."""

    columns: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    # A nested JSON score file (VLMEvalKit's video `_rating.json`): the path to the headline value,
    # e.g. ("overall", "overall"); its strings ('0.417', '41.67%') are read as numbers.
    json: tuple[str | int, ...] = ()
    label: str = ""  # how the report names a `json` headline (default: its path)

    def of_json(self, payload: Any) -> tuple[str, float]:
        """(label, value) of the headline in a JSON score file: the `json` path, else the first
        top-level number (OCRBench's `Final Score` is named by `columns`)."""
        if self.json:
            value = payload
            for key in self.json:
                value = value[key]
            return self.label or "/".join(map(str, self.json)), _number(value)
        flat = {k: v for k, v in payload.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if not flat:
            raise ValueError("score file has no numeric value")
        key = next((c for c in self.columns if c in flat), next(iter(flat)))
        return key, float(flat[key])

    def of(self, table: pl.DataFrame) -> tuple[str, float]:
        """(column, value) of the headline cell in `table`."""
        numeric = [c for c in table.columns if table.schema[c].is_numeric()]
        if not numeric or not table.height:
            raise ValueError("score file has no numeric column")
        labels = [c for c in table.columns if c not in numeric]
        names = [tuple(map(str, r)) for r in table.select(labels).iter_rows()]
        row = next((i for want in self.rows for i, r in enumerate(names) if want in r), 0)
        column = next((c for c in self.columns if c in numeric), numeric[0])
        return column, float(table[column][row])


def _number(value: Any) -> float:
    """A rating cell as a number: VLMEvalKit writes '%.3f' strings, percentages and 'nan'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float(str(value).strip().removesuffix("%"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one scored row is worth, in the scorer's rows.

    `column` holds a 0/1 hit, or a grade in [0, 1] when `graded` (means get a normal interval,
    hit-rates Wilson's). Where rows are scored in groups (circular MCQ), `group` names the column
    holding a row's group: the scored units are then the main rows (`index` equal to it), each
    carrying its group's outcome in `column`, and `own` names the row's own outcome.
    """

    column: str
    graded: bool = False
    group: str | None = None
    own: str | None = None


@dataclass(frozen=True, slots=True)
class Declaration:
    """What a benchmark's rows and score file mean, as its kind and scorer declare them
    (`fasteval.scoring.declaration(spec)`): the report reads this and no column name of its own."""

    headline: Headline
    outcome: Outcome | None  # None: scored as a whole only, no per-row result
    columns: tuple[Column, ...] = ()  # per-row columns the samples file keeps (scorer's, then kind's)
    category: str | None = None  # the column results break down by (per-category chart, bootstrap strata)
    cluster: str | None = None  # rows resampled together (MME's question pairs share an image)
    distribution: str | None = None  # a per-row number in [0, 1] drawn as a histogram (RefCOCO's IoU)

    def units(self, rows: pl.DataFrame) -> pl.DataFrame:
        """One row per scored unit: `key` (str index), `outcome` (Float64, may be null), `breakdown`
        (the declared category, else null).
        Grouped rows count once, as their main row (the way VLMEvalKit's headline counts them)."""
        if self.outcome is None:
            raise ValueError("this benchmark declares no per-row outcome")
        frame = rows
        group = self.outcome.group
        if group is not None and group in frame.columns:
            frame = frame.filter(pl.col("index").cast(pl.Int64) == pl.col(group).cast(pl.Int64))
        category = self.category
        by = pl.col(category).cast(pl.String) if category and category in frame.columns else pl.lit(None)
        return frame.select(
            pl.col("index").cast(pl.String).alias("key"),
            pl.col(self.outcome.column).cast(pl.Float64).alias("outcome"),
            by.alias("breakdown"),
        )

    def grouped(self, rows: pl.DataFrame) -> bool:
        """Whether `rows` are scored in groups (circular evaluation)."""
        return (
            self.outcome is not None and self.outcome.group is not None and self.outcome.group in rows.columns
        )

    def has_outcome(self, rows: pl.DataFrame | None) -> bool:
        """Per-row results to compute statistics on."""
        return (
            rows is not None
            and rows.height > 0
            and self.outcome is not None
            and self.outcome.column in rows.columns
        )

    def row_outcome(self, rows: pl.DataFrame) -> str | None:
        """The column holding each row's own outcome (a grouped row's own hit, not its group's)."""
        if self.outcome is None:
            return None
        own = self.outcome.own
        return own if own is not None and own in rows.columns else self.outcome.column
