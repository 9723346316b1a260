"""The judge as a pipeline stage: rows in as they are stored, judge calls out as soon as ready.

`JudgeRun` is the whole run's judge (resolved once, probed before generation, shared by jobs);
`JudgeStage` is one job's stage; `JudgeOutcome` is what one job's scoring used and what the
summary says. Which rows go to the judge, and how they are asked, is the benchmark kind's
(`TaskKind.needs_judge`, `judge`, `judge_group`), computed from the same extraction the scorer uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

from fasteval.config import Unparsed
from fasteval.inference.store import new_run_id
from fasteval.judge.cache import JudgeCache
from fasteval.judge.calls import JobJudge, Judge, JudgeStats
from fasteval.judge.resolve import EXACT_MATCHING, JudgeEndpoint, JudgePlan, JudgeUnavailable
from fasteval.kinds import kind_named
from fasteval.kinds.base import Extraction, Item, TaskKind, Verdict
from fasteval.types import BenchmarkSpec, Method


class RowSource:
    """Rows of one job as its kind reads them, keyed by `str(index)`, waiting for their prediction.

    Built from the dataset table (the runner's path) or the prediction file (`--mode eval`) with
    the kind's own `table`, so a row goes to the judge iff the scorer would hand it over.
    """

    def __init__(
        self, spec: BenchmarkSpec, predictions: pl.DataFrame, dataset: pl.DataFrame | None, rules: str
    ) -> None:
        self.spec = spec
        self.kind: TaskKind = kind_named(spec.kind)
        self.rules = rules
        frame = predictions
        if "prediction" not in frame.columns:  # the runner's path: predictions arrive one by one
            frame = frame.with_columns(prediction=pl.lit(""))
        rows = self.kind.table(spec, frame, dataset).iter_rows(named=True)
        self.items: dict[str, Item] = {}
        for row in rows:
            item = self.kind.item(spec, row)
            self.items[item.key] = item

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def group_of(self, key: str) -> int | None:
        return self.kind.group_of(self.spec, key)

    def answered(self, key: str, prediction: str | None = None) -> tuple[Item, Extraction]:
        """The row with its prediction (the table's own when None), and exact matching's reading."""
        item = self.items[key]
        if prediction is not None:
            item = replace(item, prediction=prediction)
        return item, self.kind.extract(self.spec, item, self.rules)


class JudgeStage:
    """Rows in as they are stored; judge calls out as soon as a row (or its group) is ready.

    A group (circular MCQ) is released once every expected row of it has arrived (answered or
    failed for good) and only if its main row answered: VLMEvalKit scores a group through it.
    """

    def __init__(self, job_judge: JobJudge, source: RowSource, keys: Sequence[str]) -> None:
        self.job_judge = job_judge
        self.source = source
        self.spec = source.spec
        self.kind = source.kind
        self._tasks: list[asyncio.Task[dict[str, Verdict]]] = []
        self._members: dict[int, set[str]] = {}
        self._arrived: dict[int, dict[str, tuple[Item, Extraction] | None]] = {}
        for key in keys:
            group = source.group_of(key) if key in source else None
            if group is not None:
                self._members.setdefault(group, set()).add(key)

    def add_row(self, key: str, prediction: str | None) -> None:
        """One stored row: its prediction, or None when its request failed for good."""
        if key not in self.source:
            return
        group = self.source.group_of(key)
        if prediction is None:
            if group is not None:  # it completes its group but is never judged
                self._arrive(group, key, None)
            return
        item, exact = self.source.answered(key, prediction)
        if group is not None:
            self._arrive(group, key, (item, exact))
        elif self.kind.needs_judge(self.spec, item, exact):
            self._spawn(self._one(item))

    async def _one(self, item: Item) -> dict[str, Verdict]:
        verdict = await self.kind.judge(self.spec, item, self.job_judge.context())
        return {item.key: self.job_judge.stamp(verdict)}

    async def _group(self, members: list[tuple[Item, Extraction]]) -> dict[str, Verdict]:
        out = await self.kind.judge_group(self.spec, members, self.job_judge.context())
        return {key: self.job_judge.stamp(verdict) for key, verdict in out.items()}

    def _arrive(self, group: int, key: str, pair: tuple[Item, Extraction] | None) -> None:
        arrived = self._arrived.setdefault(group, {})
        arrived[key] = pair
        if set(arrived) >= self._members.get(group, set()):
            self._release(group)

    def _release(self, group: int) -> None:
        members = [p for p in self._arrived.pop(group, {}).values() if p is not None]
        self._members.pop(group, None)
        has_main = any(_int_key(it.key) == group for it, _ in members)
        if has_main and any(self.kind.needs_judge(self.spec, it, ex) for it, ex in members):
            self._spawn(self._group(members))

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


def _int_key(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        return 0


async def judge_table(job_judge: JobJudge, source: RowSource) -> dict[str, Verdict]:
    """Judge every row of a table at once (`--mode eval`): groups as groups, others row by row."""
    stage = JudgeStage(job_judge, source, list(source.items))
    for key in source.items:
        stage.add_row(key, source.items[key].prediction)
    return await stage.finish()


@dataclass(frozen=True, slots=True)
class JudgeOutcome:
    """What one job's scoring used: the judge (or why none) and what it did."""

    endpoint: JudgeEndpoint | None
    reason: str
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    stats: JudgeStats | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)

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
        replay: bool = False,
    ) -> None:
        self.plan = plan
        self.rules = rules
        self.concurrency = concurrency
        self.retry = retry
        self.unparsed = unparsed
        self.seed = seed
        self.fallback = fallback
        self.replay = replay  # rescoring: a judge that does not answer may still be replayed from record
        self.judge: Judge | None = None
        self.run_id = new_run_id()

    def require(self, specs: Sequence[BenchmarkSpec]) -> None:
        """Benchmarks VLMEvalKit scores only with a judge (MathVista, MMVet) stop the run here, before
        any request, when there is none: no exact-matching fallback exists for them."""
        for spec in specs:
            if kind_named(spec.kind).judge_required and self.plan.for_spec(spec, self.rules)[0] is None:
                raise JudgeUnavailable(
                    f"{spec.name} is scored by an LLM judge and none is usable ({self.plan.reason}): "
                    "start one with `make judge`, or set OPENAI_API_BASE (and LOCAL_LLM) or --judge-base-url"
                )

    def needed(self, specs: Sequence[BenchmarkSpec]) -> bool:
        return any(self.plan.for_spec(s, self.rules)[0] is not None for s in specs)

    async def start(self, specs: Sequence[BenchmarkSpec]) -> None:
        """Open and probe the judge if any benchmark will use it; a failed probe raises
        `JudgeUnavailable` (one line), or with `--judge-fallback exact_matching` records why the
        run scores by exact matching instead."""
        self.require(specs)
        if self.plan.endpoint is None or not self.needed(specs):
            return
        judge = Judge(self.plan.endpoint, concurrency=self.concurrency, attempts=self.retry)
        await judge.__aenter__()
        health = await judge.probe()
        if health.ok:
            self.judge = judge
            return
        if self.replay:  # recorded calls are replayed; the first one not on record stops the rescore
            judge.offline = health.message
            self.judge = judge
            return
        await judge.__aexit__()
        required = [s.name for s in specs if kind_named(s.kind).judge_required]
        if self.fallback == "error" or required:
            raise JudgeUnavailable(health.message)
        self.plan = self.plan.without_judge(
            f"judge failed its health probe ({health.message}); scoring by exact matching "
            "because --judge-fallback exact_matching"
        )

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
        return JudgeStage(jj, RowSource(spec, table, table, self.rules), keys)

    def outcome(
        self, spec: BenchmarkSpec, job_judge: JobJudge | None, verdicts: Mapping[str, Verdict]
    ) -> JudgeOutcome:
        endpoint, reason = self.plan.for_spec(spec, self.rules)
        if job_judge is None or endpoint is None:
            return JudgeOutcome(None, reason)
        policy = {"max_tokens": job_judge.judge.max_tokens, "unparsed": self.unparsed, "seed": self.seed}
        return JudgeOutcome(endpoint, reason, verdicts, job_judge.stats, policy)
