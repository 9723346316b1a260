"""The conformance kit's folders and the rule set of the VLMEvalKit version that produced each.

The kit itself is the repository's copy (`tests.fixtures.conformance_dir()`): a clone needs
nothing beside it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from fasteval.data.tabular import read_table
from fasteval.kinds.extract import RULES_2024, RULES_2025, RULES_2026
from fasteval.report.coverage import file_coverage
from fasteval.report.files import write_reports
from fasteval.scoring.evaluate import Scored, read_dataset, score_predictions
from fasteval.types import BenchmarkSpec

# The kit's folders and the rule set of the VLMEvalKit version that produced each.
VERSIONS = {
    "expected": RULES_2025,  # ms-vlmeval 0.0.20 = upstream 354a485c
    "alt_upstream_e8e78f05": RULES_2026,  # upstream HEAD, adds the "answer is X" regex
    "alt_nvidia_vlmeval_26.3": RULES_2024,  # older can_infer, official VQA period regex,
    # ChartQA's swapped relaxed_correctness arguments
}


def cells(path: Path) -> dict[str, dict[str, str]]:
    """A score CSV as {first cell of the row: {column: cell text}}: compared by name, since upstream's
    row order can follow Python-set iteration."""
    with path.open(newline="", encoding="utf-8") as f:
        header, *body = list(csv.reader(f))
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}


def score_prediction_file(
    spec: BenchmarkSpec, dataset_path: Path, pred_path: Path, *, rules: str, model: str, work_dir: Path
) -> tuple[Scored, dict[str, Path]]:
    """Score a VLMEvalKit prediction file as `bench.py --mode eval --pred FILE` does (no judge):
    the same readers, coverage and `score_predictions` call as `fasteval.cli.app._eval_file`, then
    the score files written into `work_dir/model`."""
    meta = read_dataset(dataset_path)
    pred = read_table(pred_path)
    coverage = file_coverage(meta, pred)
    scored = score_predictions(spec, pred, dataset=meta, rules=rules, partial=coverage.partial)
    return scored, write_reports(scored, model=model, out_dir=work_dir / model, coverage=coverage)
