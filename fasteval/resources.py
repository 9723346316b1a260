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


# ---------------------------------------------------------------------------------------------
# Names that become paths
# ---------------------------------------------------------------------------------------------

_MAX_NAME = 200


def unsafe_name(name: str) -> str | None:
    """Why `name` cannot be one folder or file-name part under the work dir, or None when it can.

    Model, dataset and output names become `{work_dir}/{model}/{model}_{dataset}...`: a separator,
    `..`, a leading dot (hidden files, fasteval's own `.fasteval`) or a control character would
    put files elsewhere or hide them.
    """
    if not name:
        return "it is empty"
    if len(name) > _MAX_NAME:
        return f"it is {len(name)} characters long (at most {_MAX_NAME})"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if name.startswith("."):
        return "it starts with a dot"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains a control character"
    return None


def safe_name(name: str) -> str:
    """A server-chosen name made usable as a folder name: separators become `_`, `.`/`..` parts, leading
    dots and control characters go (`Qwen/Qwen2-VL-2B` -> `Qwen_Qwen2-VL-2B`, `../../x` -> `x`)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    text = "".join(c for c in "_".join(parts) if ord(c) >= 32 and ord(c) != 127).lstrip(".")
    return text[:_MAX_NAME] or "model"


def shown(names: list[str], limit: int = 8) -> str:
    """Names for a one-line message: the first `limit`, then how many more (a server may list 500)."""
    head = ", ".join(clip(n) for n in names[:limit])
    return head if len(names) <= limit else f"{head} and {len(names) - limit} more"


def clip(text: str, limit: int = 80) -> str:
    """`text` for a one-line message: at most `limit` characters (a server's model id may be 100 KB)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
