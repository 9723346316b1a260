"""MME-RealWorld's rating: VLMEvalKit's `get_dimension_rating` (dataset/utils/multiple_choice.py
625-686 at e8e78f05), the `_rating.json` its `evaluate` writes (written here as the benchmark's
JSON score file, `{model}_{dataset}_score.json`, which the report reads).

Input rows carry `category` ('Perception/Remote Sensing'), `l2-category` and `score` (0/1). The JSON:
`Overall` (hits over rows, every task), then `Reasoning` and `Perception`, each holding the five
sub-tasks (Monitoring, Autonomous_Driving, OCR with Complex Context, Diagram and Table, Remote
Sensing) always, each sub-task its l2-categories (lower-cased; any containing 'attribute' folded
into '<first part>/attribute') in first-seen order with their accuracy, then `Avg` (hits over
rows; 0 for a sub-task without rows), then the task's `Avg`. Accuracies are fractions.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns

TASKS: tuple[str, ...] = ("Reasoning", "Perception")
SUBTASKS: tuple[str, ...] = (
    "Monitoring",
    "Autonomous_Driving",
    "OCR with Complex Context",
    "Diagram and Table",
    "Remote Sensing",
)


def _category(l2: str) -> str:
    category = l2.lower()
    return category.split("/")[0] + "/attribute" if "attribute" in category else category


def rating(rows: pl.DataFrame) -> dict[str, Any]:
    """`get_dimension_rating` over the rows: the nested dict VLMEvalKit dumps."""
    counts: dict[str, dict[str, dict[str, list[int]]]] = {t: {s: {} for s in SUBTASKS} for t in TASKS}
    for cate, l2, score in zip(
        rows["category"].to_list(), rows["l2-category"].to_list(), rows["score"].to_list(), strict=True
    ):
        parts = as_vlmeval_str(cate).split("/")
        task, subtask = parts[0], parts[1] if len(parts) > 1 else ""
        if task not in counts or subtask not in counts[task]:
            raise ScoringError(
                f"MME-RealWorld category {as_vlmeval_str(cate)!r} is not one of its task/sub-task pairs "
                "(VLMEvalKit raises KeyError here); use the benchmark's own file"
            )
        tally = counts[task][subtask].setdefault(_category(as_vlmeval_str(l2)), [0, 0])
        tally[0] += int(score)
        tally[1] += 1 - int(score)
    out: dict[str, Any] = {"Overall": 0.0}
    succ_all = sum_all = 0
    for task in TASKS:
        task_out: dict[str, Any] = {}
        cnt_task = sum_task = 0
        for subtask in SUBTASKS:
            sub_out: dict[str, Any] = {}
            cnt_sub = sum_sub = 0
            for category, (true, false) in counts[task][subtask].items():
                cnt_sub += true
                sum_sub += true + false
                sub_out[category] = true / (true + false)
            sub_out["Avg"] = 0 if sum_sub == 0 else cnt_sub / sum_sub
            task_out[subtask] = sub_out
            cnt_task += cnt_sub
            sum_task += sum_sub
        task_out["Avg"] = 0 if sum_task == 0 else cnt_task / sum_task
        out[task] = task_out
        succ_all += cnt_task
        sum_all += sum_task
    if sum_all == 0:
        raise ScoringError("MME-RealWorld scoring: no rows (VLMEvalKit divides by zero here)")
    out["Overall"] = succ_all / sum_all
    return out


def score_mme_realworld(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """The rating JSON, and the same numbers as a table (task, sub-task, category, acc)."""
    del opts  # one aggregation
    require_columns(rows, ("category", "l2-category", "score"), "MME-RealWorld scoring")
    payload = rating(rows)
    flat: list[tuple[str, str, str, float]] = [("Overall", "", "", float(payload["Overall"]))]
    for task in TASKS:
        for subtask in SUBTASKS:
            for category, acc in payload[task][subtask].items():
                flat.append((task, subtask, category, float(acc)))
        flat.append((task, "", "Avg", float(payload[task]["Avg"])))
    table = pl.DataFrame(
        flat,
        schema={"task": pl.String(), "subtask": pl.String(), "category": pl.String(), "acc": pl.Float64()},
        orient="row",
    )
    return ScoreResult(table=table, rows=rows, headline={"Overall": float(payload["Overall"])}, json=payload)
