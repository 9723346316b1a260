"""The run store: append-only segments, crash safety, and resume semantics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from fasteval.inference.store import SCHEMA, RunStore, StoreError, Where
from fasteval.types import Completion, ErrorKind, Status, Timing

pytestmark = pytest.mark.timeout(60)


def answer(text: str, ttft: float = 0.1) -> Completion:
    return Completion(
        status=Status.OK,
        text=text,
        finish_reason="stop",
        n_in=12,
        n_out=2,
        attempts=1,
        endpoint="http://127.0.0.1:1/v1",
        model="m",
        timing=Timing(
            t_dispatch=time.time(), queue_s=0.01, t_send=time.time(), ttft=ttft, e2el=0.3, itl=[0.1, 0.1]
        ),
    )


def failure(kind: ErrorKind = ErrorKind.SERVER) -> Completion:
    return Completion(status=Status.FAILED, error=f"{kind.value}!", error_kind=kind, attempts=4)


async def write(store: RunStore, run_id: str, rows: list[tuple[str, Completion, str]]) -> None:
    async with store.open_writer(run_id) as w:
        for key, completion, h in rows:
            w.append(key, completion, h)


async def test_rows_round_trip_with_every_field(tmp_path: Path) -> None:
    store = RunStore.for_run(tmp_path, "ModelX", "MME")
    c = answer("Yes")
    await write(store, "r1", [("7", c, "h7"), ("8", failure(ErrorKind.CONTEXT_LENGTH), "h8")])
    assert store.dir == tmp_path / "ModelX" / ".fasteval" / "MME"
    frame = store.read()
    assert frame.columns == SCHEMA.names and frame.height == 2
    row = frame.filter(pl.col("key") == "7").row(0, named=True)
    assert row["status"] == "ok" and row["text"] == "Yes" and row["itl"] == [0.1, 0.1]
    assert row["t_send"] == c.timing.t_send
    assert (row["n_in"], row["n_out"], row["ttft"], row["run_id"], row["request_hash"]) == (
        12,
        2,
        0.1,
        "r1",
        "h7",
    )
    bad = frame.filter(pl.col("key") == "8").row(0, named=True)
    assert (bad["status"], bad["error_kind"], bad["text"]) == ("failed", "context_length", None)


def test_segments_written_before_a_column_existed_read_with_nulls_there(tmp_path: Path) -> None:
    import pyarrow as pa

    store = RunStore.for_run(tmp_path, "M", "MME")
    store.dir.mkdir(parents=True)
    old_schema = pa.schema([f for f in SCHEMA if f.name != "t_send"])
    row = {f.name: None for f in old_schema} | {"key": "1", "status": "ok", "text": "Yes", "t_stored": 1.0}
    with pa.OSFile(str(store.dir / "seg-old.arrow"), "wb") as f, pa.ipc.new_stream(f, old_schema) as w:
        w.write_batch(pa.RecordBatch.from_pylist([row], schema=old_schema))
    frame = store.read()
    assert frame.columns == SCHEMA.names and frame.height == 1
    assert frame.row(0, named=True)["t_send"] is None and frame.row(0, named=True)["text"] == "Yes"


async def test_latest_ok_wins_and_a_later_failure_never_hides_an_answer(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    await write(store, "r1", [("a", answer("old"), "h"), ("b", failure(), "h"), ("c", failure(), "h")])
    await write(store, "r2", [("a", answer("new"), "h"), ("b", answer("fixed"), "h")])
    await write(store, "r3", [("a", failure(), "h"), ("c", failure(ErrorKind.TIMEOUT), "h")])
    frame = store.read()
    texts = dict(zip(frame["key"], frame["text"], strict=True))
    assert texts == {"a": "new", "b": "fixed", "c": None}
    assert frame.filter(pl.col("key") == "c")["error_kind"].item() == "timeout"  # latest failure
    assert store.done_keys() == {"a", "b"}
    assert len(store.segments()) == 3 and store.read_all().height == 7


async def test_done_keys_excludes_failures_and_answers_to_changed_requests(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    await write(store, "r1", [("1", answer("A"), "h"), ("2", answer("B"), "h-old"), ("3", failure(), "h")])
    assert store.done_keys("h") == {"1"}
    assert store.done_keys() == {"1", "2"}
    assert set(store.read("h")["key"]) == {"1", "3"}  # the stale answer to "2" is ignored
    assert store.done_keys("h", keys=["2", "3", "4"]) == set()  # --limit: only the job's keys
    assert set(store.read("h", keys=["1", "2"])["key"]) == {"1"}


async def test_a_newer_request_hides_every_older_answer_of_its_key(tmp_path: Path) -> None:
    """The fingerprint is compared as each batch is read: rows of an older request never reach
    the pick, so an older OK row cannot beat the newer request's failure."""
    store = RunStore(tmp_path)
    await write(store, "r1", [("1", answer("old"), "h-old"), ("2", answer("old"), "h-old")])
    await write(store, "r2", [("1", failure(), "h"), ("2", answer("new"), "h")])
    rows = {r["key"]: r for r in store.read("h").iter_rows(named=True)}
    assert (rows["1"]["status"], rows["2"]["text"]) == ("failed", "new")
    assert store.read("h", columns=("key", "text")).columns == ["key", "text"]


async def test_a_run_reads_back_exactly_its_own_segment(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    await write(store, "r1", [("1", answer("A"), "h"), ("2", failure(), "h")])
    await write(store, "r2", [("2", answer("B"), "h")])
    assert store.read_run("r2")["key"].to_list() == ["2"]
    assert sorted(store.read_run("r1", columns=("key", "status")).rows()) == [("1", "ok"), ("2", "failed")]
    assert store.read_run("never").height == 0


async def test_an_empty_store_reads_as_empty(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "nothing")
    assert store.read().height == 0 and store.done_keys() == set()


async def test_writer_refuses_misuse_with_one_line_errors(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    await write(store, "r1", [("1", answer("A"), "h")])
    with pytest.raises(StoreError, match="new run id"):
        async with store.open_writer("r1"):
            pass
    with pytest.raises(StoreError, match="letters, digits"):
        store.open_writer("../escape")
    writer = store.open_writer("r2")
    with pytest.raises(StoreError, match="async with"):
        writer.append("1", answer("A"), "h")


async def test_flush_makes_appended_rows_readable_while_the_writer_is_open(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    async with store.open_writer("live") as w:
        for i in range(50):
            w.append(str(i), answer(str(i)), "h")
            if i % 7 == 0:
                await asyncio.sleep(0)
        await w.flush()
        assert w.rows_written == 50
        assert store.read().height == 50  # readable before close: the segment is a stream of batches


def test_a_truncated_last_batch_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    store = RunStore(tmp_path)

    async def two_batches() -> None:
        async with store.open_writer("r1") as w:
            w.append("1", answer("A"), "h")
            await w.flush()
            w.append("2", answer("B"), "h")
            await w.flush()

    asyncio.run(two_batches())
    seg = store.segments()[0]
    whole = seg.read_bytes()
    # cut inside the second batch: keep the first batch intact
    seg.write_bytes(whole[: len(whole) - 40])
    assert set(store.read()["key"]) == {"1"}
    seg.write_bytes(b"")  # killed before even the schema was written
    assert store.read().height == 0


WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from fasteval.inference.store import RunStore
    from fasteval.types import Completion, Status, Timing

    async def main():
        store = RunStore(sys.argv[1])
        async with store.open_writer("victim") as w:
            i = 0
            while True:
                c = Completion(status=Status.OK, text=f"answer {i}", timing=Timing(t_dispatch=time.time()))
                w.append(str(i), c, "h")
                i += 1
                if i % 3 == 0:
                    await w.flush()
                    print(i, flush=True)
                await asyncio.sleep(0.002)

    asyncio.run(main())
    """
)


def test_sigkill_mid_run_loses_nothing_that_was_flushed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        flushed = 0
        while flushed < 60:  # bounded: the writer prints a growing count
            line = proc.stdout.readline()
            assert line, "writer exited early"
            flushed = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    frame = RunStore(tmp_path).read()
    keys = set(frame["key"])
    assert {str(i) for i in range(flushed)} <= keys
    assert all(t == f"answer {k}" for k, t in zip(frame["key"], frame["text"], strict=True))
    # a resumed run appends its own segment and the union reads back
    asyncio.run(write(RunStore(tmp_path), "resume", [(str(len(keys)), answer("late"), "h")]))
    assert RunStore(tmp_path).read().height == len(keys) + 1


def test_a_second_lock_names_the_holder_and_an_unwritable_dir_is_one_line(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s")
    held = store.lock()
    with pytest.raises(StoreError, match=f"pid {os.getpid()}") as err:
        store.lock()
    assert "\n" not in str(err.value)
    held.release()
    store.lock().release()  # free again once released
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot write") as err:
        RunStore(blocked / "s").lock()
    assert "\n" not in str(err.value)


async def test_a_full_disk_is_one_line_and_leaves_a_readable_prefix(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    writer = store.open_writer("r1")
    await writer.__aenter__()
    writer.append("1", answer("A"), "h")
    await writer.flush()

    def full(rows: object) -> None:
        raise OSError(28, "No space left on device")

    writer._write = full  # type: ignore[method-assign]
    writer.append("2", answer("B"), "h")
    with pytest.raises(StoreError, match="disk full") as err:
        await writer.__aexit__(None, None, None)
    assert "\n" not in str(err.value)
    assert store.read()["key"].to_list() == ["1"]


async def test_a_projected_read_equals_the_full_read_in_those_columns(tmp_path: Path) -> None:
    """`read(columns=...)` (issue 22: a finish reads only what it needs) picks the same rows."""
    store = RunStore(tmp_path)
    many = [(str(i), answer(f"t{i}") if i % 3 else failure(), "h") for i in range(150)]  # > one copy batch
    await write(store, "r1", many)
    await write(store, "r2", [("1", answer("new"), "h"), ("3", answer("fixed"), "h"), ("5", failure(), "x")])
    for fingerprint in (None, "h"):
        cols = ("text", "key", "status", "itl")
        full = store.read(fingerprint).select(cols).sort("key")
        part = store.read(fingerprint, columns=cols)
        assert part.columns == list(cols)
        assert part.sort("key").equals(full)
    texts = dict(store.read(columns=("key", "text")).iter_rows())
    assert (texts["1"], texts["3"], texts["5"]) == ("new", "fixed", "t5")


def test_a_projected_read_of_a_cut_segment_keeps_the_whole_batches(tmp_path: Path) -> None:
    store = RunStore(tmp_path)

    async def two_batches() -> None:
        async with store.open_writer("r1") as w:
            w.append("1", answer("A"), "h")
            await w.flush()
            w.append("2", answer("B"), "h")
            await w.flush()

    asyncio.run(two_batches())
    seg = store.segments()[0]
    seg.write_bytes(seg.read_bytes()[:-40])
    assert store.read(columns=("key", "text")).rows() == [("1", "A")]


def test_a_row_without_a_request_hash_answers_no_fingerprint() -> None:
    batch = pa.RecordBatch.from_pydict({"key": ["1", "2", "3"], "request_hash": ["h", None, "x"]})
    assert Where("request_hash", "h").apply(batch).column("key").to_pylist() == ["1"]
    assert Where("request_hash", "h").apply(batch.slice(0, 1)).num_rows == 1
