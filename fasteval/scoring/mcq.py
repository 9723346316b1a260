"""Multiple-choice scoring: per-row hits, circular groups, judge hand-off and `report_acc`.

Input rows carry `index`, `answer` (ground truth from the dataset TSV: VLMEvalKit ignores the
prediction file's) and `extracted`: an option letter, 'Z', or null when exact matching could not
decide (and no judge decided). Whatever is still null when scoring is 'Z' (a miss), as under
VLMEvalKit's `exact_matching`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fasteval.kinds.mcq import CIRCULAR_STRIDE
from fasteval.scoring.base import ScoreOptions, ScoreResult, require_columns
from fasteval.types import Method

MMB_ABBRS: Mapping[str, str] = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "logic_reasoning": "LR",
    "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}


def _g_index() -> pl.Expr:
    return (pl.col("index").cast(pl.Int64) % CIRCULAR_STRIDE).alias("g_index")


def _row_hits(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(
        row_hit=(pl.col("extracted") == pl.col("answer").cast(pl.String)).fill_null(False).cast(pl.Int64)
    )


def finalize_unresolved(rows: pl.DataFrame) -> pl.DataFrame:
    """Exact-matching policy: rows nothing resolved become 'Z' (always a miss)."""
    method = pl.col("method") if "method" in rows.columns else pl.lit(Method.EXACT.value)
    return rows.with_columns(
        method=pl.when(pl.col("extracted").is_null()).then(pl.lit(Method.UNRESOLVED.value)).otherwise(method),
        extracted=pl.col("extracted").fill_null("Z"),
    )


def report_acc(df: pl.DataFrame) -> pl.DataFrame:
    """VLMEvalKit's `report_acc`: one row per split ('none' without a split column); `Overall`, then
    sorted `l2-category` values (MMBench abbreviations), then sorted `category` values; each the
    mean `hit` of that split, as a fraction. Splits are sorted (upstream: Python-set order)."""
    if "split" not in df.columns:
        df = df.with_columns(split=pl.lit("none"))
    df = df.with_columns(pl.col("split").cast(pl.String))
    splits = sorted(s for s in df["split"].unique().to_list() if s is not None)
    out: dict[str, list[float | None]] = {}

    def means(frame: pl.DataFrame) -> list[float | None]:
        vals: list[float | None] = []
        for sp in splits:
            hits = frame.filter(pl.col("split") == sp)["hit"].to_list()
            vals.append(sum(hits) / len(hits) if hits else None)
        return vals

    out["Overall"] = means(df)
    for group in ("l2-category", "category"):
        if group not in df.columns:
            continue
        for ability in sorted(str(a) for a in df[group].unique().to_list() if a is not None):
            out[MMB_ABBRS.get(ability, ability)] = means(df.filter(pl.col(group).cast(pl.String) == ability))
    schema: dict[str, pl.DataType] = {"split": pl.String(), **{k: pl.Float64() for k in out}}
    return pl.DataFrame({"split": splits, **out}, schema=schema)


def score_mcq(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Vanilla: hit per row. Circular: one result per group `index % 1e6` whose main row is
    present; it hits iff every present row of the group extracted its own ground truth."""
    require_columns(rows, ("index", "answer", "extracted"), "MCQ scoring")
    rows = _row_hits(finalize_unresolved(rows))
    if not opts.circular:
        scored = rows.with_columns(hit=pl.col("row_hit"))
        table = report_acc(scored)
        return ScoreResult(table=table, rows=scored, headline=_headline(table))
    rows = rows.with_columns(_g_index())
    groups = rows.group_by("g_index").agg(group_hit=pl.col("row_hit").min())
    rows = rows.join(groups, on="g_index", how="left", maintain_order="left")
    main = rows.filter(pl.col("index").cast(pl.Int64) == pl.col("g_index")).with_columns(
        hit=pl.col("group_hit")
    )
    table = report_acc(main)
    return ScoreResult(
        table=table, rows=rows.with_columns(hit=pl.col("group_hit")), headline=_headline(table)
    )


def _headline(table: pl.DataFrame) -> dict[str, float]:
    """`Overall` per split; a single split is just `Overall`."""
    if table.height == 1:
        value = table["Overall"][0]
        return {"Overall": float("nan") if value is None else float(value)}
    return {
        f"Overall[{sp}]": float("nan") if v is None else float(v)
        for sp, v in zip(table["split"].to_list(), table["Overall"].to_list(), strict=True)
    }
