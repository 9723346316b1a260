"""Fail CI on a skipped test that is not a declared one (unlicensed reference data absent).

Reads the JSON that tests/conftest.py writes to $FASTEVAL_SKIP_REPORT, prints the skip count and the
reason of every undeclared skip. A run that passed no test at all (pytest's exit 5, or everything
skipped) is a failure too: CI must have run the suite, not merely not failed it.

    python .ci/check_skips.py REPORT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_skips.py REPORT.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file() or not path.read_text().strip():
        print(f"check_skips: no report at {path}: did pytest run with tests/conftest.py?", file=sys.stderr)
        return 1
    report = json.loads(path.read_text())
    skips = report["skips"]
    undeclared = [s for s in skips if not s["declared"]]
    passed = report["outcomes"].get("passed", 0)
    print(
        f"ci: {passed} passed, {len(skips)} skipped "
        f"({len(skips) - len(undeclared)} declared: unlicensed reference data absent; "
        f"{len(undeclared)} undeclared)"
    )
    for s in undeclared:
        print(f"ci: undeclared skip: {s['nodeid']}: {s['reason']}", file=sys.stderr)
    if passed == 0:
        print(f"ci: no test passed (pytest exit status {report['exitstatus']})", file=sys.stderr)
        return 1
    return 1 if undeclared else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
