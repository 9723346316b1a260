"""Judge calls: one session and one semaphore shared by every job of the run; cached, counted.

A call never raises: a failed one is a `Reply` value that counts as a try and is recorded. The
kind decides what to ask and how to read the reply (`TaskKind.judge`); this layer only asks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from fasteval.config import Unparsed
from fasteval.inference.client import Client, build_body
from fasteval.inference.endpoints import EndpointPool
from fasteval.judge.cache import JudgeCache, prompt_hash
from fasteval.judge.probe import Health, probe_judge
from fasteval.judge.resolve import JudgeEndpoint, JudgeUnavailable
from fasteval.kinds.base import JudgeContext, Reply, Verdict
from fasteval.kinds.judge_calls import (
    FAILED_CALL,
    HTTP_ATTEMPTS,
    Attempt,
    attempt_answer,
    call_failed,
    call_result,
)
from fasteval.types import GenParams, Prompt, TextPart

JUDGE_MAX_TOKENS = 2048  # OpenAIWrapper's default


@dataclass(slots=True)
class JudgeStats:
    calls: int = 0  # judge calls sent in this run (tries, not rows)
    http_attempts: int = 0  # HTTP requests behind them (VLMEvalKit: up to `retry` per call)
    failed_calls: int = 0  # calls whose every attempt failed
    cached: int = 0  # calls answered from the run store's record
    reported_models: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "http_attempts": self.http_attempts,
            "failed_calls": self.failed_calls,
            "cached_replies": self.cached,
            "reported_models": dict(self.reported_models),
        }


class Judge:
    """A judge endpoint with its own connection pool and concurrency (`--judge-concurrency`).

    One call is VLMEvalKit's `BaseAPI.generate`: up to `attempts` HTTP requests (run.py passes
    retry=6), an attempt failing on an error status, a broken body, or empty content; the first
    good answer ends the call. Every call, answered or failed, is recorded and replayed.
    """

    def __init__(
        self,
        endpoint: JudgeEndpoint,
        *,
        concurrency: int = 32,
        attempts: int = HTTP_ATTEMPTS,
        max_tokens: int = JUDGE_MAX_TOKENS,
        timeout_s: float = 600.0,
        pause_s: float = 0.05,
    ) -> None:
        self.endpoint = endpoint
        self.attempts = max(1, attempts)
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.pause_s = pause_s  # between attempts (VLMEvalKit sleeps up to 2 s: timing only)
        self.offline: str | None = None  # why the judge cannot be asked: replay recorded calls only
        key = endpoint.api_key.reveal() if endpoint.api_key else None
        self._client = Client(
            EndpointPool([endpoint.base_url], key), concurrency=concurrency, retry=0, api_key=key
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
        max_tokens: int | None = None,
        system: str | None = None,
    ) -> Reply:
        model = self.endpoint.model
        max_tokens = self.max_tokens if max_tokens is None else min(max_tokens, self.max_tokens)
        asked = prompt if system is None else f"{system}\x00{prompt}"  # a system message is asked too
        phash = prompt_hash(asked, temperature, max_tokens, attempt, row_key)
        hit = cache.get(model, phash)
        if hit is not None:
            stats.cached += 1
            if hit.reported_model:
                stats.reported_models[hit.reported_model] += 1
            return hit
        if self.offline is not None:
            raise JudgeUnavailable(
                f"{self.offline} (and this rescore needs judge calls that are not on record)"
            )
        params = GenParams(max_tokens=max_tokens, temperature=temperature, timeout_s=self.timeout_s)
        body = build_body(model, Prompt((TextPart(prompt),), system=system), params, stream=False)
        tried: list[Attempt] = []
        reported: str | None = None
        error: str | None = None
        while call_result(tried, self.attempts) is None:
            if tried:
                await asyncio.sleep(self.pause_s * len(tried))
            completion = await self._client.complete(body, params)
            stats.http_attempts += 1
            if completion.ok:  # VLMEvalKit: choices[0].message.content.strip()
                tried.append(attempt_answer(200, completion.text or ""))
                reported = completion.model or reported
                error = None if tried[-1].ok else "empty reply"
            else:
                tried.append(attempt_answer(0, None))
                error = completion.error
        result = call_result(tried, self.attempts) or FAILED_CALL
        stats.calls += 1
        if call_failed(result):
            stats.failed_calls += 1
            reply = Reply(False, None, error or "failed", reported)
        else:
            if reported:
                stats.reported_models[reported] += 1
            reply = Reply(True, result, None, reported)
        cache.put(
            model,
            phash,
            reply,
            self.endpoint.host,
            row_key,
            temperature=temperature,
            attempt=attempt,
            http_attempts=len(tried),
        )
        return reply


class JobJudge:
    """The judge as one (model, dataset) job uses it: its cache, rules, unparsed-row policy, counts."""

    def __init__(
        self, judge: Judge, cache: JudgeCache, *, rules: str, unparsed: Unparsed = "seeded", seed: int = 0
    ) -> None:
        self.judge = judge
        self.cache = cache
        self.rules = rules
        self.unparsed: Unparsed = unparsed
        self.seed = seed
        self.stats = JudgeStats()

    def context(self) -> JudgeContext:
        """What a kind's judge policy sees: `ask` bound to this job's cache and counts."""

        async def ask(
            row_key: str,
            prompt: str,
            temperature: float,
            attempt: int,
            *,
            max_tokens: int | None = None,
            system: str | None = None,
        ) -> Reply:
            return await self.judge.ask(
                prompt, temperature, attempt, self.cache, self.stats, row_key, max_tokens, system
            )

        return JudgeContext(ask, self.rules, self.unparsed, self.seed)

    def stamp(self, verdict: Verdict) -> Verdict:
        """The verdict with the judge's identity (model asked, host) on its record."""
        return replace(verdict, model=self.judge.endpoint.model, host=self.judge.endpoint.host)
