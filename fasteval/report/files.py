"""Score files and summaries: VLMEvalKit's CSVs, the per-sample Parquet, headline numbers, a table.

The CSVs are byte-compatible with VLMEvalKit's `dump` (QUOTE_ALL, full float repr) and carry its
names, so tools that read `{model}_{dataset}_acc.csv` keep working. Official-rule tables have a
different layout, so they get their own name (`_official.csv`) rather than masquerading.
"""

from __future__ import annotations

import errno
import json
import statistics
from pathlib import Path

import polars as pl

from fasteval.data.tabular import (
    TableError,
    atomic_path,
    write_csv_quote_all,
    write_text_atomic,
    write_xlsx,
)
from fasteval.errors import write_failure
from fasteval.report.coverage import PARTIAL_SUFFIX, Coverage
from fasteval.scoring import wilson_interval
from fasteval.scoring.evaluate import RECORD_COLUMNS, Scored
from fasteval.types import Method

HEAD = ("index", "prediction", "answer", "extracted", "method")  # every row's, whatever its kind


def samples_frame(scored: Scored) -> pl.DataFrame:
    """One row per prediction: what was extracted, how, by whom (the judge's record), and the
    per-row columns the kind and scorer declare (whether it counted, its groups)."""
    rows = scored.result.rows
    record = [name for name, _ in RECORD_COLUMNS]  # extraction and the judge's record
    declared = [c.name for c in scored.declaration.columns]
    keep = [c for c in dict.fromkeys([*HEAD, *record, *declared]) if c in rows.columns]
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
    partial_run = coverage is not None and coverage.partial
    if (
        scored.result.json is not None
    ):  # VLMEvalKit's JSON score file (OCRBench `_score.json`, `_rating.json`)
        full = out_dir / scored.kind.json_score_file(model, scored.spec)
    else:
        full = out_dir / scored.kind.score_file(model, scored.spec, official=scored.official)
    score_path, stale = _current_name(full, partial_run)
    paths = {"score": score_path, "samples": samples_path}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if scored.result.json is not None:
            write_text_atomic(score_path, json.dumps(scored.result.json, indent=4, ensure_ascii=False))
        else:
            write_csv_quote_all(scored.result.table, score_path)
        stale.unlink(missing_ok=True)
        if scored.result.row_table is not None:  # beside a rating: its rows, as VLMEvalKit's `_score.xlsx`
            per_row = (out_dir / scored.kind.score_file(model, scored.spec)).with_suffix(".xlsx")
            rows_path, rows_stale = _current_name(per_row, partial_run)
            write_xlsx(scored.result.row_table, rows_path)
            rows_stale.unlink(missing_ok=True)
            paths["score_rows"] = rows_path
        for key, table in scored.result.extra_tables.items():  # e.g. MMVet's `_score_fine.csv`
            extra = score_path.with_name(f"{score_path.stem}_{key.removeprefix('score_')}.csv")
            write_csv_quote_all(table, extra)
            paths[key] = extra
        _write_parquet(samples_frame(scored), samples_path)
    except OSError as exc:  # the folder itself (its creation, a stale file's removal)
        raise TableError(write_failure(out_dir, exc)) from None
    return paths


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Written to disk under `atomic_path` (not built in memory first: a 50,000-row samples file is
    MBs at the run's peak). Polars reports a failed write (a full disk) as its own error carrying
    the OS's, not as OSError: it is raised as the OSError it carries, so it reads as any other."""
    with atomic_path(path) as tmp:
        try:
            frame.write_parquet(tmp)
        except pl.exceptions.PolarsError as exc:
            full = f"os error {errno.ENOSPC})" in str(exc)
            reason = "No space left on device" if full else " ".join(str(exc).split())[:160]
            raise OSError(errno.ENOSPC if full else errno.EIO, reason) from None


def _current_name(full: Path, partial: bool) -> tuple[Path, Path]:
    """(the name to write, the other name's stale file): `..._partial` when not every row was scored."""
    other = full.with_name(full.stem + PARTIAL_SUFFIX + full.suffix)
    return (other, full) if partial else (full, other)


def headline(scored: Scored) -> dict[str, float]:
    """The summary numbers: the scorer's headline, plus the per-unit mean of the declared outcome
    with its 95% interval (fractions): Wilson for hit rates, the normal interval of the mean for
    grades. Circular MCQ counts its groups (main rows)."""
    out = dict(scored.result.headline)
    declared = scored.declaration
    rows = scored.result.rows
    if declared.outcome is None or declared.outcome.column not in rows.columns:
        return out
    outcomes = declared.units(rows)["outcome"]
    if not declared.outcome.graded:
        hits, n = int(outcomes.sum()), outcomes.len()
        if n:
            lo, hi = wilson_interval(hits, n)
            out.update({"accuracy": hits / n, "accuracy_ci95_lo": lo, "accuracy_ci95_hi": hi, "n": float(n)})
        return out
    scores = [float(s) for s in outcomes.drop_nulls().to_list()]
    if scores:
        mean, n = statistics.fmean(scores), len(scores)
        half = 1.959963984540054 * statistics.stdev(scores) / n**0.5 if n > 1 else float("nan")
        out.update({"score": mean, "score_ci95_lo": mean - half, "score_ci95_hi": mean + half, "n": float(n)})
    return out
