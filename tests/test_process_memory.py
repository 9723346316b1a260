"""The CLI's process memory settings (issue 22: peak RSS flat in rows; fasteval.cli.memory)."""

from __future__ import annotations

import os
import subprocess
import sys

from fasteval.cli.memory import JEMALLOC_CONF, RETURN_AT_ONCE, return_freed_pages_at_once


def test_polars_jemalloc_is_told_to_return_pages_unless_the_user_said_otherwise() -> None:
    env: dict[str, str] = {}
    return_freed_pages_at_once(env)
    assert env == {JEMALLOC_CONF: RETURN_AT_ONCE}
    mine = {JEMALLOC_CONF: "narenas:2"}
    return_freed_pages_at_once(mine)
    assert mine == {JEMALLOC_CONF: "narenas:2"}


def test_the_setting_is_in_place_before_any_cli_module_loads_polars() -> None:
    """polars hands the variable to its jemalloc when it loads (appended to its own defaults; the
    last value wins): importing the CLI must set it first."""
    code = (
        "import os, sys\n"
        "import fasteval.cli.args\n"
        "assert 'polars' in sys.modules\n"
        f"print(os.environ.get({JEMALLOC_CONF!r}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != JEMALLOC_CONF}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("," + RETURN_AT_ONCE)
