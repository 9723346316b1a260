"""The CLI's process memory settings (issue 22: peak RSS flat in rows; fasteval.cli.memory)."""

from __future__ import annotations

import os
import subprocess
import sys

from fasteval.cli.memory import JEMALLOC_CONF, RETURN_AT_ONCE, return_freed_pages_at_once


def conf_after(value: str | None) -> str:
    env = {} if value is None else {JEMALLOC_CONF: value}
    return_freed_pages_at_once(env)
    return env[JEMALLOC_CONF]


def test_polars_jemalloc_is_told_to_return_pages_unless_the_user_chose_a_decay() -> None:
    assert conf_after(None) == RETURN_AT_ONCE
    assert conf_after("narenas:2") == "narenas:2," + RETURN_AT_ONCE  # other options are kept
    assert conf_after("dirty_decay_ms:5000") == "dirty_decay_ms:5000"  # the user's decay wins
    assert conf_after(RETURN_AT_ONCE) == RETURN_AT_ONCE  # set by a fasteval parent: not repeated


def test_polars_own_defaults_inherited_from_a_parent_are_not_a_choice() -> None:
    """polars writes its defaults into os.environ when it loads; a parent that imported polars
    (a notebook, `make perf`) hands them to every bench.py it starts: the last value must be ours."""
    inherited = "dirty_decay_ms:500,muzzy_decay_ms:1000"
    assert conf_after(inherited) == inherited + "," + RETURN_AT_ONCE


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
