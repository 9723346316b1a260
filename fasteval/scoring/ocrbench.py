"""OCRBench: per-category substring hits and VLMEvalKit's `_score.json`.

Follows `OCRBench.evaluate` (`dataset/image_vqa.py`; research/next_benchmarks.md §2.3,
conformance README §8.5). A row scores 1 if any answer of its `answer` list literal passes:

* `Handwritten Mathematical Expression Recognition`: the answer stripped, `\\n` -> space and every
  space removed is a case-sensitive substring of the prediction treated the same way;
* any other category: the answer lowercased, stripped and `\\n` -> space is a substring of the
  prediction treated the same way (inner spaces kept).

`_score.json` holds integer hit counts per group (the six recognition categories summed as
`Text Recognition`), `Final Score` (all hits) and `Final Score Norm` = Final Score / 10 (a float).
All rule generations agree (nvidia-vlmeval 26.3 only writes another file layout).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns

HMER = "Handwritten Mathematical Expression Recognition"
TEXT_RECOGNITION = (
    "Regular Text Recognition",
    "Irregular Text Recognition",
    "Artistic Text Recognition",
    "Handwriting Recognition",
    "Digit String Recognition",
    "Non-Semantic Text Recognition",
)
OTHER_GROUPS = ("Scene Text-centric VQA", "Doc-oriented VQA", "Key Information Extraction", HMER)
CATEGORIES = (*TEXT_RECOGNITION, *OTHER_GROUPS)


def ocrbench_hit(prediction: str, answers: Sequence[str], category: str) -> int:
    """1 if any answer is a substring of the prediction under the category's rule, else 0."""
    if category == HMER:
        pred = prediction.strip().replace("\n", " ").replace(" ", "")
        return int(any(a.strip().replace("\n", " ").replace(" ", "") in pred for a in answers))
    pred = prediction.lower().strip().replace("\n", " ")
    return int(any(a.lower().strip().replace("\n", " ") in pred for a in answers))


def _answers(answer: str) -> list[str]:
    """Upstream `eval`s the answer unguarded and iterates it: it must be a list literal of strings."""
    try:
        value = ast.literal_eval(answer)
    except Exception:
        raise ScoringError(
            f"OCRBench answer {answer!r} is not a Python list literal; VLMEvalKit evaluates it as one"
        ) from None
    if not isinstance(value, list | tuple) or not all(isinstance(a, str) for a in value):
        raise ScoringError(f"OCRBench answer {answer!r} must be a list of strings")
    return list(value)


def ocrbench_score_json(counts: dict[str, int]) -> dict[str, Any]:
    """`_score.json` from per-category hit counts, keys in VLMEvalKit's order."""
    out: dict[str, Any] = {"Text Recognition": sum(counts[c] for c in TEXT_RECOGNITION)}
    for group in OTHER_GROUPS:
        out[group] = counts[group]
    out["Final Score"] = sum(out[k] for k in ("Text Recognition", *OTHER_GROUPS))
    out["Final Score Norm"] = float(out["Final Score"]) / 10
    return out


def score_json_text(payload: Mapping[str, Any]) -> str:
    """The text VLMEvalKit's `dump` writes for a `.json` score file (`json.dump(..., indent=4,
    ensure_ascii=False)`, no trailing newline); `report.files.write_reports` writes the same."""
    return json.dumps(payload, indent=4, ensure_ascii=False)


def score_ocrbench(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """Hits per row (`score`, 0.0/1.0) and the `_score.json` payload (also as a one-row `table`,
    integer columns except `Final Score Norm`). An unknown category is an error, as upstream's
    KeyError."""
    require_columns(rows, ("prediction", "answer", "category"), "OCRBench scoring")
    counts = dict.fromkeys(CATEGORIES, 0)
    hits: list[float] = []
    for pred, answer, category in zip(
        rows["prediction"].to_list(), rows["answer"].to_list(), rows["category"].to_list(), strict=True
    ):
        if category not in counts:
            raise ScoringError(
                f"OCRBench category {category!r} is not one of the 10 OCRBench categories; fix the data"
            )
        hit = ocrbench_hit("nan" if pred is None else str(pred), _answers(str(answer)), category)
        counts[category] += hit
        hits.append(float(hit))
    payload = ocrbench_score_json(counts)
    schema = {k: (pl.Float64 if isinstance(v, float) else pl.Int64) for k, v in payload.items()}
    table = pl.DataFrame({k: [v] for k, v in payload.items()}, schema=schema)
    headline = {"Final Score": float(payload["Final Score"]), "Final Score Norm": payload["Final Score Norm"]}
    return ScoreResult(
        table=table,
        rows=rows.with_columns(pl.Series("score", hits, dtype=pl.Float64)).with_columns(
            hit=pl.col("score").cast(pl.Int64)
        ),
        headline=headline,
        json=payload,
    )
