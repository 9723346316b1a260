"""Read and write VLMEvalKit's tables (TSV, CSV, xlsx) exactly as its pandas calls see them, without pandas.

VLMEvalKit reads a dataset TSV with `pd.read_csv(sep='\\t')` and a prediction file with
`pd.read_excel`, then scores `str(value)` of whatever pandas produced. Two of pandas' habits move
scores, so they are reproduced here: NA-like text ("NA", "None", "", ...) becomes a missing value,
and a column whose every value looks like a number becomes an int (or float, when one is missing)
column. A frame returned here holds, per column, Int64 / Float64 / Boolean when pandas would have
inferred that dtype, else String; `as_vlmeval_str` turns any of its values into VLMEvalKit's
`str()` of the pandas value.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import sys
import zipfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from fasteval.errors import FastevalError, write_failure

# pandas' default `na_values` (pandas._libs.parsers.STR_NA_VALUES, pandas 2.x/3.x).
NA_STRINGS: frozenset[str] = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)

_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(
    r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|Inf|INF|infinity|Infinity)"
)
_TRUE = frozenset({"True", "TRUE", "true"})
_FALSE = frozenset({"False", "FALSE", "false"})
_INT64_MAX = 2**63 - 1


class TableError(FastevalError):
    """A table file that cannot be read as VLMEvalKit would read it."""


def as_vlmeval_str(value: object) -> str:
    """`str()` of the value pandas would hold: a missing value is NaN, so it reads 'nan'."""
    if value is None:
        return "nan"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return str(value)


def vlmeval_keys(values: pl.Series) -> pl.Series:
    """`as_vlmeval_str` of every value as a String series (row keys: `str(index)` as pandas holds
    it). Integer and string columns are cast in place, without a Python string per row (issue 22);
    anything else (floats, as pandas prints them) goes value by value."""
    if values.dtype.is_integer() or values.dtype == pl.String:
        return values.cast(pl.String).fill_null("nan")
    return pl.Series(values.name, [as_vlmeval_str(v) for v in values.to_list()], dtype=pl.String)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_table(
    path: Path,
    *,
    raw_columns: Collection[str] = (),
    drop_columns: Collection[str] = (),
) -> pl.DataFrame:
    """Read a `.tsv`, `.csv` or `.xlsx` table as pandas' default reader would type it.

    `raw_columns` (e.g. the base64 `image` column) are kept as the file's text, never NA-converted
    or inferred; `drop_columns` are not materialised at all.
    """
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        header, rows = _read_delimited(path, "\t")
        return _frame(header, rows, raw_columns, drop_columns)
    if suffix == ".csv":
        header, rows = _read_delimited(path, ",")
        return _frame(header, rows, raw_columns, drop_columns)
    if suffix == ".xlsx":
        header, cells = _read_xlsx(path)
        return _frame(header, cells, raw_columns, drop_columns)
    raise TableError(f"cannot read {path}: unsupported extension {path.suffix!r}; use .tsv, .csv or .xlsx")


def _read_delimited(path: Path, sep: str) -> tuple[list[str], list[list[Any]]]:
    """Tokenise like pandas' C parser: '"' quoting with doubled quotes, blank lines skipped."""
    csv.field_size_limit(sys.maxsize)
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter=sep, quotechar='"', doublequote=True, strict=False)
            rows = [(reader.line_num, row) for row in reader if row]
    except FileNotFoundError:
        raise TableError(f"table not found: {path}; check the path (or $LMUData)") from None
    except IsADirectoryError:
        raise TableError(f"{path} is a directory, not a table file; check the path") from None
    except UnicodeDecodeError as exc:
        raise TableError(f"{path} is not UTF-8 text ({exc.reason}); re-save it as UTF-8") from None
    if not rows:
        raise TableError(f"{path} is empty; expected a header row")
    header = rows[0][1]
    width = len(header)
    body: list[list[Any]] = []
    for lineno, row in rows[1:]:
        if len(row) != width:  # a cut-off or hand-edited file: say where, never guess the rest
            raise TableError(
                f"{path}: line {lineno} has {len(row)} fields, the header {width}; fix or re-export the file"
            )
        body.append(row)
    _require_rows(path, body)
    return header, body


def _require_rows(path: Path, body: Sequence[object]) -> None:
    if not body:
        raise TableError(f"{path} has a header but no rows; re-export it (or re-download the dataset)")


def warn_duplicate_index(frame: pl.DataFrame, path: Path) -> None:
    """One stderr line when `index` repeats: how many rows, and which row wins (the last, as in
    VLMEvalKit, whose answers, images and ground truth are dicts keyed by index; see
    `fasteval.cli.app.last_per_index`)."""
    if "index" not in frame.columns or frame.height == 0:
        return
    index = frame.get_column("index")
    repeated = index.is_duplicated()
    if repeated.any():
        values = index.filter(repeated).unique(maintain_order=True)
        extra = int(repeated.sum()) - values.len()
        print(
            f"fasteval: warning: {path}: {extra} duplicate row(s) repeat {values.len()} index value(s) "
            f"(e.g. {as_vlmeval_str(values[0])}): as in VLMEvalKit, the last row of each index wins and "
            "every row with that index gets its answer; fix the file if that is not intended",
            file=sys.stderr,
        )


def _read_xlsx(path: Path) -> tuple[list[str], list[list[Any]]]:
    """First sheet, cells converted as pandas' openpyxl reader does (integral floats become ints)."""
    import openpyxl  # deferred: only xlsx readers pay for the import

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise TableError(f"table not found: {path}; check the path") from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:  # truncated or not an xlsx at all
        raise TableError(
            f"{path} is not a readable xlsx ({type(exc).__name__}): it is truncated or corrupt; "
            "re-export it, or score the .tsv"
        ) from None
    try:
        ws = wb.worksheets[0]
        rows = [[_xlsx_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    while rows and all(v == "" for v in rows[-1]):
        rows.pop()
    if not rows:
        raise TableError(f"{path} has no rows; expected a header row")
    header = [str(v) for v in rows[0]]
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    body = [(r + [""] * (width - len(r)))[:width] for r in rows[1:]]
    _require_rows(path, body)
    return header, body


def _xlsx_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _INT64_MAX:
        return int(value)
    return value


def _frame(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    raw_columns: Collection[str],
    drop_columns: Collection[str],
) -> pl.DataFrame:
    raw, drop = set(raw_columns), set(drop_columns)
    series: list[pl.Series] = []
    for j, name in enumerate(header):
        if name in drop:
            continue
        values = [row[j] for row in rows]
        if name in raw:
            series.append(pl.Series(name, [_raw_text(v) for v in values], dtype=pl.String))
        else:
            series.append(_infer_column(name, values))
    return pl.DataFrame(series)


def _raw_text(value: object) -> str | None:
    return None if value == "" else str(value)


def _infer_column(name: str, values: Iterable[Any]) -> pl.Series:
    """pandas' per-column inference: NA strings -> null; all-int -> Int64 (Float64 with a null);
    all-number -> Float64; all-bool (no null) -> Boolean; anything else -> String of `str(value)`."""
    cells: list[Any] = [None if isinstance(v, str) and v in NA_STRINGS else v for v in values]
    present = [v for v in cells if v is not None]
    has_null = len(present) != len(cells)
    if present:
        ints = _as_ints(present)
        if ints is not None:
            if has_null:
                return pl.Series(
                    name, [None if v is None else float(v) for v in _merge(cells, ints)], pl.Float64
                )
            return pl.Series(name, ints, dtype=pl.Int64)
        floats = _as_floats(present)
        if floats is not None:
            return pl.Series(name, _merge(cells, floats), dtype=pl.Float64)
        if not has_null and all(isinstance(v, bool) or v in _TRUE or v in _FALSE for v in present):
            return pl.Series(name, [v if isinstance(v, bool) else v in _TRUE for v in present], pl.Boolean)
    return pl.Series(name, [None if v is None else _cell_str(v) for v in cells], dtype=pl.String)


def _cell_str(value: object) -> str:
    return value if isinstance(value, str) else as_vlmeval_str(value)


def _merge(cells: Sequence[Any], converted: Sequence[Any]) -> list[Any]:
    it = iter(converted)
    return [None if v is None else next(it) for v in cells]


def _as_ints(values: Sequence[Any]) -> list[int] | None:
    out: list[int] = []
    for v in values:
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            out.append(v)
        elif isinstance(v, str) and _INT_RE.fullmatch(v):
            out.append(int(v))
        else:
            return None
    if any(abs(i) > _INT64_MAX for i in out):
        return None
    return out


def _as_floats(values: Sequence[Any]) -> list[float] | None:
    out: list[float] = []
    for v in values:
        if isinstance(v, bool):
            return None
        if isinstance(v, int | float) or (isinstance(v, str) and _FLOAT_RE.fullmatch(v)):
            out.append(float(v))
        else:
            return None
    return out


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _csv_cell(value: object) -> str:
    """pandas' to_csv text of a value: NaN -> '', floats in repr, everything else str()."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to, renamed over `path` when the block ends: a reader
    never sees half a file. An `OSError` (a full disk, an unwritable folder) removes it and becomes
    one `TableError` line naming `path`; the old file, if any, stays."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise TableError(write_failure(path, exc)) from None


def write_text_atomic(path: Path, text: str) -> Path:
    """`text` written whole under `atomic_path`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """`data` (a Parquet or xlsx file built in memory) written whole under `atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def format_csv_quote_all(df: pl.DataFrame, *, sep: str = ",") -> str:
    """The text `DataFrame.to_csv(index=False, quoting=csv.QUOTE_ALL)` produces for this frame."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(df.columns)
    for row in df.iter_rows():
        writer.writerow([_csv_cell(v) for v in row])
    return buf.getvalue()


def write_csv_quote_all(df: pl.DataFrame, path: Path) -> Path:
    """Write as VLMEvalKit's `dump` writes `_acc.csv` / `_score.csv` (QUOTE_ALL, full float repr)."""
    return write_text_atomic(path, format_csv_quote_all(df))


def write_tsv(df: pl.DataFrame, path: Path) -> Path:
    """Write as VLMEvalKit's `dump` writes a `.tsv` prediction file (`PRED_FORMAT=tsv`).

    The text `format_csv_quote_all(df, sep="\\t")` gives, written row by row under a temporary
    name: a 50,000-row prediction file is never one string in memory (issue 22: ~25 MB).
    """
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(df.columns)
        writer.writerows([_csv_cell(v) for v in row] for row in df.iter_rows())
    return path


def write_xlsx(df: pl.DataFrame, path: Path) -> Path:
    """Write an xlsx prediction file VLMEvalKit reads back to the same values.

    Like VLMEvalKit HEAD's `dump`, strings are never turned into formulas; unlike its default,
    they are never turned into hyperlinks either, so a long URL-leading prediction is not lost
    (upstream issue #1689). Cells longer than Excel's 32,767-character limit are truncated, as
    they are in any xlsx file.
    """
    import xlsxwriter  # deferred: only xlsx writers pay for the import

    buf = io.BytesIO()  # built in memory: a full disk fails our write, never xlsxwriter's zip (whose
    _fill_xlsx(df, buf, xlsxwriter)  # __del__ would print an "Exception ignored" traceback, issue 22)
    return write_bytes_atomic(path, buf.getvalue())  # written whole under a temporary name, then renamed


def _fill_xlsx(df: pl.DataFrame, out: io.BytesIO, xlsxwriter: Any) -> None:
    wb = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        ws = wb.add_worksheet()
        for j, name in enumerate(df.columns):
            ws.write_string(0, j, name)
        for i, row in enumerate(df.iter_rows(), start=1):
            for j, v in enumerate(row):
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    continue
                if isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif isinstance(v, int | float):
                    ws.write_number(i, j, v)
                else:
                    ws.write_string(i, j, str(v)[:32767])
    finally:
        wb.close()
