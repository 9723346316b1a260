"""MathVista's score table: VLMEvalKit's `MathVista_acc` (`dataset/utils/mathvista.py`).

Input rows carry `task`, `skills` (a list literal), `log` (the judge stage's per-row log, where
'Prefetch succeed' marks a prefetched row) and `hit` (post_check of the stored `res`, computed by
`fasteval.kinds.mathvista.record`).

The table (`_{judge}_score.csv`) has columns `Task&Skill, tot, prefetch, hit, prefetch_rate, acc`
and one row per key in first-seen order: `Overall`, then for each row its skills (in list order)
before its task. `prefetch` counts every prefetched row, wrong letters included; rates and acc
are percentages, unrounded.
"""

from __future__ import annotations

import ast

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.kinds.mathvista import PREFETCH_LOG
from fasteval.scoring.base import ScoreOptions, ScoreResult, require_columns

OVERALL = "Overall"


def skills_of(value: object) -> list[str]:
    """`eval(item['skills'])`, or `[item['skills']]` when it does not parse (upstream catches
    SyntaxError only; a literal that is not a list would fail upstream, here it is one skill)."""
    text = as_vlmeval_str(value)
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text]
    if isinstance(parsed, (list, tuple)):
        return [str(s) for s in parsed]
    return [text]


def score_mathvista(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Per-task and per-skill totals, prefetch counts and accuracy (x100)."""
    del opts  # MathVista has one aggregation
    require_columns(rows, ("task", "skills", "log", "hit"), "MathVista scoring")
    tot: dict[str, int] = {}
    fetch: dict[str, int] = {}
    hit: dict[str, int] = {}
    for task, skills, log, row_hit in zip(
        rows["task"].to_list(),
        rows["skills"].to_list(),
        rows["log"].to_list(),
        rows["hit"].to_list(),
        strict=True,
    ):
        keys = [OVERALL, *skills_of(skills), as_vlmeval_str(task)]
        counted = list(dict.fromkeys(keys))  # a skill equal to the task is one key, counted per mention
        for k in counted:
            tot.setdefault(k, 0)
            fetch.setdefault(k, 0)
            hit.setdefault(k, 0)
        for k in keys:
            tot[k] += 1
            fetch[k] += int(log == PREFETCH_LOG)
            hit[k] += int(bool(row_hit))
    names = list(tot)
    table = pl.DataFrame(
        {
            "Task&Skill": names,
            "tot": [tot[k] for k in names],
            "prefetch": [fetch[k] for k in names],
            "hit": [hit[k] for k in names],
            "prefetch_rate": [fetch[k] / tot[k] * 100 for k in names],
            "acc": [hit[k] / tot[k] * 100 for k in names],
        },
        schema={
            "Task&Skill": pl.String(),
            "tot": pl.Int64(),
            "prefetch": pl.Int64(),
            "hit": pl.Int64(),
            "prefetch_rate": pl.Float64(),
            "acc": pl.Float64(),
        },
    )
    return ScoreResult(table=table, rows=rows, headline={OVERALL: float(table["acc"][0])})
