"""More hostile servers, data, disks and processes (issue 22's kept-back probes): each ends as one
line naming the cause and the fix, a typed exit status, nothing stored lost, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fasteval.models.servers import group_alive

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[1]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_group_of_only_zombies_is_not_alive() -> None:
    """An engine that exited but was never collected (its parent is busy, or gone and not yet reaped)
    is a zombie: `killpg(pgid, 0)` still succeeds, yet nothing of it runs or serves."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    try:
        while _state(proc.pid) != "Z":  # exited, not collected: we do not wait() for it yet
            os.sched_yield()
        assert not group_alive(proc.pid)
    finally:
        proc.wait()
    assert not group_alive(proc.pid)


def test_a_group_with_a_running_process_is_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        assert group_alive(proc.pid)
    finally:
        proc.communicate(b"")
