"""The rows a finish scores: answered rows only, in file order, each with its own answer (issue 22:
built without copying the dataset's columns, equal to the join it replaced)."""

from __future__ import annotations

import random

import polars as pl
import pytest

from fasteval.cli.app import answered_rows
from fasteval.data.tabular import as_vlmeval_str
from fasteval.types import Status


def joined(meta: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The definition `answered_rows` had: an inner join of the keyed dataset with the OK rows."""
    keyed = meta.with_columns(
        pl.Series("__key", [as_vlmeval_str(v) for v in meta.get_column("index").to_list()])
    )
    ok = stored.filter(pl.col("status") == Status.OK.value)
    thinking = ["thinking"] if ok["thinking"].is_not_null().any() else []
    ok = ok.select(pl.col("key").alias("__key"), pl.col("text").alias("prediction"), *thinking)
    return keyed.join(ok, on="__key", how="inner", maintain_order="left").drop("__key")


@pytest.mark.parametrize("seed", range(8))
def test_answered_rows_equal_the_join_of_the_dataset_with_its_ok_rows(seed: int) -> None:
    rng = random.Random(seed)
    n = 300
    index: list[object] = rng.sample(range(10_000), n)
    if seed % 4 == 1:  # string indices, some repeated (duplicates keep every dataset row)
        index = [f"q{v % 250}" for v in index]
    if seed % 4 == 2:  # float indices (VLMEvalKit files read with NaN-able ints)
        index = [float(v) for v in index]
    meta = pl.DataFrame({"index": index, "question": [f"question {i}" for i in range(n)]})
    keys = [as_vlmeval_str(v) for v in meta.get_column("index").to_list()]
    asked = list(dict.fromkeys(keys))
    rng.shuffle(asked)
    everything = seed % 4 == 3  # every row answered: the dataset's columns are used as they are
    kept = asked if everything else asked[: int(len(asked) * 0.9)]
    stored = pl.DataFrame(
        {
            "key": kept,
            "status": [
                Status.OK.value if everything or rng.random() < 0.85 else Status.FAILED.value for _ in kept
            ],
            "text": [None if rng.random() < 0.05 else f"answer to {k}" for k in kept],
            "thinking": [f"thought {k}" if seed % 2 else None for k in kept],
        },
        schema={"key": pl.String, "status": pl.String, "text": pl.String, "thinking": pl.String},
    )
    got = answered_rows(meta, stored)
    assert got.equals(joined(meta, stored))
    assert got.columns[: len(meta.columns)] == meta.columns


def test_integer_indices_match_only_the_keys_their_str_gives() -> None:
    """Integer indices are matched as integers (less memory than strings); a stored key that is
    not exactly `str(index)` ("007", "1.0", " 7") answers no row, as with the string match."""
    meta = pl.DataFrame({"index": [1, 7, -3, 0, 12]})
    stored = pl.DataFrame(
        {
            "key": ["1", "007", "-3", "0", "12.0", " 7", "7x"],
            "text": ["a", "b", "c", "d", "e", "f", "g"],
            "status": [Status.OK.value] * 7,
            "thinking": [None] * 7,
        },
        schema_overrides={"thinking": pl.String},
    )
    assert answered_rows(meta, stored).rows() == [(1, "a"), (-3, "c"), (0, "d")]
    assert answered_rows(meta, stored).equals(joined(meta, stored))
