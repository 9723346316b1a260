"""The report's entry points: `fasteval report`, `python -m fasteval.cli.report`, and bench.py untouched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fasteval.cli.args import main


def test_python_m_fasteval_report_is_the_report() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "fasteval.cli.report", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "fasteval report" in r.stdout and "WORK_DIR" in r.stdout


def test_fasteval_report_dispatches_and_everything_else_is_bench(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as report_help:
        main(["report", "--help"])
    assert report_help.value.code == 0 and "usage: fasteval report" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bench_help:
        main(["--help"])
    assert bench_help.value.code == 0 and "usage: bench.py" in capsys.readouterr().out
