"""Bootstrap intervals for composite headlines (MME's sum of acc + acc+, POPE's F1, ...).

Such a number is not a mean of rows, so it is recomputed by the benchmark's own scorer on
resampled rows: the clusters the scorer declares (MME's images) are drawn whole, so question pairs
stay pairs, and within each declared category, so a sum over categories keeps its terms. Seeded:
the same files give the same page.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from fasteval.catalog import get_spec
from fasteval.errors import FastevalError
from fasteval.report.compare import Interval
from fasteval.scoring import SCORERS, Declaration, ScoreOptions

COMPOSITE_RESAMPLES = 200  # each resample reruns the scorer: enough for a percentile interval's ends
SEED = 0

log = logging.getLogger(__name__)


def _clusters(samples: pl.DataFrame, declared: Declaration) -> pl.DataFrame:
    """Each row's resampling unit (`__unit`: its declared cluster, else itself) and stratum
    (`__stratum`: its declared category)."""
    cluster, category = declared.cluster, declared.category
    unit = pl.col(cluster).cast(pl.String) if cluster and cluster in samples.columns else pl.col("index")
    stratum = pl.col(category).cast(pl.String) if category and category in samples.columns else pl.lit("")
    return samples.with_columns(
        unit.cast(pl.String).alias("__unit"), stratum.fill_null("").alias("__stratum")
    )


def _resample(frame: pl.DataFrame, rng: np.random.Generator, cluster: str | None) -> pl.DataFrame:
    """One bootstrap copy: units drawn with replacement per stratum, each draw given fresh keys."""
    units = frame.select("__stratum", "__unit").unique(maintain_order=True)
    draws = []
    for (stratum,), group in units.group_by(["__stratum"], maintain_order=True):
        ids = group["__unit"].to_list()
        picks = rng.integers(0, len(ids), size=len(ids))
        draws.append(pl.DataFrame({"__stratum": stratum, "__unit": [ids[i] for i in picks]}))
    chosen = pl.concat(draws).with_row_index("__draw")
    out = chosen.join(frame, on=["__stratum", "__unit"], how="left", maintain_order="left")
    fresh = {"index": pl.int_range(pl.len(), dtype=pl.Int64)}
    if cluster and cluster in out.columns:  # a cluster drawn twice is two clusters
        fresh[cluster] = pl.format("{}#{}", cluster, "__draw")
    return out.with_columns(**fresh).drop("__unit", "__stratum", "__draw")


def composite_interval(
    samples: pl.DataFrame,
    dataset: str,
    value: float,
    declared: Declaration,
    *,
    resamples: int = COMPOSITE_RESAMPLES,
    seed: int = SEED,
) -> Interval | None:
    """Percentile bootstrap interval of the score file's headline (the declared cell);
    None when the benchmark's scorer is unknown here or cannot score the stored rows."""
    try:
        spec = get_spec(dataset)
    except (FastevalError, KeyError):
        return None
    entry = SCORERS.get(spec.scorer)
    if entry is None or spec.circular:
        return None

    opts = ScoreOptions(partial=True)
    frame = _clusters(samples.drop("rules", strict=False), declared)
    rng = np.random.default_rng(seed)
    stats = []
    try:
        for _ in range(resamples):
            rows = _resample(frame, rng, declared.cluster)
            stats.append(declared.headline.of(entry.score(rows, opts).table)[1])
    except (FastevalError, ValueError, KeyError, pl.exceptions.PolarsError) as exc:
        log.warning("%s: no bootstrap interval (%s)", dataset, exc)
        return None
    lo, hi = np.percentile(np.asarray(stats, dtype=np.float64), [2.5, 97.5])
    return Interval(value, float(lo), float(hi), "bootstrap")
