"""Yes/No scorers: MME, POPE, HallusionBench and VLMEvalKit's default Y/N rating.

Input rows carry `answer` (ground truth from the prediction file, as VLMEvalKit reads it) and
`extracted` ('Yes' / 'No' / 'Unknown'). A row is right iff `answer == extracted`, case-sensitive.
Aggregations follow VLMEvalKit's `image_yorn.py` operation for operation, so floats agree to the
last bit; under official rules they follow the benchmark's own script.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns

MME_PERCEPTION = (
    "OCR",
    "artwork",
    "celebrity",
    "color",
    "count",
    "existence",
    "landmark",
    "position",
    "posters",
    "scene",
)
MME_REASONING = ("code_reasoning", "commonsense_reasoning", "numerical_calculation", "text_translation")


def with_yorn_hits(rows: pl.DataFrame) -> pl.DataFrame:
    """Add `hit` (0/1): the extracted word equals the ground truth exactly."""
    require_columns(rows, ("answer", "extracted"), "Y/N scoring")
    return rows.with_columns(
        hit=(pl.col("answer").cast(pl.String) == pl.col("extracted")).fill_null(False).cast(pl.Int64)
    )


def _mean100(values: Sequence[int]) -> float:
    return sum(values) / len(values) * 100 if values else float("nan")


# ---------------------------------------------------------------------------------------------
# MME
# ---------------------------------------------------------------------------------------------


def _mme_table(scores: dict[str, float], cognition_name: str) -> pl.DataFrame:
    totals: dict[str, float] = {}
    for name, cats in (("perception", MME_PERCEPTION), (cognition_name, MME_REASONING)):
        base = 0.0
        for c in cats:
            if c in scores:
                base += scores[c]
        totals[name] = base
    return pl.DataFrame(
        {k: [v] for k, v in {**totals, **scores}.items()},
        schema=dict.fromkeys([*totals, *scores], pl.Float64),
    )


def score_mme(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Per subtask acc% + acc+% (both questions of an image right); perception and reasoning sums.

    VLMEvalKit pairs by `image_path` within `category` (first two rows of each image); MME's
    official calculation.py pairs consecutive lines of each subtask. Subtask columns keep the
    order of first appearance, as VLMEvalKit writes them.
    """
    require_columns(rows, ("category", "image_path"), "MME scoring")
    rows = with_yorn_hits(rows)
    scores: dict[str, float] = {}
    for cat in rows["category"].unique(maintain_order=True).to_list():
        sub = rows.filter(pl.col("category") == cat)
        hits = sub["hit"].to_list()
        if opts.official and not opts.partial:
            if len(hits) % 2:
                raise ScoringError(
                    f"MME subtask {cat!r} has an odd number of questions; the official rule pairs them"
                )
            pairs = [hits[i] * hits[i + 1] for i in range(0, len(hits), 2)]
        else:
            pairs = []
            for path, grp in sub.group_by("image_path", maintain_order=True):
                g = grp["hit"].to_list()
                if len(g) < 2 and opts.partial:
                    continue  # its partner failed for good: acc+ covers complete pairs only
                if len(g) < 2:
                    raise ScoringError(
                        f"MME image {path[0]!r} in {cat!r} has {len(g)} question; MME needs 2 per image"
                    )
                pairs.append(g[0] * g[1])
        scores[str(cat)] = _mean100(hits) + _mean100(pairs)
    table = _mme_table(scores, "reasoning")
    headline = {"perception": table["perception"][0], "reasoning": table["reasoning"][0]}
    return ScoreResult(table=table, rows=rows, headline=headline)


# ---------------------------------------------------------------------------------------------
# POPE
# ---------------------------------------------------------------------------------------------


def _prf(truth: Sequence[bool], pred: Sequence[bool]) -> tuple[float, float, float]:
    tp = sum(1 for t, p in zip(truth, pred, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, pred, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(truth, pred, strict=True) if t and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def _explode_categories(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(pl.col("category").cast(pl.String).str.split(",")).explode("category")


def score_pope(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """F1 (column `Overall`), acc, precision, recall x100 with 'Yes' as positive; Unknown is a No
    for P/R/F1 and wrong for acc. `category` lists are exploded, so the Overall row counts a
    question once per track it belongs to. Track rows are sorted by name (VLMEvalKit's order is
    Python-set order, which varies with PYTHONHASHSEED). Official: each track alone, then their
    mean, as POPE's evaluate.py and LLaVA report it.
    """
    require_columns(rows, ("category",), "POPE scoring")
    rows = with_yorn_hits(rows)
    exploded = _explode_categories(rows)
    tracks = sorted(c for c in exploded["category"].unique().to_list() if c is not None)

    def metrics(frame: pl.DataFrame) -> tuple[float, float, float, float, float]:
        truth = [a == "Yes" for a in frame["answer"].cast(pl.String).to_list()]
        pred = [e == "Yes" for e in frame["extracted"].to_list()]
        f1, p, r = _prf(truth, pred)
        yes_ratio = sum(pred) / len(pred) * 100 if pred else float("nan")
        return f1 * 100, _mean100(frame["hit"].to_list()), p * 100, r * 100, yes_ratio

    if opts.official:
        per = [metrics(exploded.filter(pl.col("category") == t)) for t in tracks]
        means = tuple(sum(col) / len(col) for col in zip(*per, strict=True)) if per else (float("nan"),) * 5
        official = [*per, means]
        table = pl.DataFrame(
            {
                "split": [*tracks, "Mean"],
                "F1": [v[0] for v in official],
                "acc": [v[1] for v in official],
                "precision": [v[2] for v in official],
                "recall": [v[3] for v in official],
                "yes_ratio": [v[4] for v in official],
            }
        )
        headline = {"F1_mean": means[0], **{f"F1_{t}": v[0] for t, v in zip(tracks, per, strict=True)}}
        return ScoreResult(table=table, rows=rows, headline=headline)

    names = ["Overall", *tracks]
    values = [metrics(exploded)] + [metrics(exploded.filter(pl.col("category") == t)) for t in tracks]
    table = pl.DataFrame(
        {
            "split": names,
            "Overall": [v[0] for v in values],
            "acc": [v[1] for v in values],
            "precision": [v[2] for v in values],
            "recall": [v[3] for v in values],
        }
    )
    headline = {"F1": values[0][0], "acc": values[0][1]}
    return ScoreResult(table=table, rows=rows, headline=headline)


# ---------------------------------------------------------------------------------------------
# HallusionBench
# ---------------------------------------------------------------------------------------------


def _all_right_pct(frame: pl.DataFrame, key: str) -> float:
    groups = frame.group_by("l2-category", "set_id", key, maintain_order=True).agg(pl.col("hit").min())
    return _mean100(groups["hit"].to_list())


def score_hallusion(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """aAcc (questions), fAcc (figures all right), qAcc (questions all right across figures), x100.

    Set, figure and question ids are fields 3, 4 and 5 of the `_`-split index. Rows: Overall,
    then each `category`, then each `l2-category`, each sorted.
    """
    require_columns(rows, ("index", "l2-category"), "HallusionBench scoring")
    rows = with_yorn_hits(rows)
    parts = pl.col("index").cast(pl.String).str.split("_")
    frame = rows.with_columns(
        set_id=parts.list.get(3, null_on_oob=True),
        figure_id=parts.list.get(4, null_on_oob=True),
        question_id=parts.list.get(5, null_on_oob=True),
    )
    if frame["question_id"].null_count():
        raise ScoringError("HallusionBench index values must look like 'X_X_X_set_figure_question'")
    names: list[str] = ["Overall"]
    subsets = [frame]
    for col in ("category", "l2-category"):
        if col in frame.columns:
            for value in sorted(v for v in frame[col].unique().to_list() if v is not None):
                names.append(str(value))
                subsets.append(frame.filter(pl.col(col) == value))
    table = pl.DataFrame(
        {
            "split": names,
            "aAcc": [_mean100(s["hit"].to_list()) for s in subsets],
            "fAcc": [_all_right_pct(s, "figure_id") for s in subsets],
            "qAcc": [_all_right_pct(s, "question_id") for s in subsets],
        }
    )
    headline = {k: table[k][0] for k in ("aAcc", "fAcc", "qAcc")}
    return ScoreResult(table=table, rows=rows, headline=headline)


# ---------------------------------------------------------------------------------------------
# Any other Y/N benchmark
# ---------------------------------------------------------------------------------------------


def score_yorn(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """VLMEvalKit's `default_rating`: Overall, then each sorted category and l2-category, x100."""
    rows = with_yorn_hits(rows)
    result: dict[str, float] = {"Overall": _mean100(rows["hit"].to_list())}
    for col in ("category", "l2-category"):
        if col in rows.columns:
            for value in sorted(v for v in rows[col].unique().to_list() if v is not None):
                result[str(value)] = _mean100(rows.filter(pl.col(col) == value)["hit"].to_list())
    table = pl.DataFrame({k: [v] for k, v in result.items()}, schema=dict.fromkeys(result, pl.Float64))
    return ScoreResult(table=table, rows=rows, headline={"Overall": result["Overall"]})
