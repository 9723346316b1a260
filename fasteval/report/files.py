"""Score files and summaries: VLMEvalKit's CSVs, the per-sample Parquet, headline numbers, a table.

The CSVs are byte-compatible with VLMEvalKit's `dump` (QUOTE_ALL, full float repr) and carry its
names, so tools that read `{model}_{dataset}_acc.csv` keep working. Official-rule tables have a
different layout, so they get their own name (`_official.csv`) rather than masquerading.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fasteval.data.tabular import TableError, read_table, write_csv_quote_all
from fasteval.kinds import kind_named
from fasteval.kinds.base import Verdict
from fasteval.kinds.extract import DEFAULT_RULES
from fasteval.report.coverage import PARTIAL_SUFFIX, Coverage
from fasteval.scoring import wilson_interval
from fasteval.scoring.evaluate import Scored, read_dataset, score_predictions
from fasteval.types import BenchmarkSpec, Method


def samples_frame(scored: Scored) -> pl.DataFrame:
    """One row per prediction: what was extracted, how, and whether it counted."""
    rows = scored.result.rows
    keep = [
        c
        for c in (
            "index",
            "prediction",
            "answer",
            "extracted",
            "method",
            "row_hit",
            "hit",
            "g_index",
            "category",
            "l2-category",
            "split",
            "image_path",
            "judge_reply",
            "judge_tries",
            "judge_model",
            "judge_reported_model",
            "judge_host",
            "judge_score",
            "score",
            "res",
            "log",
            "open_question",
        )
        if c in rows.columns
    ]
    return rows.select(keep).with_columns(rules=pl.lit(scored.effective_rules))


def method_counts(scored: Scored) -> dict[str, int]:
    """Rows per extraction method (exact / judge / fallback / unresolved), every method listed."""
    rows = scored.result.rows
    counts = dict.fromkeys((m.value for m in Method), 0)
    if "method" in rows.columns:
        for method, n in rows.group_by("method").len().iter_rows():
            counts[str(method)] = int(n)
    return counts


def write_reports(
    scored: Scored, *, model: str, out_dir: Path, coverage: Coverage | None = None
) -> dict[str, Path]:
    """Write the score CSV and the samples Parquet into `out_dir`; return them by role.

    A score that does not cover every row (`coverage.partial`) goes to `..._score_partial.csv`;
    the other name's stale file is removed, so exactly one score file says what was scored last.
    """
    name = scored.spec.name
    samples_path = out_dir / f"{model}_{name}_samples.parquet"
    if scored.result.json is not None:  # VLMEvalKit's JSON score file (OCRBench's `_score.json`)
        full = out_dir / f"{model}_{name}_score.json"
    else:
        full = out_dir / scored.kind.score_file(model, scored.spec, official=scored.official)
    partial = full.with_name(full.stem + PARTIAL_SUFFIX + full.suffix)
    score_path, stale = (partial, full) if coverage is not None and coverage.partial else (full, partial)
    paths = {"score": score_path, "samples": samples_path}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if scored.result.json is not None:
            text = json.dumps(scored.result.json, indent=4, ensure_ascii=False)
            score_path.write_text(text, encoding="utf-8")
        else:
            write_csv_quote_all(scored.result.table, score_path)
        stale.unlink(missing_ok=True)
        for key, table in scored.result.extra_tables.items():  # e.g. MMVet's `_score_fine.csv`
            extra = score_path.with_name(f"{score_path.stem}_{key.removeprefix('score_')}.csv")
            write_csv_quote_all(table, extra)
            paths[key] = extra
        tmp = samples_path.with_name(f".{samples_path.name}.tmp")
        samples_frame(scored).write_parquet(tmp)
        tmp.replace(samples_path)
    except OSError as exc:
        raise TableError(
            f"cannot write scores into {out_dir}: {exc.strerror}; pick a writable --work-dir"
        ) from None
    return paths


def _accuracy_counts(scored: Scored) -> tuple[int, int]:
    """Hits and denominator behind the headline accuracy (circular: main rows = groups)."""
    rows = scored.result.rows
    if "g_index" in rows.columns:
        rows = rows.filter(pl.col("index").cast(pl.Int64) == pl.col("g_index"))
    return int(rows["hit"].cast(pl.Int64).sum()), rows.height


def headline(scored: Scored) -> dict[str, float]:
    """The summary numbers: the scorer's headline, plus the per-row mean with its 95% interval
    (fractions): Wilson for hit rates, the normal interval of the mean for graded scores."""
    out = dict(scored.result.headline)
    rows = scored.result.rows
    if "hit" in rows.columns:
        hits, n = _accuracy_counts(scored)
        if n:
            lo, hi = wilson_interval(hits, n)
            out.update({"accuracy": hits / n, "accuracy_ci95_lo": lo, "accuracy_ci95_hi": hi, "n": float(n)})
    elif "score" in rows.columns:
        scores = [float(s) for s in rows["score"].cast(pl.Float64).drop_nulls().to_list()]
        if scores:
            mean, n = statistics.fmean(scores), len(scores)
            half = 1.959963984540054 * statistics.stdev(scores) / n**0.5 if n > 1 else float("nan")
            out.update(
                {"score": mean, "score_ci95_lo": mean - half, "score_ci95_hi": mean + half, "n": float(n)}
            )
    return out


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What `evaluate_file` produced: scores, the table as written, and the files it wrote."""

    scored: Scored
    headline: dict[str, float]
    table: pl.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def rules(self) -> str:
        return self.scored.effective_rules


def evaluate_file(
    spec: BenchmarkSpec,
    dataset_path: Path,
    pred_path: Path,
    *,
    model: str,
    work_dir: Path,
    rules: str = DEFAULT_RULES,
    verdicts: Mapping[str, Verdict] | None = None,
    coverage: Coverage | None = None,
) -> EvalResult:
    """`--mode eval`: score a VLMEvalKit prediction file (.xlsx/.tsv) and write the score files
    into `{work_dir}/{model}/`; a file covering fewer rows than the dataset (`coverage`) is scored
    as a partial run and its score file named so."""
    dataset = read_dataset(dataset_path) if kind_named(spec.kind).needs_dataset else None
    partial = coverage is not None and coverage.partial
    scored = score_predictions(
        spec, read_table(pred_path), dataset=dataset, rules=rules, verdicts=verdicts, partial=partial
    )
    paths = write_reports(scored, model=model, out_dir=work_dir / model, coverage=coverage)
    return EvalResult(scored=scored, headline=headline(scored), table=scored.result.table, paths=paths)
