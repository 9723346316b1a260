"""How a run's process holds memory (issue 22: peak RSS must not grow with rows).

A run's finish reads its store, joins, writes and summarises in steps whose freed memory the
next step does not reuse: polars allocates from its bundled jemalloc, Arrow from malloc, and
each keeps what is freed for later. Measured on 50,000 rows (perf/MEMORY.md), that retention,
not live data, was most of the growth over a 2,000-row run. Two process settings fix it, both
made here, in the CLI, never by an import of the library:

- polars' jemalloc returns freed pages at once (`dirty_decay_ms:0,muzzy_decay_ms:0`) instead of
  after the 0.5 s / 1 s polars sets; polars' own `__init__` reads `_RJEM_MALLOC_CONF` for this and
  appends it to its defaults (pola-rs/polars#21829; jemalloc takes the last value), so it is set
  before polars loads. A decay the user set wins; polars' own defaults do not count as one, since
  polars writes them into the environment when it loads, and a parent process that imported polars
  (a notebook, `make perf`) passes them on to every `bench.py` it starts;
- malloc serves blocks of 64 KiB and more (Arrow's buffers, numpy's arrays) from their own
  mappings, unmapped when freed, instead of letting its threshold rise to the largest block
  freed so far (glibc's default), after which such blocks stay in its heaps; and between the
  finish's steps it hands its free pages back (`malloc_trim`). Both are no-ops where the C
  library is not glibc.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import MutableMapping
from typing import Any

JEMALLOC_CONF = "_RJEM_MALLOC_CONF"  # polars' jemalloc is built with the `_rjem_` prefix
RETURN_AT_ONCE = "dirty_decay_ms:0,muzzy_decay_ms:0"
_POLARS_DEFAULTS = ("dirty_decay_ms:500", "muzzy_decay_ms:1000")  # what polars/__init__.py writes first


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 64 * 1024


def _libc(name: str) -> Any:
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM, _MALLOPT = _libc("malloc_trim"), _libc("mallopt")


def return_freed_pages_at_once(environ: MutableMapping[str, str] = os.environ) -> None:
    """Ask both allocators to give freed pages back at once; polars' jemalloc reads its setting
    only when it starts, so this runs before polars loads."""
    options = [o for o in environ.get(JEMALLOC_CONF, "").split(",") if o]
    ours = RETURN_AT_ONCE.split(",")
    chosen = any("decay_ms" in o and o not in (*_POLARS_DEFAULTS, *ours) for o in options)
    if not chosen and options[-len(ours) :] != ours:  # ours not already last (a fasteval parent's)
        environ[JEMALLOC_CONF] = ",".join([*options, *ours])
    if _MALLOPT is not None and "MALLOC_MMAP_THRESHOLD_" not in environ:  # the user's setting wins
        _MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def give_back() -> None:
    """Return malloc's free pages to the OS: the next step's allocations (often polars', from
    another allocator) then do not stack on pages the last step freed."""
    if _TRIM is not None:
        _TRIM(0)
