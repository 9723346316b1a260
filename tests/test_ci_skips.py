"""CI's skip gate: conftest records every skip, `.ci/check_skips.py` lets only the declared ones through.

A real pytest run in a subprocess, with a tiny plugin that skips its tests for a chosen reason, so
both the recording hook and the checker are exercised end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import REPO, UNLICENSED_SKIP_REASON

PLUGIN = """
import pytest

def pytest_runtest_setup(item):
    if item.name.startswith("test_the_scripted_judge"):
        pytest.skip({reason!r})
"""


def _run_with_a_skip(reason: str, tmp_path: Path) -> tuple[dict, subprocess.CompletedProcess[str]]:
    (tmp_path / "skipper.py").write_text(PLUGIN.format(reason=reason))
    report = tmp_path / "skips.json"
    env = {**os.environ, "FASTEVAL_SKIP_REPORT": str(report), "PYTHONPATH": str(tmp_path)}
    pytest_args = ["-q", "-p", "skipper", "-p", "no:cacheprovider", "-k", "scripted_judge or every_case"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, "tests/test_fixtures.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    check = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "check_skips.py"), str(report)], capture_output=True, text=True
    )
    return json.loads(report.read_text()), check


def test_a_declared_skip_passes_the_gate_and_is_counted(tmp_path: Path) -> None:
    report, check = _run_with_a_skip(f"{UNLICENSED_SKIP_REASON}: some file", tmp_path)
    assert [s["declared"] for s in report["skips"]] == [True]
    assert report["outcomes"]["passed"] == 1
    assert check.returncode == 0, check.stderr
    assert "1 passed, 1 skipped (1 declared" in check.stdout


def test_any_other_skip_fails_the_gate_and_is_named(tmp_path: Path) -> None:
    _, check = _run_with_a_skip("flaky, skip for now", tmp_path)
    assert check.returncode == 1
    assert "undeclared skip: tests/test_fixtures.py::test_the_scripted_judge" in check.stderr
    assert "flaky, skip for now" in check.stderr


@pytest.mark.parametrize("content", ["", None])
def test_a_missing_or_empty_report_fails_the_gate(content: str | None, tmp_path: Path) -> None:
    report = tmp_path / "skips.json"
    if content is not None:
        report.write_text(content)
    check = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "check_skips.py"), str(report)], capture_output=True, text=True
    )
    assert check.returncode == 1 and "no report" in check.stderr


def test_a_run_that_passed_nothing_fails_the_gate(tmp_path: Path) -> None:
    report = tmp_path / "skips.json"
    report.write_text(json.dumps({"exitstatus": 5, "outcomes": {}, "skips": []}))
    check = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "check_skips.py"), str(report)], capture_output=True, text=True
    )
    assert check.returncode == 1 and "no test passed (pytest exit status 5)" in check.stderr
