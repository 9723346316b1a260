"""The inference pipeline: samples in, requests out, completions stored as they arrive.

One `Client` per served model (one connection pool, one semaphore); every dataset of that model
feeds the same semaphore back to back, so the engine's batch never drains between datasets, and
several models run side by side. Requests are built lazily, one per free slot, so memory stays
flat however large the dataset. Each completion goes to the run store the moment it arrives; a
resumed run skips the keys already answered for the same request fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from fasteval.data.datasets import Dataset, DatasetFile
from fasteval.data.tabular import as_vlmeval_str
from fasteval.errors import FastevalError
from fasteval.inference.client import Client, build_body
from fasteval.inference.endpoints import (
    EndpointPool,
    EndpointStats,
    RunStop,
    StopKind,
    list_models,
    unknown_model_message,
)
from fasteval.inference.store import RunStore, StoreLock, new_run_id
from fasteval.kinds import kind_named
from fasteval.kinds.extract import DEFAULT_RULES
from fasteval.kinds.prompts import build_prompt, images_sent
from fasteval.models.families import (
    NO_PLAN,
    THINK_END,
    RequestPlan,
    mpo_answer,
    mpo_text,
    split_thinking,
)
from fasteval.types import BenchmarkSpec, Completion, ErrorKind, GenParams, Sample, Status, TextPart


@dataclass(frozen=True, slots=True)
class Target:
    """A served model: where to reach it and how to prompt it."""

    name: str  # output folder name: {work_dir}/{name}/
    served_name: str  # the `model` field of every request
    endpoints: tuple[str, ...]  # OpenAI-compatible bases, http://host:port/v1
    prompt_style: str = "default"
    origin: dict[str, Any] = field(default_factory=dict)  # engine, argv ... for summary.json
    plan: RequestPlan = NO_PLAN  # the model family's per-benchmark settings and where its engine reads them
    max_images: int | None = None  # images one prompt may carry (registry `images_per_prompt`); None: unknown
    rules: str = DEFAULT_RULES  # --rules: the VLMEvalKit generation whose message layout video kinds build


@dataclass(slots=True)
class Job:
    """One (model, dataset) pair and its running counts."""

    target: Target
    spec: BenchmarkSpec
    dataset: Dataset
    dataset_file: DatasetFile
    store: RunStore
    fingerprint: str
    limited: list[str] | None  # the keys --limit keeps, in file order; None: every row's
    todo: int = 0
    ok: int = 0
    failed: int = 0
    out_tokens: int = 0
    started: float = 0.0
    run_id: str = ""
    crash: Exception | None = None  # first exception that is not a request failure (bad data, bug)

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def keys(self) -> list[str]:
        """The row keys the job asks for, in file order. Built when asked: without --limit they are
        every row's, and a run holds no second copy of them (issue 22: ~3.5 MB at 50,000 rows)."""
        return self.limited if self.limited is not None else job_keys(self.dataset)

    @property
    def rows(self) -> int:
        """How many dataset rows the job asks for (repeated indices counted per row)."""
        return len(self.limited) if self.limited is not None else len(self.dataset)

    def distinct_rows(self) -> int:
        """How many different keys the job asks for (a repeated index is asked once)."""
        return len(set(self.limited)) if self.limited is not None else self.dataset.distinct_keys()

    def stored(self, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The store's row per key of this job, answering its request as sent now (`RunStore.read`):
        without --limit, every row answering the fingerprint is one of its dataset's, since the
        fingerprint pins the file."""
        return self.store.read(self.fingerprint, keys=self.limited, columns=columns)

    def done_keys(self) -> set[str]:
        """This job's keys already answered: a resumed run skips them."""
        return self.store.done_keys(self.fingerprint, keys=self.limited)


@dataclass(frozen=True, slots=True)
class TargetReport:
    target: Target
    endpoints: list[EndpointStats]
    run_id: str
    wall_s: float
    stop: RunStop | None = None  # why sending stopped early (dead endpoints, refused key, unknown model)


ProgressHook = Callable[[Job, Sample, Completion], None]
StoredHook = Callable[[Job, str, Completion], None]  # (job, row key, completion) once it is appended


def fingerprint(target: Target, spec: BenchmarkSpec, dataset_md5: str, params: GenParams) -> str:
    """What makes a stored answer valid for this run: same model, prompt style, data and params.

    A row's request is fixed by its dataset row (the MD5 pins the file), so one digest per job
    serves as every row's `request_hash` without reading a single image.
    """
    payload = {
        "model": target.served_name,
        "style": target.prompt_style,
        "dataset": spec.name,
        "md5": dataset_md5,
        "params": asdict(target_params(target, params)) | {"timeout_s": None},
    }
    if target.plan != NO_PLAN:  # runs without family settings keep their earlier fingerprints
        payload["plan"] = target.plan.fingerprint()
    if spec.video is not None:  # a video message's layout depends on the rule generation
        payload["rules"] = target.rules
    return hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=16).hexdigest()


def target_params(target: Target, params: GenParams) -> GenParams:
    """The run's generation parameters with the model family's limit when --max-tokens did not set
    one, and its temperature / top_p when --temperature did not (the plan holds them only then)."""
    plan = target.plan
    if plan.max_tokens is not None:
        params = replace(params, max_tokens=plan.max_tokens)
    sampling = plan.sampling
    if sampling is not None and sampling.temperature is not None:
        params = replace(params, temperature=sampling.temperature)
    if sampling is not None and sampling.top_p is not None:
        params = replace(params, top_p=sampling.top_p)
    return params


def answer_of(target: Target, spec: BenchmarkSpec, completion: Completion) -> Completion:
    """The completion as it is stored and scored: for a thinking family, the answer after the
    thinking block (`split_thinking`, VLMEvalKit's SPLIT_THINK rule) with the thinking kept beside it.

    An engine with a reasoning parser already splits them (`reasoning_content`): its content is the
    answer. A reply that stopped at the token limit before its thinking block closed has no answer:
    it fails as `thinking_cut` (never scored), its thinking kept for inspection.
    """
    if completion.ok and target.plan.mpo_answer_on(spec.name, kind_named(spec.kind).dataset_type):
        return replace(completion, text=mpo_answer(completion.text or ""))  # Y/N and MCQ datasets only
    if not target.plan.thinking or not completion.ok:
        return completion
    text = completion.text or ""
    thinking: str | None
    if completion.reasoning is not None and THINK_END not in text:  # split by the engine
        answer, thinking = text.strip(), completion.reasoning
        cut = completion.finish_reason == "length" and not answer
    else:
        answer, split = split_thinking(text)
        thinking = (completion.reasoning or "") + (split or "") if completion.reasoning or split else None
        # inside a block: one the reply opened, or the chat template opens (Qwen3-VL Thinking)
        inside = THINK_END not in text and ("<think>" in text or target.plan.think_opened)
        cut = completion.finish_reason == "length" and inside
    if cut:
        return replace(
            completion,
            status=Status.FAILED,
            text=None,
            reasoning=thinking if thinking is not None else text or None,
            error=f"the reply reached max_tokens ({completion.n_out} tokens) inside its thinking block: "
            "no answer to score; raise --max-tokens (the family's limit is VLMEvalKit's)",
            error_kind=ErrorKind.THINKING_CUT,
        )
    return replace(completion, text=answer, reasoning=thinking)


def request_body(target: Target, spec: BenchmarkSpec, sample: Sample, params: GenParams) -> bytes:
    """The exact bytes sent for one sample; `--dry-run` prints these, so what it shows is what runs."""
    prompt = build_prompt(spec, sample, target.prompt_style, target.rules)
    if target.plan.mpo_on(spec.name):  # InternVL MPO: its own text on a few datasets, images as before
        images = tuple(p for p in prompt.parts if not isinstance(p, TextPart))
        prompt = replace(prompt, parts=(*images, TextPart(mpo_text(sample.question, sample.options))))
    if target.plan.system_prompt is not None:
        prompt = replace(prompt, system=target.plan.system_prompt)
    extras = target.plan.fields(spec.name, len(sample.images), video=spec.video is not None)
    return build_body(target.served_name, prompt, target_params(target, params), extras=extras)


def not_sendable(sample: Sample) -> Completion | None:
    """A typed failure, recorded without sending, for a row whose input could not be prepared (its
    video is missing or cannot be decoded); None for a row that can be sent."""
    if sample.unavailable is None:
        return None
    return Completion(Status.FAILED, error=sample.unavailable, error_kind=ErrorKind.INPUT)


def over_image_limit(target: Target, spec: BenchmarkSpec, sample: Sample) -> Completion | None:
    """A typed failure, recorded without sending, for a row with more images than the engine takes
    per prompt (vLLM would refuse it with a 400 after the upload); None when the row fits."""
    if target.max_images is None:
        return None
    n = images_sent(spec, sample, target.prompt_style)
    if n <= target.max_images:
        return None
    return Completion(
        Status.FAILED,
        error=f"row {sample.index} of {spec.name} sends {n} images; {target.name} accepts "
        f"{target.max_images} per prompt: raise images_per_prompt in engines/models.toml "
        "(vLLM --limit-mm-per-prompt) and restart it",
        error_kind=ErrorKind.BAD_REQUEST,
    )


def job_keys(dataset: Dataset, limit: int | None = None) -> list[str]:
    """The row keys a job asks for: the first `limit` index values in file order (all without one)."""
    keys = [as_vlmeval_str(k) for k in dataset.meta.get_column("index").to_list()]
    return keys if limit is None else keys[:limit]


def _past_limit(job: Job, wanted: set[str] | None) -> set[str]:
    """The dataset's keys a job does not ask for: none (and no set of every key) when `wanted` is
    None, as without --limit."""
    if wanted is None:
        return set()
    return {as_vlmeval_str(k) for k in job.dataset.meta.get_column("index").to_list()} - wanted


def samples_to_send(
    dataset: Dataset, wanted: Collection[str], skip: Collection[str] = ()
) -> Iterator[Sample]:
    """The samples of `wanted` keys not in `skip`, in the order they are sent (the dataset's image
    order, not file order: rows sharing an image follow it); `--dry-run` prints these same rows."""
    for sample in dataset.iter_samples(skip=skip):
        if as_vlmeval_str(sample.index) in wanted:
            yield sample


def make_job(
    target: Target,
    spec: BenchmarkSpec,
    dataset: Dataset,
    dataset_file: DatasetFile,
    work_dir: Path,
    params: GenParams,
    limit: int | None = None,
) -> Job:
    limited = job_keys(dataset, limit) if limit is not None and limit < len(dataset) else None
    fp = fingerprint(target, spec, dataset.md5, params)
    return Job(
        target, spec, dataset, dataset_file, RunStore.for_run(work_dir, target.name, spec.name), fp, limited
    )


async def run_target(
    target: Target,
    jobs: Sequence[Job],
    *,
    concurrency: int,
    retry: int,
    params: GenParams,
    api_key: str | None,
    on_result: ProgressHook | None = None,
    on_job_done: Callable[[Job], Awaitable[None]] | None = None,
    on_stored: StoredHook | None = None,
    dead_after_s: float = 10.0,
) -> TargetReport:
    """Send every missing row of `jobs` (all of one target) and store each completion as it lands.

    Jobs are produced back to back into one set of slots: the next dataset's requests start while
    the previous dataset's last ones are still running, and a finished job is handed to
    `on_job_done` (scoring) while generation goes on. `on_stored` sees each row the moment it is
    stored (the judge stage starts there). When every endpoint stays unreachable for
    `dead_after_s`, or the servers refuse the key or the model, sending stops: rows not yet sent
    stay missing (a rerun sends them), jobs cut short are not scored, and the report's `stop`
    says why.
    """
    run_id = new_run_id()
    pool = EndpointPool(target.endpoints, api_key, dead_after_s=dead_after_s, hold_when_down=True)
    slots = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    locks: list[StoreLock] = []
    try:
        for job in jobs:  # one run per (work dir, model, dataset) at a time
            locks.append(job.store.lock())
        async with Client(pool, concurrency=concurrency, retry=retry, api_key=api_key) as client:
            await pool.preflight(client.session, target.served_name)  # key and model name, before any chat
            finishing = [
                await _produce(job, client, slots, run_id, params, target, on_result, on_job_done, on_stored)
                for job in jobs
            ]
            await asyncio.gather(*finishing)
            await pool.aclose()
            stop = await _explained(pool, client, target)
    finally:
        for lock in locks:
            lock.release()
    return TargetReport(target, pool.stats(), run_id, time.perf_counter() - started, stop)


async def _explained(pool: EndpointPool, client: Client, target: Target) -> RunStop | None:
    """The pool's stop, with the served model names when the model was unknown (one more GET)."""
    stop = pool.stop
    if stop is None or stop.kind is not StopKind.UNKNOWN_MODEL:
        return stop
    label = pool.endpoints[0].label
    try:
        models = await list_models(client.session, pool.endpoints[0].base_url, client.api_key)
    except FastevalError:
        return stop
    return RunStop(stop.kind, unknown_model_message(label, target.served_name, models))


async def _produce(
    job: Job,
    client: Client,
    slots: asyncio.Semaphore,
    run_id: str,
    params: GenParams,
    target: Target,
    on_result: ProgressHook | None,
    on_job_done: Callable[[Job], Awaitable[None]] | None,
    on_stored: StoredHook | None = None,
) -> asyncio.Task[None]:
    """Dispatch the job's missing samples, one per free slot; return a task that ends with the job."""
    wanted = None if job.limited is None else set(job.limited)  # None: every row (no set of every key)
    done = job.done_keys()
    job.todo = job.distinct_rows() - len(done)  # `done` holds only the job's keys (`Job.done_keys`)
    job.started = time.perf_counter()
    job.run_id = run_id
    outstanding = 0
    all_sent = False
    finished = asyncio.Event()
    writer = job.store.open_writer(run_id)
    await writer.__aenter__()

    async def one(sample: Sample, key: str) -> None:
        nonlocal outstanding
        try:
            completion = not_sendable(sample) or over_image_limit(target, job.spec, sample)
            if completion is None:
                body = request_body(target, job.spec, sample, params)
                reply = await client.complete(body, target_params(target, params))
                completion = answer_of(target, job.spec, reply)
            writer.append(key, completion, job.fingerprint)
            if on_stored is not None:
                on_stored(job, key, completion)
            if completion.ok:
                job.ok += 1
                job.out_tokens += completion.n_out or 0
            else:
                job.failed += 1
            if on_result is not None:
                on_result(job, sample, completion)
        except Exception as exc:  # not a request failure (those are values): stop the job loudly
            if job.crash is None:
                job.crash = exc
        finally:
            slots.release()
            outstanding -= 1
            if all_sent and outstanding == 0:
                finished.set()

    if job.todo and client.pool.stop is None:
        skip = done | _past_limit(job, wanted)  # rows past --limit are never read (a video's never decoded)
        async with contextlib.aclosing(job.dataset.aiter_samples(skip=skip)) as samples:  # stops workers
            async for sample in samples:
                key = as_vlmeval_str(sample.index)
                if wanted is not None and key not in wanted:
                    continue
                await slots.acquire()
                if client.pool.all_down:  # hold the row until an endpoint is back or the pool gives up
                    await client.pool.wait_for_live(client.session)
                if job.crash is not None or client.pool.stop is not None:
                    slots.release()
                    break
                outstanding += 1
                task = asyncio.create_task(one(sample, key))
                _LIVE.add(task)
                task.add_done_callback(_LIVE.discard)
    all_sent = True
    if outstanding == 0:
        finished.set()

    async def finish() -> None:
        try:
            await finished.wait()
        finally:
            await writer.__aexit__(None, None, None)
        if job.crash is not None:
            raise job.crash
        cut_short = client.pool.stop is not None and job.done < job.todo
        if on_job_done is not None and not cut_short:
            await on_job_done(job)

    return asyncio.create_task(finish())


_LIVE: set[asyncio.Task[None]] = set()  # strong references: the event loop keeps only weak ones
