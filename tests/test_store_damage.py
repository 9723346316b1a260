"""A store that survives damage: any flipped byte of a finished segment is found, the segment is
moved aside with one line, its rows are asked again; a torn tail is only torn; lone surrogates
are stored losslessly; segments of the old bare-stream format still read."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from fasteval.inference.store import MAGIC, SCHEMA, RunStore, received_text, scan_segment
from fasteval.types import Completion, Status, Timing

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
HEADER = struct.Struct("<4sIIII")  # the frame header, as store.py documents it
KEYS = [str(i) for i in range(40)]
DAMAGED, INTACT = KEYS[:25], KEYS[25:]  # segment "a" holds 25 rows in 3 batches, "b" the rest


def answer(key: str) -> Completion:
    return Completion(Status.OK, text=f"answer {key}", n_out=2, timing=Timing(t_dispatch=1.0, itl=[0.1]))


async def write(store: RunStore, run_id: str, keys: list[str], per_batch: int = 10) -> None:
    async with store.open_writer(run_id) as w:
        for i, key in enumerate(keys, 1):
            w.append(key, answer(key), "h")
            if i % per_batch == 0:
                await w.flush()


def finished_store(root: Path) -> RunStore:
    store = RunStore(root)
    asyncio.run(write(store, "a", DAMAGED))
    asyncio.run(write(store, "b", INTACT))
    return store


def frames(data: bytes) -> list[tuple[int, int]]:
    """(offset, payload size) of every frame of a finished segment."""
    out, at = [], len(MAGIC)
    while at < len(data):
        _, size, _, _, _ = HEADER.unpack_from(data, at)
        out.append((at, size))
        at += HEADER.size + size
    return out


def position_classes(data: bytes) -> dict[str, range]:
    """Every kind of byte a segment has, by where it sits."""
    (schema_at, schema_size), *batches = frames(data)
    mid_at, mid_size = batches[len(batches) // 2]
    last_at, last_size = batches[-1]
    body = mid_at + HEADER.size
    return {
        "file header": range(0, len(MAGIC)),
        "schema frame header": range(schema_at, schema_at + HEADER.size),
        "schema": range(schema_at + HEADER.size, schema_at + HEADER.size + schema_size),
        "batch kind": range(mid_at, mid_at + 4),
        "batch length": range(mid_at + 4, mid_at + 8),
        "batch rows": range(mid_at + 8, mid_at + 12),
        "batch checksum": range(mid_at + 12, mid_at + 16),
        "batch header checksum": range(mid_at + 16, mid_at + 20),
        "batch metadata": range(body, body + 64),
        "batch body": range(body + 64, body + mid_size),
        "tail": range(last_at + HEADER.size, last_at + HEADER.size + last_size),
    }


def held_rows(position_class: str) -> str:
    """What the warning says the segment held: exact, unless the damaged byte is in a frame header
    (that frame's row count is then unknown: the 10 rows of the batch whose header it is)."""
    if position_class == "schema frame header":
        return "its rows (at least 25)"
    if position_class.startswith("batch") and position_class not in ("batch metadata", "batch body"):
        return "its rows (at least 15)"
    return "its 25 rows"


READER = textwrap.dedent(
    """
    import json, sys
    from fasteval.inference.store import RunStore
    for case in sys.argv[1:]:
        print(f"case {case}", file=sys.stderr, flush=True)
        store = RunStore(case)
        keys = sorted(store.done_keys())
        frame = store.read()
        print(json.dumps({"case": case, "done": keys, "rows": frame.height}), flush=True)
    """
)


def test_any_flipped_byte_is_found_quarantined_and_its_rows_asked_again(tmp_path: Path) -> None:
    pristine = finished_store(tmp_path / "pristine")
    seg_a = pristine.dir / "seg-a.arrow"
    data = seg_a.read_bytes()
    cases: dict[str, str] = {}
    for seed in range(4):
        rng = random.Random(seed)
        for name, where in position_classes(data).items():
            case = tmp_path / f"{name.replace(' ', '-')}-{seed}"
            shutil.copytree(pristine.dir, case)
            flipped = bytearray(data)
            flipped[rng.choice(where)] ^= rng.randrange(1, 256)
            (case / "seg-a.arrow").write_bytes(bytes(flipped))
            cases[str(case)] = name
    # the reads run in a child: a segfault fails this test instead of killing pytest
    r = subprocess.run(
        [sys.executable, "-c", READER, *cases], cwd=REPO, capture_output=True, text=True, timeout=100
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "panic" not in r.stderr
    results = {d["case"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert results.keys() == cases.keys()
    warnings = r.stderr.split("case ")[1:]
    for case, said in zip(cases, warnings, strict=True):
        lines = [line for line in said.splitlines()[1:] if line]
        assert len(lines) == 1 and lines[0].startswith("fasteval: warning: "), (cases[case], said)
        assert "seg-a.arrow is damaged" in lines[0], (cases[case], lines)
        assert held_rows(cases[case]) in lines[0], (cases[case], lines)
        assert results[case]["done"] == sorted(INTACT), cases[case]  # nothing of a kept, nothing of b lost
        assert (Path(case) / "seg-a.arrow.damaged").is_file() and not (Path(case) / "seg-a.arrow").exists()

    case = Path(next(iter(cases)))  # the rerun asks the 25 rows again: every row answered once
    store = RunStore(case)
    missing = sorted(set(KEYS) - store.done_keys(), key=int)
    assert missing == DAMAGED
    asyncio.run(write(store, "rerun", missing))
    every = store.read_all()
    assert sorted(every["key"].to_list(), key=int) == KEYS
    assert (every["status"] == "ok").all()


def test_a_torn_tail_is_torn_not_damage(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    store = finished_store(tmp_path)
    seg = store.dir / "seg-a.arrow"
    data = seg.read_bytes()
    last_at, _ = frames(data)[-1]
    for cut in (last_at + 3, last_at + HEADER.size, len(data) - 1):  # header cut, payload cut
        seg.write_bytes(data[:cut])
        scan = scan_segment(seg)
        assert scan.torn and scan.damage is None and scan.rows == 20  # the whole frames before it
        assert store.done_keys() == set(DAMAGED[:20]) | set(INTACT)
    assert seg.is_file() and capfd.readouterr().err == ""


def test_an_answer_edited_in_place_is_damage(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    store = finished_store(tmp_path)
    seg = store.dir / "seg-a.arrow"
    seg.write_bytes(seg.read_bytes().replace(b"answer 7", b"answer X"))
    assert store.done_keys() == set(INTACT)
    assert "seg-a.arrow is damaged" in capfd.readouterr().err


def test_a_segment_that_is_not_one_is_quarantined_with_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    store = finished_store(tmp_path)
    (store.dir / "seg-junk.arrow").write_bytes(b"\x00" * 1000)
    assert store.done_keys() == set(KEYS)
    err = capfd.readouterr().err.splitlines()
    assert (
        len(err) == 1
        and "seg-junk.arrow is damaged" in err[0]
        and "moved to seg-junk.arrow.damaged" in err[0]
    )


def old_format_segment(store: RunStore, name: str, keys: list[str]) -> Path:
    """A segment as fasteval wrote them before the framed format: a bare Arrow IPC stream."""
    store.dir.mkdir(parents=True, exist_ok=True)
    path = store.dir / name
    rows = [
        {"key": k, "status": "ok", "text": f"old {k}", "request_hash": "h", "t_stored": 1.0} for k in keys
    ]
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, SCHEMA) as w:
        w.write_batch(pa.RecordBatch.from_pylist(rows, schema=SCHEMA))
    return path


def test_old_segments_still_read_and_a_damaged_old_schema_is_not_silent(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    store = RunStore(tmp_path)
    path = old_format_segment(store, "seg-old.arrow", ["1", "2"])
    frame = store.read()
    assert frame["text"].to_list() == ["old 1", "old 2"] and capfd.readouterr().err == ""
    path.write_bytes(path.read_bytes().replace(b"request_hash", b"request_hasx", 1))
    assert store.read().height == 0
    assert "seg-old.arrow is damaged" in capfd.readouterr().err


async def test_lone_surrogates_are_stored_and_read_back_exactly(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    odd = "A\ud800 then \udfff and é 😀"
    strange = Completion(Status.OK, text=odd, model="m\ud800", finish_reason="stop\udc00")
    async with store.open_writer("r") as w:
        w.append("1", strange, "h")
        w.append("2", answer("2"), "h")
    row = store.read().filter(pl.col("key") == "1").row(0, named=True)
    assert row["text"] == "A\ufffd then \ufffd and é 😀"  # what is scored and written out
    assert received_text(row["text"], row["text_raw"]) == odd  # what the server sent
    assert row["model"] == "m\ufffd"
    plain = store.read().filter(pl.col("key") == "2").row(0, named=True)
    assert plain["text_raw"] is None and received_text(plain["text"], plain["text_raw"]) == "answer 2"


def test_a_judge_reply_with_a_lone_surrogate_is_cached_not_a_crash(tmp_path: Path) -> None:
    from fasteval.judge.cache import JudgeCache
    from fasteval.kinds.base import Reply

    cache = JudgeCache(tmp_path, "r1")
    cache.put(
        "judge",
        "p1",
        Reply(True, "B\ud800", None, "judge"),
        "h",
        "1",
        temperature=0.0,
        attempt=0,
        http_attempts=1,
    )
    cache.close()
    again = JudgeCache(tmp_path, "r2").get("judge", "p1")
    assert again is not None and again.text == "B\ufffd"


def test_a_damaged_segment_that_cannot_move_is_ignored_and_named_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = finished_store(tmp_path)
    seg = store.dir / "seg-a.arrow"
    seg.write_bytes(seg.read_bytes().replace(b"answer 7", b"answer X"))

    def read_only(self: Path, target: Path) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "rename", read_only)
    assert store.done_keys() == set(INTACT) and store.done_keys() == set(INTACT)  # every read ignores it
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1 and "cannot be moved aside (Permission denied)" in err[0] and seg.is_file()


def _judge_reply(cache: object, phash: str, text: str) -> None:
    from fasteval.judge.cache import JudgeCache
    from fasteval.kinds.base import Reply

    assert isinstance(cache, JudgeCache)
    reply = Reply(True, text, None, "judge")
    cache.put("judge", phash, reply, "h", phash, temperature=0.0, attempt=0, http_attempts=1)


def test_a_damaged_judge_segment_is_set_aside_and_its_calls_asked_again(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A verdict edited in place (`B` -> `C`) would once have been replayed as the judge's word."""
    from fasteval.judge.cache import JudgeCache

    cache = JudgeCache(tmp_path, "r1")
    for i in range(5):
        _judge_reply(cache, f"p{i}", f"verdict B{i}")
    cache.close()
    seg = tmp_path / "judge-r1.arrow"
    assert seg.read_bytes().startswith(MAGIC)
    seg.write_bytes(seg.read_bytes().replace(b"verdict B3", b"verdict C3"))
    again = JudgeCache(tmp_path, "r2")
    assert len(again) == 0 and again.get("judge", "p3") is None  # every call of it is asked again
    (line,) = capfd.readouterr().err.splitlines()
    assert "judge-r1.arrow is damaged" in line and "its 5 rows will be asked again" in line
    assert (tmp_path / "judge-r1.arrow.damaged").is_file() and not seg.exists()


def test_a_judge_segment_written_before_the_framing_still_reads(tmp_path: Path) -> None:
    from fasteval.judge.cache import CACHE_SCHEMA, JudgeCache

    row = {name: None for name in CACHE_SCHEMA.names}
    row.update(judge_model="judge", prompt_hash="p1", reply="B", ok=True)
    with pa.OSFile(str(tmp_path / "judge-old.arrow"), "wb") as f, pa.ipc.new_stream(f, CACHE_SCHEMA) as w:
        w.write_batch(pa.RecordBatch.from_pylist([row], schema=CACHE_SCHEMA))
    cache = JudgeCache(tmp_path, "r2")
    got = cache.get("judge", "p1")
    assert got is not None and got.text == "B"
    _judge_reply(cache, "p2", "A")  # new calls go to a framed segment beside the old one
    cache.close()
    assert (tmp_path / "judge-r2.arrow").read_bytes().startswith(MAGIC)
    assert len(JudgeCache(tmp_path, "r3")) == 2


def test_a_full_disk_under_the_judge_cache_is_one_line(tmp_path: Path) -> None:
    """As the run store's: ENOSPC at the write becomes a `StoreError` naming the file; calls
    recorded before it stay readable."""
    from fasteval.inference.store import FramedFile, StoreError
    from fasteval.judge.cache import JudgeCache

    cache = JudgeCache(tmp_path, "r1")
    _judge_reply(cache, "p1", "A")

    def no_space(self: FramedFile, batch: pa.RecordBatch, *, sync: bool) -> None:
        raise OSError(28, "No space left on device")

    real, FramedFile.write = FramedFile.write, no_space  # type: ignore[method-assign]
    try:
        with pytest.raises(StoreError, match="disk full") as err:
            _judge_reply(cache, "p2", "B")
    finally:
        FramedFile.write = real  # type: ignore[method-assign]
    cache.close()
    assert "judge-r1.arrow" in str(err.value) and "\n" not in str(err.value)
    assert len(JudgeCache(tmp_path, "r2")) == 1
