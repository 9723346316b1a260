"""Judge calls: one session and one semaphore shared by every job of the run; cached, counted.

A call never raises: a failed one is a `Reply` value that counts as a try and is recorded. The
kind decides what to ask and how to read the reply (`TaskKind.judge`); this layer only asks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from fasteval.config import Unparsed
from fasteval.inference.client import Client, build_body
from fasteval.inference.endpoints import EndpointPool
from fasteval.judge.cache import JudgeCache, prompt_hash
from fasteval.judge.probe import Health, probe_judge
from fasteval.judge.resolve import JudgeEndpoint
from fasteval.kinds.base import JudgeContext, Reply, Verdict
from fasteval.types import GenParams, Prompt, TextPart

JUDGE_MAX_TOKENS = 2048  # OpenAIWrapper's default


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
        max_tokens: int | None = None,
    ) -> Reply:
        model = self.endpoint.model
        max_tokens = self.max_tokens if max_tokens is None else min(max_tokens, self.max_tokens)
        phash = prompt_hash(prompt, temperature, max_tokens, attempt, row_key)
        hit = cache.get(model, phash)
        if hit is not None:
            stats.cached += 1
            if hit[1]:
                stats.reported_models[hit[1]] += 1
            return Reply(True, hit[0], reported_model=hit[1])
        params = GenParams(max_tokens=max_tokens, temperature=temperature, timeout_s=self.timeout_s)
        body = build_body(model, Prompt((TextPart(prompt),)), params, stream=False)
        completion = await self._client.complete(body, params)
        stats.calls += 1
        if not completion.ok:
            stats.failed_calls += 1
            return Reply(False, None, error=completion.error)
        text = (completion.text or "").strip()  # VLMEvalKit: choices[0].message.content.strip()
        if completion.model:
            stats.reported_models[completion.model] += 1
        cache.put(
            model,
            phash,
            text,
            completion.model,
            self.endpoint.host,
            row_key,
            temperature=temperature,
            attempt=attempt,
        )
        return Reply(True, text, reported_model=completion.model)


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
            row_key: str, prompt: str, temperature: float, attempt: int, *, max_tokens: int | None = None
        ) -> Reply:
            return await self.judge.ask(
                prompt, temperature, attempt, self.cache, self.stats, row_key, max_tokens
            )

        return JudgeContext(ask, self.rules, self.unparsed, self.seed)

    def stamp(self, verdict: Verdict) -> Verdict:
        """The verdict with the judge's identity (model asked, host) on its record."""
        return replace(verdict, model=self.judge.endpoint.model, host=self.judge.endpoint.host)
