"""The run store: append-only, crash-safe, self-checking segments, one row per finished request.

Layout: `{work_dir}/{model}/.fasteval/{dataset}/seg-{run_id}.arrow`. Each process run writes its
own segment (never rewritten, never shared between writers), a record batch per drain of the
completion queue, flushed and fsynced at once: a SIGKILL loses only requests still in flight.
Readers take every segment and keep per key the latest OK row (else the latest failure), so a
resumed run re-sends only what is missing, failed, or was asked differently (`request_hash`).
The API key never reaches it.

Segment format (issue 22): our own framing around Arrow IPC messages, not a bare IPC stream.
`MAGIC`, then frames: a 20-byte header (kind `FEVS` schema / `FEVB` batch, payload length, rows,
CRC-32 of the payload, CRC-32 of the header's first 16 bytes) and the payload (the schema's or the
batch's IPC message). Why our own framing rather than `validate(full=True)` on a bare stream:
- a checksum has to live somewhere the Arrow reader does not look, and it must be checked before
  Arrow parses anything: lengths and offsets inside a damaged message are what made pyarrow panic
  or segfault, and validation runs only after that parse;
- a torn tail and damage must look different: a header that checks out but promises more bytes
  than the file has, or a header cut short, can only be a write the kill interrupted (torn: its
  rows are missing and asked again, nothing is said); a header or payload that fails its CRC is
  damage, whatever its place;
- no length from the file is used before it is checked (its header CRC, then against the bytes
  left), and a whole-CRC'd batch is still parsed only after its checksum and then validated.
A damaged segment is moved aside (`*.damaged`, one warning line naming it and its rows) so its
rows count as missing and the rerun asks them again; nothing from it is half-trusted. Segments
written before this format (a bare IPC stream) are still read, each batch validated in full.

Answers are stored as received: a lone surrogate (legal JSON, not encodable as UTF-8) is stored
as U+FFFD in `text` (what is scored and written out) and losslessly as a JSON string literal in
`text_raw`; `received_text` gives the original back.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import struct
import sys
import time
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from fasteval.errors import FastevalError, write_failure
from fasteval.types import Completion, Status

__all__ = [
    "SCHEMA",
    "FramedFile",
    "RunStore",
    "SegmentScan",
    "StoreError",
    "StoreLock",
    "StoreWriter",
    "Where",
    "new_run_id",
    "read_segment",
    "received_text",
    "scan_segment",
    "storable",
]

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
        ("text_raw", pa.string()),  # the answer as a JSON literal when it is not valid Unicode, else null
        ("thinking", pa.string()),  # a thinking model's thinking, cut off the answer (null otherwise)
    ]
)
_SEGMENT = "seg-{}.arrow"
MAGIC = b"FEVSEG\x00\x01"  # a framed segment, format 1; a bare Arrow IPC stream starts with FF FF FF FF
_HEADER = struct.Struct("<4sIIII")  # kind, payload bytes, rows, payload CRC-32, header CRC-32
_SCHEMA_FRAME, _BATCH_FRAME = b"FEVS", b"FEVB"
_LEGACY = b"\xff\xff\xff\xff"
_QUARANTINE = ".damaged"
_RUN_ID_OK = re.compile(r"[A-Za-z0-9_.\-]+")


class StoreError(FastevalError):
    """The run store cannot be used as asked."""


class StoreLock:
    """An advisory `flock` on a run store, held for the whole run: a second run exits at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(write_failure(path.parent, exc)) from None
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


def storable(text: str | None) -> tuple[str | None, str | None]:
    """(`text` as valid UTF-8, the exact text as a JSON literal or None when it already was).

    A lone surrogate ("\\ud800" is legal JSON) cannot be encoded as UTF-8, so Arrow refuses it: the
    stored form replaces it with U+FFFD and the literal keeps the original, losslessly.
    """
    if text is None or text.isascii():
        return text, None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        clean = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
        return clean, json.dumps(text)
    return text, None


def received_text(text: str | None, text_raw: str | None) -> str | None:
    """A stored answer exactly as the server sent it (the inverse of `storable`)."""
    if text_raw is None:
        return text
    original = json.loads(text_raw)
    return original if isinstance(original, str) else text


def _row(key: str, c: Completion, request_hash: str, run_id: str) -> dict[str, Any]:
    t = c.timing
    text, text_raw = storable(c.text)
    return {
        "key": storable(key)[0],
        "status": c.status.value,
        "text": text,
        "text_raw": text_raw,
        "thinking": storable(c.reasoning)[0],
        "error": storable(c.error)[0],
        "error_kind": None if c.error_kind is None else c.error_kind.value,
        "finish_reason": storable(c.finish_reason)[0],
        "n_in": c.n_in,
        "n_out": c.n_out,
        "attempts": c.attempts,
        "endpoint": storable(c.endpoint)[0],
        "model": storable(c.model)[0],
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


def _frame_header(kind: bytes, payload: bytes | pa.Buffer, rows: int) -> bytes:
    """One frame's header for `payload` (written just before it)."""
    head = struct.pack("<4sIII", kind, len(payload), rows, zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head))


class FramedFile:
    """A framed segment being written (the store's and the judge cache's): `MAGIC` and the schema
    frame when created, then one checksummed frame per record batch. A short write (disk full, a
    kill) leaves a torn tail that reads as exactly that, after every whole frame."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        """Create `path` (exclusively: a segment is never shared); raises OSError as the OS does."""
        self.path = path
        self.schema = schema
        self._file: BinaryIO | None = path.open("xb")
        payload = schema.serialize()
        try:
            self._file.write(MAGIC + _frame_header(_SCHEMA_FRAME, payload, 0) + payload.to_pybytes())
            self._file.flush()
        except OSError:
            with contextlib.suppress(OSError):
                self._file.close()
            path.unlink(missing_ok=True)  # it holds nothing yet
            raise

    def write(self, batch: pa.RecordBatch, *, sync: bool) -> None:
        """One frame, flushed (and fsynced with `sync`) before this returns."""
        assert self._file is not None, f"{self.path} is closed"
        payload = batch.serialize()
        self._file.write(_frame_header(_BATCH_FRAME, payload, batch.num_rows))
        self._file.write(memoryview(payload))
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush, fsync and close; on a full disk the frames already written stay readable."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.flush()
            os.fsync(self._file.fileno())
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None


@dataclass(slots=True)
class SegmentScan:
    """What one segment holds: its whole batches, and why reading stopped early, if it did."""

    batches: list[pa.RecordBatch]
    damage: str | None = None  # set: the segment is damaged here, and none of it may be used
    torn: bool = False  # the last write was cut short (a kill): its rows are missing, nothing else
    rows_seen: int = 0  # rows the segment's sound frame headers account for, damaged frames included
    header_lost: bool = False  # a frame header is damaged: its rows are not in `rows_seen`

    @property
    def rows(self) -> int:
        return sum(b.num_rows for b in self.batches)


def scan_segment(
    path: Path,
    schema: pa.Schema = SCHEMA,
    columns: Sequence[str] | None = None,
    where: Where | None = None,
) -> SegmentScan:
    """Read one segment without trusting it: never raises for its content, never lets Arrow parse
    bytes that failed their checksum. Batches are conformed to `schema` (columns a segment
    predates read as nulls); with `where`, only its rows are kept, and with `columns`, only those
    columns (`where`'s own column need not be one of them).

    A framed segment is read frame by frame, and with `columns` each checked batch's projection
    is copied out of its frame, so memory holds the kept columns, never the whole file (issue 22:
    the file and its batches were ~25 MB at 50,000 rows, read twice per finish).
    """
    try:
        with path.open("rb") as f:
            end = os.fstat(f.fileno()).st_size
            head = f.read(len(MAGIC))
            if head.startswith(_LEGACY) or not head:
                return _select(_scan_legacy(head + f.read(), schema), columns, where)
            if len(head) < len(MAGIC):
                return SegmentScan(
                    [], torn=MAGIC.startswith(head), damage=None if MAGIC.startswith(head) else "bad header"
                )
            if not head.startswith(MAGIC[:4]):
                scan = SegmentScan([], damage="not a fasteval segment (bad header)")
            else:
                scan = _scan_framed(f, end, schema, columns, where)
                if head != MAGIC:
                    scan.damage = "bad file header"
        if scan.damage is not None:  # say how many rows it held, from every sound header in it
            scan.rows_seen = _rows_in_headers(path.read_bytes())
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}; check the disk and rerun") from None
    return scan


@dataclass(frozen=True, slots=True)
class Where:
    """Keep the rows whose `column` equals `value` (a store read keeps the answers to one request
    fingerprint): applied to each batch as it is read, so the other rows are never held."""

    column: str
    value: str

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        mask = pc.fill_null(pc.equal(batch.column(self.column), self.value), False)  # null: not it
        return batch if pc.all(mask).as_py() else batch.filter(mask)


def _keep(batch: pa.RecordBatch, columns: Sequence[str] | None, where: Where | None) -> pa.RecordBatch:
    if where is not None:
        batch = where.apply(batch)
    return batch if columns is None else batch.select(list(columns))


def _select(scan: SegmentScan, columns: Sequence[str] | None, where: Where | None) -> SegmentScan:
    if columns is not None or where is not None:
        scan.batches = [_keep(b, columns, where) for b in scan.batches]
    return scan


def _rows_in_headers(data: bytes) -> int:
    """Rows of every batch frame whose header checks out, wherever it sits (past damage too)."""
    rows, at = 0, data.find(_BATCH_FRAME)
    while at >= 0:
        if at + _HEADER.size <= len(data):
            _, _, n, _, head_crc = _HEADER.unpack_from(data, at)
            if zlib.crc32(data[at : at + 16]) == head_crc:
                rows += n
        at = data.find(_BATCH_FRAME, at + 1)
    return rows


_COPY_EVERY = 64  # projected batches gathered before they are copied out of their frames


def _scan_framed(
    f: BinaryIO, end: int, schema: pa.Schema, columns: Sequence[str] | None, where: Where | None
) -> SegmentScan:
    """The frames after `MAGIC`, read one at a time from `f` (`end`: the file's size)."""
    scan = SegmentScan([])
    file_schema: pa.Schema | None = None
    pending: list[pa.RecordBatch] = []
    at = len(MAGIC)
    while at < end:
        header = f.read(_HEADER.size)
        if len(header) < _HEADER.size:
            scan.torn = True  # a header cut short: the kill came mid-write
            break
        kind, size, rows, crc, head_crc = _HEADER.unpack(header)
        if zlib.crc32(header[:16]) != head_crc or kind not in (_SCHEMA_FRAME, _BATCH_FRAME):
            scan.damage = f"frame header at byte {at} fails its checksum"
            scan.header_lost = True
            break
        scan.rows_seen += rows
        body = at + _HEADER.size
        if size > end - body:  # a sound header promising more than was written: torn, not damaged
            scan.torn = True
            break
        data = f.read(size)
        if len(data) < size:
            scan.torn = True
            break
        if zlib.crc32(data) != crc:
            scan.damage = f"{'schema' if kind == _SCHEMA_FRAME else 'batch'} at byte {at} fails its checksum"
            break
        payload = pa.py_buffer(data)
        try:
            if kind == _SCHEMA_FRAME:
                file_schema = pa.ipc.read_schema(payload)
            elif file_schema is None:
                scan.damage = "a batch comes before the schema"
                break
            else:
                batch = pa.ipc.read_record_batch(payload, file_schema)
                batch.validate(full=True)
                if batch.num_rows != rows:
                    scan.damage = f"batch at byte {at} holds {batch.num_rows} rows, its header says {rows}"
                    break
                batch = _conform(batch, schema)
                if columns is None and where is None:
                    scan.batches.append(batch)
                else:
                    pending.append(_keep(batch, columns, where))
                    if len(pending) >= _COPY_EVERY:
                        scan.batches += _copied(pending)
                        pending = []
        except (pa.ArrowException, ValueError, TypeError, KeyError) as exc:
            scan.damage = f"frame at byte {at} is unreadable ({type(exc).__name__})"
            break
        at = body + size
    if pending:
        scan.batches += _copied(pending)
    return scan


def _copied(batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    """`batches` as one batch in fresh buffers: the frames they were read from can be freed."""
    table = pa.Table.from_batches(batches)
    copy = pa.Table.from_arrays(
        [pa.concat_arrays([*col.chunks, pa.nulls(0, col.type)]) for col in table.columns],
        schema=table.schema,
    )
    out: list[pa.RecordBatch] = copy.to_batches()
    return out


def _scan_legacy(data: bytes, schema: pa.Schema) -> SegmentScan:
    """A segment written before the framed format: a bare Arrow IPC stream, every batch validated.

    A short read at the end is a torn tail (the old writer's kill); anything else Arrow refuses, or
    a batch that fails full validation, is damage. Without checksums, damage that still parses
    (an edited answer) cannot be seen: the framed format exists for that.
    """
    scan = SegmentScan([])
    if not data:
        scan.torn = True
        return scan
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(data))
        unknown = set(reader.schema.names) - set(schema.names)
        if unknown:  # a flipped byte in a column name would otherwise drop that column silently
            scan.damage = f"unknown columns {sorted(unknown)} (damaged schema)"
            return scan
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            batch.validate(full=True)
            scan.rows_seen += batch.num_rows
            scan.batches.append(_conform(batch, schema))
    except (pa.ArrowException, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        if _short_read(str(exc)):
            scan.torn = True
        else:
            scan.damage = f"unreadable Arrow stream ({type(exc).__name__})"
    return scan


def _short_read(message: str) -> bool:
    """Arrow's words for a stream that ends mid-message (a torn tail), as opposed to bad bytes."""
    return any(
        words in message
        for words in ("Expected to be able to read", "Expected to read", "read 0 bytes", "end of stream")
    )


def read_segment(
    path: Path,
    schema: pa.Schema = SCHEMA,
    columns: Sequence[str] | None = None,
    where: Where | None = None,
) -> list[pa.RecordBatch]:
    """Every whole batch of one append-only segment (this store's, or the judge cache's).

    A torn tail is dropped (its rows are missing: a rerun asks them). A damaged segment is moved
    aside with one warning line on stderr and contributes no rows at all: a rerun asks them again.
    """
    scan = scan_segment(path, schema, columns, where)
    if scan.damage is None:
        return scan.batches
    line = quarantine(path, scan)
    if path.exists():  # it could not be moved aside: say so once, not at every read of the run
        if path in _SAID:
            return []
        _SAID.add(path)
    print(f"fasteval: warning: {line}", file=sys.stderr)
    return []


_SAID: set[Path] = set()  # damaged segments that could not be moved aside, already named once


def quarantine(path: Path, scan: SegmentScan) -> str:
    """Move a damaged segment aside (`NAME.damaged`, never read again) and say so in one line."""
    held = max(scan.rows_seen, scan.rows)
    rows = f"its rows (at least {held})" if scan.header_lost else f"its {held} rows" if held else "its rows"
    target = path.with_name(path.name + _QUARANTINE)
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{_QUARANTINE}{n}")
    try:
        path.rename(target)
    except OSError as exc:
        return (
            f"{path} is damaged ({scan.damage}) and cannot be moved aside ({exc.strerror}); "
            f"{rows} are ignored and will be asked again"
        )
    return f"{path} is damaged ({scan.damage}): moved to {target.name}; {rows} will be asked again"


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
        self._file: FramedFile | None = None
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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = FramedFile(self.path, SCHEMA)
        except FileExistsError:
            raise StoreError(f"segment {self.path} already exists: use a new run id for each run") from None
        except OSError as exc:
            raise StoreError(write_failure(self.path, exc)) from None
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
            return write_failure(self.path, exc)
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
        """One frame, flushed and fsynced: a short write (disk full, kill) leaves a torn tail that
        reads as exactly that, after every whole frame."""
        assert self._file is not None
        self._file.write(pa.RecordBatch.from_pylist(rows, schema=SCHEMA), sync=True)
        self.rows_written += len(rows)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_PICK = ("key", "status", "t_stored")  # what `RunStore.read` needs to pick each key's row


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

    def read_run(self, run_id: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Every row one run stored (its own segment: a run sends each key at most once), only
        `columns` when given: a run's serving figures need no other run's rows."""
        seg = self.dir / _SEGMENT.format(run_id)
        return self._frame([seg] if seg.is_file() else [], columns, None)

    def read_all(self, columns: Sequence[str] | None = None, where: Where | None = None) -> pl.DataFrame:
        """Every stored row of every run, in no particular order (for audits); only `columns` when
        given (in that order), only `where`'s rows when given."""
        return self._frame(self.segments(), columns, where)

    @staticmethod
    def _frame(segments: Sequence[Path], columns: Sequence[str] | None, where: Where | None) -> pl.DataFrame:
        """The segments' rows as one frame.

        Memory: with `columns` or `where`, each segment comes back as a few batches already copied
        out of its file (`scan_segment`), converted to polars before the next segment is read and
        never combined again (issue 22: a combined Arrow copy beside polars' own cost ~5 MB at
        50,000 rows). Without them, a segment's batches are one per drain, hundreds of small
        chunks that polars converts at twice the memory of one: those are combined first.
        """
        schema = pa.schema([SCHEMA.field(c) for c in columns or SCHEMA.names])
        parts = []
        for seg in segments:
            table = pa.Table.from_batches(read_segment(seg, columns=columns, where=where), schema=schema)
            frame = pl.from_arrow(table if columns or where else table.combine_chunks())
            assert isinstance(frame, pl.DataFrame)
            parts.append(frame)
            del table
        if not parts:
            empty = pl.from_arrow(schema.empty_table())
            assert isinstance(empty, pl.DataFrame)
            return empty
        return pl.concat(parts, rechunk=False)

    def read(
        self,
        fingerprint: str | None = None,
        *,
        keys: Collection[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """One row per key: the latest OK row, else the latest failure (in no particular order).

        With `fingerprint` (the hash of the request as it would be sent now), rows answering a
        different request are ignored, dropped batch by batch as the segments are read. With
        `keys`, only those keys are kept (a `--limit` run's rows); without them, every key
        answering the fingerprint is one of its dataset's, since the fingerprint pins the file.

        Memory (issue 22: the finish of a 50,000-row run reads its whole store twice): the usual
        store (one row per key) is returned as read; otherwise the winners are picked in one pass
        over three columns and gathered once (a sort, a join and a `unique` of every column cost
        ~80 MB more at 50,000 rows: perf/MEMORY.md). With `columns`, only those are returned, and
        only those plus the three the pick needs are read; the fingerprint's column is compared as
        each batch is read and never kept.
        """
        wanted = None if columns is None else [*columns, *(c for c in _PICK if c not in columns)]
        where = None if fingerprint is None else Where("request_hash", fingerprint)
        frame = self.read_all(wanted, where)
        if keys is not None:
            mine = frame.get_column("key").is_in(list(keys))
            if not mine.all():
                frame = frame.filter(mine)
        stored_keys = frame.get_column("key")
        if not stored_keys.is_unique().all():
            ok = (frame.get_column("status") == Status.OK.value).to_list()
            stored = frame.get_column("t_stored").fill_null(float("-inf")).to_list()
            best: dict[str, tuple[bool, float, int]] = {}
            for at, (key, good, when) in enumerate(zip(stored_keys.to_list(), ok, stored, strict=True)):
                held = best.get(key)
                if held is None or (good, when) > held[:2]:  # ties: the first stored wins
                    best[key] = (good, when, at)
            frame = frame[sorted(at for _, _, at in best.values())]
        return frame if columns is None else frame.select(columns)

    def done_keys(self, fingerprint: str | None = None, *, keys: Collection[str] | None = None) -> set[str]:
        """Keys with an OK row (answering the same request, when a fingerprint is given): resume
        skips them."""
        stored = self.read(fingerprint, keys=keys, columns=("key", "status"))
        ok = stored.filter(pl.col("status") == Status.OK.value)
        return set(ok.get_column("key").to_list())
