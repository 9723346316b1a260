"""The live progress line's running accuracy: per-row exact matching, failures left out."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from fasteval.catalog import get_spec
from fasteval.cli.progress import RunProgress
from fasteval.types import Completion, ErrorKind, Sample, Status


def test_running_accuracy_counts_answered_rows_by_exact_matching() -> None:
    job = SimpleNamespace(spec=get_spec("MMBench_DEV_EN"), keys=["1", "2", "3"])
    progress = RunProgress(Console(file=io.StringIO()), [], "vlmevalkit-2026.06")
    options = {"A": "cat", "B": "dog"}
    right = Sample("MMBench_DEV_EN", 1, "q", (), options, "A")
    wrong = Sample("MMBench_DEV_EN", 2, "q", (), options, "B")
    progress.on_result(job, right, Completion(Status.OK, text="A"))  # type: ignore[arg-type]
    progress.on_result(job, wrong, Completion(Status.OK, text="The answer is A"))  # type: ignore[arg-type]
    failed = Completion(Status.FAILED, error="503", error_kind=ErrorKind.SERVER)
    progress.on_result(job, right, failed)  # type: ignore[arg-type]
    assert progress.running_accuracy(job) == 0.5  # type: ignore[arg-type]
