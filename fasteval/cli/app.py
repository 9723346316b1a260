"""What `bench.py` does once its flags are parsed: find the model and data, run, score, report.

Modes: `all` (infer, then score each dataset as soon as its last answer is stored), `infer`
(predictions only), `eval` (score stored predictions, or a VLMEvalKit prediction file with
`--pred`; no server is contacted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from rich.console import Console
from rich.markup import escape

from fasteval import __version__
from fasteval.catalog import check_columns, resolve_spec
from fasteval.cli.console import ResultRow, print_results, print_scores
from fasteval.cli.guards import Ground, OddReplies, warn_renamed
from fasteval.cli.memory import give_back
from fasteval.cli.progress import RunProgress
from fasteval.config import RunConfig, Settings
from fasteval.data.datasets import Dataset, DatasetFile, load, locate
from fasteval.data.tabular import (
    as_vlmeval_str,
    read_table,
    vlmeval_keys,
    warn_duplicate_index,
    write_text_atomic,
    write_tsv,
    write_xlsx,
)
from fasteval.data.video_rows import frame_cache, locate_video, open_video
from fasteval.errors import FastevalError, write_failure
from fasteval.inference.runner import Job, Target, TargetReport, make_job, run_target, target_params
from fasteval.inference.store import RunStore, StoreError
from fasteval.inference.targets import resolve_targets
from fasteval.judge.resolve import EXACT_MATCHING, resolve_judge
from fasteval.judge.stage import JudgeOutcome, JudgeRun, JudgeStage, RowSource, judge_table
from fasteval.kinds import kind_named
from fasteval.models.servers import default_state_dir, running_servers
from fasteval.perf.metrics import summarize
from fasteval.report.coverage import Coverage, file_coverage, job_coverage, store_coverage
from fasteval.report.files import headline, method_counts, write_reports
from fasteval.scoring.evaluate import (
    Scored,
    kind_dataset,
    last_per_index,
    read_dataset,
    score_predictions,
    shared_prediction,
)
from fasteval.types import BenchmarkSpec, Completion, ErrorKind, GenParams, Method, Status

EXIT_FAILED_ROWS = 3  # some rows failed for good: scores cover the rest, and say so


@dataclass(slots=True)
class Loaded:
    spec: BenchmarkSpec
    file: DatasetFile
    dataset: Dataset


async def run(cfg: RunConfig, settings: Settings, *, environ: Mapping[str, str]) -> int:
    console = Console(stderr=False, highlight=False)
    # Arrow's default pool (mimalloc) keeps what a dataset's finish frees (the store's bytes, its
    # copies) and polars then allocates beside it: with malloc the peak at 50,000 rows is ~25 MB
    # lower (issue 22, perf/MEMORY.md). A setting of this process's run, never of an import.
    pa.set_memory_pool(pa.system_memory_pool())
    lmudata = cfg.lmudata
    if cfg.mode == "eval":
        return await _eval(cfg, settings, lmudata, console, environ)
    specs = [resolve_spec(name, lmudata) for name in cfg.data]  # unknown names fail first
    if cfg.dry_run is not None:  # issue 13: show the request bodies, contact nothing
        from fasteval.inference.dry_run import dry_run

        targets = await resolve_targets(cfg, contact=False)  # the run's resolver, contacting nothing
        return dry_run(cfg, specs, targets, sys.stdout, sys.stderr, environ)
    targets = await resolve_targets(cfg)
    warn_renamed(targets)
    if cfg.mode == "perf":
        from fasteval.perf.mode import run_perf

        _say_settings(targets, console)
        return await run_perf(cfg, targets=targets, specs=specs, console=console)
    judges = judge_run(cfg, settings, environ) if cfg.mode == "all" else None
    if judges is not None:
        await judges.start(specs)  # a dead judge stops the run here, before any generation
        _say_fell_back(judges)
    _say_settings(targets, console)
    try:
        return await _infer(cfg, settings, lmudata, console, environ, specs, targets, judges)
    finally:
        if judges is not None:
            await judges.close()


def _gen_params(target: Target, cfg: RunConfig) -> dict[str, Any]:
    """The generation parameters the requests carried: the family's where the flags left them."""
    sent = target_params(target, GenParams(max_tokens=cfg.max_tokens, temperature=cfg.temperature))
    return {"max_tokens": sent.max_tokens, "temperature": sent.temperature, "top_p": sent.top_p}


def _say_settings(targets: Sequence[Target], console: Console) -> None:
    """Which settings each model's requests carry, once, before the first request (summary.json
    records the same line): family, tiles or pixels, token limit, decoding, prompt style, engine."""
    for target in targets:
        settings = target.origin.get("request_settings", {}).get("settings")
        if settings:
            console.print(escape(str(settings)), soft_wrap=True)


async def _infer(
    cfg: RunConfig,
    settings: Settings,
    lmudata: Path,
    console: Console,
    environ: Mapping[str, str],
    specs: list[BenchmarkSpec],
    targets: list[Target],
    judges: JudgeRun | None,
) -> int:
    concurrency = cfg.concurrency[0]
    loaded = [_load(spec, lmudata, cfg, console) for spec in specs]
    params = GenParams(max_tokens=cfg.max_tokens, temperature=cfg.temperature, timeout_s=cfg.timeout)
    jobs = {
        t.name: [make_job(t, d.spec, d.dataset, d.file, cfg.work_dir, params, cfg.limit) for d in loaded]
        for t in targets
    }
    for target_jobs in jobs.values():
        for job in target_jobs:
            if not job.dataset.has_images:
                raise FastevalError(
                    f"{job.dataset_file.path} has no image column: it can be scored "
                    "(--mode eval --pred FILE) but not sent to a model; use the full VLMEvalKit TSV"
                )
    progress = RunProgress(console, [j for js in jobs.values() for j in js], cfg.rules)
    outcomes: list[JobOutcome] = []
    stages: dict[int, JudgeStage] = {}
    if judges is not None:
        for target_jobs in jobs.values():
            for job in target_jobs:
                stage = judges.stage(job.spec, job.dataset.meta, job.keys, job.store.dir)
                if stage is not None:
                    stages[id(job)] = stage
                    _prime(stage, job)

    ground = Ground()

    def on_stored(job: Job, key: str, completion: Completion) -> None:
        ground.check(job)  # raising here stops the job's sending (the runner records it as its crash)
        stage = stages.get(id(job))
        if stage is not None:
            stage.add_row(key, completion.text if completion.ok else None)

    async def on_job_done(job: Job) -> None:
        if job.todo:
            ground.check(job)
        stage = stages.get(id(job))
        verdicts = await stage.finish() if stage is not None else {}
        job_judge = stage.job_judge if stage is not None else None
        judged = judges.outcome(job.spec, job_judge, verdicts) if judges is not None else None
        outcome = await asyncio.to_thread(
            finalize, job, cfg, settings, score=cfg.mode == "all", judged=judged
        )
        outcomes.append(outcome)
        progress.job_finished(job, outcome.scored)

    key = cfg.api_key
    with progress:
        reports = await asyncio.gather(
            *(
                run_target(
                    t,
                    jobs[t.name],
                    concurrency=concurrency,
                    retry=cfg.retry,
                    params=params,
                    api_key=key,
                    on_result=progress.on_result,
                    on_job_done=on_job_done,
                    on_stored=on_stored,
                )
                for t in targets
            )
        )
    for stage in stages.values():  # a crashed job leaves its judge calls behind: stop them
        await stage.cancel()
    for report in reports:
        _write_target_summary(report, [o for o in outcomes if o.job.target is report.target], cfg)
    status = _judge_status(console, [(o.job.target.name, o.job.spec.name, o.judged) for o in outcomes])
    return _stop_status(reports, max(status, _report(console, outcomes, reports)))


def _say_fell_back(judges: JudgeRun) -> None:
    """`--judge-fallback exact_matching` never falls back silently: one line on stderr."""
    if judges.fell_back is not None:
        print(f"fasteval: warning: {judges.fell_back}", file=sys.stderr)


def _judge_status(console: Console, judged: list[tuple[str, str, JudgeOutcome | None]]) -> int:
    """Rows the fallback decided because their judge calls failed for good: say how many, exit 3.

    The fallback answer is still recorded and scored (tables stay comparable with VLMEvalKit's).
    """
    status = 0
    for model, dataset, outcome in judged:
        if outcome is not None and outcome.failed_rows:
            status = EXIT_FAILED_ROWS
            console.print(
                f"{model} / {dataset}: the judge failed for good on {outcome.failed_rows} rows; the "
                f"recorded fallback (--judge-unparsed) decided them; fix the judge and rerun to ask again"
            )
    return status


def _stop_status(reports: list[TargetReport], status: int) -> int:
    """A target whose sending stopped early (dead endpoints, refused key, unknown model) ends the
    run with its one line on stderr and its exit status (3: rerun later; 2: fix the command)."""
    stops = [r.stop for r in reports if r.stop is not None]
    for stop in stops:
        print(f"fasteval: error: {stop.message}", file=sys.stderr)
    return stops[0].exit_status if stops else status


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def _locate(spec: BenchmarkSpec, lmudata: Path, cfg: RunConfig, console: Console) -> DatasetFile:
    """The benchmark's TSV (downloaded if missing); conversions and MD5s go to fasteval's cache."""
    if spec.video is not None:  # the snapshot found or downloaded (the Hugging Face variables), TSV made
        file, _ = locate_video(
            spec,
            lmudata,
            cache_dir=cfg.dataset_cache,
            env=os.environ,
            download=not cfg.no_download,
            progress=console.is_terminal,
        )
    else:
        file = locate(
            spec,
            lmudata,
            download=not cfg.no_download,
            progress=console.is_terminal,
            cache_dir=cfg.dataset_cache,
        )
    if file.warning:  # one line on stderr: stdout stays the results
        print(f"fasteval: warning: {file.warning}", file=sys.stderr)
    return file


def _load(spec: BenchmarkSpec, lmudata: Path, cfg: RunConfig, console: Console) -> Loaded:
    file = _locate(spec, lmudata, cfg, console)
    if spec.video is not None:  # rows whose frames worker processes extract ahead of the requests
        frames = frame_cache(cfg.dataset_cache, cfg.frame_cache)
        _, video = open_video(spec, lmudata, cache_dir=cfg.dataset_cache, frames=frames, env=os.environ)
        return Loaded(spec, file, video)
    dataset = load(spec, file)
    check_columns(spec, dataset.meta.columns, file.path)  # before the first request, not after the last
    return Loaded(spec, file, dataset)


# ---------------------------------------------------------------------------------------------
# The judge
# ---------------------------------------------------------------------------------------------


def judge_run(cfg: RunConfig, settings: Settings, environ: Mapping[str, str]) -> JudgeRun:
    """The run's judge from flags, then `.env`/environment, then the server `make judge` started."""
    servers: list[Any] = []
    if cfg.judge != EXACT_MATCHING and not (cfg.judge_base_url or settings.openai_api_base):
        servers = running_servers(cfg.state_dir or default_state_dir(), role="judge")
    plan = resolve_judge(
        judge=cfg.judge,
        base_url=cfg.judge_base_url,
        key=cfg.judge_key,
        settings=settings,
        judge_servers=servers,
    )
    return JudgeRun(
        plan,
        rules=cfg.rules,
        concurrency=cfg.judge_concurrency,
        retry=cfg.retry,
        unparsed=cfg.judge_unparsed,
        seed=cfg.seed,
        fallback=cfg.judge_fallback,
        replay=cfg.mode == "eval",
    )


def _prime(stage: JudgeStage, job: Job) -> None:
    """Rows answered by earlier runs enter the judge stage first (their judge replies are cached)."""
    stored = job.stored(columns=("key", "status", "text"))
    ok = stored.filter(pl.col("status") == Status.OK.value)
    for key, text in ok.select("key", "text").iter_rows():
        stage.add_row(str(key), "" if text is None else str(text))


# ---------------------------------------------------------------------------------------------
# Finishing a job: predictions file, scores, summary
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class JobOutcome:
    job: Job
    n_rows: int
    n_ok: int
    failures: dict[str, int]
    scored: Scored | None
    paths: dict[str, str]
    perf: dict[str, Any]
    judged: JudgeOutcome | None = None
    odd: OddReplies | None = None  # issue 22: replies naming another model, empty length-cut answers


def answered_rows(meta: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The dataset rows (file order) whose stored request succeeded, with its text as `prediction`.

    Failed rows are left out here, once, so no failure can be scored as an answer. The answers are
    matched to the rows' keys alone and set beside `meta`'s own columns, which are copied only
    when some row is left out (issue 22: a join copied every dataset column at every finish).
    """
    answered = stored.get_column("status") == Status.OK.value
    ok = stored if answered.all() else stored.filter(answered)
    # a thinking model's thinking goes beside its answer, as VLMEvalKit's SPLIT_THINK writes it
    thinking = ["thinking"] if "thinking" in ok.columns and ok["thinking"].is_not_null().any() else []
    ok = ok.select(
        pl.col("key").alias("__key"),
        pl.col("text").alias("prediction"),
        *thinking,
        pl.lit(True).alias("__hit"),
    )
    index = meta.get_column("index")
    if index.dtype.is_integer() and index.null_count() == 0:  # match integers, not their strings
        ok = ok.with_columns(_integer_keys(ok.get_column("__key")))
        keys = index.cast(pl.Int64).alias("__key").to_frame()
    else:
        keys = vlmeval_keys(index).alias("__key").to_frame()
    if {"prediction", *thinking} & set(meta.columns):  # a file that already has answers: joined as before
        keyed = meta.hstack(keys.get_columns())
        return keyed.join(ok.drop("__hit"), on="__key", how="inner", maintain_order="left").drop("__key")
    found = keys.join(ok, on="__key", how="left", maintain_order="left")
    hit = found.get_column("__hit").is_not_null()
    rows = meta.hstack(found.select("prediction", *thinking).get_columns())
    return rows if hit.all() else rows.filter(hit)


def _integer_keys(keys: pl.Series) -> pl.Series:
    """Stored keys as the integers whose `str()` they are (null for any other text, which matches
    no integer index): a join on integers holds ~3 MB less than one on strings at 50,000 rows."""
    canonical = keys.str.contains(r"^-?(?:0|[1-9][0-9]*)$").fill_null(False)
    parsed = keys.cast(pl.Int64, strict=False)
    return (
        parsed if canonical.all() else pl.select(pl.when(canonical).then(parsed)).to_series().alias(keys.name)
    )


# What each part of a job's finish reads from the store (issue 22: only these columns, so the
# finish holds no copy of the store's other columns): the answers and their outcome ...
_ANSWER_COLUMNS = ("key", "status", "text", "thinking", "error_kind", "model", "finish_reason")
# ... and, read before them, this run's serving figures.
_PERF_COLUMNS = ("status", "n_in", "n_out", "t_dispatch", "t_send", "ttft", "e2el", "itl")


def predictions_frame(job: Job) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(dataset rows with their `prediction`, for answered rows only; every stored row of the job,
    with the columns answers, failures, coverage and odd replies need)."""
    stored = job.stored(columns=_ANSWER_COLUMNS)
    return answered_rows(job.dataset.meta, stored), stored


def _run_perf(job: Job) -> dict[str, Any]:
    """This run's serving figures, from its own segment of the store (read for them alone)."""
    this_run = job.store.read_run(job.run_id, columns=_PERF_COLUMNS)
    return summarize(this_run).to_json_dict() if this_run.height else {}


def finalize(
    job: Job,
    cfg: RunConfig,
    settings: Settings,
    *,
    score: bool,
    judged: JudgeOutcome | None = None,
) -> JobOutcome:
    """Write the VLMEvalKit-layout predictions, score them, and write the per-dataset summary.

    Each step's freed memory is handed back before the next (`give_back`): at 50,000 rows the
    steps otherwise stack (issue 22, fasteval.cli.memory)."""
    give_back()  # what sending freed
    perf = _run_perf(job)  # first: its reads and arrays never sit beside the answers or the scores
    give_back()
    preds, stored = predictions_frame(job)
    model, name = job.target.name, job.spec.name
    out_dir = cfg.work_dir / model
    out_dir.mkdir(parents=True, exist_ok=True)
    pred_path = out_dir / f"{model}_{name}.{settings.pred_format}"
    failed = stored.filter(pl.col("status") == Status.FAILED.value)
    failures = (
        {str(k): int(n) for k, n in failed.group_by("error_kind").len().iter_rows()} if failed.height else {}
    )
    coverage = job_coverage(job.distinct_rows(), stored) if score and preds.height else None
    odd = OddReplies.of(stored, job.target.served_name)
    n_ok = preds.height
    del stored, failed  # writing, scoring and the serving figures need none of the stored rows
    give_back()
    (write_xlsx if settings.pred_format == "xlsx" else write_tsv)(preds, pred_path)
    paths = {"predictions": str(pred_path), "store": str(job.store.dir)}
    scored = None
    if coverage is not None:
        partial = n_ok < job.dataset.meta.height  # failed rows, or --limit: pairs may be split
        verdicts = judged.verdicts if judged is not None else None
        scored = score_predictions(
            job.spec,
            preds,
            dataset=last_per_index(job.dataset.meta),
            rules=cfg.rules,
            partial=partial,
            verdicts=verdicts,
        )
        written = write_reports(scored, model=model, out_dir=out_dir, coverage=coverage)
        paths.update({k: str(v) for k, v in written.items()})
    del preds
    give_back()
    outcome = JobOutcome(job, job.rows, n_ok, failures, scored, paths, perf, judged, odd)
    _write_dataset_summary(outcome, cfg)
    return outcome


def _write_dataset_summary(outcome: JobOutcome, cfg: RunConfig) -> None:
    job = outcome.job
    entry: dict[str, Any] = {
        "dataset": job.spec.name,
        "dataset_file": str(job.dataset_file.path),
        "dataset_md5": job.dataset_file.md5,
        "dataset_md5_expected": job.dataset_file.expected_md5,
        "dataset_md5_ok": job.dataset_file.md5_ok,
        "rows": outcome.n_rows,
        "answered": outcome.n_ok,
        "failed": sum(outcome.failures.values()),
        "failures_by_kind": outcome.failures,
        "scores_cover_rows": outcome.n_ok,
        "coverage": _coverage(outcome).to_json(),
        "rules": outcome.scored.effective_rules if outcome.scored else None,
        "judge": _judge_summary(outcome.judged, cfg),
        "scores": headline(outcome.scored) if outcome.scored else None,
        "unresolved_by_exact_matching": _unresolved_by_exact(outcome.scored),
        "extraction": method_counts(outcome.scored) if outcome.scored else None,
        "odd_replies": outcome.odd.to_json() if outcome.odd is not None else None,
        "model": {"name": job.target.name, "served_name": job.target.served_name, **job.target.origin},
        "prompt_style": job.target.prompt_style,
        "gen_params": _gen_params(job.target, cfg),
        "perf": outcome.perf,
        "files": outcome.paths,
        "fasteval_version": __version__,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _update_summary(cfg.work_dir / job.target.name / "summary.json", {"datasets": {job.spec.name: entry}})


def _coverage(outcome: JobOutcome) -> Coverage:
    return Coverage(rows=outcome.n_rows, scored=outcome.n_ok, failed=sum(outcome.failures.values()))


def _judge_summary(judged: JudgeOutcome | None, cfg: RunConfig) -> dict[str, Any]:
    if judged is not None:
        return judged.summary()
    return {"mode": EXACT_MATCHING, "reason": f"--mode {cfg.mode}: nothing was scored"}


def _unresolved_by_exact(scored: Scored | None) -> int | None:
    if scored is None:
        return None
    return sum(n for method, n in method_counts(scored).items() if method != Method.EXACT.value)


def _write_target_summary(report: TargetReport, outcomes: list[JobOutcome], cfg: RunConfig) -> None:
    endpoints = [asdict(s) for s in report.endpoints]
    _update_summary(
        cfg.work_dir / report.target.name / "summary.json",
        {"run": {"run_id": report.run_id, "wall_s": report.wall_s, "endpoints": endpoints}},
    )


def _update_summary(path: Path, patch: dict[str, Any], *, dataset_fields: bool = False) -> None:
    """Merge `patch` into summary.json and replace the file atomically.

    Top-level tables merge key by key; a dataset's entry is replaced whole (a finished run), or,
    with `dataset_fields`, updated field by field (a rescore keeps the run's serving figures).
    Jobs finish in worker threads, so the read-merge-write is serialised by a lock.
    """
    with _SUMMARY_LOCK:
        current: dict[str, Any] = {}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError is a ValueError)
                loaded = None
            if isinstance(loaded, dict):
                current = loaded
            else:  # a hand edit or a foreign file: kept aside, never merged into nor silently lost
                aside = path.with_name(f"{path.name}.damaged")
                with contextlib.suppress(OSError):
                    path.replace(aside)
                print(
                    f"fasteval: warning: {path} is not a fasteval summary (a JSON object): "
                    f"moved to {aside.name}; a new one is written",
                    file=sys.stderr,
                )
        for key, value in patch.items():
            if not (isinstance(value, dict) and isinstance(current.get(key), dict)):
                current[key] = value
            elif key == "datasets" and dataset_fields:
                for name, fields in value.items():
                    current[key][name] = {**current[key].get(name, {"dataset": name}), **fields}
            else:
                current[key] = {**current[key], **value}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(write_failure(path.parent, exc)) from None
        write_text_atomic(path, json.dumps(current, indent=2, sort_keys=True, default=str))


_SUMMARY_LOCK = threading.Lock()


def _report(console: Console, outcomes: list[JobOutcome], reports: list[TargetReport]) -> int:
    """The end-of-run console: one table of headline scores and serving figures, then failures."""
    rules = sorted({o.scored.effective_rules for o in outcomes if o.scored is not None})
    ordered = sorted(outcomes, key=lambda o: (o.job.target.name, o.job.spec.name))
    print_results(console, rules, [_result_row(o) for o in ordered])
    any_failed = any(o.failures for o in outcomes)
    for o in outcomes:
        if _coverage(o).partial:
            console.print(f"{o.job.target.name} / {o.job.spec.name}: {_coverage(o).line()}")
        if o.odd is not None:
            for line in o.odd.lines(o.job.target.served_name):
                console.print(f"{o.job.target.name} / {o.job.spec.name}: {escape(line)}")
        if o.failures:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(o.failures.items()))
            console.print(
                f"{o.job.target.name} / {o.job.spec.name}: {sum(o.failures.values())} rows failed for good "
                f"({kinds}); scores cover the {o.n_ok} answered rows; {_retry_hint(o.failures)}"
            )
    for r in reports:
        console.print(
            f"{r.target.name}: {r.wall_s:.1f} s; endpoints: "
            + ", ".join(f"{s.base_url} ({s.ok} ok, {s.failed} failed)" for s in r.endpoints)
        )
    if outcomes:
        console.print(f"files: {outcomes[0].paths['predictions'].rsplit('/', 1)[0]}/")
    return EXIT_FAILED_ROWS if any_failed else 0


def _result_row(o: JobOutcome) -> ResultRow:
    """The benchmark's own headline (e.g. MME perception/reasoning, MCQ Overall); the full set is in
    summary.json."""
    head = dict(o.scored.result.headline) if o.scored is not None else {}
    return ResultRow(o.job.target.name, o.job.spec.name, f"{o.n_ok}/{o.n_rows}", head, o.perf)


def _retry_hint(failures: Mapping[str, int]) -> str:
    """A refused key or unknown model is fixed by the command, never by retrying it as is."""
    if ErrorKind.AUTH.value in failures or ErrorKind.UNKNOWN_MODEL.value in failures:
        return "fix --api-key / --model-name first: retrying as is cannot help"
    if ErrorKind.THINKING_CUT.value in failures:
        return "replies ran out of tokens while thinking: rerun with a larger --max-tokens to retry them"
    if ErrorKind.REPLY_TOO_LONG.value in failures:
        return "the server ignores max_tokens (replies were cut): fix its settings, then rerun to retry them"
    return "rerun the same command to retry them"


# ---------------------------------------------------------------------------------------------
# --mode eval
# ---------------------------------------------------------------------------------------------


async def _eval(
    cfg: RunConfig, settings: Settings, lmudata: Path, console: Console, environ: Mapping[str, str]
) -> int:
    """Score stored predictions (or a VLMEvalKit file with --pred), asking the judge what exact
    matching cannot resolve; replies already cached for this judge are not asked again."""
    specs = [resolve_spec(name, lmudata) for name in cfg.data]
    judges = judge_run(cfg, settings, environ)
    await judges.start(specs)
    _say_fell_back(judges)
    judged: list[tuple[str, str, JudgeOutcome | None]] = []
    try:
        if cfg.pred is not None:
            outcome = await _eval_file(cfg, cfg.pred, specs[0], lmudata, console, judges)
            judged.append((cfg.model[0], specs[0].name, outcome))
        else:
            for model in cfg.model:
                for spec in specs:
                    outcome = await _eval_stored(cfg, model, spec, lmudata, console, judges)
                    judged.append((model, spec.name, outcome))
    finally:
        await judges.close()
    return _judge_status(console, judged)


async def _judge_frame(
    judges: JudgeRun, spec: BenchmarkSpec, preds: pl.DataFrame, dataset: pl.DataFrame | None, store_dir: Path
) -> JudgeOutcome:
    """Judge every row of `preds` exact matching leaves unresolved (batch form of the pipeline stage)."""
    job_judge = judges.job_judge(store_dir) if judges.plan.for_spec(spec, judges.rules)[0] else None
    if job_judge is None:
        return judges.outcome(spec, None, {})
    verdicts = await judge_table(job_judge, RowSource(spec, preds, dataset, judges.rules))
    return judges.outcome(spec, job_judge, verdicts)


async def _eval_file(
    cfg: RunConfig, pred_path: Path, spec: BenchmarkSpec, lmudata: Path, console: Console, judges: JudgeRun
) -> JudgeOutcome:
    model = cfg.model[0]
    file = _locate(spec, lmudata, cfg, console)
    meta = read_dataset(file.path)
    pred = kind_named(spec.kind).dataset_keyed(spec, read_table(pred_path), meta)
    check_columns(spec, [*meta.columns, *pred.columns], file.path)
    warn_duplicate_index(meta, file.path)
    warn_duplicate_index(pred, pred_path)
    meta, pred = last_per_index(meta), shared_prediction(pred)
    dataset = kind_dataset(spec, meta)  # what the judge sees, as scoring does
    coverage = file_coverage(meta, pred)
    judged = await _judge_frame(
        judges, spec, pred, dataset, RunStore.for_run(cfg.work_dir, model, spec.name).dir
    )
    scored = score_predictions(  # the frames read above: each file is read once
        spec, pred, dataset=meta, rules=cfg.rules, verdicts=judged.verdicts, partial=coverage.partial
    )
    paths = write_reports(scored, model=model, out_dir=cfg.work_dir / model, coverage=coverage)
    _eval_summary(cfg, model, spec, scored, judged, {k: str(v) for k, v in paths.items()})
    print_scores(console, scored)
    console.print(f"{model} / {spec.name}: {coverage.line()} of {pred_path}")
    for role, path in paths.items():
        console.print(f"  {role}: {path}")
    return judged


async def _eval_stored(
    cfg: RunConfig,
    model: str,
    spec: BenchmarkSpec,
    lmudata: Path,
    console: Console,
    judges: JudgeRun,
) -> JudgeOutcome:
    store = RunStore.for_run(cfg.work_dir, model, spec.name)
    if not store.segments():
        raise FastevalError(
            f"no stored predictions for {model} / {spec.name} under {cfg.work_dir}: run --mode infer first"
        )
    file = _locate(spec, lmudata, cfg, console)
    meta = read_dataset(file.path)
    check_columns(spec, meta.columns, file.path)
    stored = store.read()
    preds = answered_rows(meta, stored)
    coverage = store_coverage([as_vlmeval_str(v) for v in meta.get_column("index").to_list()], stored)
    dataset = kind_dataset(spec, last_per_index(meta))  # what the judge sees, as scoring does
    judged = await _judge_frame(judges, spec, preds, dataset, store.dir)
    scored = score_predictions(
        spec,
        preds,
        dataset=last_per_index(meta),
        rules=cfg.rules,
        verdicts=judged.verdicts,
        partial=coverage.partial,
    )
    paths = write_reports(scored, model=model, out_dir=cfg.work_dir / model, coverage=coverage)
    _eval_summary(cfg, model, spec, scored, judged, {k: str(v) for k, v in paths.items()})
    print_scores(console, scored)
    console.print(f"{model} / {spec.name}: {coverage.line()}; files: {paths['score']}")
    return judged


def _eval_summary(
    cfg: RunConfig,
    model: str,
    spec: BenchmarkSpec,
    scored: Scored,
    judged: JudgeOutcome,
    files: dict[str, str],
) -> None:
    """Rescoring updates the dataset's summary entry in place: scores, rules, judge, extraction."""
    fields = {
        "rules": scored.effective_rules,
        "judge": judged.summary(),
        "scores": headline(scored),
        "unresolved_by_exact_matching": _unresolved_by_exact(scored),
        "extraction": method_counts(scored),
        "rescored_files": files,
        "rescored_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = cfg.work_dir / model / "summary.json"
    _update_summary(path, {"datasets": {spec.name: fields}}, dataset_fields=True)
