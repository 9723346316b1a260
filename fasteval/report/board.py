"""Turn collected runs into the report's content: leaderboard cells, paired comparisons, speed,
category breakdowns and the capped sample viewer.

Everything the page says is decided here, so the renderers (HTML, Markdown) only format. Nothing
is written; the only reads are the dataset TSVs behind the sample viewer's questions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path
from typing import Any

import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.models.servers import redact_argv
from fasteval.report.collect import BenchRun
from fasteval.report.compare import (
    Interval,
    Paired,
    hit_interval,
    mean_interval,
    paired_bootstrap,
    paired_hits,
)
from fasteval.report.questions import prompts
from fasteval.report.resample import COMPOSITE_RESAMPLES, composite_interval
from fasteval.scoring import Declaration, Headline

# VLMEvalKit writes MCQ accuracies as fractions and Y/N scores as percentages: a headline is a
# plain hit-rate (or mean score) when it equals the samples' mean on one of these scales.
SCALES = (1.0, 100.0)
JUDGE_METHODS = frozenset({"judge", "fallback"})
DEFAULT_SAMPLES = 20
MAX_CHART_CATEGORIES = 40


@dataclass(frozen=True, slots=True)
class Cell:
    """One leaderboard number: the score file's headline, its interval, and where it came from."""

    model: str
    dataset: str
    metric: str
    value: float  # exactly as in the score file
    interval: Interval | None  # on the score file's scale; None without samples (or bootstrap off)
    note: str  # how the interval was made, or why there is none
    rules: str
    judge: str
    scored: int | None
    total: int | None
    source: str  # the score file's path

    @property
    def partial(self) -> bool:
        return self.scored is not None and self.total is not None and self.scored < self.total


@dataclass(frozen=True, slots=True)
class Comparison:
    dataset: str
    model_a: str
    model_b: str
    unit: str  # "rows", or "circular groups" for MMBench-style circular evaluation
    paired: Paired


@dataclass(frozen=True, slots=True)
class Speed:
    """Serving figures of the run that produced a score (summary.json's `perf`, vLLM's names)."""

    model: str
    dataset: str
    perf: Mapping[str, Any]
    engine: str
    settings: str
    command: str = ""  # the engine's command line, when `make serve` started it


@dataclass(frozen=True, slots=True)
class Answer:
    prediction: str
    extracted: str
    method: str
    outcome: float | None  # hit (0/1) or graded score
    judge_reply: str = ""


@dataclass(frozen=True, slots=True)
class SampleRow:
    index: str
    question: str
    answer: str
    answers: Mapping[str, Answer]  # model -> its answer; absent when the model has no such row
    tags: tuple[str, ...]
    thumbnail: str = ""  # data URI of a small JPEG, when the dataset was reachable


@dataclass(frozen=True, slots=True)
class Section:
    """Everything the page shows about one benchmark."""

    dataset: str
    models: tuple[str, ...]
    breakdown: tuple[tuple[str, Mapping[str, float]], ...]  # score-file entries, models side by side
    categories: tuple[tuple[str, Mapping[str, Interval]], ...]  # per-category means from samples
    category_measure: str
    filters: tuple[tuple[str, str], ...]  # (tag, label)
    samples: tuple[SampleRow, ...]
    # the declared per-row distribution (RefCOCO's IoU): its column and each model's counts per bin
    distribution: str | None = None
    histogram: tuple[tuple[str, tuple[int, ...]], ...] = ()


HISTOGRAM_BINS = 10  # equal bins over [0, 1]; the last one holds 1.0


def histogram(values: Sequence[float], bins: int = HISTOGRAM_BINS) -> tuple[int, ...]:
    """Counts of `values` in `bins` equal bins over [0, 1] (values outside are clamped in)."""
    counts = [0] * bins
    for v in values:
        if v == v:  # NaN is no value
            counts[min(bins - 1, max(0, int(v * bins)))] += 1
    return tuple(counts)


def _histogram(runs: Sequence[BenchRun]) -> tuple[str | None, tuple[tuple[str, tuple[int, ...]], ...]]:
    """Each model's histogram of the column its benchmark declares as a distribution."""
    column = next((r.declaration.distribution for r in runs if r.declaration is not None), None)
    if column is None:
        return None, ()
    per_model = tuple(
        (r.model, histogram([float(v) for v in r.samples[column].drop_nulls().to_list()]))
        for r in runs
        if r.samples is not None and column in r.samples.columns
    )
    return (column, per_model) if per_model else (None, ())


@dataclass(frozen=True, slots=True)
class Report:
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell]
    comparisons: tuple[Comparison, ...]
    speeds: tuple[Speed, ...]
    sections: tuple[Section, ...]
    sources: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Source:
    """Where the sample viewer finds questions and images: the dataset TSVs' folder (LMUData)."""

    lmudata: Path | None = None
    images: bool = True


# ---------------------------------------------------------------------------------------------
# Units: the per-row (or per-group) outcomes statistics are computed on
# ---------------------------------------------------------------------------------------------


def graded(run: BenchRun) -> bool:
    """The benchmark's rows carry grades (means, normal intervals), not 0/1 hits (Wilson)."""
    d = run.declaration
    return d is not None and d.outcome is not None and d.outcome.graded


def has_outcome(run: BenchRun) -> bool:
    """Per-row results to compute statistics on (some kinds score only at the benchmark level)."""
    return run.declaration is not None and run.declaration.has_outcome(run.samples)


def units(run: BenchRun) -> pl.DataFrame:
    """One row per statistical unit as the benchmark declares them: `key`, `outcome`, `breakdown`
    (circular MCQ counts a question once, as its group)."""
    assert run.declaration is not None and run.samples is not None
    return run.declaration.units(run.samples).drop_nulls("outcome")


def unit_name(run: BenchRun) -> str:
    d, samples = run.declaration, run.samples
    return "circular groups" if d is not None and samples is not None and d.grouped(samples) else "rows"


def _estimate(run: BenchRun) -> Interval:
    outcomes = units(run)["outcome"].to_list()
    return mean_interval(outcomes) if graded(run) else hit_interval([o > 0 for o in outcomes])


def _scaled(interval: Interval, scale: float) -> Interval:
    return replace(interval, value=interval.value * scale, lo=interval.lo * scale, hi=interval.hi * scale)


# ---------------------------------------------------------------------------------------------
# Leaderboard
# ---------------------------------------------------------------------------------------------


def _judge_label(entry: Mapping[str, Any]) -> str:
    judge = entry.get("judge") or {}
    if not judge:
        return "-"
    if judge.get("mode") == "judge":
        host = f" @ {judge['host']}" if judge.get("host") else ""
        return f"{judge.get('model', 'judge')}{host}"
    return "exact matching"


def _rules(run: BenchRun) -> str:
    if run.entry.get("rules"):
        return str(run.entry["rules"])
    if run.samples is not None and "rules" in run.samples.columns and run.samples.height:
        return str(run.samples["rules"][0])
    return "VLMEvalKit file"


def _coverage(run: BenchRun) -> tuple[int | None, int | None]:
    """(rows scored, rows in the benchmark); the total is known only for fasteval's own runs."""
    answered, rows = run.entry.get("answered"), run.entry.get("rows")
    if answered is not None and rows is not None:
        return int(answered), int(rows)
    if run.samples is not None:
        return run.samples.height, None
    return None, None


def _is_mean(run: BenchRun, value: float, est: Interval) -> float | None:
    """The scale on which the headline is the samples' plain mean (hit-rate or mean score), if it is.

    All-miss or all-hit samples match any metric that is 0 or full at that point (MME's sums too),
    so there only an accuracy file (`_acc.csv`) is taken to hold a hit-rate.
    """
    degenerate = est.value in (0.0, 1.0)
    if degenerate and not run.score_path.name.endswith("_acc.csv"):
        return None
    for scale in SCALES:
        if math.isclose(value, est.value * scale, rel_tol=1e-9, abs_tol=1e-12):
            return scale
    return None


def cell(run: BenchRun, *, resamples: int = COMPOSITE_RESAMPLES) -> Cell:
    declared = run.declaration
    metric, value = (declared.headline if declared is not None else Headline()).of(run.table)
    interval, note = None, "VLMEvalKit score file only: no samples to build an interval from"
    if run.samples is not None and declared is None:
        note = "no kind or scorer declares this benchmark's rows: no interval"
    elif run.samples is not None and not has_outcome(run):
        note = "the samples carry no per-row hit or score to build an interval from"
    elif run.samples is not None and declared is not None:
        est, unit = _estimate(run), unit_name(run)
        what = "mean score" if graded(run) else "accuracy"
        scale = _is_mean(run, value, est)
        if scale is not None:
            interval = _scaled(est, scale)
            note = f"{est.method} 95% interval over {len(units(run))} {unit}"
        else:
            interval = (
                composite_interval(run.samples, run.dataset, value, declared, resamples=resamples)
                if resamples
                else None
            )
            how = (
                f"percentile bootstrap ({resamples} resamples of whole images, or rows, within "
                "categories, rescored by the benchmark's scorer)"
                if interval is not None
                else "no interval (bootstrap off, or the scorer could not rescore the samples)"
            )
            note = (
                f"composite metric: {how}; {unit} {what} {est.value:.4f} "
                f"[{est.lo:.4f}, {est.hi:.4f}] ({est.method} 95%)"
            )
    scored, total = _coverage(run)
    return Cell(
        model=run.model,
        dataset=run.dataset,
        metric=metric,
        value=value,
        interval=interval,
        note=note,
        rules=_rules(run),
        judge=_judge_label(run.entry),
        scored=scored,
        total=total,
        source=str(run.score_path),
    )


# ---------------------------------------------------------------------------------------------
# Paired comparisons
# ---------------------------------------------------------------------------------------------


def compare(dataset: str, a: BenchRun, b: BenchRun) -> Comparison | None:
    """B - A on the units both models answered; None when either has no samples."""
    if not (has_outcome(a) and has_outcome(b)):
        return None
    joined = units(a).join(units(b), on="key", how="inner", suffix="_b")
    oa, ob = joined["outcome"].to_list(), joined["outcome_b"].to_list()
    if graded(a) and graded(b):
        paired = paired_bootstrap(oa, ob)
    else:
        paired = paired_hits([o > 0 for o in oa], [o > 0 for o in ob])
    return Comparison(dataset, a.model, b.model, unit_name(a), paired)


# ---------------------------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------------------------


def speed(run: BenchRun) -> Speed | None:
    perf = run.entry.get("perf") or {}
    if not perf:
        return None
    model = run.entry.get("model") or {}
    gen = run.entry.get("gen_params") or {}
    servers = model.get("servers") or []
    engine = str(model.get("engine") or "endpoint")
    settings = ", ".join(
        [f"{k}={v}" for k, v in sorted(gen.items())]
        + ([f"prompt_style={run.entry['prompt_style']}"] if run.entry.get("prompt_style") else [])
        + ([f"{len(servers)} endpoint(s)"] if servers else [])
    )
    command = " ".join(redact_argv([str(a) for a in model.get("argv") or []]))  # summaries of older runs too
    return Speed(run.model, run.dataset, perf, engine, settings, command)


# ---------------------------------------------------------------------------------------------
# Per benchmark: breakdown, categories, samples
# ---------------------------------------------------------------------------------------------


def _flat_table(table: pl.DataFrame) -> dict[str, float]:
    """The score file's numbers by name; multi-row tables (splits) as `split · column`."""
    numeric = [c for c in table.columns if table.schema[c].is_numeric()]
    labels = [c for c in table.columns if c not in numeric]
    out: dict[str, float] = {}
    for row in table.iter_rows(named=True):
        prefix = " · ".join(str(row[c]) for c in labels) if table.height > 1 else ""
        for c in numeric:
            if row[c] is not None:
                out[f"{prefix} · {c}" if prefix else c] = float(row[c])
    return out


def _breakdown(runs: Sequence[BenchRun]) -> tuple[tuple[str, Mapping[str, float]], ...]:
    flats = {r.model: _flat_table(r.table) for r in runs}
    keys = list(dict.fromkeys(k for f in flats.values() for k in f))
    return tuple((k, {m: f[k] for m, f in flats.items() if k in f}) for k in keys)


def _categories(runs: Sequence[BenchRun]) -> tuple[tuple[str, Mapping[str, Interval]], ...]:
    """Per-category mean of each model's units (a row in several comma-joined categories, as POPE
    tracks, counts in each)."""
    per_model: dict[str, dict[str, Interval]] = {}
    for r in runs:
        if not has_outcome(r):
            continue
        u = units(r).drop_nulls("breakdown")
        if not u.height:
            continue
        is_graded = graded(r)
        exploded = u.with_columns(pl.col("breakdown").str.split(",")).explode("breakdown")
        for (name,), group in exploded.group_by(["breakdown"], maintain_order=True):
            outcomes = group["outcome"].to_list()
            est = mean_interval(outcomes) if is_graded else hit_interval([o > 0 for o in outcomes])
            per_model.setdefault(str(name), {})[r.model] = est
    names = sorted(per_model)[:MAX_CHART_CATEGORIES]
    return tuple((n, per_model[n]) for n in names)


def _answers(samples: pl.DataFrame, declared: Declaration | None) -> dict[str, Answer]:
    """Each row's answer by index; a grouped (circular) row shows its own outcome, not its group's."""
    outcome = declared.row_outcome(samples) if declared is not None else None
    blank = pl.lit(None, dtype=pl.String)
    value = pl.col(outcome) if outcome is not None and outcome in samples.columns else pl.lit(None)
    frame = samples.select(
        pl.col("index"),
        *(pl.col(c) if c in samples.columns else blank.alias(c) for c in ("prediction", "extracted")),
        *(pl.col(c) if c in samples.columns else blank.alias(c) for c in ("method", "judge_reply")),
        value.cast(pl.Float64).alias("outcome"),
    )
    return {
        as_vlmeval_str(index): Answer(
            prediction=as_vlmeval_str(prediction),
            extracted=as_vlmeval_str(extracted),
            method=method or "",
            outcome=value,
            judge_reply=reply or "",
        )
        for index, prediction, extracted, method, reply, value in frame.iter_rows()
    }


def _tagged(
    keys: Sequence[str], tag: str, keep: Callable[[str], bool], cap: int, tags: dict[str, list[str]]
) -> bool:
    """Tag the first `cap` keys that `keep` selects; True when any was tagged."""
    n = 0
    for key in keys:
        if n >= cap:
            break
        if keep(key):
            tags.setdefault(key, []).append(tag)
            n += 1
    return n > 0


def _wrong(a: Mapping[str, Answer]) -> Callable[[str], bool]:
    def wrong(k: str) -> bool:
        outcome = a[k].outcome if k in a else None
        return outcome is not None and outcome < 1.0

    return wrong


def _judged(a: Mapping[str, Answer]) -> Callable[[str], bool]:
    return lambda k: k in a and a[k].method in JUDGE_METHODS


def _disagree(a: Mapping[str, Answer], b: Mapping[str, Answer]) -> Callable[[str], bool]:
    """Different extracted answers or outcomes on a row both models answered."""
    return lambda k: k in a and k in b and (a[k].extracted, a[k].outcome) != (b[k].extracted, b[k].outcome)


def _samples(
    runs: Sequence[BenchRun], cap: int, source: Source
) -> tuple[tuple[tuple[str, str], ...], tuple[SampleRow, ...]]:
    """The sample viewer's rows: up to `cap` per filter (every answer, each model's wrong and
    judge-extracted answers, each pair's disagreements), so a page stays small at any size."""
    with_samples = [r for r in runs if r.samples is not None]
    answers = {r.model: _answers(r.samples, r.declaration) for r in with_samples if r.samples is not None}
    gt: dict[str, str] = {}
    for r in with_samples:
        if r.samples is not None and "answer" in r.samples.columns:
            for k, a in zip(r.samples["index"].to_list(), r.samples["answer"].to_list(), strict=True):
                gt.setdefault(as_vlmeval_str(k), as_vlmeval_str(a))
    keys = list(dict.fromkeys(k for a in answers.values() for k in a))
    tags: dict[str, list[str]] = {}
    filters: list[tuple[str, str]] = []
    if _tagged(keys, "all", lambda k: True, cap, tags):
        filters.append(("all", "first answers"))
    for m, ans in answers.items():
        if _tagged(keys, f"wrong:{m}", _wrong(ans), cap, tags):
            filters.append((f"wrong:{m}", f"wrong answers: {m}"))
    for m, ans in answers.items():
        if _tagged(keys, f"judge:{m}", _judged(ans), cap, tags):
            filters.append((f"judge:{m}", f"judge-extracted: {m}"))
    for (ma, a), (mb, b) in combinations(answers.items(), 2):
        if _tagged(keys, f"disagree:{ma}|{mb}", _disagree(a, b), cap, tags):
            filters.append((f"disagree:{ma}|{mb}", f"disagreements: {ma} vs {mb}"))
    shown = [k for k in keys if k in tags]
    found = prompts(runs, shown, lmudata=source.lmudata, images=source.images)
    rows = tuple(
        SampleRow(
            index=k,
            question=found[k].question if k in found else "",
            thumbnail=found[k].thumbnail if k in found else "",
            answer=gt.get(k, ""),
            answers={m: a[k] for m, a in answers.items() if k in a},
            tags=tuple(tags[k]),
        )
        for k in shown
    )
    return tuple(filters), rows


def section(dataset: str, runs: Sequence[BenchRun], cap: int, source: Source) -> Section:
    any_graded = any(r.samples is not None and graded(r) for r in runs)
    filters, samples = _samples(runs, cap, source)
    distribution, counts = _histogram(runs)
    return Section(
        dataset=dataset,
        models=tuple(r.model for r in runs),
        breakdown=_breakdown(runs),
        categories=_categories(runs),
        category_measure="mean score" if any_graded else "accuracy",
        filters=filters,
        samples=samples,
        distribution=distribution,
        histogram=counts,
    )


# ---------------------------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------------------------


def build(
    runs: Sequence[BenchRun],
    *,
    samples: int = DEFAULT_SAMPLES,
    sources: Sequence[Path] = (),
    lmudata: Path | None = None,
    images: bool = True,
    resamples: int = COMPOSITE_RESAMPLES,
) -> Report:
    """The report of every collected run; models and benchmarks in name order."""
    by_key = {(r.model, r.dataset): r for r in runs}
    models = tuple(sorted({r.model for r in runs}))
    datasets = tuple(sorted({r.dataset for r in runs}))
    comparisons = []
    sections = []
    for d in datasets:
        present = [by_key[(m, d)] for m in models if (m, d) in by_key]
        for a, b in combinations(present, 2):
            c = compare(d, a, b)
            if c is not None:
                comparisons.append(c)
        sections.append(section(d, present, samples, Source(lmudata, images)))
    speeds = tuple(s for s in (speed(by_key[k]) for k in sorted(by_key)) if s is not None)
    return Report(
        models=models,
        datasets=datasets,
        cells={k: cell(r, resamples=resamples) for k, r in by_key.items()},
        comparisons=tuple(comparisons),
        speeds=speeds,
        sections=tuple(sections),
        sources=tuple(str(s) for s in sources),
    )
