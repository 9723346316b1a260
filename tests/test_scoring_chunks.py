"""Scoring builds its per-row records a chunk at a time (issue 22: 50,000 rows of records at once
cost ~50 MB); the chunk size must change nothing: every table, row frame and headline of every
public conformance case equals the one scored with all records at once."""

from __future__ import annotations

from pathlib import Path

import pytest

import fasteval.scoring.evaluate as evaluate
from fasteval.catalog import all_specs, get_spec
from fasteval.kinds import kind_named
from fasteval.kinds.extract import DEFAULT_RULES
from tests.conformance_kit import score_prediction_file
from tests.fixtures import conformance_case, conformance_cases, conformance_lmudata

# every case that scores without a judge's verdicts (judge-graded kinds refuse to, as VLMEvalKit)
CASES = [
    c for c in conformance_cases() if c in all_specs() and not kind_named(get_spec(c).kind).judge_required
]


@pytest.mark.parametrize("case", CASES)
def test_scores_do_not_depend_on_the_record_chunk_size(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def scored(chunk: int) -> evaluate.Scored:
        monkeypatch.setattr(evaluate, "_RECORDS_AT_ONCE", chunk)
        result, _ = score_prediction_file(
            get_spec(case),
            conformance_lmudata(case),
            conformance_case(case) / "input" / f"KitModel_{case}.tsv",
            model="KitModel",
            work_dir=tmp_path / str(chunk),
            rules=DEFAULT_RULES,
        )
        return result

    whole, chunked = scored(1 << 30), scored(7)
    assert chunked.result.rows.height > 7  # more than one chunk
    assert chunked.result.rows.equals(whole.result.rows)
    assert chunked.result.rows.schema == whole.result.rows.schema
    assert chunked.result.table.equals(whole.result.table)
    assert chunked.result.headline == whole.result.headline
    assert chunked.n_unresolved == whole.n_unresolved
