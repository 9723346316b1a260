"""Where the project's declarative data lives: `benchmarks/` and `engines/` at the repo top.

In a checkout (editable install) they are read in place; in a wheel they ship as
`fasteval/_data/{benchmarks,engines}`.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The `benchmarks` or `engines` folder: the wheel's copy if present, else the checkout's."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"fasteval data folder {name!r} not found next to {_PKG}; reinstall fasteval")
