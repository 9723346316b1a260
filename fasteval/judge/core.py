"""The LLM judge: answers exact matching cannot extract, asked of a second server, cached, on record.

VLMEvalKit's semantics (research/vlmevalkit.md §4.2-4.5), with three deliberate differences:

* a judge that fails its health probe stops the run (or, when asked, falls back *and says so*)
  instead of silently scoring by exact matching;
* after every try fails, MCQ takes a *seeded* random option (`random.Random` keyed by seed and row
  key, or 'Z'), recorded per row, instead of an unseeded one;
* every reply is cached in the run store (`judge-{run_id}.arrow`, keyed by judge model and prompt
  hash, which includes the try number), so rescoring or resuming asks nothing twice.

Judging is a pipeline stage: `JudgeStage.add` takes each prediction as it is stored and sends the
row to the judge at once when exact matching fails (circular groups once all their rows are in).
A judge call never raises: a failed one is a value that counts as a try and is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import string
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import polars as pl
import pyarrow as pa

from fasteval.cli.settings import Secret, Settings
from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import FastevalError
from fasteval.inference.client import Client, build_body
from fasteval.inference.endpoints import EndpointPool, redact_url
from fasteval.judge.prompts import mcq_prompt, yorn_prompt
from fasteval.kinds.extract import (
    OFFICIAL,
    UNKNOWN,
    effective_rules,
    extract_mcq,
    extract_yorn,
    yorn_vlmevalkit,
)
from fasteval.scoring.mcq import CIRCULAR_STRIDE
from fasteval.types import BenchmarkSpec, GenParams, Kind, Method, Prompt, TextPart

__all__ = [
    "EXACT_MATCHING",
    "Health",
    "Item",
    "ItemFactory",
    "JobJudge",
    "Judge",
    "JudgeCache",
    "JudgeEndpoint",
    "JudgePlan",
    "JudgeStage",
    "JudgeStats",
    "JudgeUnavailable",
    "Verdict",
    "judge_items",
    "normalise_base",
    "probe_judge",
    "resolve_judge",
]

EXACT_MATCHING = "exact_matching"
MCQ_TRIES = 3  # extract_answer_from_item: retry = 3, default temperature 0
YORN_TEMPERATURES = (0.0, 0.5, 1.0, 1.5, 2.0)  # YOrN_auxeval: temperature 0.5 * i
JUDGE_MAX_TOKENS = 2048  # OpenAIWrapper's default
# build_judge's key -> model version map (used only when no LOCAL_LLM names the judge)
MODEL_ALIASES: Mapping[str, str] = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-05-13",
    "gpt-4-turbo": "gpt-4-1106-preview",
    "chatgpt-0125": "gpt-3.5-turbo-0125",
}
_LETTERS = tuple(string.ascii_uppercase)
Unparsed = Literal["seeded", "z"]


class JudgeUnavailable(FastevalError):
    """The configured judge failed its health probe (one line: the URL and the fix)."""


# ---------------------------------------------------------------------------------------------
# Which judge
# ---------------------------------------------------------------------------------------------


def normalise_base(url: str) -> str:
    """An OpenAI base (`.../v1`) from what VLMEvalKit accepts (often the full chat URL)."""
    base = url.strip().rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        base = base.removesuffix(suffix)
    return base.rstrip("/")


@dataclass(frozen=True, slots=True)
class JudgeEndpoint:
    base_url: str
    model: str  # the `model` field of every judge request
    api_key: Secret | None = field(repr=False, compare=False)
    source: str  # where the judge came from, for the summary

    @property
    def host(self) -> str:
        """host:port only (never credentials or paths), for records."""
        parts = urllib.parse.urlsplit(self.base_url)
        host = parts.hostname or self.base_url
        return f"{host}:{parts.port}" if parts.port else host


@dataclass(frozen=True, slots=True)
class JudgePlan:
    """The run's judge (or None) and why; `for_spec` applies each benchmark's own policy."""

    endpoint: JudgeEndpoint | None
    reason: str
    explicit: bool = False  # `--judge MODEL` given: it overrides a benchmark's exact-matching default

    def for_spec(self, spec: BenchmarkSpec, rules: str) -> tuple[JudgeEndpoint | None, str]:
        if self.endpoint is None:
            return None, self.reason
        if spec.judge == EXACT_MATCHING and not self.explicit:
            return None, f"benchmark {spec.name} sets judge = {EXACT_MATCHING!r} (--judge MODEL overrides it)"
        if effective_rules(rules, spec.official_rule).startswith(OFFICIAL + ":"):
            return None, f"--rules {OFFICIAL}: the benchmark's own scorer has no judge"
        return self.endpoint, self.reason

    def without_judge(self, reason: str) -> JudgePlan:
        return JudgePlan(None, reason, self.explicit)


def resolve_judge(
    *,
    judge: str | None,
    base_url: str | None,
    key: str | None,
    settings: Settings,
    judge_servers: Sequence[Any] = (),
    default_key: str = "gpt-4o-mini",
) -> JudgePlan:
    """Flags, then `.env`/environment (VLMEvalKit's OPENAI_API_BASE / LOCAL_LLM / OPENAI_API_KEY),
    then the server `make judge` started; nothing configured means exact matching.

    `judge_servers` are `serve.ServerState`s of role judge (only read when nothing else names a base).
    """
    if judge == EXACT_MATCHING:
        return JudgePlan(None, f"--judge {EXACT_MATCHING}")
    secret = Secret(key) if key else settings.openai_api_key
    model = MODEL_ALIASES.get(judge, judge) if judge else settings.local_llm
    if base_url:
        base, source = normalise_base(base_url), "--judge-base-url"
    elif settings.openai_api_base:
        base, source = normalise_base(settings.openai_api_base), "OPENAI_API_BASE"
    elif judge_servers:
        server = judge_servers[-1]  # the newest
        base, source = server.base_url, f"make judge ({server.name})"
        model = model or server.served_name
    else:
        hint = (
            " (OPENAI_API_KEY alone is not enough: "
            "set OPENAI_API_BASE=https://api.openai.com/v1 to use OpenAI)"
            if secret is not None
            else ""
        )
        return JudgePlan(
            None,
            "no judge configured (no --judge-base-url, OPENAI_API_BASE or `make judge` server): "
            f"answers exact matching cannot extract are misses{hint}",
        )
    model = model or MODEL_ALIASES.get(default_key, default_key)
    via = "--judge" if judge else "LOCAL_LLM" if settings.local_llm else source
    return JudgePlan(
        JudgeEndpoint(base, model, secret, source),
        f"judge {model} ({via}) at {base} ({source})",
        explicit=judge is not None,
    )


# ---------------------------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    message: str  # one line: what was seen and the fix
    max_model_len: int | None = None
    reported_model: str | None = None


_FIX = (
    "start one with `make judge`, or point OPENAI_API_BASE / --judge-base-url at a running judge "
    "(or pass --judge exact_matching, or --judge-fallback exact_matching to score without it)"
)


async def probe_judge(
    session: aiohttp.ClientSession, endpoint: JudgeEndpoint, timeout_s: float = 10.0
) -> Health:
    """GET /models must list the judge model; servers without /models get one tiny chat call instead."""
    key = endpoint.api_key.reveal() if endpoint.api_key else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = f"{endpoint.base_url}/models"
    listed: list[dict[str, Any]] | None = None
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            if resp.status == 200:
                data = await resp.json(content_type=None)
                items = data.get("data") if isinstance(data, dict) else None
                if isinstance(items, list):
                    listed = [m for m in items if isinstance(m, dict) and "id" in m]
    except (aiohttp.ClientError, TimeoutError, ValueError):
        listed = None
    if listed is not None:
        ids = [str(m["id"]) for m in listed]
        entry = next((m for m in listed if str(m["id"]) == endpoint.model), None)
        if entry is None:
            return Health(
                False,
                f"judge at {redact_url(endpoint.base_url)} serves {', '.join(ids) or 'no model'}, "
                f"not {endpoint.model!r}: set LOCAL_LLM (or --judge) to the served id",
            )
        mml = entry.get("max_model_len")
        return Health(True, "ok", mml if isinstance(mml, int) else None, endpoint.model)
    body = build_body(
        endpoint.model,
        Prompt((TextPart("hello"),)),
        GenParams(max_tokens=1, timeout_s=timeout_s),
        stream=False,
    )
    client = Client(EndpointPool([endpoint.base_url], key), concurrency=1, retry=0, api_key=key)
    async with client:
        completion = await client.complete(body, GenParams(max_tokens=1, timeout_s=timeout_s))
    if completion.ok:
        return Health(True, "ok", None, completion.model)
    shown = redact_url(endpoint.base_url)
    return Health(False, f"judge at {shown} does not answer ({completion.error}): {_FIX}")


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one row's answer was finally extracted by the judge stage (exact rows have none)."""

    answer: str  # an option letter / 'Z', or 'Yes' / 'No' / 'Unknown'
    method: Method  # JUDGE, FALLBACK (seeded choice or Z after failed tries), UNRESOLVED (no reply at all)
    reply: str | None  # the judge's raw reply that decided (else the last one, else the last error)
    tries: int
    model: str  # judge model asked
    reported_model: str | None  # the model the engine named in its reply
    host: str
    call_failed: bool = False  # the last try failed as a request: the fallback, not the judge, decided


@dataclass(frozen=True, slots=True)
class Item:
    """One answered row as the judge sees it."""

    key: str
    kind: Kind
    question: str
    prediction: str
    choices: Mapping[str, str]
    answer: str | None  # ground truth (circular early exit)
    exact: str | None  # exact matching's answer; None when it could not decide
    group: int | None = None  # circular g_index


@dataclass(slots=True)
class JudgeStats:
    calls: int = 0  # judge requests sent in this run (tries, not rows)
    failed_calls: int = 0
    cached: int = 0  # tries answered from the cache
    reported_models: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "cached_replies": self.cached,
            "reported_models": dict(self.reported_models),
        }


@dataclass(frozen=True, slots=True)
class _Reply:
    ok: bool
    text: str | None
    error: str | None = None
    reported_model: str | None = None


# ---------------------------------------------------------------------------------------------
# The cache: append-only Arrow segments beside the run store
# ---------------------------------------------------------------------------------------------

CACHE_SCHEMA = pa.schema(
    [
        ("judge_model", pa.string()),
        ("prompt_hash", pa.string()),
        ("reply", pa.string()),
        ("reported_model", pa.string()),
        ("host", pa.string()),
        ("row_key", pa.string()),
        ("t_stored", pa.float64()),
    ]
)


def prompt_hash(prompt: str, temperature: float, max_tokens: int, attempt: int, row_key: str) -> str:
    """Everything that shapes one try's reply except the model (the other half of the key).

    The row key is part of it: two rows with the same prompt (circular rotations with equal option
    texts, a question asked of two images) are asked separately, as VLMEvalKit asks them, so call
    counts match and sampled tries (Y/N at temperature > 0) stay independent.
    """
    payload = {
        "prompt": prompt,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "try": attempt,
        "row": row_key,
    }
    return hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=16).hexdigest()


class JudgeCache:
    """`{store_dir}/judge-*.arrow`: every OK judge reply ever received for this (model, dataset).

    One segment per run, one record batch per reply, flushed at once (a crash loses nothing already
    answered). Failed calls are not cached: a rerun asks them again.
    """

    def __init__(self, directory: Path, run_id: str) -> None:
        self.dir = directory
        self.path = directory / f"judge-{run_id}.arrow"
        self._entries: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._file: Any = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        for seg in sorted(directory.glob("judge-*.arrow")) if directory.is_dir() else []:
            for batch in _read_batches(seg):
                for row in batch.to_pylist():
                    self._entries[(row["judge_model"], row["prompt_hash"])] = (
                        row["reply"],
                        row["reported_model"],
                    )

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: str, phash: str) -> tuple[str, str | None] | None:
        return self._entries.get((model, phash))

    def put(self, model: str, phash: str, reply: str, reported: str | None, host: str, row_key: str) -> None:
        self._entries[(model, phash)] = (reply, reported)
        if self._writer is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._file = pa.OSFile(str(self.path), "ab")
            self._writer = pa.ipc.new_stream(self._file, CACHE_SCHEMA)
        row = {
            "judge_model": model,
            "prompt_hash": phash,
            "reply": reply,
            "reported_model": reported,
            "host": host,
            "row_key": row_key,
            "t_stored": time.time(),
        }
        self._writer.write_batch(pa.RecordBatch.from_pylist([row], schema=CACHE_SCHEMA))
        self._file.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_batches(path: Path) -> list[pa.RecordBatch]:
    batches: list[pa.RecordBatch] = []
    try:
        with pa.OSFile(str(path), "rb") as f:
            reader = pa.ipc.open_stream(f)
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
    except (pa.ArrowInvalid, OSError, EOFError):
        pass  # truncated by a crash: keep the whole batches
    return batches


# ---------------------------------------------------------------------------------------------
# The judge: one session, one semaphore, shared by every job of the run
# ---------------------------------------------------------------------------------------------


class Judge:
    """A judge endpoint with its own connection pool and concurrency (`--judge-concurrency`)."""

    def __init__(
        self,
        endpoint: JudgeEndpoint,
        *,
        concurrency: int = 32,
        retry: int = 6,
        max_tokens: int = JUDGE_MAX_TOKENS,
        timeout_s: float = 600.0,
    ) -> None:
        self.endpoint = endpoint
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        key = endpoint.api_key.reveal() if endpoint.api_key else None
        self._client = Client(
            EndpointPool([endpoint.base_url], key), concurrency=concurrency, retry=retry, api_key=key
        )

    async def __aenter__(self) -> Judge:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.pool.aclose()
        await self._client.__aexit__(None, None, None)

    async def probe(self) -> Health:
        health = await probe_judge(self._client.session, self.endpoint)
        if health.ok and health.max_model_len:  # leave the prompt room in a small context
            self.max_tokens = max(16, min(self.max_tokens, health.max_model_len // 2))
        return health

    async def ask(
        self,
        prompt: str,
        temperature: float,
        attempt: int,
        cache: JudgeCache,
        stats: JudgeStats,
        row_key: str,
    ) -> _Reply:
        model = self.endpoint.model
        phash = prompt_hash(prompt, temperature, self.max_tokens, attempt, row_key)
        hit = cache.get(model, phash)
        if hit is not None:
            stats.cached += 1
            if hit[1]:
                stats.reported_models[hit[1]] += 1
            return _Reply(True, hit[0], reported_model=hit[1])
        params = GenParams(max_tokens=self.max_tokens, temperature=temperature, timeout_s=self.timeout_s)
        body = build_body(model, Prompt((TextPart(prompt),)), params, stream=False)
        completion = await self._client.complete(body, params)
        stats.calls += 1
        if not completion.ok:
            stats.failed_calls += 1
            return _Reply(False, None, error=completion.error)
        text = (completion.text or "").strip()  # VLMEvalKit: choices[0].message.content.strip()
        if completion.model:
            stats.reported_models[completion.model] += 1
        cache.put(model, phash, text, completion.model, self.endpoint.host, row_key)
        return _Reply(True, text, reported_model=completion.model)


class JobJudge:
    """The judge as one (model, dataset) job uses it: its cache, rules, fallback policy and counts."""

    def __init__(
        self,
        judge: Judge,
        cache: JudgeCache,
        *,
        rules: str,
        unparsed: Unparsed = "seeded",
        seed: int = 0,
        article_a_guard: bool = False,
    ) -> None:
        self.judge = judge
        self.cache = cache
        self.rules = rules
        self.unparsed = unparsed
        self.seed = seed
        self.article_a_guard = article_a_guard
        self.stats = JudgeStats()

    def _verdict(self, answer: str, method: Method, reply: _Reply | None, tries: int) -> Verdict:
        ep = self.judge.endpoint
        text = None if reply is None else reply.text if reply.ok else f"[judge call failed] {reply.error}"
        reported = None if reply is None else reply.reported_model
        failed = reply is not None and not reply.ok
        return Verdict(answer, method, text, tries, ep.model, reported, ep.host, failed)

    async def mcq(self, item: Item) -> Verdict:
        """Up to 3 tries at temperature 0, each reply read by the rule set's matcher; then a seeded
        choice among the options and Z (VLMEvalKit: unseeded), or Z under `--judge-unparsed z`."""
        prompt = mcq_prompt(item.question, item.choices, item.prediction)
        last: _Reply | None = None
        for attempt in range(MCQ_TRIES):
            reply = await self.judge.ask(prompt, 0.0, attempt, self.cache, self.stats, item.key)
            if last is None or reply.ok or not last.ok:
                last = reply
            if reply.ok and reply.text is not None:
                letter = extract_mcq(
                    reply.text, item.choices, self.rules, article_a_guard=self.article_a_guard
                )
                if letter:
                    return self._verdict(letter, Method.JUDGE, reply, attempt + 1)
        return self._verdict(self.fallback_choice(item), Method.FALLBACK, last, MCQ_TRIES)

    def fallback_choice(self, item: Item) -> str:
        if self.unparsed == "z":
            return "Z"
        options = [*item.choices, "Z"] if "Z" not in item.choices else list(item.choices)
        return random.Random(f"{self.seed}:{item.key}").choice(options)

    async def yorn(self, item: Item) -> Verdict:
        """Up to 5 tries at temperatures 0, 0.5, 1, 1.5, 2; the first Yes/No wins, else Unknown."""
        prompt = yorn_prompt(item.question, item.prediction)
        last: _Reply | None = None
        for attempt, temperature in enumerate(YORN_TEMPERATURES):
            reply = await self.judge.ask(prompt, temperature, attempt, self.cache, self.stats, item.key)
            if last is None or reply.ok or not last.ok:
                last = reply
            if reply.ok and reply.text is not None:
                word = yorn_vlmevalkit(reply.text)
                if word != UNKNOWN:
                    return self._verdict(word, Method.JUDGE, reply, attempt + 1)
        answered = last is not None and last.ok
        return self._verdict(
            UNKNOWN, Method.JUDGE if answered else Method.UNRESOLVED, last, len(YORN_TEMPERATURES)
        )

    async def circular(self, items: Sequence[Item]) -> dict[str, Verdict]:
        """`eval_circular_group`: a group with an exact mismatch fails without a call; otherwise its
        unresolved rows are judged in index order until one comes out wrong."""
        ordered = sorted(items, key=lambda it: _int_key(it.key))
        if any(it.exact is not None and it.exact != it.answer for it in ordered):
            return {}
        out: dict[str, Verdict] = {}
        for it in ordered:
            if it.exact is not None:
                continue
            verdict = await self.mcq(it)
            out[it.key] = verdict
            if verdict.answer != it.answer:
                break
        return out

    async def one(self, item: Item) -> dict[str, Verdict]:
        if item.exact is not None:
            return {}
        verdict = await (self.mcq(item) if item.kind == "mcq" else self.yorn(item))
        return {item.key: verdict}


def _int_key(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        return 0


# ---------------------------------------------------------------------------------------------
# From table rows to judge items (the same extraction the scorer applies)
# ---------------------------------------------------------------------------------------------


class ItemFactory:
    """Builds `Item`s for keys of a table holding `index`, `question`, `answer` and option columns.

    The exact-matching answer is computed exactly as `evaluate.score_predictions` computes it (same
    prediction text, same choices, same rule set), so a row goes to the judge iff the scorer would
    leave it unresolved.
    """

    def __init__(
        self, spec: BenchmarkSpec, table: pl.DataFrame, rules: str, *, article_a_guard: bool = False
    ) -> None:
        self.spec = spec
        self.rules = rules
        self.article_a_guard = article_a_guard
        letters = [c for c in _LETTERS if c in table.columns] if spec.kind == "mcq" else []
        cols = ["index", *[c for c in ("question", "answer") if c in table.columns], *letters]
        self._rows: dict[str, dict[str, Any]] = {
            as_vlmeval_str(r["index"]): r for r in table.select(cols).iter_rows(named=True)
        }
        self._letters = letters

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def group_of(self, key: str) -> int | None:
        if not self.spec.circular:
            return None
        return _int_key(key) % CIRCULAR_STRIDE

    def item(self, key: str, prediction: str) -> Item:
        row = self._rows[key]
        question = as_vlmeval_str(row.get("question"))
        answer = None if row.get("answer") is None else as_vlmeval_str(row["answer"])
        if self.spec.kind == "yorn":
            word = extract_yorn(prediction, self.rules, official_rule=self.spec.official_rule)
            return Item(key, "yorn", question, prediction, {}, answer, None if word == UNKNOWN else word)
        choices = {ch: as_vlmeval_str(row[ch]) for ch in self._letters if row[ch] is not None}
        exact = extract_mcq(
            prediction,
            choices,
            self.rules,
            official_rule=self.spec.official_rule,
            article_a_guard=self.article_a_guard,
        )
        return Item(key, "mcq", question, prediction, choices, answer, exact, self.group_of(key))


# ---------------------------------------------------------------------------------------------
# The pipeline stage
# ---------------------------------------------------------------------------------------------


class JudgeStage:
    """Rows in as they are stored; judge calls out as soon as a row (or circular group) is ready.

    A circular group is released once every expected row of it has arrived (answered or failed for
    good) and only if its main row answered: VLMEvalKit scores a group through its main row.
    """

    def __init__(
        self,
        job_judge: JobJudge,
        *,
        circular: bool,
        expected: Mapping[str, int | None],
        factory: ItemFactory | None = None,
    ) -> None:
        self.job_judge = job_judge
        self.circular = circular
        self.factory = factory
        self._tasks: list[asyncio.Task[dict[str, Verdict]]] = []
        self._members: dict[int, set[str]] = {}
        self._arrived: dict[int, dict[str, Item | None]] = {}
        if circular:
            for key, group in expected.items():
                if group is not None:
                    self._members.setdefault(group, set()).add(key)

    def add_row(self, key: str, prediction: str | None) -> None:
        """One stored row: its prediction, or None when its request failed for good."""
        if self.factory is None or key not in self.factory:
            return
        if prediction is None:
            self.add_failed(key, self.factory.group_of(key))
        else:
            self.add_item(self.factory.item(key, prediction))

    def add_item(self, item: Item) -> None:
        if self.circular and item.group is not None:
            self._arrive(item.group, item.key, item)
        elif item.exact is None:
            self._spawn(self.job_judge.one(item))

    def add_failed(self, key: str, group: int | None) -> None:
        """A row whose request failed for good: it completes its group but is never judged."""
        if self.circular and group is not None:
            self._arrive(group, key, None)

    def _arrive(self, group: int, key: str, item: Item | None) -> None:
        arrived = self._arrived.setdefault(group, {})
        arrived[key] = item
        if set(arrived) >= self._members.get(group, set()):
            self._release(group)

    def _release(self, group: int) -> None:
        items = [it for it in self._arrived.pop(group, {}).values() if it is not None]
        self._members.pop(group, None)
        has_main = any(_int_key(it.key) == group for it in items)
        if has_main and any(it.exact is None for it in items):
            self._spawn(self.job_judge.circular(items))

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    async def finish(self) -> dict[str, Verdict]:
        """Release groups still waiting on rows that never came, then wait for every judgement."""
        for group in list(self._arrived):
            self._release(group)
        out: dict[str, Verdict] = {}
        try:
            for result in await asyncio.gather(*self._tasks):
                out.update(result)
        finally:
            self.job_judge.cache.close()
        return out

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self.job_judge.cache.close()


async def judge_items(job_judge: JobJudge, items: Sequence[Item], *, circular: bool) -> dict[str, Verdict]:
    """Judge a batch of rows at once (`--mode eval`): circular groups as groups, others row by row."""
    stage = JudgeStage(job_judge, circular=circular, expected={it.key: it.group for it in items})
    for it in items:
        stage.add_item(it)
    return await stage.finish()


# ---------------------------------------------------------------------------------------------
# The run's judge: plan, probe, a stage per job, and what the summary says
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JudgeOutcome:
    """What one job's scoring used: the judge (or why none) and what it did."""

    endpoint: JudgeEndpoint | None
    reason: str
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    stats: JudgeStats | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failed_rows(self) -> int:
        """Rows whose judge calls failed for good: the recorded fallback decided them."""
        return sum(1 for v in self.verdicts.values() if v.call_failed)

    def summary(self) -> dict[str, Any]:
        fallback = sum(1 for v in self.verdicts.values() if v.method is Method.FALLBACK)
        if self.endpoint is None:
            return {"mode": EXACT_MATCHING, "reason": self.reason}
        return {
            "mode": "judge",
            "reason": self.reason,
            "model": self.endpoint.model,
            "host": self.endpoint.host,
            "source": self.endpoint.source,
            "rows_sent": len(self.verdicts),
            "fallback_rows": fallback,
            "judge_failed_rows": self.failed_rows,
            **(self.stats.to_json() if self.stats else {}),
            **self.policy,
        }


class JudgeRun:
    """The judge for a whole run: resolved once, health-probed before generation, shared by jobs."""

    def __init__(
        self,
        plan: JudgePlan,
        *,
        rules: str,
        concurrency: int = 32,
        retry: int = 6,
        unparsed: Unparsed = "seeded",
        seed: int = 0,
        fallback: Literal["error", "exact_matching"] = "error",
    ) -> None:
        self.plan = plan
        self.rules = rules
        self.concurrency = concurrency
        self.retry = retry
        self.unparsed = unparsed
        self.seed = seed
        self.fallback = fallback
        self.judge: Judge | None = None
        self.run_id = _new_run_id()
        self.fell_back: str | None = None  # why scoring fell back to exact matching (for the console)

    def needed(self, specs: Sequence[BenchmarkSpec]) -> bool:
        return any(self.plan.for_spec(s, self.rules)[0] is not None for s in specs)

    async def start(self, specs: Sequence[BenchmarkSpec]) -> None:
        """Open and probe the judge if any benchmark will use it; a failed probe raises
        `JudgeUnavailable` (one line), or with `--judge-fallback exact_matching` records why the
        run scores by exact matching instead."""
        if self.plan.endpoint is None or not self.needed(specs):
            return
        judge = Judge(self.plan.endpoint, concurrency=self.concurrency, retry=self.retry)
        await judge.__aenter__()
        health = await judge.probe()
        if health.ok:
            self.judge = judge
            return
        await judge.__aexit__()
        if self.fallback == "error":
            raise JudgeUnavailable(health.message)
        self.fell_back = (
            f"judge failed its health probe ({health.message}); scoring by exact matching "
            "because --judge-fallback exact_matching"
        )
        self.plan = self.plan.without_judge(self.fell_back)

    async def close(self) -> None:
        if self.judge is not None:
            await self.judge.__aexit__()
            self.judge = None

    def job_judge(self, store_dir: Path) -> JobJudge | None:
        if self.judge is None:
            return None
        return JobJudge(
            self.judge,
            JudgeCache(store_dir, self.run_id),
            rules=self.rules,
            unparsed=self.unparsed,
            seed=self.seed,
        )

    def stage(
        self, spec: BenchmarkSpec, table: pl.DataFrame, keys: Sequence[str], store_dir: Path
    ) -> JudgeStage | None:
        """A pipeline stage for one job, or None when this benchmark is scored by exact matching."""
        endpoint, _ = self.plan.for_spec(spec, self.rules)
        jj = self.job_judge(store_dir) if endpoint is not None else None
        if jj is None:
            return None
        factory = ItemFactory(spec, table, self.rules)
        expected = {k: factory.group_of(k) for k in keys if k in factory}
        return JudgeStage(jj, circular=spec.circular, expected=expected, factory=factory)

    def outcome(
        self, spec: BenchmarkSpec, job_judge: JobJudge | None, verdicts: Mapping[str, Verdict]
    ) -> JudgeOutcome:
        endpoint, reason = self.plan.for_spec(spec, self.rules)
        if job_judge is None or endpoint is None:
            return JudgeOutcome(None, reason)
        policy = {"max_tokens": job_judge.judge.max_tokens, "unparsed": self.unparsed, "seed": self.seed}
        return JudgeOutcome(endpoint, reason, verdicts, job_judge.stats, policy)


def _new_run_id() -> str:
    from fasteval.inference.store import new_run_id

    return new_run_id()
