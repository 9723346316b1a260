"""What a run checks about the ground it stands on and the replies it gets (issue 22): the work dir
still being the one it writes into, repeated index values resolved as VLMEvalKit resolves them, replies
that deserve a look, and output folders renamed to stay under --work-dir."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from fasteval.errors import FastevalError
from fasteval.inference.runner import Job, Target
from fasteval.resources import unsafe_name
from fasteval.types import Status


class GroundLost(FastevalError):
    """The work dir was removed or replaced while the run wrote into it: stop, rather than write into
    deleted files and report zero answers (issue 22)."""

    exit_status = 3  # as failed rows: rerun once the ground is back


class Ground:
    """The identity (device, inode) of each job's store folder, taken when its first answer is stored
    and checked at every later one and before scoring: a folder deleted or swapped under a running job
    stops the run with one line."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[int, int]] = {}

    def check(self, job: Job) -> None:
        where = job.store.dir
        try:
            st = os.stat(where)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        first = self._seen.setdefault(where, now) if now is not None else self._seen.get(where)
        if now is None or now != first:
            raise GroundLost(
                f"{where} was removed or replaced while this run wrote into it: answers stored since are "
                "lost; make sure nothing deletes the --work-dir during a run, then run the same command "
                "again (rows still stored are not asked again)"
            )


@dataclass(frozen=True, slots=True)
class OddReplies:
    """Answers that were stored and scored but deserve a look (issue 22): replies whose `model` field
    names another model than the one asked (a proxy routing elsewhere), and empty answers cut off by
    the token limit (`finish_reason: length` with no text: raise --max-tokens)."""

    other_model: int
    other_names: tuple[str, ...]
    empty_at_length: int

    @classmethod
    def of(cls, stored: pl.DataFrame, served_name: str) -> OddReplies:
        ok = stored.filter(pl.col("status") == Status.OK.value)
        other = ok.filter(pl.col("model").is_not_null() & (pl.col("model") != served_name))
        empty = ok.filter(
            (pl.col("finish_reason") == "length")
            & (pl.col("text").is_null() | (pl.col("text").str.strip_chars() == ""))
        )
        names = tuple(str(n) for n in other.get_column("model").unique(maintain_order=True).head(3))
        return cls(other.height, names, empty.height)

    def to_json(self) -> dict[str, Any]:
        return {
            "other_model": self.other_model,
            "other_model_names": list(self.other_names),
            "empty_at_length": self.empty_at_length,
        }

    def lines(self, served_name: str) -> list[str]:
        out = []
        if self.other_model:
            out.append(
                f"{self.other_model} replies name another model ({', '.join(self.other_names)}) than "
                f"{served_name!r}: check that --api-base reaches the model you meant"
            )
        if self.empty_at_length:
            out.append(
                f"{self.empty_at_length} answers are empty, cut off at the token limit "
                "(finish_reason length): raise --max-tokens"
            )
        return out


def last_per_index(meta: pl.DataFrame) -> pl.DataFrame:
    """The dataset as VLMEvalKit's index-keyed maps see it: one row per index, the last one winning.

    VLMEvalKit (e8e78f0) reads ground truth and images through dicts built from the index column
    (vlmeval/dataset/utils/multiple_choice.py:479 `answer_map = {i: c for i, c in zip(meta['index'],
    meta['answer'])}`, vlmeval/dataset/image_base.py:164 `image_map`), so a repeated index takes its
    last row's values; joining on the full table would multiply rows instead (issue 22).
    """
    if meta.height == 0 or not meta.get_column("index").is_duplicated().any():
        return meta
    return meta.filter(meta.get_column("index").is_last_distinct())


def shared_prediction(pred: pl.DataFrame) -> pl.DataFrame:
    """A prediction file's repeated index scored as VLMEvalKit scores it: every row of the index
    carries the last row's prediction (VLMEvalKit e8e78f0, vlmeval/dataset/image_yorn.py:53
    `ans_map = {k: ... for k, v in zip(data['index'], data['prediction'])}`, then line 60 maps each
    row through it); every row stays. (Its MCQ path takes the first row's instead,
    multiple_choice.py:492; the two agree on any file VLMEvalKit's own inference wrote, where
    every row of an index carries the same answer.)"""
    if not {"index", "prediction"} <= set(pred.columns):
        return pred
    if not pred.get_column("index").is_duplicated().any():
        return pred
    last = pred.filter(pred.get_column("index").is_last_distinct()).select("index", "prediction")
    return (
        pred.drop("prediction").join(last, on="index", how="left", maintain_order="left").select(pred.columns)
    )


def warn_renamed(targets: Sequence[Target]) -> None:
    """One stderr line per target whose server-chosen name had to change to name its folder."""
    for t in targets:
        if "folder_from" in t.origin:
            original = str(t.origin["folder_from"])
            print(
                f"fasteval: warning: model name {original[:80]!r} cannot name a folder "
                f"({unsafe_name(original)}): results go to {t.name}/; pass --model NAME to choose it",
                file=sys.stderr,
            )
