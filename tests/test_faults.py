"""End to end against a fault-injecting server process: client + routing + store + resume.

Every request ends as an answer or a typed failure; a resumed run re-sends only what failed, and the
server's own counters prove no prompt was answered twice.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from fault_server import answer_tokens, prompt_hash, spawn

from fasteval.inference.client import Backoff, Client, build_body
from fasteval.inference.endpoints import EndpointPool
from fasteval.inference.store import RunStore
from fasteval.perf.metrics import summarize
from fasteval.types import Completion, ErrorKind, GenParams, Prompt, Status, TextPart

pytestmark = pytest.mark.timeout(90)

MODEL = "fault-e2e"
PARAMS = GenParams(timeout_s=0.5, max_tokens=16)
FINGERPRINT = "fault-e2e-job"  # the runner stores one request fingerprint per job
PROMPTS = {str(i): Prompt((TextPart(f"Is there a cat in picture {i}?"),)) for i in range(60)}


async def fetch_stats(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as s, s.get(url.removesuffix("/v1") + "/stats") as r:
        data: dict[str, object] = await r.json()
        return data


async def run_pass(url: str, store: RunStore, keys: set[str], *, retry: int, run_id: str) -> list[Completion]:
    pool = EndpointPool([url])
    out: list[Completion] = []
    async with Client(pool, concurrency=8, retry=retry, backoff=Backoff(base_s=0.01, cap_s=0.05)) as client:
        async with store.open_writer(run_id) as writer:

            async def one(key: str) -> None:
                c = await client.complete(build_body(MODEL, PROMPTS[key], PARAMS), PARAMS)
                writer.append(key, c, FINGERPRINT)
                out.append(c)

            await asyncio.gather(*(one(k) for k in sorted(keys)))
        await pool.aclose()
    return out


def expected_text(key: str) -> str:
    body = json.loads(build_body(MODEL, PROMPTS[key], PARAMS))
    return "".join(answer_tokens(prompt_hash(body["messages"]), 3))


async def test_faulty_run_then_resume_answers_every_prompt_exactly_once(tmp_path: Path) -> None:
    store = RunStore.for_run(tmp_path, MODEL, "Synthetic")
    args = ("--fault-rate", "0.4", "--permanent-fail-rate", "0.1", "--seed", "7", "--tokens", "3")
    with spawn("--model", MODEL, *args, "--stall", "5", "--retry-after", "0.05") as (url, proc):
        first = await run_pass(url, store, set(PROMPTS), retry=0, run_id="first")
        assert any(not c.ok for c in first) and any(c.ok for c in first)
        for c in first:  # failures are values, never text
            assert (c.text is None and isinstance(c.error_kind, ErrorKind)) if not c.ok else c.error is None

        todo = set(PROMPTS) - store.done_keys(FINGERPRINT, keys=PROMPTS)
        assert todo == {k for k, row in _rows(store).items() if row["status"] != "ok"}
        second = await run_pass(url, store, todo, retry=6, run_id="second")
        assert len(second) == len(todo)
        stats = await fetch_stats(url)
    assert proc.returncode == 0

    final = _rows(store)
    assert set(final) == set(PROMPTS)
    permanent = {k for k, r in final.items() if r["status"] != "ok"}
    assert permanent, "the permanent-fail rate should leave some prompts failing"
    for key, row in final.items():
        if key in permanent:
            assert row["error_kind"] == ErrorKind.CONTEXT_LENGTH.value and row["attempts"] == 1
        else:
            assert row["text"] == expected_text(key)

    ok_counts = stats["ok"]
    assert isinstance(ok_counts, dict)
    assert max(ok_counts.values()) == 1  # no prompt was answered twice
    assert sum(ok_counts.values()) == len(PROMPTS) - len(permanent)

    perf = summarize(store.read())
    assert perf.completed == len(PROMPTS) - len(permanent) and perf.failed == len(permanent)
    assert perf.total_output_tokens == 3 * perf.completed


async def test_two_servers_with_different_faults_give_byte_equal_answers(tmp_path: Path) -> None:
    answers = []
    for i, args in enumerate((("--fault-rate", "0.5", "--seed", "1"), ("--fault-rate", "0", "--seed", "2"))):
        store = RunStore(tmp_path / str(i))
        with spawn(
            "--model", MODEL, *args, "--tokens", "3", "--faults", "5xx,429,drop,malformed,nochoices"
        ) as (
            url,
            _,
        ):
            await run_pass(url, store, set(PROMPTS), retry=8, run_id="r")
        frame = store.read()
        assert (frame["status"] == Status.OK.value).all()
        answers.append(dict(zip(frame["key"], frame["text"], strict=True)))
    assert answers[0] == answers[1]


async def test_a_killed_server_turns_requests_into_connect_failures_and_all_down() -> None:
    with spawn("--model", MODEL, "--tokens", "3") as (url, proc):
        proc.kill()
        proc.wait(timeout=10)
        pool = EndpointPool([url], max_connect_failures=2, cooldown_s=60)
        async with Client(pool, concurrency=4, retry=1, backoff=Backoff(base_s=0.01)) as client:
            results = await asyncio.gather(
                *(client.complete(build_body(MODEL, PROMPTS[k], PARAMS), PARAMS) for k in list(PROMPTS)[:8])
            )
    assert all(c.error_kind is ErrorKind.CONNECT for c in results)
    assert pool.all_down and url in pool.unreachable_message()


def _rows(store: RunStore) -> dict[str, dict[str, object]]:
    return {r["key"]: r for r in store.read().iter_rows(named=True)}
