"""Read work dirs back: every (model, benchmark) with its score file, samples and summary entry.

Works on fasteval's outputs and on VLMEvalKit's own folders, where the score CSV is all there is.
The score file is the source of every headline number, so the report shows what VLMEvalKit's
tools would read.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from fasteval.catalog import all_specs, get_spec
from fasteval.data.tabular import read_table
from fasteval.errors import FastevalError
from fasteval.report.coverage import PARTIAL_SUFFIX
from fasteval.scoring import Declaration, declaration

_FULL_SCORE_SUFFIXES = ("_score.csv", "_acc.csv", "_official.csv")
# a run that did not cover every row writes `..._score_partial.csv` (fasteval.report.coverage)
SCORE_SUFFIXES = _FULL_SCORE_SUFFIXES + tuple(
    s.replace(".csv", f"{PARTIAL_SUFFIX}.csv") for s in _FULL_SCORE_SUFFIXES
)
PREDICTION_SUFFIXES = (".xlsx", ".tsv")


@dataclass(frozen=True, slots=True)
class BenchRun:
    """One model's outputs for one benchmark, as found on disk."""

    model: str
    dataset: str
    score_path: Path
    table: pl.DataFrame  # the score CSV as VLMEvalKit wrote it
    samples: pl.DataFrame | None  # fasteval's per-sample Parquet; None for VLMEvalKit-only folders
    entry: Mapping[str, Any] = field(default_factory=dict)  # summary.json's datasets[dataset]
    run: Mapping[str, Any] = field(default_factory=dict)  # summary.json's run
    predictions: Path | None = None  # `{model}_{dataset}.xlsx|.tsv`, the questions' source
    # what the rows and score file mean, as the benchmark's kind and scorer declare it; None for a
    # benchmark fasteval does not know (its score file's first number is shown, without interval)
    declaration: Declaration | None = None


def declared(dataset: str) -> Declaration | None:
    """The declaration of a catalogued benchmark, else None."""
    try:
        return declaration(get_spec(dataset))
    except FastevalError:
        return None


def _model_dirs(work_dir: Path) -> list[Path]:
    """`work_dir` itself when it holds score files, else its sub-folders (one per model)."""
    if any(work_dir.glob(f"{work_dir.name}_*.csv")):
        return [work_dir]
    return sorted(d for d in work_dir.iterdir() if d.is_dir() and not d.name.startswith("."))


def _summary(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "summary.json"
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _score_files(model_dir: Path) -> dict[str, Path]:
    """Dataset name -> its newest score file in `model_dir` (a rescore under other rules may have
    written a second one). Judge-scored benchmarks carry the judge key in the name, as VLMEvalKit
    writes them (`{model}_MMVet_gpt-4-turbo_score.csv`); OCRBench's is `_score.json`."""
    prefix = f"{model_dir.name}_"
    found: dict[str, Path] = {}
    jsons = [*model_dir.glob(f"{prefix}*_score*.json"), *model_dir.glob(f"{prefix}*_rating*.json")]
    for path in [*model_dir.glob(f"{prefix}*.csv"), *jsons]:
        json_names = tuple(f"_{n}{p}.json" for n in ("score", "rating") for p in ("", PARTIAL_SUFFIX))
        suffix = next((s for s in (*SCORE_SUFFIXES, *json_names) if path.name.endswith(s)), None)
        if suffix is None:
            continue
        dataset = _without_judge_key(path.name[len(prefix) : -len(suffix)])
        if dataset not in found or path.stat().st_mtime > found[dataset].stat().st_mtime:
            found[dataset] = path
    return found


def _without_judge_key(name: str) -> str:
    """`MMVet_gpt-4-turbo` -> `MMVet` when the benchmark declares that judge key; else `name`."""
    specs = all_specs()
    for known, spec in specs.items():
        if name == f"{known}_{spec.judge}":
            return known
    return name


def _read_score(path: Path, declared: Declaration | None) -> pl.DataFrame:
    if path.suffix == ".json" and declared is not None and declared.headline.json:
        # a nested rating (VLMEvalKit's video `_rating.json`): its declared headline, as one cell
        label, value = declared.headline.of_json(json.loads(path.read_text(encoding="utf-8")))
        return pl.DataFrame({label: [value]})
    if path.suffix == ".json":  # one row of the JSON's values, in its key order
        payload = json.loads(path.read_text(encoding="utf-8"))
        return pl.DataFrame({k: [v] for k, v in payload.items() if isinstance(v, int | float)})
    return read_table(path)


def _predictions(model_dir: Path, dataset: str) -> Path | None:
    for suffix in PREDICTION_SUFFIXES:
        path = model_dir / f"{model_dir.name}_{dataset}{suffix}"
        if path.is_file():
            return path
    return None


# The JSON types the report reads from a summary entry (dotted: inside a nested object). A field of
# another type (a hand edit, a foreign tool) would crash the page builder mid-way: such an entry is
# ignored with one warning, and the benchmark is shown from its score file alone.
_ENTRY_TYPES: dict[str, tuple[type, ...]] = {
    "judge": (dict,),
    "rules": (str,),
    "answered": (int,),
    "rows": (int,),
    "perf": (dict,),
    "model": (dict,),
    "model.argv": (list,),
    "model.servers": (list,),
    "model.engine": (str,),
    "gen_params": (dict,),
    "prompt_style": (str,),
    "dataset_file": (str,),
    "judge.mode": (str,),
    "judge.host": (str,),
    "judge.model": (str,),
}


def malformed(entry: object) -> str | None:
    """Why a summary entry cannot be read as fasteval writes it, or None when it can."""
    if not isinstance(entry, dict):
        return f"it is a JSON {type(entry).__name__}, not an object"
    for name, types in _ENTRY_TYPES.items():
        holder: Any = entry
        *parents, leaf = name.split(".")
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        value = holder.get(leaf) if isinstance(holder, dict) else None
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return f"{name} is a JSON {type(value).__name__}"
    return None


def _entries(summary: Mapping[str, Any], model_dir: Path) -> dict[str, Any]:
    """summary.json's usable per-benchmark entries (each malformed one named once on stderr)."""
    entries = summary.get("datasets", {})
    if not isinstance(entries, dict):
        where = model_dir / "summary.json"
        print(f"fasteval report: warning: {where}: `datasets` is not an object; ignored", file=sys.stderr)
        return {}
    usable = {}
    for name, entry in entries.items():
        why = malformed(entry)
        if why is None:
            usable[name] = entry
        else:
            where = model_dir / "summary.json"
            print(
                f"fasteval report: warning: {where}: the entry for {name} is malformed ({why}); "
                "shown from its score file alone",
                file=sys.stderr,
            )
    return usable


def _readable(path: Path, read: Callable[[], pl.DataFrame], otherwise: str) -> pl.DataFrame | None:
    """`read()`, or None with one warning when the file is damaged (not UTF-8, cut short, not JSON,
    not Parquet): one unreadable file leaves the rest of the report standing. None if it is absent."""
    if not path.is_file():
        return None
    try:
        return read()
    except (
        FastevalError,
        OSError,
        ValueError,
        RecursionError,
        KeyError,
        TypeError,
        pl.exceptions.PolarsError,
    ) as exc:
        why = " ".join(str(exc).split())[:160] or type(exc).__name__
        print(f"fasteval report: warning: cannot read {path} ({why}): {otherwise}", file=sys.stderr)
        return None


def read_model_dir(model_dir: Path) -> list[BenchRun]:
    """Every benchmark with a score file in one model's folder."""
    summary = _summary(model_dir)
    entries = _entries(summary, model_dir)
    run_entry = summary.get("run", {})
    run_entry = run_entry if isinstance(run_entry, dict) else {}
    runs = []
    for dataset, score_path in sorted(_score_files(model_dir).items()):
        samples_path = model_dir / f"{model_dir.name}_{dataset}_samples.parquet"
        table = _readable(score_path, partial(_read_score, score_path, declared(dataset)), "skipped")
        if table is None:
            continue
        samples = _readable(samples_path, partial(pl.read_parquet, samples_path), "shown without samples")
        runs.append(
            BenchRun(
                model=model_dir.name,
                dataset=dataset,
                score_path=score_path,
                table=table,
                samples=samples,
                entry=entries.get(dataset, {}),
                run=run_entry,
                predictions=_predictions(model_dir, dataset),
                declaration=declared(dataset),
            )
        )
    return runs


def collect(work_dirs: Iterable[Path]) -> list[BenchRun]:
    """Every (model, benchmark) under the work dirs. A model folder name found in two work dirs is
    shown as `work_dir/model` for each, so neither run hides the other."""
    dirs = [(wd, d) for wd in work_dirs for d in _model_dirs(wd)]
    seen = Counter(d.name for _, d in dirs)
    runs = []
    for wd, d in dirs:
        for run in read_model_dir(d):
            runs.append(replace(run, model=f"{wd.name}/{d.name}") if seen[d.name] > 1 else run)
    return runs
