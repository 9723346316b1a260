"""How many of a dataset's rows a score covers, said the same way on the console, in file names
and in summary.json, so a partial score can never pass for a full one.

A score that does not cover every row is written as `{model}_{dataset}_score_partial.csv` (or
`_acc_partial.csv`): VLMEvalKit's tools, which read the unmarked name, never pick it up by mistake.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.types import Status

PARTIAL_SUFFIX = "_partial"


@dataclass(frozen=True, slots=True)
class Coverage:
    rows: int  # dataset rows the run (or the prediction file) was meant to cover
    scored: int  # rows with an answer, the ones the scores count
    failed: int = 0  # rows whose request failed for good

    @property
    def missing(self) -> int:
        """Rows neither answered nor failed: never sent (a stopped run) or absent from a --pred file."""
        return max(0, self.rows - self.scored - self.failed)

    @property
    def partial(self) -> bool:
        return self.scored < self.rows

    def line(self) -> str:
        return f"scored {self.scored} of {self.rows} rows ({self.failed} failed, {self.missing} missing)"

    def to_json(self) -> dict[str, int | bool]:
        return {
            "rows": self.rows,
            "scored": self.scored,
            "failed": self.failed,
            "missing": self.missing,
            "partial": self.partial,
        }


def job_coverage(asked: int, stored: pl.DataFrame) -> Coverage:
    """Coverage of a job's `asked` distinct rows by its stored rows, read for its keys alone (one
    row per key, as `Job.stored` reads them): no set of every key is built (issue 22)."""
    ok = stored.filter(pl.col("status") == Status.OK.value).height
    return Coverage(rows=asked, scored=ok, failed=stored.height - ok)


def store_coverage(keys: Iterable[str], stored: pl.DataFrame) -> Coverage:
    """Coverage of `keys` (the dataset rows asked for) by a run store's rows (one per key)."""
    wanted = set(keys)
    kept = stored.filter(pl.col("key").is_in(list(wanted)))
    ok = kept.filter(pl.col("status") == Status.OK.value).height
    return Coverage(rows=len(wanted), scored=ok, failed=kept.height - ok)


def file_coverage(dataset: pl.DataFrame, predictions: pl.DataFrame) -> Coverage:
    """Coverage of the dataset's rows by a prediction file (`--pred`): rows present by `index`."""
    rows = {as_vlmeval_str(v) for v in dataset.get_column("index").to_list()}
    have = (
        {as_vlmeval_str(v) for v in predictions.get_column("index").to_list()}
        if "index" in predictions.columns
        else set()
    )
    return Coverage(rows=len(rows), scored=len(rows & have))
