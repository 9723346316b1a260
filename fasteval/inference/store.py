"""The run store: append-only, crash-safe Arrow, one row per finished request.

Layout: `{work_dir}/{model}/.fasteval/{dataset}/seg-{run_id}.arrow`. Each process run writes its
own Arrow IPC *stream* segment (never rewritten, never shared between writers), a record batch
per drain of the completion queue, flushed to the OS at once: a SIGKILL loses only requests still
in flight. Readers take every segment, stop at a truncated tail, and keep per key the latest OK
row (else the latest failure), so reading costs O(rows written) and a resumed run re-sends only
what is missing, failed, or was asked differently (`request_hash`). The API key never reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl
import pyarrow as pa

from fasteval.errors import FastevalError
from fasteval.types import Completion, Status

__all__ = ["SCHEMA", "RunStore", "StoreError", "StoreLock", "StoreWriter", "new_run_id", "read_segment"]

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("status", pa.string()),
        ("text", pa.string()),
        ("error", pa.string()),
        ("error_kind", pa.string()),
        ("finish_reason", pa.string()),
        ("n_in", pa.int64()),
        ("n_out", pa.int64()),
        ("attempts", pa.int64()),
        ("endpoint", pa.string()),
        ("model", pa.string()),
        ("t_dispatch", pa.float64()),
        ("queue_s", pa.float64()),
        ("ttft", pa.float64()),
        ("e2el", pa.float64()),
        ("itl", pa.list_(pa.float64())),
        ("run_id", pa.string()),
        ("request_hash", pa.string()),
        ("t_stored", pa.float64()),  # wall clock of the append: "latest" across segments and runs
        ("t_send", pa.float64()),  # wall clock of the final attempt's send (absent in older segments)
    ]
)
_SEGMENT = "seg-{}.arrow"
_RUN_ID_OK = re.compile(r"[A-Za-z0-9_.\-]+")


class StoreError(FastevalError):
    """The run store cannot be used as asked."""


def os_error_line(path: Path, exc: OSError) -> str:
    """One line for a failed write: the path, the OS's reason, and the fix."""
    if exc.errno == errno.ENOSPC:
        return f"cannot write {path}: disk full; free space (stored answers are kept) and rerun"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: {exc.strerror}; pick a writable --work-dir"
    return f"cannot write {path}: {exc.strerror or exc}; check the directory and rerun"


class StoreLock:
    """An advisory `flock` on a run store, held for the whole run: a second run exits at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(os_error_line(path.parent, exc)) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip() or "?"
            self.release()
            raise StoreError(
                f"another fasteval run (pid {holder}) is writing {path.parent}: wait for it to end, "
                "or use another --work-dir"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def new_run_id() -> str:
    """A sortable, unique-per-process run id: UTC time plus pid."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


def _row(key: str, c: Completion, request_hash: str, run_id: str) -> dict[str, Any]:
    t = c.timing
    return {
        "key": key,
        "status": c.status.value,
        "text": c.text,
        "error": c.error,
        "error_kind": None if c.error_kind is None else c.error_kind.value,
        "finish_reason": c.finish_reason,
        "n_in": c.n_in,
        "n_out": c.n_out,
        "attempts": c.attempts,
        "endpoint": c.endpoint,
        "model": c.model,
        "t_dispatch": t.t_dispatch,
        "queue_s": t.queue_s,
        "t_send": t.t_send,
        "ttft": t.ttft,
        "e2el": t.e2el,
        "itl": list(t.itl),
        "run_id": run_id,
        "request_hash": request_hash,
        "t_stored": time.time(),
    }


def read_segment(path: Path, schema: pa.Schema = SCHEMA) -> list[pa.RecordBatch]:
    """Every complete batch of one append-only segment (this store's, or the judge cache's); a
    crash-truncated tail (or empty file) is dropped. Batches are conformed to `schema`, so segments
    written before a column was added get that column as nulls and old runs stay readable.
    """
    batches: list[pa.RecordBatch] = []
    try:
        with pa.OSFile(str(path), "rb") as f:
            reader = pa.ipc.open_stream(f)
            while True:
                try:
                    batches.append(_conform(reader.read_next_batch(), schema))
                except StopIteration:
                    break
    except (pa.ArrowInvalid, OSError, EOFError):
        pass  # the writer was killed mid-batch (or before the schema): keep what is whole
    return batches


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` in `schema`'s column order, with columns it predates filled with nulls."""
    if batch.schema.equals(schema):
        return batch
    names = set(batch.schema.names)
    columns = [
        batch.column(f.name).cast(f.type) if f.name in names else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class StoreWriter:
    """Appends completions of one run to its own segment from a background drain task.

    `append` only queues (never blocks the loop); the drain task turns whatever is queued into one
    record batch and writes it in a worker thread, then flushes.
    """

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._file: Any = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._progress = asyncio.Event()
        self.rows_appended = 0
        self.rows_written = 0

    def append(self, key: str, completion: Completion, request_hash: str) -> None:
        if self._task is None or self._closing:
            raise StoreError(f"append to {self.path} outside `async with store.open_writer(...)`")
        if self._task.done():
            raise StoreError(self._failure())
        self.rows_appended += 1
        self._pending.append(_row(str(key), completion, request_hash, self.run_id))
        self._wake.set()

    async def __aenter__(self) -> StoreWriter:
        """Open the segment and pay every lazy import now, before the first request is sent, so a
        kill right after the first answers arrive loses only the requests in flight."""
        if self.path.exists():
            raise StoreError(f"segment {self.path} already exists: use a new run id for each run")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_stream(self._file, SCHEMA)
            self._file.flush()
        except OSError as exc:
            raise StoreError(os_error_line(self.path, exc)) from None
        pa.RecordBatch.from_pylist([], schema=SCHEMA)  # warms pyarrow's (and pandas') lazy imports
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        self._wake.set()
        failed = False
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
            except OSError:
                failed = True
        await asyncio.to_thread(self._close)
        if failed:
            raise StoreError(self._failure())

    def _failure(self) -> str:
        exc = None if self._task is None or self._task.cancelled() else self._task.exception()
        if isinstance(exc, OSError):
            return os_error_line(self.path, exc)
        return f"writing {self.path} failed ({type(exc).__name__}: {exc}); check the disk and rerun"

    async def flush(self) -> None:
        """Wait until everything appended so far is written and flushed."""
        target = self.rows_appended
        while self.rows_written < target and self._task is not None and not self._task.done():
            self._progress.clear()
            self._wake.set()
            await self._progress.wait()

    async def _drain(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._pending:
                    rows, self._pending = self._pending, []
                    await asyncio.to_thread(self._write, rows)
                    self._progress.set()
                if self._closing and not self._pending:
                    return
        finally:
            self._progress.set()  # never leave a flush() waiting on a dead writer

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """One batch, flushed and fsynced: a short write (disk full, kill) leaves a readable prefix."""
        assert self._writer is not None and self._file is not None
        self._writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=SCHEMA))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.rows_written += len(rows)

    def _close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError):  # a full disk: the batches already written stay readable
                self._writer.close()
            self._writer = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.flush()
                os.fsync(self._file.fileno())
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


class RunStore:
    """All stored completions of one (model, dataset), across every run that wrote them."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    @classmethod
    def for_run(cls, work_dir: str | os.PathLike[str], model: str, dataset: str) -> RunStore:
        return cls(Path(work_dir) / model / ".fasteval" / dataset)

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob(_SEGMENT.format("*"))) if self.dir.is_dir() else []

    def lock(self) -> StoreLock:
        """Hold the store for one run; raises `StoreError` naming the pid of a run that holds it."""
        return StoreLock(self.dir / ".lock")

    def open_writer(self, run_id: str | None = None) -> StoreWriter:
        run_id = run_id or new_run_id()
        if not _RUN_ID_OK.fullmatch(run_id):
            raise StoreError(f"run id {run_id!r} must use letters, digits, '.', '_' or '-' only")
        return StoreWriter(self.dir / _SEGMENT.format(run_id), run_id)

    def read_all(self) -> pl.DataFrame:
        """Every stored row of every run, in no particular order (for audits and perf of one run)."""
        batches = [b for seg in self.segments() for b in read_segment(seg)]
        table = pa.Table.from_batches(batches, schema=SCHEMA)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def read(self, request_hashes: Mapping[str, str] | None = None) -> pl.DataFrame:
        """One row per key: the latest OK row, else the latest failure.

        With `request_hashes` (key -> hash of the request as it would be sent now), rows answering
        a different request are ignored, and keys not in the mapping are dropped.
        """
        rows = self.read_all()
        if request_hashes is not None:
            wanted = pl.DataFrame(
                {"key": list(request_hashes), "request_hash": list(request_hashes.values())},
                schema={"key": pl.String, "request_hash": pl.String},
            )
            rows = rows.join(wanted, on=["key", "request_hash"], how="semi")
        return (
            rows.sort([(pl.col("status") == Status.OK.value), pl.col("t_stored")], descending=[True, True])
            .unique(subset="key", keep="first", maintain_order=True)
            .sort("key")
        )

    def done_keys(self, request_hashes: Mapping[str, str] | None = None) -> set[str]:
        """Keys with an OK row (answering the same request, when hashes are given): resume skips them."""
        ok = self.read(request_hashes).filter(pl.col("status") == Status.OK.value)
        return set(ok.get_column("key").to_list())
