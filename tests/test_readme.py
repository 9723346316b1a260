"""Every command in README.md's code blocks is one fasteval accepts.

`make demo` and `make test` run for real in CI; the GPU commands cannot run here, so this pins what
can be checked without a GPU: each `make` line is a real target whose recipe expands (`make -n`),
each `python bench.py` line parses, and the models, benchmarks and rule sets it names exist.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from fasteval.catalog import get_spec
from fasteval.cli.args import build_parser
from fasteval.kinds.extract import RULE_SETS
from fasteval.models.registry import get_model

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command:
                lines.append(command)
    return lines


COMMANDS = readme_commands()


def test_readme_names_the_two_setup_commands_first():
    assert COMMANDS[:2] == ["make demo", "make test"]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("make ")])
def test_make_lines_are_real_targets(command: str):
    words = shlex.split(command)[1:]
    target, assignments = words[0], [w for w in words[1:] if "=" in w]
    for a in assignments:
        key, value = a.split("=", 1)
        if key in ("MODEL", "JUDGE"):
            get_model(value)  # raises with close names if the registry lacks it
    r = subprocess.run(["make", "-n", target, *assignments], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("python bench.py")])
def test_bench_lines_parse_and_name_real_things(command: str):
    args = build_parser().parse_args(shlex.split(command)[2:])
    for name in args.data or ():
        get_spec(name)
    assert args.rules in RULE_SETS
