"""Where the project's declarative data lives: `benchmarks/` and `engines/` at the repo top.

In a checkout (editable install) they are read in place; in a wheel they ship as
`fasteval/_data/{benchmarks,engines}`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The `benchmarks` or `engines` folder: the wheel's copy if present, else the checkout's."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"fasteval data folder {name!r} not found next to {_PKG}; reinstall fasteval")


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """fasteval's own cache root (`$FASTEVAL_CACHE`, default ~/.cache/fasteval): dataset conversions,
    built tiny models, the CPU engine venv. LMUData itself is never written here."""
    env = os.environ if env is None else env
    return Path(env.get("FASTEVAL_CACHE") or Path.home() / ".cache" / "fasteval").expanduser()
