"""MMT-Bench: vanilla (not circular) MCQ hits reported by VLMEvalKit's `report_acc_MMT`.

`ImageMCQDataset.evaluate` uses `report_acc_MMT` instead of `report_acc` when the dataset name
contains 'MMT' (`utils/multiple_choice.py`; research/next_benchmarks.md §2.10). Per row the hit is
the ordinary MCQ one (`score_mcq`, options from the prediction file, ground truth from the TSV).
The table:

* rows: each `split` value (Python-set order upstream; sorted here), then `ALL` (every row);
* columns: `split`, `Overall` (mean hit), then one column per `l2-category` (task) in
  `MMT_ABBRS` order, abbreviated, whose value is the **macro mean of its sub-task (`category`)
  accuracies** (sub-tasks in order of first appearance, summed left to right), then one column per
  sorted `category` (mean hit), then any `l2-category` missing from `MMT_ABBRS`, unabbreviated;
* values are fractions; a split with no row of a sub-task gives NaN, as `np.mean([])`.

Upstream pre-creates all 32 abbreviation columns and fails (pandas: arrays of unequal length)
when a task is absent from the predictions; here absent tasks are left out instead, so a subset
of MMT-Bench can be scored.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fasteval.scoring.base import ScoreOptions, ScoreResult, require_columns
from fasteval.scoring.mcq import score_mcq

MMT_ABBRS: Mapping[str, str] = {
    "visual_recognition": "VR",
    "localization": "Loc",
    "ocr": "OCR",
    "counting": "Count",
    "hallucination": "HLN",
    "image_retrieval": "IR",
    "threed": "3D",
    "visual_captioning": "VC",
    "visual_grounding": "VG",
    "doc_understanding": "DU",
    "action_recognition": "AR",
    "pixel_level_perception": "PLP",
    "image-to-image_translation": "I2IT",
    "relation_reasoning": "RR",
    "intelligence_quotient_test": "IQT",
    "emotion": "Emo",
    "visual_illusion": "VI",
    "meme_understanding": "MemU",
    "visual_prompt_understanding": "VPU",
    "anomaly_detection": "AND",
    "keypoint_detection": "KD",
    "visual_commonsense_reasoning": "VCR",
    "image_evaluation_judgement": "IEJ",
    "multiple_image_analysis": "MIA",
    "cross_image_matching": "CIM",
    "temporal_understanding": "TU",
    "visual_code": "VP",
    "medical_understanding": "MedU",
    "autonomous_driving": "AUD",
    "discipline_knowledge_reasoning": "DKR",
    "embodied_ai": "EA",
    "gui_navigation": "GN",
}


def _mean(hits: list[int]) -> float:
    return sum(hits) / len(hits) if hits else float("nan")


def report_acc_mmt(df: pl.DataFrame) -> pl.DataFrame:
    """`report_acc_MMT` on scored rows (`hit`, optional `split`, `category`, `l2-category`)."""
    splits_col = df["split"].cast(pl.String).to_list() if "split" in df.columns else ["none"] * df.height
    splits = sorted({s for s in splits_col if s is not None})
    hits = df["hit"].to_list()

    def per_split(mask: list[bool]) -> list[float]:
        vals = [
            _mean([h for h, s, m in zip(hits, splits_col, mask, strict=True) if m and s == sp])
            for sp in splits
        ]
        return [*vals, _mean([h for h, m in zip(hits, mask, strict=True) if m])]

    columns: dict[str, list[float]] = {"Overall": per_split([True] * df.height)}
    categories = df["category"].cast(pl.String).to_list() if "category" in df.columns else None
    cat_cols: dict[str, list[float]] = {}
    if categories is not None:
        for cat in sorted({c for c in categories if c is not None}):
            cat_cols[cat] = per_split([c == cat for c in categories])
    task_cols: dict[str, list[float]] = {}
    if "l2-category" in df.columns and categories is not None:
        tasks = df["l2-category"].cast(pl.String).to_list()
        for task in sorted({t for t in tasks if t is not None}):
            subtasks = list(dict.fromkeys(c for c, t in zip(categories, tasks, strict=True) if t == task))
            accs = [per_split([c == sub for c in categories]) for sub in subtasks]
            task_cols[MMT_ABBRS.get(task, task)] = [sum(col) / len(col) for col in zip(*accs, strict=True)]
    for abbr in MMT_ABBRS.values():
        if abbr in task_cols:
            columns[abbr] = task_cols.pop(abbr)
    columns.update(cat_cols)
    columns.update(task_cols)  # tasks without an abbreviation come last, as upstream appends them
    schema: dict[str, pl.DataType] = {"split": pl.String(), **{k: pl.Float64() for k in columns}}
    return pl.DataFrame({"split": [*splits, "ALL"], **columns}, schema=schema)


def score_mmt(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Vanilla MCQ hits (`score_mcq`, never circular), reported by `report_acc_mmt`; the headline
    is `Overall` of the `ALL` row."""
    require_columns(rows, ("index", "answer", "extracted"), "MMT-Bench scoring")
    scored = score_mcq(rows, ScoreOptions(circular=False, rules=opts.rules)).rows
    table = report_acc_mmt(scored)
    headline = {"Overall": float(table["Overall"][-1])}
    return ScoreResult(
        table=table, rows=scored.with_columns(score=pl.col("hit").cast(pl.Float64)), headline=headline
    )
