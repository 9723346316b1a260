"""User-facing errors: each carries one line that names the cause and the fix."""

from __future__ import annotations

import errno
import os


def write_failure(path: str | os.PathLike[str], exc: OSError) -> str:
    """The one line for a write the OS refused: the file, the reason, the fix. Every writer that
    says it leaves the run store as it was, so stored answers are kept."""
    if exc.errno == errno.ENOSPC:
        why = "disk full; free space and rerun"
    else:  # unwritable, read-only, a folder gone or a file in its place
        why = f"{exc.strerror or exc}; pick a writable --work-dir and rerun"
    return f"cannot write {path}: {why} (stored answers are kept)"


class FastevalError(Exception):
    """An error the CLI prints as one line (no traceback) and exits non-zero on."""


class ScoringError(FastevalError):
    """Predictions whose shape the benchmark's scoring rule cannot handle."""
