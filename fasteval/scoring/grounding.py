"""Grounding's score table: `RefCOCODataset.evaluate` (vlmeval/dataset/refcoco.py:264-363).

Input rows carry `split` (filled by `fasteval.kinds.grounding`), `iou` and `hit` (IoU >= 0.5).
The `_acc.csv` has one row per split (VLMEvalKit's display order, then the others sorted):
`Split, Precision@1, Average IoU, Samples`, with Precision@1 = mean(hit) x 100 and Average IoU =
mean(IoU) in [0, 1]; then `Average`, the unweighted mean of the rows whose split is one of the
eight RefCOCO splits (Samples: their sum), or the mean over all rows when none is. Means are
`np.mean` of Python lists (pairwise summation), so the floats match upstream to the last bit.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.scoring.base import ScoreOptions, ScoreResult, require_columns

SPLIT_DISPLAY_ORDER: tuple[str, ...] = (
    "RefCOCO_val",
    "RefCOCO_testA",
    "RefCOCO_testB",
    "RefCOCO+_val",
    "RefCOCO+_testA",
    "RefCOCO+_testB",
    "RefCOCOg_val",
    "RefCOCOg_test",
)
"""`RefCOCODataset.SPLIT_DISPLAY_ORDER` (refcoco.py:34-43): row order and the macro average's rows."""

AVERAGE = "Average"
PRECISION, MEAN_IOU, SAMPLES = "Precision@1", "Average IoU", "Samples"


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def score_grounding(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Precision@1 and mean IoU per split, then their macro average."""
    del opts  # one aggregation
    require_columns(rows, ("split", "iou", "hit"), "Grounding scoring")
    hits: dict[str, list[int]] = {}
    ious: dict[str, list[float]] = {}
    for split, overlap, hit in zip(
        rows["split"].to_list(), rows["iou"].to_list(), rows["hit"].to_list(), strict=True
    ):
        name = as_vlmeval_str(split)
        hits.setdefault(name, []).append(int(hit))
        ious.setdefault(name, []).append(float(overlap))
    ordered = [s for s in SPLIT_DISPLAY_ORDER if s in hits] + sorted(set(hits) - set(SPLIT_DISPLAY_ORDER))
    names, precision, mean_iou, samples = [], [], [], []
    for name in ordered:
        names.append(name)
        precision.append(_mean([float(h) for h in hits[name]]) * 100)
        mean_iou.append(_mean(ious[name]))
        samples.append(len(hits[name]))
    macro = [i for i, name in enumerate(names) if name in SPLIT_DISPLAY_ORDER]
    if macro:
        avg_p = _mean([precision[i] for i in macro])
        avg_iou = _mean([mean_iou[i] for i in macro])
        avg_n = sum(samples[i] for i in macro)
    else:
        every_hit = [float(h) for name in ordered for h in hits[name]]
        every_iou = [v for name in ordered for v in ious[name]]
        avg_p, avg_iou, avg_n = _mean(every_hit) * 100, _mean(every_iou), len(every_hit)
    table = pl.DataFrame(
        {
            "Split": [*names, AVERAGE],
            PRECISION: [*precision, avg_p],
            MEAN_IOU: [*mean_iou, avg_iou],
            SAMPLES: [*samples, avg_n],
        },
        schema={"Split": pl.String(), PRECISION: pl.Float64(), MEAN_IOU: pl.Float64(), SAMPLES: pl.Int64()},
    )
    return ScoreResult(table=table, rows=rows, headline={PRECISION: avg_p, MEAN_IOU: avg_iou})
