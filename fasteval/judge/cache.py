"""The judge's memory: every OK reply ever received, as append-only Arrow segments in the run store.

`{store_dir}/judge-{run_id}.arrow`, one segment per run, one record batch per reply, flushed at
once: a crash loses nothing already answered, a rerun or a rescore asks nothing twice. Segments
are framed and checksummed as the run store's are (`FramedFile`, read by `read_segment`): a
damaged one is moved aside with one line and its calls are asked again; plain Arrow IPC
segments written before the framing still read. Failed
calls are not cached: a rerun asks them again. Each record says which judge (model id as asked
and as the engine reported it, host), which prompt (hash), which try, and what came back.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pyarrow as pa

from fasteval.errors import write_failure
from fasteval.inference.store import FramedFile, StoreError, read_segment, storable
from fasteval.kinds.base import Reply

CACHE_SCHEMA = pa.schema(
    [
        ("judge_model", pa.string()),
        ("prompt_hash", pa.string()),
        ("reply", pa.string()),
        ("reported_model", pa.string()),
        ("host", pa.string()),
        ("row_key", pa.string()),
        ("temperature", pa.float64()),
        ("attempt", pa.int64()),
        ("t_stored", pa.float64()),
        ("ok", pa.bool_()),  # False: every HTTP attempt of the call failed (replayed as that failure)
        ("error", pa.string()),
        ("http_attempts", pa.int64()),
    ]
)


def prompt_hash(
    prompt: str, temperature: float, max_tokens: int, attempt: int, row_key: str, system: str | None = None
) -> str:
    """Everything that shapes one try's reply except the model (the other half of the key).

    The row key is part of it: two rows with the same prompt (circular rotations with equal option
    texts, a question asked of two images) are asked separately, as VLMEvalKit asks them, so call
    counts match and sampled tries (Y/N at temperature > 0) stay independent.
    """
    payload: dict[str, object] = {
        "prompt": prompt,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "try": attempt,
        "row": row_key,
    }
    if system is not None:  # only judges with a system prompt key on it: earlier records stay valid
        payload["system"] = system
    return hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=16).hexdigest()


class JudgeCache:
    """`{store_dir}/judge-*.arrow`: every judge call ever made for this (model, dataset), answered or
    failed after all its HTTP attempts, so a rerun or a rescore replays the same outcome."""

    def __init__(self, directory: Path, run_id: str) -> None:
        self.dir = directory
        self.run_id = run_id
        self.path = directory / f"judge-{run_id}.arrow"
        self._entries: dict[tuple[str, str], Reply] = {}
        self._file: FramedFile | None = None
        for seg in sorted(directory.glob("judge-*.arrow")) if directory.is_dir() else []:
            for batch in read_segment(seg, CACHE_SCHEMA):
                for row in batch.to_pylist():
                    ok = row["ok"] is not False  # segments from before `ok` held answers only
                    reply = Reply(ok, row["reply"] if ok else None, row["error"], row["reported_model"])
                    self._entries[(row["judge_model"], row["prompt_hash"])] = reply

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: str, phash: str) -> Reply | None:
        return self._entries.get((model, phash))

    def put(
        self,
        model: str,
        phash: str,
        reply: Reply,
        host: str,
        row_key: str,
        *,
        temperature: float,
        attempt: int,
        http_attempts: int,
    ) -> None:
        """Record one judge call and flush it at once (a full disk is a `StoreError` line)."""
        self._entries[(model, phash)] = reply
        row = {
            "judge_model": model,
            "prompt_hash": phash,
            "reply": storable(reply.text)[0],  # a lone surrogate would make Arrow refuse the row
            "reported_model": storable(reply.reported_model)[0],
            "host": host,
            "row_key": row_key,
            "temperature": temperature,
            "attempt": attempt,
            "t_stored": time.time(),
            "ok": reply.ok,
            "error": storable(reply.error)[0],
            "http_attempts": http_attempts,
        }
        try:
            if self._file is None:
                self._file = self._create()
            self._file.write(pa.RecordBatch.from_pylist([row], schema=CACHE_SCHEMA), sync=False)
        except OSError as exc:
            raise StoreError(write_failure(self.path, exc)) from None

    def _create(self) -> FramedFile:
        """This run's segment; a second cache of the same run in one process takes the next free name."""
        self.dir.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            try:
                return FramedFile(self.path, CACHE_SCHEMA)
            except FileExistsError:
                n += 1
                self.path = self.path.with_name(f"judge-{self.run_id}.{n}.arrow")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
